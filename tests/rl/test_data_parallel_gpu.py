"""Data-parallel PPO and A2C on CUDA in two processes (runs only where a GPU is present).

Two GPUs or more: nccl, one GPU per process; a single GPU is shared through gloo
(``ZOOLAB_DIST_BACKEND=gloo``). RL trains in fp32 (its networks are small MLPs; zoolab has no
mixed precision for RL).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.mark.parametrize(("algo", "steps", "overrides"), [("ppo", 20_000, {}), ("a2c", 40_000, {"learning_rate": 0.002})])
def test_two_processes_on_cuda_reach_target(algo, steps, overrides, tmp_path, monkeypatch):
    from zoolab.rl.distributed import train_parallel
    from zoolab.rl.presets import get_preset

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    if torch.cuda.device_count() < 2:
        monkeypatch.setenv("ZOOLAB_DIST_BACKEND", "gloo")
    result = train_parallel(2, algo, "CartPole-v1", steps=steps, seed=0, n_envs=8, device="cuda",
                            overrides=overrides, run_dir=tmp_path / "run")
    assert result.eval.mean_return >= get_preset("ppo", "CartPole-v1").target_return
    assert str(result.agent.device).startswith("cuda")
