"""Shared test fixtures.

Every test runs with its own ZOOLAB_HOME and Hugging Face cache under a temporary folder, so no
test reads or writes the developer's ~/.zoolab or ~/.cache/huggingface, and none reaches the
network (HF_HUB_OFFLINE is cleared; tests that need a hub start one on 127.0.0.1).
"""

from __future__ import annotations

from pathlib import Path

import pytest


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
