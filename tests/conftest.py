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
from collections.abc import Iterator
from pathlib import Path
from typing import Callable

import pytest
from hub_server_support import HubServer

# huggingface_hub, transformers and timm read HF_HOME / HF_HUB_CACHE once, at import time, so the
# per-test monkeypatch below comes too late for their defaults: point them at a throwaway folder
# for the whole session before any of them is imported, so no test touches ~/.cache/huggingface.
_SESSION_HF_HOME = Path(tempfile.mkdtemp(prefix="zoolab-tests-hf-"))
atexit.register(shutil.rmtree, _SESSION_HF_HOME, ignore_errors=True)
os.environ["HF_HOME"] = str(_SESSION_HF_HOME)
os.environ.pop("HF_HUB_CACHE", None)
os.environ.pop("HUGGINGFACE_HUB_CACHE", None)
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"

# Everything else that writes to the system temp folder (Stable-Baselines3's default logger folder,
# TensorFlow's autograph files, Chromium profiles, subprocesses) does so under one folder per session
# that goes when the session ends, instead of accumulating in /tmp across runs.
_SESSION_TMP = Path(tempfile.mkdtemp(prefix="zoolab-tests-tmp-"))
_SESSION_TMP.chmod(0o755)  # the PostgreSQL tests run initdb as the postgres user inside it
atexit.register(shutil.rmtree, _SESSION_TMP, ignore_errors=True)
os.environ["TMPDIR"] = tempfile.tempdir = str(_SESSION_TMP)

# Triton's extension (pulled in lazily by torch._dynamo, e.g. via torchvision.ops) segfaults when
# it is loaded after TensorFlow's; one worker process runs tests of both frameworks, so load it
# first. zoolab's own Keras entry point does the same for users (zoo.keras_backend.import_keras).
try:
    import triton  # noqa: F401
except ImportError:
    pass
# TensorFlow carries its own SQLite without FTS5; Python's _sqlite3 loaded after it binds to that
# copy and the store's search index fails ("no such module: fts5"). Load Python's first.
import sqlite3  # noqa: E402,F401


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
