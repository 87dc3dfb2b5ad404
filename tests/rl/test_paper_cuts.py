"""What a user trying the lab ran into: --steps overshoot, settings out of range, Ctrl-C, --resume
messages and `rl plot --metric` output names."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zoolab.cli.main import app
from zoolab.errors import InvalidInputError, TrainingError
from zoolab.rl import PPO
from zoolab.rl.training import TrainingInterrupted, train
from zoolab.rl.checkpoint import list_checkpoints

SMALL = {"n_steps": 64, "env.n_envs": 2, "batch_size": 64, "n_epochs": 1}


def last_step(run: Path) -> int:
    with open(run / "metrics.csv", newline="") as fh:
        return int(list(csv.DictReader(fh))[-1]["step"])


# --- --steps ----------------------------------------------------------------------------------
def test_steps_stop_at_the_budget_with_a_partial_last_rollout(tmp_path: Path) -> None:
    # 2 envs x 64 steps = 128 per rollout; 300 steps is 2 rollouts and a partial one of 44.
    res = train("ppo", "CartPole-v1", steps=300, run_dir=tmp_path / "run", device="cpu", overrides=SMALL,
                eval_episodes=1)
    assert res.agent.num_timesteps == 300
    assert last_step(res.run_dir) == 300
    assert json.loads((res.run_dir / "results.json").read_text())["num_timesteps"] == 300


def test_a2c_stops_at_the_budget_too(tmp_path: Path) -> None:
    agent = train("a2c", "CartPole-v1", steps=301, run_dir=tmp_path / "run", device="cpu",
                  overrides={"n_steps": 8, "env.n_envs": 1}, eval_episodes=1).agent
    assert agent.num_timesteps == 301


def test_a_budget_not_divisible_by_the_envs_is_announced_before_training(tmp_path: Path) -> None:
    plans = []
    res = train("ppo", "CartPole-v1", steps=301, run_dir=tmp_path / "run", device="cpu", overrides=SMALL,
                eval_episodes=1, on_start=plans.append)
    assert len(plans) == 1 and plans[0].total_steps == 302 and plans[0].requested_steps == 301
    assert "training stops at 302" in plans[0].notes[0]
    assert res.agent.num_timesteps == 302


def test_cli_prints_the_rounding_note(tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["rl", "train", "ppo", "CartPole-v1", "--steps", "129", "--n-envs", "2",
                                   "--set", "n_steps=64", "--device", "cpu", "--run-dir", str(tmp_path / "r"),
                                   "--eval-episodes", "1"])
    assert out.exit_code == 0, out.output
    assert "training stops at 130" in out.output
    assert "steps trained" in out.output and "130" in out.output


# --- ranges -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("setting", "allowed"), [
    ("n_steps=-5", "whole number >= 1"), ("batch_size=0", "whole number >= 1"), ("learning_rate=-1e-3", "> 0"),
    ("gamma=1.01", "in [0, 1]"), ("gae_lambda=-0.1", "in [0, 1]"), ("clip_range=0", "> 0"),
    ("env.n_envs=0", ">= 1"), ("hidden_sizes=64,0", "each a whole number >= 1"), ("ent_coef=nan", "finite"),
    ("activation=swish", "tanh, relu, elu, gelu"), ("env.clip_obs=-1", "> 0"),
])
def test_cli_refuses_settings_out_of_range_with_what_is_allowed(setting: str, allowed: str, tmp_path: Path) -> None:
    out = CliRunner().invoke(app, ["rl", "train", "ppo", "CartPole-v1", "--set", setting, "--device", "cpu",
                                   "--run-dir", str(tmp_path / "r")])
    assert out.exit_code == 2, out.output
    assert allowed in out.output and setting.split("=")[0] in out.output
    assert "Traceback" not in out.output and "RuntimeError" not in out.output
    assert not (tmp_path / "r").exists()  # refused before the run folder is made


@pytest.mark.parametrize(("algo", "setting"), [
    ("dqn", {"buffer_size": 0}), ("dqn", {"exploration_final_eps": 1.5}), ("dqn", {"target_update_interval": 0}),
    ("sac", {"tau": 0}), ("sac", {"batch_size": -1}), ("td3", {"policy_delay": 0}),
    ("td3", {"target_policy_noise": -0.1}), ("a2c", {"n_steps": 0}), ("sac", {"learning_starts": -1}),
])
def test_every_algorithm_checks_its_ranges(algo: str, setting: dict, tmp_path: Path) -> None:
    env = "CartPole-v1" if algo in ("dqn", "a2c") else "Pendulum-v1"
    with pytest.raises(InvalidInputError) as exc:
        train(algo, env, steps=100, run_dir=tmp_path / "r", device="cpu", overrides=setting)
    assert next(iter(setting)) in exc.value.message and "must be" in exc.value.message


def test_the_library_checks_ranges_too() -> None:
    with pytest.raises(InvalidInputError, match="n_steps"):
        PPO("CartPole-v1", config={"n_steps": -5})


# --- Ctrl-C -----------------------------------------------------------------------------------
def test_interrupt_writes_a_checkpoint_and_resume_finishes_the_run(tmp_path: Path) -> None:
    run = tmp_path / "run"

    def press_ctrl_c(progress) -> None:  # noqa: ANN001
        if progress.step == 384:
            os.kill(os.getpid(), signal.SIGINT)

    before = signal.getsignal(signal.SIGINT)  # whatever the test process had (a launcher may have set one)
    with pytest.raises(TrainingInterrupted) as exc:
        train("ppo", "CartPole-v1", steps=1024, run_dir=run, device="cpu", overrides=SMALL, callback=press_ctrl_c)
    # The interrupt is acted on at the next safe point, after one more rollout.
    assert exc.value.step == 512
    assert list_checkpoints(run / "checkpoints")[-1][0] == 512
    assert f"zoolab rl train --resume {run}" in str(exc.value)
    assert signal.getsignal(signal.SIGINT) is before  # handler given back
    res = train(None, None, resume=run, device="cpu", eval_episodes=1)
    assert res.agent.num_timesteps == 1024 and (run / "agent" / "config.json").is_file()


def test_cli_ctrl_c_prints_the_resume_command(tmp_path: Path) -> None:
    run = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "zoolab", "rl", "train", "ppo", "CartPole-v1", "--steps",
                             "2000000", "--n-envs", "2", "--set", "n_steps=64", "--device", "cpu", "--run-dir",
                             str(run)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (run / "metrics.csv").is_file():
        time.sleep(0.2)
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert f"continue with: zoolab rl train --resume {run}" in err
    assert "Traceback" not in err
    kept = list_checkpoints(run / "checkpoints")
    assert kept and kept[-1][0] == last_step(run)  # nothing logged after the checkpoint is lost


# --- --resume messages ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("finished") / "run"
    train("ppo", "CartPole-v1", steps=256, run_dir=run, device="cpu", overrides=SMALL, eval_episodes=1)
    return run


def test_resume_of_an_agent_folder_points_to_from(finished: Path) -> None:
    out = CliRunner().invoke(app, ["rl", "train", "--resume", str(finished / "agent")])
    assert out.exit_code == 2
    assert "saved agent, not a run folder" in out.output and f"--from {finished / 'agent'}" in out.output


def test_resume_of_a_finished_run_says_it_is_complete(finished: Path) -> None:
    out = CliRunner().invoke(app, ["rl", "train", "--resume", str(finished)])
    assert out.exit_code == 2
    assert "is complete (256 steps)" in out.output and "--from" in out.output


def test_resume_without_a_checkpoint_says_it_starts_again(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with pytest.raises(TrainingInterrupted):
        train("ppo", "CartPole-v1", steps=4096, run_dir=run, device="cpu", overrides=SMALL,
              callback=lambda p: os.kill(os.getpid(), signal.SIGINT) if p.step == 128 else None)
    for ckpt in (run / "checkpoints").iterdir():  # as if killed before the first checkpoint
        import shutil

        shutil.rmtree(ckpt)
    plans = []
    res = train(None, None, resume=run, device="cpu", eval_episodes=1, on_start=plans.append, steps=None)
    assert plans[0].start_step == 0 and "training starts again from step 0" in plans[0].notes[0]
    assert res.agent.num_timesteps == 4096


def test_a_diverged_run_is_not_offered_resume_and_refuses_it(tmp_path: Path) -> None:
    run = tmp_path / "run"
    with pytest.raises(TrainingError) as exc:
        train("ppo", "ZoolabTest/NaNReward-v0", steps=20_000, run_dir=run, device="cpu",
              overrides={"n_steps": 32, "env.n_envs": 2})
    assert "--resume" not in (exc.value.hint or "") and "would diverge again" in exc.value.hint
    out = CliRunner().invoke(app, ["rl", "train", "--resume", str(run)])
    assert out.exit_code != 0 and "diverged at step" in out.output and "diverges again" in out.output
    assert "learning_rate" in out.output


# --- plot --metric ----------------------------------------------------------------------------
def test_plot_of_a_metric_keeps_the_return_plot(finished: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(app, ["rl", "plot", str(finished)]).exit_code == 0
    curve = finished / "learning_curve.png"
    before = curve.read_bytes()
    out = runner.invoke(app, ["rl", "plot", str(finished), "--metric", "loss/value"])
    assert out.exit_code == 0, out.output
    assert (finished / "learning_curve-loss_value.png").is_file()
    assert curve.read_bytes() == before


def test_plot_title_names_the_metric(finished: Path, tmp_path: Path) -> None:
    from zoolab.rl.media import plot_learning_curves

    captured = {}
    import matplotlib.axes

    original = matplotlib.axes.Axes.set_title

    def spy(self, label, *a, **k):  # noqa: ANN001, ANN002, ANN003
        captured["title"] = label
        return original(self, label, *a, **k)

    matplotlib.axes.Axes.set_title = spy
    try:
        plot_learning_curves([finished], tmp_path / "v.png", metric="loss/value", smooth_window=3)
    finally:
        matplotlib.axes.Axes.set_title = original
    assert captured["title"] == "loss/value (moving average of 3)"
