"""``--json`` on every command that prints a result, and JSON errors with the plain exit codes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch._dynamo  # noqa: F401 - load triton before any TensorFlow in this process
from typer.main import get_command
from typer.testing import CliRunner

from zoolab.cli._params import JSON_FLAGS
from zoolab.cli.main import app

runner = CliRunner()

# Commands that print no result a script would parse: a server that runs until stopped, and a
# configuration file for another program (its text is the output).
NO_RESULT = {"hub serve", "hub nginx-config"}


def _commands(cmd: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    if hasattr(cmd, "list_commands"):  # a group (typer vendors its own click classes)
        ctx = type(cmd).context_class(cmd)
        for name in cmd.list_commands(ctx):
            yield from _commands(cmd.get_command(ctx, name), (*path, name))  # type: ignore[arg-type]
    else:
        yield " ".join(path), cmd


def test_every_command_that_prints_a_result_has_json() -> None:
    commands = dict(_commands(get_command(app)))
    assert {"rl enjoy", "rl plot", "cache prune", "login", "source add"} <= set(commands)
    missing = sorted(name for name, cmd in commands.items()
                     if name not in NO_RESULT and not any(p.name in JSON_FLAGS for p in cmd.params))
    assert missing == [], f"no --json: {missing}"


def _ok(*args: str) -> Any:
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["rl", "enjoy", "/no/such/run"], "NotFound"),
        (["rl", "plot", "/no/such/run"], "NotFound"),
        (["rl", "train", "ppx", "CartPole-v1", "--device", "cpu"], "InvalidInput"),
        (["rl", "train", "--resume", "/no/such/run"], "NotFound"),
        (["source", "remove", "nope"], "Config"),
        (["source", "default", "nope"], "Config"),
        (["source", "add", "hf", "http://127.0.0.1:9"], None),
        (["login", "--source", "local", "--token", "x"], "InvalidInput"),
        (["repo", "tag", "local:nobody/nothing", "v1"], "RepoNotFound"),
        (["rl", "enjoy"], "UsageError"),
    ],
)
def test_errors_under_json_are_json_with_the_plain_exit_code(args: list[str], code: str | None) -> None:
    plain = runner.invoke(app, args, input="")
    as_json = runner.invoke(app, [*args, "--json"], input="")
    assert plain.exit_code == as_json.exit_code != 0, (plain.output, as_json.output)
    error = json.loads(as_json.stdout)["error"]
    assert set(error) >= {"code", "message"} and error["message"] and "\n" not in error["message"]
    if code is not None:
        assert error["code"] == code, error
    assert "Traceback" not in plain.output + as_json.output


def test_login_json_never_prompts() -> None:
    result = runner.invoke(app, ["login", "--source", "hf", "--json"], input="")
    assert result.exit_code == 2 and json.loads(result.stdout)["error"]["message"] == "login with --json needs --token"


def test_source_commands_json(hub_server: Any) -> None:
    added = _ok("source", "add", "team", hub_server.url)
    assert (added["name"], added["url"].rstrip("/"), added["token"]) == ("team", hub_server.url.rstrip("/"), False)
    assert _ok("source", "default", "team") == {"default": "team"}
    token = hub_server.token("jules")
    logged = _ok("login", "--source", "team", "--token", token)
    assert logged == {"source": "team", "url": added["url"], "name": "jules", "verified": True}
    assert _ok("source", "remove", "team") == {"removed": "team", "default": "hf"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One short PPO CartPole run trained through ``zoolab rl train --json``."""
    folder = tmp_path_factory.mktemp("json-run") / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ZOOLAB_HOME", str(folder.parent / "home"))
        out = _ok("rl", "train", "ppo", "CartPole-v1", "--steps", "256", "--n-envs", "2", "--set", "n_steps=64",
                  "--device", "cpu", "--run-dir", str(folder), "--eval-episodes", "2")
    return out


def test_train_json_says_target_and_time(run: dict[str, Any]) -> None:
    results = json.loads((Path(run["run_dir"]) / "results.json").read_text())
    assert run["train_time_s"] == pytest.approx(results["train_wall_time_s"]) and run["train_time_s"] > 0
    assert run["target_return"] == 475.0  # the CartPole-v1 PPO preset's
    assert run["target_reached"] is (run["eval"]["mean_return"] >= 475.0)
    assert run["steps"] == 256 and run["eval"]["episodes"] == 2


def test_enjoy_and_plot_json(run: dict[str, Any], tmp_path: Path) -> None:
    video = _ok("rl", "enjoy", run["run_dir"], "--out", str(tmp_path / "v.mp4"), "--max-steps", "5")
    assert video["path"] == str(tmp_path / "v.mp4") and Path(video["path"]).stat().st_size > 0
    assert video["episodes"] == 1 and video["frames"] >= 5 and len(video["returns"]) == 1
    assert (video["algo"], video["env_id"], video["deterministic"]) == ("ppo", "CartPole-v1", True)
    plot = _ok("rl", "plot", run["run_dir"], "--out", str(tmp_path / "c.png"), "--smooth", "1")
    assert plot == {"path": str(tmp_path / "c.png"), "runs": [run["run_dir"]], "metric": "return",
                    "smooth": 1, "target": 475.0}
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
