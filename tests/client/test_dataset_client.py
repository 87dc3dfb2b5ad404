"""Dataset repositories in the client: ``zoolab info --type dataset`` and the download cache
(``cache ls`` / ``rm`` / ``prune`` / ``verify`` on ``datasets--org--name`` folders), against the
local registry and a live hub server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import zoolab.hub as hub
from zoolab.cli.main import app
from zoolab.hub import layout
from tests.client.conftest import LiveHub, make_model

runner = CliRunner()
CSV = b"text,label\nhello,1\nworld,0\n"
CARD = "---\nlicense: mit\ntags: [reviews]\n---\n# Reviews\n\nShort product reviews.\n"


def _dataset(folder: Path, rows: bytes = CSV) -> Path:
    (folder / "data").mkdir(parents=True, exist_ok=True)
    (folder / "data" / "train.csv").write_bytes(rows)
    (folder / "README.md").write_text(CARD)
    return folder


def _invoke(*args: str) -> dict:
    r = runner.invoke(app, [*args, "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


@pytest.mark.parametrize("where", ["local", "team"])
def test_info_of_a_dataset_repo(where: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    if where == "team":
        request.getfixturevalue("team")
    repo = f"{where}:alice/info-reviews-{where}"
    hub.publish(_dataset(tmp_path / "d"), repo, repo_type="dataset", progress=False)
    d = _invoke("info", repo, "--type", "dataset")
    assert d["repo_type"] == "dataset" and d["repo_id"] == repo.split(":")[1]
    sizes = {f["path"]: f["size"] for f in d["files"] if f["path"] != ".gitattributes"}  # made by create_repo
    assert sizes == {"data/train.csv": len(CSV), "README.md": len(CARD)}
    assert d["license"] == "mit" and "reviews" in d["tags"] and d["frameworks"] == []
    assert d["summary"] == "Short product reviews." and d["branches"]["main"] == d["sha"]
    text = runner.invoke(app, ["info", repo, "--type", "dataset"])
    assert text.exit_code == 0 and "(dataset)" in text.stdout and "data/train.csv" in text.stdout
    # The same id as a model does not exist: one clear line, no traceback.
    missing = runner.invoke(app, ["info", repo])
    assert missing.exit_code != 0 and "not found" in missing.output and "Traceback" not in missing.output
    bad = runner.invoke(app, ["info", repo, "--type", "space"])
    assert bad.exit_code != 0 and "unknown repo type" in bad.output


def test_cache_lists_removes_and_prunes_datasets(tmp_path: Path) -> None:
    # A model and a dataset of one id, both downloaded: two cache folders, told apart by type.
    hub.publish(make_model(tmp_path / "m"), "local:me/shared")
    first = hub.publish(_dataset(tmp_path / "d"), "local:me/shared", repo_type="dataset", progress=False)
    old = hub.download("local:me/shared", revision=first.commit_id, repo_type="dataset", progress=False)
    hub.publish(_dataset(tmp_path / "d", CSV + b"again,1\n"), "local:me/shared", repo_type="dataset", progress=False)
    new = hub.download("local:me/shared", repo_type="dataset", progress=False)
    model = hub.download("local:me/shared", progress=False)
    assert old.path.parent.parent == layout.cache_dir("local") / "datasets--me--shared"

    listed = _invoke("cache", "ls")
    assert sorted((x["repo_id"], x["repo_type"]) for x in listed) == [("me/shared", "dataset"), ("me/shared", "model")]
    dataset = next(x for x in listed if x["repo_type"] == "dataset")
    assert sorted(r["commit"] for r in dataset["revisions"]) == sorted([old.commit, new.commit])
    table = runner.invoke(app, ["cache", "ls"])
    assert "dataset" in table.stdout and "model" in table.stdout

    assert _invoke("cache", "verify")["problems"] == []
    pruned = _invoke("cache", "prune")["removed"]
    assert any(f"dataset local:me/shared@{old.commit[:12]}" in line for line in pruned), pruned
    assert not old.path.exists() and (new.path / "data" / "train.csv").read_bytes() == CSV + b"again,1\n"

    removed = _invoke("cache", "rm", "local:me/shared", "--type", "dataset")["removed"]
    assert len(removed) == 1 and removed[0].startswith("removed dataset local:me/shared")
    assert not new.path.exists() and (model.path / "config.json").is_file()  # the model stays
    again = runner.invoke(app, ["cache", "rm", "local:me/shared", "--type", "dataset"])
    assert again.exit_code != 0 and "dataset local:me/shared is not in any download cache" in again.output
    assert [x["repo_type"] for x in _invoke("cache", "ls")] == ["model"]


def test_cache_rm_of_a_server_dataset_revision(team: LiveHub, tmp_path: Path) -> None:
    repo = f"team:{team.new_repo_id()}"
    hub.publish(_dataset(tmp_path / "d"), repo, repo_type="dataset", progress=False)
    snap = hub.download(repo, repo_type="dataset", progress=False)
    assert "datasets--" in str(snap.path)
    listed = [x for x in _invoke("cache", "ls", "--source", "team") if x["repo_type"] == "dataset"]
    assert [x["repo_id"] for x in listed] == [repo.split(":")[1]]
    removed = _invoke("cache", "rm", repo, "--revision", "main")["removed"]
    assert removed[0].startswith(f"removed dataset {repo}@{snap.commit[:12]}")
    assert not snap.path.exists()
