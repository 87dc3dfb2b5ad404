"""Fixtures for the RL tests: small custom environments registered with gymnasium."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch


class CountEnv(gym.Env):
    """Observation = steps taken in the episode; reward 1 per step (NaN from ``nan_after`` on).

    Terminates when the count reaches ``terminate_at`` (if set); the registered time limit truncates.
    """

    def __init__(self, terminate_at: int | None = None, nan_after: int | None = None, continuous: bool = False) -> None:
        self.observation_space = gym.spaces.Box(0.0, 1000.0, (1,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32) if continuous else gym.spaces.Discrete(2)
        self.terminate_at = terminate_at
        self.nan_after = nan_after
        self.t = 0
        self.total = 0

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t = 0
        return np.array([0.0], np.float32), {}

    def step(self, action):
        self.t += 1
        self.total += 1
        reward = float("nan") if self.nan_after is not None and self.total > self.nan_after else 1.0
        terminated = self.terminate_at is not None and self.t >= self.terminate_at
        return np.array([float(self.t)], np.float32), reward, terminated, False, {}


def _register(env_id: str, **kwargs) -> None:
    if env_id not in gym.registry:
        max_steps = kwargs.pop("max_episode_steps", None)
        gym.register(id=env_id, entry_point=CountEnv, kwargs=kwargs, max_episode_steps=max_steps)


_register("ZoolabTest/CountTruncate-v0", max_episode_steps=5)
_register("ZoolabTest/CountTerminate-v0", terminate_at=3)
_register("ZoolabTest/CountTerminateBox-v0", terminate_at=3, continuous=True, max_episode_steps=50)
_register("ZoolabTest/NaNReward-v0", nan_after=500, max_episode_steps=50)


@pytest.fixture(autouse=True)
def _one_thread():
    """RL tests run on 2 shared cores: one torch thread each, as training does."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
