"""The hostile repositories again, published to a real ``zoolab hub serve`` on 127.0.0.1 and
loaded as ``SOURCE:org/name``: the download fetches only what loading reads (never a pickle,
never repository code without trust), writes only into the cache, and the loader refuses the
same things it refuses in a local folder."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from hostile_repos import MARKER
from typer.testing import CliRunner

import hostile_repos as hostile
import zoolab.zoo as zoo
from zoolab.cli.main import app
from zoolab.errors import InvalidInputError, PermissionDeniedError, UnsupportedError
from zoolab.zoo.keras_checkpoints import make_checkpoint

runner = CliRunner()


@pytest.fixture
def team(hub_server) -> str:
    from zoolab.hub.config import add_source

    add_source("team", hub_server.url, token=hub_server.token("zoo-reader", write=False))
    return "team"


@pytest.fixture
def publish(hub_server):
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_server.url, token=hub_server.token("attacker"))

    def push(folder: Path) -> str:
        repo_id = hub_server.new_repo_id("attacker")
        api.create_repo(repo_id)
        api.upload_folder(repo_id=repo_id, folder_path=folder)
        return repo_id

    return push


def _snapshot_files(home: Path) -> list[str]:
    """Every file the downloads wrote under the test's HF cache."""
    return sorted(p.name for p in (home.parent / "hf-home").rglob("*") if p.is_file() or p.is_symlink())


def test_hostile_repositories_over_http(tmp_path: Path, team: str, publish, isolated_home: Path) -> None:
    bert = make_checkpoint("bert", tmp_path / "src-bert")
    cases = [
        ("pickle-shard", hostile.shards_to_pickle, UnsupportedError, "torch"),
        ("pickle-shard-tf", hostile.shards_to_pickle, UnsupportedError, "tf"),
        ("transformers-weights", hostile.transformers_weights_bin, UnsupportedError, "torch"),
        ("declared-layers", lambda f: hostile.declared_layers(f, 8), InvalidInputError, "tf"),
        ("auto-map", hostile.config_auto_map, PermissionDeniedError, "torch"),
        ("auto-map-list", hostile.tokenizer_auto_map_list, InvalidInputError, "torch"),
        ("odd-dtype", hostile.odd_dtype, UnsupportedError, "tf"),
    ]
    for name, build, error, framework in cases:
        folder = shutil.copytree(bert, tmp_path / name)
        pattern = build(folder)
        ref = f"{team}:{publish(folder)}"
        with pytest.raises(error, match=pattern):
            zoo.load(ref, framework=framework)
        result = runner.invoke(app, ["predict", ref, "hello", "--framework", framework])
        # One error line after the download's progress bars.
        assert result.exit_code != 0 and "Traceback" not in result.output
        assert re.search(pattern, result.stderr.rsplit("error: ", 1)[-1].replace("\n", ""))
        assert runner.invoke(app, ["scan", ref, "--framework", framework]).exit_code == 1
    files = _snapshot_files(isolated_home)
    # Neither pickles nor repository code were fetched, whatever their names.
    assert "model.safetensors" in files
    assert not [f for f in files if f.endswith((".bin", ".py", ".data", ".pkl"))], files
    assert not list(tmp_path.rglob(MARKER))


def test_pickles_beside_safetensors_are_not_downloaded(tmp_path: Path, team: str, publish, isolated_home: Path) -> None:
    folder = make_checkpoint("bert", tmp_path / "bert")
    hostile.pickles_beside_safetensors(folder)
    ref = f"{team}:{publish(folder)}"
    assert zoo.load(ref).task == "feature-extraction"
    scanned = runner.invoke(app, ["scan", ref, "--framework", "torch", "--json"])
    assert scanned.exit_code == 0, scanned.output
    files = _snapshot_files(isolated_home)
    assert "model.safetensors" in files
    assert not [f for f in files if f.endswith((".bin", ".pkl"))], files
    assert not (folder / MARKER).exists()


def test_timm_and_metadata_attacks_over_http(tmp_path: Path, team: str, publish, timm_folder_factory) -> None:
    clean = timm_folder_factory(tmp_path / "timm")
    for name, build in [("crop", lambda f: hostile.timm_crop_pct(f, 0.002)),
                        ("labels", lambda f: hostile.zoolab_json(f, labels=5) or "field 'labels'")]:  # fmt: skip
        folder = shutil.copytree(clean, tmp_path / name)
        pattern = build(folder)
        repo_id = publish(folder)
        with pytest.raises(InvalidInputError, match=pattern):
            zoo.load(f"{team}:{repo_id}")
        scanned = runner.invoke(app, ["scan", f"{team}:{repo_id}"])
        assert scanned.exit_code == 1 and "refused:" in scanned.stderr
