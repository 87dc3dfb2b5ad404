"""`zoolab rl`: train (a real subprocess), eval, enjoy, plot, presets and every bad input.

One short PPO CartPole-v1 run is trained once per module through ``python -m zoolab`` and shared
by the commands that read a run folder.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import imageio.v2 as imageio
import numpy as np
import pytest
import torch._dynamo  # noqa: F401 - load triton before any TensorFlow in this process (they crash the other way round)
import yaml
from PIL import Image
from typer.testing import CliRunner

from zoolab.cli.main import app

pytestmark = pytest.mark.xdist_group("rl-cli")

STEPS = 2048


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m zoolab ...`` as a user runs it (one torch thread, this test's ZOOLAB_HOME)."""
    full_env = dict(os.environ, OMP_NUM_THREADS="1", COLUMNS="120", **(env or {}))
    return subprocess.run([sys.executable, "-m", "zoolab", *args], capture_output=True, text=True,
                          env=full_env, timeout=240)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def mp4_frames(path: Path) -> np.ndarray:
    with imageio.get_reader(path, format="FFMPEG") as reader:
        return np.stack([frame for frame in reader])  # list() would preallocate the reported inf length


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    base = tmp_path_factory.mktemp("rl-cli")
    run = base / "run"
    proc = run_cli("rl", "train", "ppo", "CartPole-v1", "--steps", str(STEPS), "--seed", "3", "--n-envs", "4",
                   "--device", "cpu", "--set", "n_steps=64", "--run-dir", str(run), "--eval-episodes", "4",
                   env={"ZOOLAB_HOME": str(base / "home")})
    assert proc.returncode == 0, proc.stderr
    return run, proc


def test_train_subprocess_writes_the_run_folder(trained: tuple[Path, Any]) -> None:
    run, proc = trained
    assert "Traceback" not in proc.stderr
    assert "deterministic evaluation" in proc.stdout and f"run folder: {run}" in proc.stdout
    config = yaml.safe_load((run / "config.yaml").read_text())
    assert (config["algorithm"], config["env_id"], config["seed"], config["total_steps"]) == ("ppo", "CartPole-v1", 3, STEPS)
    assert config["hyperparameters"]["n_steps"] == 64  # the --set reached the library
    assert config["hyperparameters"]["env"]["n_envs"] == 4  # so did --n-envs
    with (run / "metrics.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["step"]) for r in rows] == list(range(256, STEPS + 1, 256))  # 4 envs x 64 steps per update
    assert list((run / "tb").glob("events.out.tfevents.*"))
    assert list((run / "checkpoints").glob("step-*/model.safetensors"))
    for name in ("config.json", "model.safetensors", "results.json", "README.md"):
        assert (run / "agent" / name).is_file(), name
    results = json.loads((run / "results.json").read_text())
    assert results["num_timesteps"] == STEPS and results["episodes"] == 4 and results["deterministic"] is True
    returns = results["returns"]
    assert len(returns) == 4 and all(1 <= r <= 500 for r in returns)
    assert results["lengths"] == [int(r) for r in returns]  # CartPole pays 1 per step
    assert results["mean_return"] == pytest.approx(float(np.mean(returns)))
    assert results["std_return"] == pytest.approx(float(np.std(returns)))
    assert f"{results['mean_return']:.2f}" in proc.stdout  # the printed table shows the same evaluation


def test_eval_json_and_agent_folder(trained: tuple[Path, Any]) -> None:
    run, _ = trained
    result = invoke("rl", "eval", str(run), "--episodes", "3", "--seed", "7", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["algo"], data["env_id"], data["episodes"], data["deterministic"]) == ("ppo", "CartPole-v1", 3, True)
    assert data["mean_return"] == pytest.approx(float(np.mean(data["returns"])))
    # The agent folder gives the same agent; same seed, deterministic policy: same returns.
    again = json.loads(invoke("rl", "eval", str(run / "agent"), "--episodes", "3", "--seed", "7", "--json").stdout)
    assert again["returns"] == data["returns"]


def test_eval_table_and_video(trained: tuple[Path, Any]) -> None:
    run, _ = trained
    result = invoke("rl", "eval", str(run), "--episodes", "2", "--video")
    assert result.exit_code == 0, result.output
    assert "mean return" in result.stdout and "target" in result.stdout
    video = run / "eval.mp4"
    assert video.stat().st_size > 0
    assert mp4_frames(video).shape[1:] == (400, 600, 3)


def test_enjoy_renders_an_mp4(trained: tuple[Path, Any], tmp_path: Path) -> None:
    run, _ = trained
    out = tmp_path / "watch.mp4"
    result = invoke("rl", "enjoy", str(run), "--out", str(out), "--max-steps", "60")
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0
    frames = mp4_frames(out)
    # One frame after reset plus one per step; CartPole's return is its step count.
    ret = float(result.stdout.rsplit("return", 1)[1].strip(" )\n"))
    assert frames.shape == (int(ret) + 1, 400, 600, 3)
    assert frames.std() > 0
    # Default target: replay.mp4 in the agent folder (the saved-agent format's optional video).
    assert invoke("rl", "enjoy", str(run), "--max-steps", "5").exit_code == 0
    assert (run / "agent" / "replay.mp4").stat().st_size > 0


def test_plot_one_and_several_runs(trained: tuple[Path, Any], tmp_path: Path) -> None:
    run, _ = trained
    result = invoke("rl", "plot", str(run))
    assert result.exit_code == 0, result.output
    with Image.open(run / "learning_curve.png") as image:
        assert image.format == "PNG" and image.size == (960, 576)
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(run / "config.yaml", other / "config.yaml")
    shutil.copy(run / "metrics.csv", other / "metrics.csv")
    out = tmp_path / "both.png"
    result = invoke("rl", "plot", str(run), str(other), "--out", str(out), "--smooth", "3")
    assert result.exit_code == 0, result.output
    with Image.open(out) as image:
        assert image.size == (960, 576)


def test_resume_finishes_a_killed_run(trained: tuple[Path, Any], tmp_path: Path) -> None:
    run, _ = trained
    killed = tmp_path / "killed"
    shutil.copytree(run, killed)
    # What a SIGKILL before the end leaves: no final agent, no results, an older checkpoint.
    shutil.rmtree(killed / "agent")
    (killed / "results.json").unlink()
    checkpoints = sorted((killed / "checkpoints").glob("step-*"))
    shutil.rmtree(checkpoints[-1])
    assert invoke("rl", "eval", str(killed)).exit_code != 0  # no final agent yet
    result = invoke("rl", "train", "--resume", str(killed), "--eval-episodes", "2")
    assert result.exit_code == 0, result.output
    assert json.loads((killed / "results.json").read_text())["num_timesteps"] == STEPS
    assert (killed / "agent" / "model.safetensors").is_file()


def test_presets_table_and_json() -> None:
    result = invoke("rl", "presets", "--json")
    assert result.exit_code == 0, result.output
    presets = {(p["algo"], p["env_id"]): p for p in json.loads(result.stdout)}
    assert presets[("ppo", "CartPole-v1")]["target_return"] == 475
    assert presets[("ppo", "CartPole-v1")]["total_steps"] > 0
    table = invoke("rl", "presets")
    assert table.exit_code == 0 and "CartPole-v1" in table.stdout and "475" in table.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["train", "pop", "CartPole-v1"], "did you mean 'ppo'"),
        (["train", "ppo", "CartPol-v1"], "CartPole-v1"),
        (["train", "dqn", "Pendulum-v1", "--steps", "64"], "does not support"),
        (["train", "ppo", "CartPole-v1", "--set", "learning_rate"], "key=value"),
        (["train", "ppo", "CartPole-v1", "--set", "no_such_key=1"], "no_such_key"),
        (["train", "ppo", "CartPole-v1", "--set", "learning_rate=fast"], "learning_rate"),
        (["train", "ppo", "CartPole-v1", "--device", "tpu"], "unknown device"),
        (["train", "ppo", "CartPole-v1", "--precision", "fp8"], "choose one of fp32, bf16, fp16"),
        (["train", "ppo"], "give the algorithm and the environment"),
        (["train", "--resume", "no/such/run"], "no run folder"),
        (["eval", "no/such/run"], "no run folder"),
        (["enjoy", "no/such/run"], "no run folder"),
        (["plot", "no/such/run"], "no run folder"),
    ],
)
def test_bad_input_is_one_line(args: list[str], message: str) -> None:
    result = invoke("rl", *args)
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert message in lines[0]
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_folder_without_agent_and_bad_suffixes(tmp_path: Path, trained: tuple[Path, Any]) -> None:
    run, _ = trained
    (tmp_path / "empty").mkdir()
    result = invoke("rl", "eval", str(tmp_path / "empty"))
    assert result.exit_code != 0 and "holds no trained agent" in result.stderr
    result = invoke("rl", "enjoy", str(run), "--out", str(tmp_path / "x.gif"))
    assert result.exit_code != 0 and ".mp4" in result.stderr
    result = invoke("rl", "plot", str(run), "--out", str(tmp_path / "x.jpg"))
    assert result.exit_code != 0 and ".png" in result.stderr


def test_nan_loss_stops_with_one_line(tmp_path: Path) -> None:
    result = invoke("rl", "train", "ppo", "CartPole-v1", "--steps", "1024", "--n-envs", "2", "--set", "n_steps=64",
                    "--set", "learning_rate=1e30", "--set", "max_grad_norm=1e30", "--run-dir", str(tmp_path / "nan"))
    assert result.exit_code != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "NaN" in lines[0] and "checkpoint" in lines[0], result.stderr
    assert not (tmp_path / "nan" / "agent").exists()  # a diverged agent is not saved as the result


def test_cuda_without_gpu_is_a_clear_error(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is present: tests/rl/test_cli_rl_gpu.py trains on it")
    result = invoke("rl", "train", "ppo", "CartPole-v1", "--device", "cuda", "--run-dir", str(tmp_path / "r"))
    assert result.exit_code != 0
    assert "CUDA is not available" in result.stderr and "--device cpu" in result.stderr
    assert not (tmp_path / "r").exists()  # refused before creating the run


def test_device_and_settings_reach_the_library(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """--device cuda is passed through unchanged (the GPU check is faked here; the gpu test is real)."""
    import importlib

    import torch

    seen: dict[str, Any] = {}

    class Stop(Exception):
        pass

    def fake_train(algo: str, env_id: str, **kwargs: Any) -> Any:
        seen.update(kwargs, algo=algo, env_id=env_id)
        raise Stop

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(importlib.import_module("zoolab.rl.training"), "train", fake_train)
    result = invoke("rl", "train", "PPO", "CartPole-v1", "--device", "cuda", "--steps", "5000", "--seed", "4",
                    "--n-envs", "3", "--set", "learning_rate=1e-3", "--set", "env.norm_obs=true",
                    "--run-dir", str(tmp_path / "r"))
    assert isinstance(result.exception, Stop)
    assert seen["algo"] == "ppo" and seen["env_id"] == "CartPole-v1"
    assert (seen["device"], seen["steps"], seen["seed"], seen["n_envs"]) == ("cuda", 5000, 4, 3)
    assert seen["overrides"] == {"learning_rate": "1e-3", "env.norm_obs": "true"}
    assert seen["run_dir"] == tmp_path / "r" and seen["resume"] is None


@pytest.mark.parametrize("name", ["train", "eval", "enjoy", "plot", "presets"])
def test_every_command_has_help_with_an_example(name: str) -> None:
    result = invoke("rl", name, "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.replace("│", " ").split())  # undo rich's line wrapping
    assert "Example:" in text and f"zoolab rl {name}" in text


def test_subprocess_bad_input_and_light_help(tmp_path: Path) -> None:
    proc = run_cli("rl", "train", "sacc", "Pendulum-v1", env={"ZOOLAB_HOME": str(tmp_path)})
    assert proc.returncode != 0
    assert proc.stderr.strip().count("\n") == 0 and "did you mean 'sac'" in proc.stderr
    assert "Traceback" not in proc.stderr
    code = (
        "import sys\nfrom zoolab.cli.main import app\n"
        "try:\n    app(['rl', '--help'])\nexcept SystemExit:\n    pass\n"
        "print('HEAVY', [m for m in ('torch', 'tensorflow', 'gymnasium', 'matplotlib') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY []" in out.stdout



def test_run_name_is_found_under_the_runs_folder(trained: tuple[Path, Any]) -> None:
    from zoolab import settings

    run, _ = trained
    shutil.copytree(run, settings.runs_dir() / "my-run")
    result = invoke("rl", "eval", "my-run", "--episodes", "1", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["agent"] == str(settings.runs_dir() / "my-run" / "agent")
