"""keras-hub presets from Kaggle: cached under HF_HOME, listed by `cache ls`, and no connection offline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zoolab.cli.main import app

runner = CliRunner()


def _fake_cached_preset(root: Path, handle: str) -> Path:
    folder = root.joinpath("models", *handle.removeprefix("kaggle://").split("/"))
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"module": "keras_hub.src.models"}))
    (folder / "metadata.json").write_text(json.dumps({"keras_version": "3"}))
    (folder / "model.weights.h5").write_bytes(b"\0" * 100)
    return folder


def test_kaggle_cache_lives_under_hf_home_and_cache_ls_lists_it(isolated_home, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KAGGLEHUB_CACHE", "")  # unset for zoolab; restored after the test
    from zoolab.hub import kaggle_cache

    root = kaggle_cache.configure()
    assert root == tmp_path / "hf-home" / "kagglehub"
    folder = _fake_cached_preset(root, "kaggle://keras/resnetv1/keras/resnet_50_imagenet/3")
    size = sum(f.stat().st_size for f in folder.iterdir())
    result = runner.invoke(app, ["cache", "ls", "--json"])
    assert result.exit_code == 0, result.output
    rows = [r for r in json.loads(result.stdout) if r["source"] == "kaggle"]
    assert [(r["repo_id"], r["size"]) for r in rows] == [("keras/resnetv1/keras/resnet_50_imagenet", size)]
    assert rows[0]["revisions"][0]["commit"] == "3" and rows[0]["revisions"][0]["files"] == 3
    table = runner.invoke(app, ["cache", "ls", "--source", "kaggle"], env={"COLUMNS": "200"})
    assert "keras/resnetv1/keras/resnet_50_imagenet" in table.stdout


_OFFLINE_SCRIPT = """
import json, os, socket, sys
from pathlib import Path

def no_network(*args, **kwargs):
    raise AssertionError(f"a connection was attempted: {args}")

socket.create_connection = no_network
socket.socket.connect = no_network
from zoolab.errors import OfflineError
from zoolab.zoo import load

try:
    load("resnet50", framework="tf")
    raise SystemExit("loaded without a cache")
except OfflineError as exc:
    message = str(exc)
from zoolab.hub import kaggle_cache
from zoolab.zoo.kaggle_presets import for_loading, kaggle_handle

handle = kaggle_handle("resnet_50_imagenet")
folder = kaggle_cache.cache_root().joinpath("models", *handle.removeprefix("kaggle://").split("/"))
folder.mkdir(parents=True)
(folder / "config.json").write_text("{}")
(folder / "metadata.json").write_text("{}")
print(json.dumps({"message": message, "cache": os.environ["KAGGLEHUB_CACHE"],
                  "cached": str(for_loading("resnet_50_imagenet")), "folder": str(folder)}))
"""


def test_offline_tf_catalog_model_opens_no_connection(tmp_path: Path) -> None:
    # A subprocess: importing keras-hub (TensorFlow) in a test worker would load TensorFlow's own
    # sqlite3 library into it, which the local registry of later tests cannot use.
    import importlib.util

    if importlib.util.find_spec("keras_hub") is None:  # not importorskip: that imports it here
        pytest.skip("keras-hub is not installed")
    env = {k: v for k, v in os.environ.items() if k != "KAGGLEHUB_CACHE"}
    env.update(ZOOLAB_OFFLINE="1", HF_HOME=str(tmp_path / "hf"), TF_CPP_MIN_LOG_LEVEL="3")
    out = subprocess.run([sys.executable, "-c", _OFFLINE_SCRIPT], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert "is not in the cache and offline mode is on (ZOOLAB_OFFLINE or HF_HUB_OFFLINE)" in data["message"]
    assert "kaggle:keras/resnetv1/keras/resnet_50_imagenet/" in data["message"] and len(data["message"]) < 300
    assert data["cache"] == str(tmp_path / "hf" / "kagglehub")
    assert data["cached"] == data["folder"]  # cached: the folder is what keras-hub gets
