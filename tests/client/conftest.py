"""Fixtures of the hub client tests: a live zoolab hub server and helpers to make model folders."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
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
    """A zoolab hub server subprocess on 127.0.0.1 with its own home (wraps ``hub_server``)."""

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


@pytest.fixture(scope="session")
def live_hub(hub_server) -> LiveHub:
    """The session's hub server (``tests/conftest.py``), with tokens cached per user."""
    return LiveHub(url=hub_server.url, home=hub_server.home, proc=hub_server.process)


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
