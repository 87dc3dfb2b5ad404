"""A real ``zoolab hub serve`` subprocess for tests (used by the fixtures in ``conftest.py``).

Kept out of ``conftest.py`` so tests can import :class:`HubServer` by a unique module name:
several folders have a ``conftest.py``, and ``from conftest import ...`` picks whichever comes
first on ``sys.path``.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

_LISTENING = re.compile(r"zoolab hub listening on (http://\S+)")
_repo_counter = itertools.count(1)


class HubServer:
    """A real ``zoolab hub serve`` subprocess on 127.0.0.1 with its own home.

    ``url``: base URL (use it as ``HF_ENDPOINT`` / ``endpoint=``); ``home``: its ZOOLAB_HOME;
    ``process``: the Popen; ``token(user, write=True, orgs=())`` creates the user, its organisations
    and a token (in-process, on the same store); ``new_repo_id(user)``: a fresh ``user/repo-N``.
    """

    def __init__(self, home: Path, extra_args: Sequence[str] = (), env: dict[str, str] | None = None):
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.log_path = home / "server.log"
        self.stdout_path = home / "server.stdout"
        run_env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_TOKEN", "HF_ENDPOINT"))}
        run_env.update({"ZOOLAB_HOME": str(home), "PYTHONUNBUFFERED": "1", **(env or {})})
        self._stdout = open(self.stdout_path, "wb")
        self._stderr = open(self.log_path, "wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "zoolab", "hub", "serve", "--home", str(home), "--host", "127.0.0.1",
             "--port", "0", *extra_args],
            stdout=self._stdout, stderr=self._stderr, env=run_env,
        )
        self.url = self._wait_listening(timeout_s=90.0)

    def _wait_listening(self, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            match = _LISTENING.search(self.stdout_path.read_text(errors="replace"))
            if match:
                return match.group(1)
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"hub server did not start: {self.log_path.read_text(errors='replace')[-2000:]}")

    def token(self, user: str, *, write: bool = True, orgs: Sequence[str] = ()) -> str:
        """A new token for ``user`` (created if missing), member of ``orgs`` (created if missing)."""
        from zoolab.hub.store import Store

        store = Store(self.home)
        store.create_user(user)
        for org in orgs:
            store.create_org(org, exist_ok=True)
            store.add_member(org, user)
        return store.create_token(user, write=write)

    def new_repo_id(self, user: str) -> str:
        """A repo id nobody used yet on this server: ``user/repo-N``."""
        return f"{user}/repo-{next(_repo_counter)}-{os.getpid()}"

    def stop(self) -> None:
        """Terminate the server (kill after 10 s) and close its log files."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._stdout.close()
        self._stderr.close()
