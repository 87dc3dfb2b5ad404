"""Names checked by a regex must match whole: ``$`` also matches before a final newline, so
``"step-3\\n"`` or ``"cuda\\n"`` would pass a ``^...$`` pattern with ``re.match``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zoolab.errors import InvalidInputError


def test_step_folder_with_a_trailing_newline_is_no_checkpoint(tmp_path: Path) -> None:
    from zoolab.runs import list_step_dirs

    for name in ("step-3", "step-7\n", "step-9x"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "state.json").write_text("{}")
    assert list_step_dirs(tmp_path) == [(3, tmp_path / "step-3")]


def test_device_names_match_whole() -> None:
    from zoolab.cli.rl import DEVICE_RE, check_device

    assert check_device(" CPU\n") == "cpu"  # surrounding blanks are stripped on purpose
    assert DEVICE_RE.fullmatch("cuda:1") and not DEVICE_RE.fullmatch("cuda\n")
    for bad in ("cpu\nx", "cuda:1:2", "gpu"):
        with pytest.raises(InvalidInputError, match="unknown device"):
            check_device(bad)


def test_keras_preset_config_file_with_a_trailing_newline_is_refused(tmp_path: Path) -> None:
    from zoolab.zoo.keras_allowlist import check_preset

    def preset(config_file: str) -> Path:
        folder = tmp_path / str(len(list(tmp_path.iterdir())))
        folder.mkdir()
        (folder / "tokenizer.json").write_text(json.dumps({
            "class_name": "Tok", "registered_name": "x>Tok", "module": "x",
            "config": {"config_file": config_file}}))
        return folder

    check_preset(preset("tokenizer.json"), trust_remote_code=True)
    with pytest.raises(InvalidInputError, match="config_file"):
        check_preset(preset("tokenizer.json\n"), trust_remote_code=True)


def test_leaderboard_rewards_and_env_tags_match_whole() -> None:
    from zoolab.rl.leaderboard import parse_reward

    assert parse_reward("500.00 +/- 0.00\n") == (500.0, 0.0)  # blanks around the value are fine
    assert parse_reward("500.00 +/- 0.00 extra") == (None, None)


def test_env_tag_with_a_trailing_newline_is_no_env_id() -> None:
    from types import SimpleNamespace

    from zoolab.rl.leaderboard import _entry

    hit = SimpleNamespace(qualified_id="team:lab/ppo", downloads=1, library=None)
    for tags, env in ((["ppo", "CartPole-v1"], "CartPole-v1"), (["ppo", "CartPole-v1\n"], None)):
        details = SimpleNamespace(card={}, tags=tags, library="zoolab")
        assert _entry(hit, details).env_id == env
