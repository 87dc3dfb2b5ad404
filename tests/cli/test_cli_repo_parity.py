"""``zoolab repo ...`` answers the same on the local registry and on a hub server.

The local registry runs the operations on its store and a server through huggingface_hub
(docs/hub-client.md says why); each case below runs on both, and the error line, the JSON error
code and the exit code must be the same once the source name and repo id are put back.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from zoolab.cli.main import app

runner = CliRunner()

# (command after the repo, what to do first) -> the line both sources print. {ref} is SOURCE:org/name.
CASES: dict[str, tuple[list[str], list[list[str]], str]] = {
    "create twice": (["create"], [["create"]], "{ref} already exists"),
    "delete missing": (["delete", "--yes"], [], "{ref} not found"),
    "tag missing repo": (["tag", "v1"], [], "{ref} not found"),
    "tag twice": (["tag", "v1"], [["tag", "v1"]], "{ref}: tag 'v1' already exists"),
    "tag missing revision": (["tag", "v1", "--revision", "nope"], [], "{ref}: revision 'nope' not found"),
    "delete missing tag": (["tag", "v9", "--delete"], [], "{ref}: tag 'v9' not found"),
    "branch twice": (["branch", "dev"], [["branch", "dev"]], "{ref}: branch 'dev' already exists"),
    "branch missing revision": (["branch", "dev", "--revision", "nope"], [], "{ref}: revision 'nope' not found"),
    "delete missing branch": (["branch", "dev", "--delete"], [], "{ref}: branch 'dev' not found"),
    "visibility missing repo": (["visibility", "public"], [], "{ref} not found"),
    "rm missing file": (["rm", "nope.bin"], [], "{ref}@main: nope.bin not found"),
    "rm on missing branch": (["rm", "model.safetensors", "--branch", "nope"], [], "{ref}: revision 'nope' not found"),
}
NEEDS_REPO = {"create twice": False, "delete missing": False, "tag missing repo": False, "visibility missing repo": False}


@pytest.fixture(params=["local", "team"])
def source(request: Any, hub_server: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    """A function giving a fresh repo ref on the local registry or on the hub server."""
    counter = iter(range(1000))
    if request.param == "team":
        from zoolab.hub import config

        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
        config.add_source("team", hub_server.url, token=hub_server.token("pat"))
        return lambda: f"team:{hub_server.new_repo_id('pat')}"
    return lambda: f"local:pat/parity-{next(counter)}"


def _publish(ref: str, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir(exist_ok=True)
    (folder / "config.json").write_text(json.dumps({"architecture": "resnet18", "num_classes": 3, "pretrained_cfg": {}}))
    (folder / "model.safetensors").write_bytes(os.urandom(64))
    result = runner.invoke(app, ["publish", str(folder), ref, "--json"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("case", list(CASES))
def test_errors_are_the_same_on_every_source(case: str, source: Any, tmp_path: Path) -> None:
    command, before, expected = CASES[case]
    ref = source()
    if NEEDS_REPO.get(case, True):
        _publish(ref, tmp_path)
    for step in before:
        assert runner.invoke(app, ["repo", step[0], ref, *step[1:]]).exit_code == 0
    plain = runner.invoke(app, ["repo", command[0], ref, *command[1:]])
    as_json = runner.invoke(app, ["repo", command[0], ref, *command[1:], "--json"])
    line = plain.stderr.strip()
    assert plain.exit_code != 0 and len(line.splitlines()) == 1 and "Traceback" not in plain.output, plain.output
    assert line.startswith("error: " + expected.format(ref=ref)), line
    error = json.loads(as_json.stdout)["error"]
    assert as_json.exit_code == plain.exit_code and error["message"].startswith(expected.format(ref=ref)), error


def test_error_codes_match_across_sources(hub_server: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from zoolab.hub import config

    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    config.add_source("team", hub_server.url, token=hub_server.token("pat"))
    answers = {}
    for ref in ("local:pat/codes", f"team:{hub_server.new_repo_id('pat')}"):
        _publish(ref, tmp_path)
        runs = [["tag", ref, "v1"], ["tag", ref, "v1"], ["branch", ref, "dev", "--delete"], ["rm", ref, "x.bin"],
                ["visibility", ref, "public"], ["delete", ref, "--yes"], ["delete", ref, "--yes"],
                ["delete", ref, "--yes", "--missing-ok"]]
        answers[ref.split(":")[0]] = [
            (r.exit_code, json.loads(r.stdout).get("error", {}).get("code") if r.stdout.strip() else None)
            for r in (runner.invoke(app, ["repo", *args, "--json"]) for args in runs)
        ]
    assert answers["local"] == answers["team"]
