"""train(): the run folder, checkpoints without pickle, and resume after SIGKILL."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from zoolab.errors import ConflictError
from zoolab.rl import SAC, train
from zoolab.rl.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint


def _no_pickle(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            assert path.suffix in {".safetensors", ".json", ".yaml", ".csv", ".md"} or "tfevents" in path.name, path
            assert not path.read_bytes().startswith(b"\x80"), f"{path} looks like a pickle"


def test_run_folder_layout(tmp_path):
    seen = []
    result = train("ppo", "CartPole-v1", steps=2048, seed=1, device="cpu", run_dir=tmp_path / "run",
                   overrides=["n_steps=32", "learning_rate=1e-3"], callback=seen.append, eval_episodes=3)
    run = result.run_dir
    assert {p.name for p in run.iterdir()} >= {"config.yaml", "metrics.csv", "tb", "checkpoints", "results.json", "agent"}
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["algorithm"] == "ppo" and cfg["total_steps"] == 2048 and cfg["hyperparameters"]["learning_rate"] == 1e-3
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [int(r["step"]) for r in rows] == [p.step for p in seen]
    assert {"wall_time_s", "episode_return_mean", "episode/return_std", "episode/return_min", "episode/return_max",
            "loss/policy", "loss/value"} <= set(rows[0])
    assert float(rows[-1]["episode/return_min"]) <= float(rows[-1]["episode_return_mean"]) <= float(rows[-1]["episode/return_max"])
    assert list((run / "tb").glob("events.out.tfevents.*"))
    res = json.loads((run / "results.json").read_text())
    assert res["episodes"] == 3 and res["deterministic"] is True and res["mean_return"] == result.eval.mean_return
    assert {p.name for p in (run / "agent").iterdir()} == {"config.json", "model.safetensors", "results.json", "README.md"}
    assert list_checkpoints(run / "checkpoints")[-1][0] == result.agent.num_timesteps == 2048
    _no_pickle(run)
    with pytest.raises(ConflictError, match="resume"):
        train("ppo", "CartPole-v1", steps=256, run_dir=run)


def test_default_run_dir_is_under_zoolab_home(isolated_home):
    result = train("ppo", "CartPole-v1", steps=256, device="cpu", overrides={"n_steps": 32}, eval_episodes=1)
    assert result.run_dir.parent == isolated_home / "runs" and result.run_dir.name.startswith("ppo-CartPole-v1-")


def test_checkpoint_restores_everything_exactly(tmp_path):
    agent = SAC("Pendulum-v1", seed=0, device="cpu", config={"learning_starts": 100, "hidden_sizes": [16], "log_interval": 100})
    agent.learn(300)
    path = save_checkpoint(agent, tmp_path / "ckpt")
    other = SAC("Pendulum-v1", seed=99, device="cpu", config=agent.config)
    load_checkpoint(other, path)
    assert other.num_timesteps == 300 and other.episodes == agent.episodes and other.n_updates == agent.n_updates
    for name, module in agent.modules.items():
        for (k, a), b in zip(module.state_dict().items(), other.modules[name].state_dict().values()):
            assert torch.equal(a, b), (name, k)
    for name, opt in agent.optimizers.items():
        a, b = opt.state_dict(), other.optimizers[name].state_dict()
        assert a["param_groups"] == b["param_groups"]
        for pid in a["state"]:
            for key, value in a["state"][pid].items():
                assert torch.equal(torch.as_tensor(value), torch.as_tensor(b["state"][pid][key]))
    n = agent.replay.size
    assert other.replay.size == n and other.replay.pos == agent.replay.pos
    assert torch.equal(other.replay.obs[:n], agent.replay.obs[:n])
    assert other.rng.random() == agent.rng.random()
    assert torch.equal(torch.get_rng_state(), torch.get_rng_state())


SCRIPT = textwrap.dedent("""
    import sys
    from pathlib import Path
    from zoolab.rl import train
    train("ppo", "CartPole-v1", steps=int(sys.argv[2]), seed=0, device="cpu", run_dir=Path(sys.argv[1]),
          checkpoint_every=1024, overrides={"n_steps": 32})
""")


def test_resume_after_sigkill_ends_at_the_same_step_count(tmp_path):
    run = tmp_path / "run"
    total = 16_000
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(run), str(total)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while not list_checkpoints(run / "checkpoints") and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stderr.read().decode()
            time.sleep(0.05)
        time.sleep(0.3)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not (run / "results.json").exists()
    killed_at = list_checkpoints(run / "checkpoints")[-1][0]
    assert 0 < killed_at < total

    result = train("ppo", "CartPole-v1", resume=run, device="cpu", eval_episodes=2)
    assert result.agent.num_timesteps == total  # the last rollout is cut short at the budget
    steps = [int(r["step"]) for r in csv.DictReader((run / "metrics.csv").open())]
    assert steps == sorted(set(steps)) and steps[-1] == result.agent.num_timesteps
    assert json.loads((run / "results.json").read_text())["num_timesteps"] == result.agent.num_timesteps
    assert np.isfinite(result.eval.mean_return)
    _no_pickle(run)
