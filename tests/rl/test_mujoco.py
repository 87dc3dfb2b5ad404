"""MuJoCo (gymnasium's v5 locomotion environments): SAC and TD3 presets carry RL Zoo's settings,
and a short SAC run on Hopper-v5 trains, saves, loads and acts the same."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from zoolab.rl import SAC, get_preset
from zoolab.rl.artifacts import load_agent
from zoolab.rl.export import record_observations

pytestmark = pytest.mark.skipif(importlib.util.find_spec("mujoco") is None,
                                reason="mujoco is not installed (pip install 'zoolab[mujoco]')")

ENVS = ["HalfCheetah-v5", "Hopper-v5", "Walker2d-v5"]


@pytest.mark.parametrize("algo", ["sac", "td3"])
@pytest.mark.parametrize("env_id", ENVS)
def test_mujoco_presets_are_rl_zoos(algo: str, env_id: str) -> None:
    preset = get_preset(algo, env_id)
    assert preset.tuned and preset.total_steps == 1_000_000 and preset.config["learning_starts"] == 10_000
    assert preset.config["hidden_sizes"] == ([256, 256] if algo == "sac" else [400, 300])
    assert preset.target_return is not None and preset.target_return > 2000


def test_sac_on_hopper_trains_saves_and_loads(tmp_path: Path) -> None:
    agent = SAC("Hopper-v5", seed=0, device="cpu",
                config={"learning_starts": 200, "hidden_sizes": [64, 64], "batch_size": 64, "log_interval": 200})
    agent.learn(600)
    assert agent.num_timesteps == 600 and agent.replay.size == 600 and agent.episodes > 0
    folder = agent.save(tmp_path / "agent")
    loaded = load_agent(folder, device="cpu")
    assert isinstance(loaded, SAC) and loaded.env_id == "Hopper-v5"
    obs = record_observations(agent, 50, seed=1)
    np.testing.assert_allclose(loaded.predict(obs), agent.predict(obs), atol=1e-6)
    result = loaded.evaluate(2)
    assert result.episodes == 2 and all(np.isfinite(result.returns))
    assert not (Path.cwd() / "MUJOCO_LOG.TXT").exists()  # MuJoCo's warnings go to logging
