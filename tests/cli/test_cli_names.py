"""One name works everywhere: ``info`` and ``download`` resolve catalog names as ``zoolab predict`` does.

The ``hf`` source points at a real zoolab hub server on 127.0.0.1 holding the catalog's repository
for ``resnet50`` (``timm/resnet50.a1_in1k``), so nothing reaches the internet.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zoolab.cli.main import app

runner = CliRunner()
CATALOG_REPO = "timm/resnet50.a1_in1k"


@pytest.fixture
def hf_with_resnet50(hub_server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    token = hub_server.token("timm")
    folder = tmp_path / "resnet50"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architecture": "resnet50", "num_classes": 3,
                                                    "pretrained_cfg": {}}))
    (folder / "model.safetensors").write_bytes(b"\0" * 64)
    from zoolab.hub import publish

    monkeypatch.setenv("HF_TOKEN", token)
    publish(folder, f"hf:{CATALOG_REPO}", progress=False)
    monkeypatch.delenv("HF_TOKEN")
    return hub_server.url


def test_info_resolves_a_catalog_name(hf_with_resnet50: str) -> None:
    result = runner.invoke(app, ["info", "resnet50", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["source"], data["repo_id"]) == ("hf", CATALOG_REPO)


def test_download_resolves_a_catalog_name_and_tf_means_what_predict_loads(hf_with_resnet50: str) -> None:
    # timm's resnet50 has no Keras weights, but keras-hub converts it: --framework tf fetches it.
    result = runner.invoke(app, ["download", "resnet50", "--framework", "tf", "--json", "-q"])
    assert result.exit_code == 0, result.output
    snap = json.loads(result.stdout)
    assert snap["repo_id"] == CATALOG_REPO
    assert {"config.json", "model.safetensors"} <= set(snap["files"])
    assert (Path(snap["path"]) / "model.safetensors").read_bytes() == b"\0" * 64


def test_download_tf_still_refuses_what_keras_cannot_load(hub_server, monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    repo = hub_server.new_repo_id("bob")
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architecture": "convnext_tiny", "num_classes": 2}))
    (folder / "model.safetensors").write_bytes(b"\0" * 32)
    from zoolab.hub import publish

    monkeypatch.setenv("HF_TOKEN", hub_server.token("bob"))
    publish(folder, f"hf:{repo}", progress=False)
    result = runner.invoke(app, ["download", f"hf:{repo}", "--framework", "tf"])
    assert result.exit_code == 1
    assert "has no tf weights" in result.stderr


def test_unknown_bare_name_gets_suggestions_not_a_request() -> None:
    result = runner.invoke(app, ["info", "resnet5O"])
    assert result.exit_code == 1
    assert "'resnet5O' is neither a catalog model nor a repository id" in result.stderr
    assert "resnet50" in result.stderr and "Traceback" not in result.output


def test_a_folder_path_is_not_a_repository(tmp_path: Path) -> None:
    result = runner.invoke(app, ["download", "./some/model/folder"])
    assert result.exit_code == 2
    assert "is a folder path, not a repository" in result.stderr
