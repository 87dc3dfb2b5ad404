"""What walking the README tour as a new user turned up: each step answers as the README says."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import torch._dynamo  # noqa: F401 - load triton before any TensorFlow in this process
from typer.testing import CliRunner

from zoolab.cli.main import app

runner = CliRunner()


def _invoke(*args: str, columns: int = 100) -> Any:
    return runner.invoke(app, list(args), env={"COLUMNS": str(columns), "NO_COLOR": "1"})


def test_models_table_never_cuts_names_or_sources() -> None:
    from zoolab.zoo import catalog

    result = _invoke("models", columns=80)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    for entry in catalog.list_models():
        for value in (entry.name, entry.torch_repo, entry.tf_preset):
            if value:
                assert any(re.search(rf"(^|\s){re.escape(value)}(\s|$)", line) for line in lines), value


@pytest.fixture
def run_folder(tmp_path: Path) -> Path:
    """A fine-tuning run folder as ``zoolab finetune`` leaves it: config.yaml, best/ and final/."""
    import timm
    from timm.models import save_for_hf

    run = tmp_path / "pets-run"
    model = timm.create_model("resnet18", num_classes=2, layers=(1, 1, 1, 1), channels=(8, 8, 16, 16), stem_width=8,
                              pretrained_cfg_overlay={"input_size": (3, 32, 32)})
    for name in ("best", "final"):
        save_for_hf(model, str(run / name), safe_serialization=True)
    (run / "config.yaml").write_text("schedule:\n  epochs: 1\n")
    return run


def test_a_finetuning_run_folder_means_its_best_model(run_folder: Path, tmp_path: Path) -> None:
    from PIL import Image

    image = tmp_path / "pet.png"
    Image.new("RGB", (40, 40), (120, 30, 200)).save(image)
    result = _invoke("predict", str(run_folder), str(image), "--json")
    assert result.exit_code == 0, result.output
    assert f"note: {run_folder} is a fine-tuning run: using its best model, {run_folder / 'best'}" in result.stderr
    out = json.loads(result.stdout)  # stdout holds the JSON only
    assert out["model"] == str(run_folder / "best") and len(out["results"]) == 1
    refused = _invoke("publish", str(run_folder), "local:me/pets")
    assert refused.exit_code == 2 and len(refused.stderr.strip().splitlines()) == 1
    assert "is a fine-tuning run" in refused.stderr
    assert f"zoolab publish {run_folder / 'best'} local:me/pets" in refused.stderr.replace("\n", "")


@pytest.fixture(scope="module")
def short_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Pendulum run too short to finish one episode (200 steps each, 2 envs, 256 steps)."""
    folder = tmp_path_factory.mktemp("tour") / "pendulum"
    result = runner.invoke(app, ["rl", "train", "ppo", "Pendulum-v1", "--steps", "256", "--n-envs", "2",
                                 "--set", "n_steps=64", "--device", "cpu", "--run-dir", str(folder),
                                 "--eval-episodes", "1", "--json"])
    assert result.exit_code == 0, result.output
    return folder


def test_push_of_a_short_run_says_why_it_has_no_curve(short_run: Path) -> None:
    result = _invoke("rl", "push", str(short_run), "local:me/short-run", "--no-video", "--json")
    assert result.exit_code == 0, result.output
    notes = json.loads(result.stdout)["notes"]
    assert "no learning curve: the runs have no finished episode to plot yet" in notes


def test_rl_tables_keep_dates_and_rank_first(short_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZOOLAB_OFFLINE", "1")
    pushed = _invoke("rl", "push", str(short_run), "local:me/ranked", "--no-video")
    assert pushed.exit_code == 0, pushed.output
    board = _invoke("search", "--task", "reinforcement-learning", "--env", "Pendulum-v1")
    assert board.exit_code == 0, board.output
    assert "catalog" not in board.stderr  # the catalog holds no agent: not a failing source
    header = next(line for line in board.stdout.splitlines() if "repo" in line and "#" in line)
    assert header.index("#") < header.index("repo")
    assert re.search(r"│\s+1\s+│\s+local:me/ranked\s+│", board.stdout)
    # `rl runs` keeps each run's start time on one line.
    monkeypatch.setenv("ZOOLAB_HOME", str(short_run.parent / "home"))
    from shutil import copytree

    copytree(short_run, short_run.parent / "home" / "runs" / short_run.name)
    runs = _invoke("rl", "runs", columns=100)
    assert runs.exit_code == 0 and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", runs.stdout), runs.stdout


def test_login_offline_says_how_to_store_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from zoolab.hub import config

    config.add_source("team", "http://127.0.0.1:9")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    refused = _invoke("login", "--source", "team", "--token", "zl_abc")
    assert refused.exit_code != 0 and "offline mode is on" in refused.stderr and "--no-verify" in refused.stderr
    assert config.load().sources["team"].token is None
    stored = _invoke("login", "--source", "team", "--token", "zl_abc", "--no-verify")
    assert stored.exit_code == 0 and "without checking it" in stored.stdout
    assert config.load().sources["team"].token == "zl_abc"


def test_writing_to_an_organisation_one_is_not_in_says_how_to_join(hub_server: Any, tmp_path: Path) -> None:
    from zoolab.hub import config

    config.add_source("team", hub_server.url, token=hub_server.token("nonmember"))
    result = _invoke("repo", "create", "team:tour-vision/model", columns=300)
    assert result.exit_code != 0 and len(result.stderr.strip().splitlines()) == 1, result.output
    assert "permission denied: 'nonmember' may not write to 'tour-vision'" in result.stderr
    assert "zoolab hub org add-member tour-vision nonmember" in result.stderr
    config.set_token("team", hub_server.token("reader", write=False))
    read_only = _invoke("repo", "create", "team:reader/model", columns=300)
    assert read_only.exit_code != 0 and "this token is read-only" in read_only.stderr, read_only.output
    assert "zoolab hub token create --user NAME --write" in read_only.stderr
