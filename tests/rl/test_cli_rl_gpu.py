"""`zoolab rl train --device cuda` on a real GPU (skipped where torch sees none)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

torch = pytest.importorskip("torch")

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.mark.parametrize(("algo", "env_id"), [("ppo", "CartPole-v1"), ("sac", "Pendulum-v1")])
def test_train_on_cuda(tmp_path: Path, algo: str, env_id: str) -> None:
    run = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "zoolab", "rl", "train", algo, env_id, "--steps", "2048", "--device", "cuda",
         "--run-dir", str(run), "--eval-episodes", "2", "--json"],
        capture_output=True, text=True, timeout=600, env=dict(os.environ, ZOOLAB_HOME=str(tmp_path / "home")),
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["device"].startswith("cuda") and out["steps"] == 2048
    assert yaml.safe_load((run / "config.yaml").read_text())["device"].startswith("cuda")
    results = json.loads((run / "results.json").read_text())
    assert results["num_timesteps"] == 2048 and results["episodes"] == 2
    # The saved agent loads and acts on the CPU too (weights are device-independent safetensors).
    from zoolab.rl import load_agent

    agent = load_agent(run / "agent", device="cpu")
    assert agent.evaluate(episodes=1).episodes == 1
