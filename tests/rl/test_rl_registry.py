"""Agents on the registry: rl push (card, files), eval/enjoy/pull/load/train --from by repo ref,
rl runs and latest, and the search leaderboard, on the local registry and on a real server."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from safetensors.torch import load_file
from typer.testing import CliRunner

from hub_server_support import HubServer
from zoolab.cli.main import app
from zoolab.rl.agent import EvalResult
from zoolab.rl.artifacts import load_agent
from zoolab.rl.training import train

SMALL = {"n_steps": 64, "env.n_envs": 2, "n_epochs": 2}


def invoke(*args: str):  # noqa: ANN201
    return CliRunner().invoke(app, list(args))


@pytest.fixture
def run(tmp_path: Path) -> Path:
    # In ZOOLAB_HOME/runs (the test's own home), so `latest` and `rl runs` see it.
    from zoolab import settings

    folder = settings.runs_dir() / "ppo-small"
    train("ppo", "CartPole-v1", steps=512, run_dir=folder, device="cpu", overrides=SMALL, eval_episodes=3, seed=2)
    return folder


def card_meta(path: Path) -> dict:
    text = path.read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_push_writes_the_agent_its_card_plots_and_video(run: Path, tmp_path: Path) -> None:
    out = invoke("rl", "push", "latest", "local:me/ppo-cartpole", "--json")
    assert out.exit_code == 0, out.output
    res = json.loads(out.output)
    assert sorted(res["files"]) == ["README.md", "config.json", "learning_curves.png", "metrics.csv",
                                    "model.safetensors", "replay.mp4", "results.json"]
    pulled = invoke("rl", "pull", "local:me/ppo-cartpole", "--out", str(tmp_path / "pulled"))
    assert pulled.exit_code == 0, pulled.output
    folder = tmp_path / "pulled"
    assert (folder / "model.safetensors").read_bytes() == (run / "agent" / "model.safetensors").read_bytes()
    assert (folder / "metrics.csv").read_bytes() == (run / "metrics.csv").read_bytes()
    assert (folder / "learning_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (folder / "replay.mp4").stat().st_size > 1000
    meta = card_meta(folder / "README.md")
    results = json.loads((run / "results.json").read_text())
    assert meta["pipeline_tag"] == "reinforcement-learning" and meta["library_name"] == "zoolab"
    assert {"reinforcement-learning", "ppo", "CartPole-v1"} <= set(meta["tags"])
    result = meta["model-index"][0]["results"][0]
    assert result["task"]["type"] == "reinforcement-learning"
    assert result["dataset"]["name"] == "CartPole-v1"
    metric = result["metrics"][0]
    assert metric["type"] == "mean_reward"
    assert metric["value"] == f"{results['mean_return']:.2f} +/- {results['std_return']:.2f}"
    assert "zoolab rl eval local:me/ppo-cartpole" in (folder / "README.md").read_text()


def test_push_without_video_and_again_unchanged(run: Path) -> None:
    first = json.loads(invoke("rl", "push", str(run), "local:me/novideo", "--no-video", "--json").output)
    assert "replay.mp4" not in first["files"]
    again = invoke("rl", "push", str(run), "local:me/novideo", "--no-video")
    assert again.exit_code == 0 and "nothing changed" in again.output


def test_a_pushed_agent_evaluates_loads_and_acts_like_the_original(run: Path) -> None:
    from zoolab.rl import load

    assert invoke("rl", "push", str(run), "local:me/agent", "--no-video").exit_code == 0
    original = load_agent(run / "agent", device="cpu")
    remote = load("local:me/agent", device="cpu")
    obs = np.random.default_rng(0).uniform(-0.2, 0.2, (500, 4)).astype(np.float32)
    assert np.array_equal(original.predict(obs), remote.predict(obs))
    out = invoke("rl", "eval", "local:me/agent", "--episodes", "3", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["mean_return"] == pytest.approx(original.evaluate(3).mean_return)


def test_enjoy_a_repo_writes_the_video_here_not_in_the_cache(run: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    assert invoke("rl", "push", str(run), "local:me/enjoy", "--no-video").exit_code == 0
    monkeypatch.chdir(tmp_path)
    out = invoke("rl", "enjoy", "local:me/enjoy", "--max-steps", "20")
    assert out.exit_code == 0, out.output
    assert (tmp_path / "replay.mp4").stat().st_size > 0


def test_train_from_a_repo_continues_with_its_weights_and_statistics(run: Path, tmp_path: Path) -> None:
    assert invoke("rl", "push", str(run), "local:me/base", "--no-video").exit_code == 0
    new = tmp_path / "continued"
    out = invoke("rl", "train", "--from", "local:me/base", "--steps", "256", "--device", "cpu",
                 "--run-dir", str(new), "--eval-episodes", "1", "--json")
    assert out.exit_code == 0, out.output
    cfg = yaml.safe_load((new / "config.yaml").read_text())
    assert cfg["from"] == {"ref": "local:me/base", "num_timesteps": 512}
    assert cfg["algorithm"] == "ppo" and cfg["hyperparameters"]["n_steps"] == 64
    start = load_file(str(new / "init" / "model.safetensors"))
    source = load_file(str(run / "agent" / "model.safetensors"))
    assert all(bool((start[k] == source[k]).all()) for k in source)
    assert json.loads(out.output)["steps"] == 256


def test_train_from_refuses_another_env(run: Path) -> None:
    out = invoke("rl", "train", "ppo", "Acrobot-v1", "--from", str(run))
    assert out.exit_code == 2 and "was trained on CartPole-v1" in out.output


def test_runs_lists_local_runs_and_latest_is_the_newest(run: Path) -> None:
    out = invoke("rl", "runs", "--json")
    rows = json.loads(out.output)
    assert [r["run"] for r in rows] == ["ppo-small"]
    assert rows[0]["algo"] == "ppo" and rows[0]["env_id"] == "CartPole-v1" and rows[0]["steps"] == 512
    assert rows[0]["status"] == "done" and rows[0]["final_return"] is not None
    assert invoke("rl", "eval", "latest", "-n", "1").exit_code == 0


def test_runs_and_latest_with_no_run() -> None:
    assert "no runs under" in invoke("rl", "runs").output
    out = invoke("rl", "eval", "latest")
    assert out.exit_code != 0 and "no run under" in out.output and "Traceback" not in out.output


@pytest.mark.parametrize(("ref", "message"), [
    ("local:me/absent", "not found"), ("nowhere-folder", "no run folder"), ("local:bad--id", "invalid"),
])
def test_bad_references_get_one_clear_line(ref: str, message: str) -> None:
    out = invoke("rl", "eval", ref)
    assert out.exit_code != 0 and message in out.output.lower() and "Traceback" not in out.output


def test_a_repo_without_an_agent_is_named(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\0" * 16)
    assert invoke("publish", str(folder), "local:me/not-an-agent").exit_code == 0
    out = invoke("rl", "eval", "local:me/not-an-agent")
    assert out.exit_code != 0 and "holds no zoolab agent" in out.output


def _fake_agent(run: Path, folder: Path, env_mean: float) -> Path:
    agent = load_agent(run / "agent", device="cpu")
    agent.save(folder, results=EvalResult(env_mean, 1.0, 2, [env_mean - 1, env_mean + 1], [10, 10], True))
    return folder


def test_search_ranks_agents_by_reported_return_per_env(run: Path, tmp_path: Path) -> None:
    for name, mean in (("low", 12.0), ("high", 480.5), ("mid", 200.0)):
        folder = _fake_agent(run, tmp_path / name, mean)
        assert invoke("publish", str(folder), f"local:me/cp-{name}").exit_code == 0
    # An agent of another environment stays off the CartPole board.
    sac = train("sac", "Pendulum-v1", steps=200, run_dir=tmp_path / "sac", device="cpu", eval_episodes=1,
                overrides={"learning_starts": 50, "hidden_sizes": (16,)})
    assert invoke("rl", "push", str(sac.run_dir), "local:me/pendulum", "--no-video").exit_code == 0
    out = invoke("search", "--task", "reinforcement-learning", "--env", "CartPole-v1", "--source", "local", "--json")
    assert out.exit_code == 0, out.output
    hits = json.loads(out.output)["hits"]
    assert [h["repo"] for h in hits] == ["local:me/cp-high", "local:me/cp-mid", "local:me/cp-low"]
    assert hits[0]["mean_reward"] == 480.5 and hits[0]["std_reward"] == 1.0 and hits[0]["algo"] == "ppo"
    every = json.loads(invoke("search", "--task", "reinforcement-learning", "--source", "local", "--json").output)
    assert {h["env_id"] for h in every["hits"]} == {"CartPole-v1", "Pendulum-v1"}
    table = invoke("search", "--env", "CartPole-v1", "--source", "local")
    assert table.exit_code == 0 and table.output.index("cp-high") < table.output.index("cp-low")
    assert "480.50" in table.output


def test_push_and_eval_through_a_real_server(run: Path, hub_server: HubServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_ENDPOINT", hub_server.url)
    monkeypatch.setenv("HF_TOKEN", hub_server.token("rlpusher"))
    monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")
    repo = f"hf:{hub_server.new_repo_id('rlpusher')}"
    out = invoke("rl", "push", str(run), repo, "--no-video", "--private", "--json")
    assert out.exit_code == 0, out.output
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_server.url, token=hub_server.token("rlpusher"))
    info = api.model_info(repo.split(":", 1)[1], files_metadata=False)
    assert info.private and info.pipeline_tag == "reinforcement-learning" and info.library_name == "zoolab"
    evaluated = invoke("rl", "eval", repo, "-n", "2", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    ranked = json.loads(invoke("search", "--env", "CartPole-v1", "--source", "hf", "--json").output)["hits"]
    assert repo in [h["repo"] for h in ranked]
