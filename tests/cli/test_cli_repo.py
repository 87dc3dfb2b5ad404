"""``zoolab repo ...``, ``zoolab whoami`` and ``zoolab logout`` on the local registry and a real hub server."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zoolab.cli.main import app

runner = CliRunner()


def _ok(*args: str) -> dict:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _folder(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps({"architecture": "resnet18", "num_classes": 3, "pretrained_cfg": {}}))
    (root / "model.safetensors").write_bytes(os.urandom(128))
    (root / "extra.txt").write_text("old notes")
    return root


@pytest.fixture(params=["local", "team"])
def repo(request, hub_server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    if request.param == "team":
        from zoolab.hub import config

        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
        config.add_source("team", hub_server.url, token=hub_server.token("dora"))
        return f"team:{hub_server.new_repo_id('dora')}"
    return "local:dora/tagged"


def test_repo_lifecycle(repo: str, tmp_path: Path) -> None:
    created = _ok("repo", "create", repo, "--private")
    assert created["action"] == "created" and created["private"] is True
    again = runner.invoke(app, ["repo", "create", repo])
    assert again.exit_code != 0 and "Traceback" not in again.output
    _ok("repo", "create", repo, "--exist-ok")
    first = _ok("publish", str(_folder(tmp_path / "m")), repo)["commit_id"]
    tag = _ok("repo", "tag", repo, "v1")
    assert tag["commit"] == first
    snap = _ok("download", repo, "--revision", "v1", "-q")
    assert snap["commit"] == first
    assert _ok("repo", "branch", repo, "dev")["commit"] == first
    removed = _ok("repo", "rm", repo, "extra.txt", "--branch", "dev")
    assert removed["commit"] != first
    info = _ok("info", repo)
    assert info["private"] is True and set(info["branches"]) == {"main", "dev"} and set(info["tags_refs"]) == {"v1"}
    dev = _ok("info", repo, "--revision", "dev")
    assert "extra.txt" not in [f["path"] for f in dev["files"]]
    assert _ok("repo", "visibility", repo, "public")["private"] is False
    assert _ok("info", repo)["private"] is False
    _ok("repo", "tag", repo, "v1", "--delete")
    _ok("repo", "branch", repo, "dev", "--delete")
    assert set(_ok("info", repo)["branches"]) == {"main"}
    missing = runner.invoke(app, ["repo", "rm", repo, "nope.bin"])
    assert missing.exit_code != 0 and "Traceback" not in missing.output
    assert _ok("repo", "delete", repo, "--yes")["action"] == "deleted"
    gone = runner.invoke(app, ["info", repo])
    assert gone.exit_code != 0 and "not found" in gone.stderr


def test_delete_asks_first(tmp_path: Path) -> None:
    _ok("repo", "create", "local:dora/keep")
    result = runner.invoke(app, ["repo", "delete", "local:dora/keep"], input="n\n")
    assert result.exit_code != 0
    assert _ok("info", "local:dora/keep")["repo_id"] == "dora/keep"


def test_whoami_and_logout(hub_server) -> None:
    from zoolab.hub import config

    config.add_source("team", hub_server.url, token=hub_server.token("erin", orgs=("vision",)))
    who = _ok("whoami", "--source", "team")
    assert who["name"] == "erin" and "vision" in who["orgs"] and who["token_from"] == "config"
    result = runner.invoke(app, ["logout", "--source", "team"])
    assert result.exit_code == 0 and "logged out of team" in result.stdout
    assert config.load().sources["team"].token is None
    after = runner.invoke(app, ["whoami", "--source", "team"])
    assert after.exit_code != 0 and "not logged in to 'team'" in after.stderr
    assert _ok("whoami", "--source", "local")["source"] == "local"
    local = runner.invoke(app, ["logout", "--source", "local"])
    assert local.exit_code == 2 and "needs no token" in local.stderr
