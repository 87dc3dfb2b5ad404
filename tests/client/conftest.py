"""Fixtures of the hub client tests: a live zoolab hub server and helpers to make model folders."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from zoolab.hub import config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class LiveHub:
    """A zoolab hub server subprocess on 127.0.0.1 with its own home."""

    url: str
    home: Path
    proc: subprocess.Popen
    _tokens: dict = field(default_factory=dict)

    def token(self, user: str, write: bool = True) -> str:
        key = (user, write)
        if key not in self._tokens:
            from zoolab.hub.store import Store

            self._tokens[key] = Store(self.home).create_token(user, write=write)
        return self._tokens[key]

    def new_repo_id(self, user: str = "alice") -> str:
        return f"{user}/m-{uuid.uuid4().hex[:10]}"


def _start_server(home: Path) -> LiveHub:
    port = free_port()
    env = {**os.environ, "ZOOLAB_HOME": str(home), "OMP_NUM_THREADS": "1"}
    log = (home.parent / f"server-{port}.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoolab", "hub", "serve", "--home", str(home), "--port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"hub server exited: {(home.parent / f'server-{port}.log').read_text()}")
        try:
            if httpx.get(f"{url}/api/models", timeout=1).status_code == 200:
                return LiveHub(url=url, home=home, proc=proc)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError("hub server did not start within 60 s")


@pytest.fixture(scope="session")
def live_hub(tmp_path_factory: pytest.TempPathFactory):
    """One hub server for the whole session (per xdist worker)."""
    hub = _start_server(tmp_path_factory.mktemp("client-hub") / "home")
    yield hub
    hub.proc.terminate()
    try:
        hub.proc.wait(10)
    except subprocess.TimeoutExpired:
        hub.proc.kill()


@pytest.fixture
def team(live_hub: LiveHub, monkeypatch: pytest.MonkeyPatch) -> LiveHub:
    """This test's config has source ``team`` (the live server, alice's write token); ``hf`` points
    at the same server, so the built-in source is exercised without the internet."""
    monkeypatch.setenv("HF_ENDPOINT", live_hub.url)
    config.add_source("team", live_hub.url, token=live_hub.token("alice"))
    return live_hub


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_model(folder: Path, *, big: int = 0, card: str | None = None, tf: bool = True, seed: int = 0) -> Path:
    """A tiny timm-style model folder: config.json, zoolab.json, model.safetensors (+ tf_model.h5).

    ``big`` adds ``weights/big.bin`` of that many bytes (an LFS file on the server).
    """
    import random

    rng = random.Random(seed or uuid.uuid4().int)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"architecture": "resnet18", "num_classes": 3,
                                                    "pretrained_cfg": {}}))
    (folder / "zoolab.json").write_text(json.dumps({"task": "image-classification", "framework": "torch",
                                                    "license": "apache-2.0"}))
    (folder / "model.safetensors").write_bytes(rng.randbytes(4096))
    if tf:
        (folder / "tf_model.h5").write_bytes(rng.randbytes(2048))
    if big:
        (folder / "weights").mkdir(exist_ok=True)
        (folder / "weights" / "big.bin").write_bytes(rng.randbytes(big))
    if card is not None:
        (folder / "README.md").write_text(card)
    return folder
