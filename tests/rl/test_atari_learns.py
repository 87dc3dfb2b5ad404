"""A short PPO run on a real Atari game learns: Seaquest with the standard preprocessing and the
Nature CNN, whose evaluated score after 8,192 steps is clearly above the untrained policy's
(which samples actions almost uniformly, as a random policy does). Numbers in docs/rl.md."""

from __future__ import annotations

import importlib.util

import pytest

from zoolab.rl import PPO

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("ale_py") is None or importlib.util.find_spec("cv2") is None,
    reason="ale-py is not installed (pip install 'zoolab[atari]')")

GAME = "SeaquestNoFrameskip-v4"
# RL Zoo's Atari PPO settings, with a 4x higher constant learning rate for the tiny budget.
CONFIG = {"n_steps": 128, "env.n_envs": 8, "n_epochs": 4, "batch_size": 256, "learning_rate": 1e-3,
          "ent_coef": 0.01, "clip_range": 0.1, "hidden_sizes": [], "env.frame_stack": 4}
STEPS = 8192
EPISODES = 8


def test_ppo_learns_seaquest() -> None:
    agent = PPO(GAME, seed=4, device="cpu", config=CONFIG)
    # Sampled (not greedy) actions on both sides: the untrained policy is then a random policy.
    untrained = agent.evaluate(EPISODES, deterministic=False, seed=100)
    agent.learn(STEPS)
    trained = agent.evaluate(EPISODES, deterministic=False, seed=100)
    assert trained.mean_return >= 1.5 * untrained.mean_return and trained.mean_return >= untrained.mean_return + 40, (
        untrained.returns, trained.returns)
