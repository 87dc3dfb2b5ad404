"""File modes that follow the user's umask.

``safetensors.save_file`` (and anything writing through ``tempfile.mkstemp``) creates files with
mode 0600 whatever the umask, so a saved model would be readable by its owner only while its other
files are 0644. Saving code calls :func:`respect_umask` on what it wrote.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable


def umask() -> int:
    """The process umask (read from /proc where it can be, so no other thread sees it change)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def respect_umask(paths: Iterable[str | Path]) -> None:
    """Give each regular file in ``paths`` the mode a plain ``open(..., "w")`` would have (0666 & ~umask)."""
    mode = 0o666 & ~umask()
    for path in paths:
        p = Path(path)
        if p.is_file() and not p.is_symlink():
            os.chmod(p, mode)
