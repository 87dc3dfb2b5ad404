"""Cards and commits (task from the config, no empty commits, umask modes) and messages that say the fix."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zoolab.cli.main import app

runner = CliRunner()


def _folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps({"architecture": "resnet18", "num_classes": 3, "pretrained_cfg": {}}))
    (root / "model.safetensors").write_bytes(os.urandom(256))
    return root


def _commits(source_repo: str) -> int:
    from zoolab.hub import info

    d = info(source_repo)
    return d.sha


def test_unchanged_folder_makes_no_commit_locally(tmp_path: Path) -> None:
    folder = _folder(tmp_path / "m")
    first = runner.invoke(app, ["publish", str(folder), "local:me/same", "--json"])
    assert first.exit_code == 0, first.output
    head = json.loads(first.stdout)["commit_id"]
    from zoolab import settings
    from zoolab.hub.store import Store

    before = len(Store(root=settings.registry_dir()).list_commits("me/same"))
    again = runner.invoke(app, ["publish", str(folder), "local:me/same"])
    assert again.exit_code == 0, again.output
    assert "nothing changed" in again.stdout and _commits("local:me/same") == head
    assert len(Store(root=settings.registry_dir()).list_commits("me/same")) == before
    (folder / "model.safetensors").write_bytes(os.urandom(256))
    changed = runner.invoke(app, ["publish", str(folder), "local:me/same", "--json"])
    data = json.loads(changed.stdout)
    assert data["changed"] is True and data["commit_id"] != head


def test_unchanged_folder_makes_no_commit_on_a_server(hub_server, monkeypatch, tmp_path: Path) -> None:
    from zoolab.hub import config

    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    config.add_source("team", hub_server.url, token=hub_server.token("carol"))
    repo = f"team:{hub_server.new_repo_id('carol')}"
    folder = _folder(tmp_path / "m")
    first = json.loads(runner.invoke(app, ["publish", str(folder), repo, "--json"]).stdout)
    again = runner.invoke(app, ["publish", str(folder), repo])
    assert again.exit_code == 0, again.output
    assert "nothing changed" in again.stdout and "No files have been modified" not in again.stderr
    assert _commits(repo) == first["commit_id"]


def test_generated_card_takes_task_from_a_transformers_config(tmp_path: Path) -> None:
    from zoolab.hub.cards import generate_card, split_card

    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertForSequenceClassification"]}))
    card = generate_card(folder, "me/bert-cls")
    meta, body = split_card(card)
    assert meta["pipeline_tag"] == "text-classification" and meta["library_name"] == "transformers"
    assert "A text classification model for transformers" in body and "model model" not in body


def test_saved_model_files_follow_the_umask(tmp_path: Path) -> None:
    from zoolab.filemodes import respect_umask
    from safetensors.numpy import save_file
    import numpy as np

    path = tmp_path / "model.safetensors"
    save_file({"w": np.zeros(2, dtype=np.float32)}, str(path))
    old = os.umask(0o027)
    try:
        respect_umask([path])
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640


def test_refused_token_says_so_and_where_tokens_come_from(hub_server) -> None:
    from zoolab.hub import config

    config.add_source("team", hub_server.url)
    result = runner.invoke(app, ["login", "--source", "team", "--token", "zl_not_a_token"])
    assert result.exit_code != 0
    assert "refused this token" in result.stderr and "zoolab hub token create" in result.stderr
    assert "run `zoolab login" not in result.stderr


def test_unreachable_host_is_named_with_the_offline_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", "http://no-such-host.invalid")
    result = runner.invoke(app, ["info", "hf:me/x"])
    assert result.exit_code != 0
    line = result.stderr.strip()
    assert "could not reach no-such-host.invalid (source 'hf'): its name does not resolve" in line
    assert "ZOOLAB_OFFLINE=1" in line and len(line.splitlines()) == 1
