"""Shared test fixtures.

Every test runs with its own ZOOLAB_HOME and Hugging Face cache under a temporary folder, so no
test reads or writes the developer's ~/.zoolab or ~/.cache/huggingface, and none reaches the
network (HF_HUB_OFFLINE is cleared; tests that need a hub start one on 127.0.0.1).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

# huggingface_hub, transformers and timm read HF_HOME / HF_HUB_CACHE once, at import time, so the
# per-test monkeypatch below comes too late for their defaults: point them at a throwaway folder
# for the whole session before any of them is imported, so no test touches ~/.cache/huggingface.
_SESSION_HF_HOME = Path(tempfile.mkdtemp(prefix="zoolab-tests-hf-"))
atexit.register(shutil.rmtree, _SESSION_HF_HOME, ignore_errors=True)
os.environ["HF_HOME"] = str(_SESSION_HF_HOME)
os.environ.pop("HF_HUB_CACHE", None)
os.environ.pop("HUGGINGFACE_HUB_CACHE", None)
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

# Triton's extension (pulled in lazily by torch._dynamo, e.g. via torchvision.ops) segfaults when
# it is loaded after TensorFlow's; one worker process runs tests of both frameworks, so load it
# first. zoolab's own Keras entry point does the same for users (zoo.keras_backend.import_keras).
try:
    import triton  # noqa: F401
except ImportError:
    pass


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ZOOLAB_HOME and HF_HOME at a fresh temporary folder for this test."""
    home = tmp_path / "zoolab-home"
    monkeypatch.setenv("ZOOLAB_HOME", str(home))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("ZOOLAB_OFFLINE", raising=False)
    monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    return home


# --- hub server fixtures ---------------------------------------------------------------------------
import itertools  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from typing import Callable  # noqa: E402

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


@pytest.fixture(scope="session")
def hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    """One hub server for the whole test session (default settings, anonymous reads allowed)."""
    server = HubServer(tmp_path_factory.mktemp("hub-server") / "home")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def make_hub_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., HubServer]]:
    """Factory for a test's own server: ``make_hub_server("--require-auth", home=None, env=None)``.

    Servers are stopped when the test ends (a test may also ``.stop()`` or kill ``.process`` itself).
    """
    started: list[HubServer] = []

    def start(*extra_args: str, home: Path | None = None, env: dict[str, str] | None = None) -> HubServer:
        server = HubServer(home or tmp_path_factory.mktemp("hub-server") / "home", extra_args, env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
