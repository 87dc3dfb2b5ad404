"""The numpy CartPole vector env returns what gymnasium's SyncVectorEnv of CartPole returns, bit for bit."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from zoolab.rl.cartpole import CartPoleVec
from zoolab.rl.config import EnvConfig
from zoolab.rl.envs import make_vec_env, real_next_obs


def _balancing_actions(obs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Push towards the falling side, with some random actions: long episodes that reach the time limit."""
    greedy = (obs[:, 2] + 0.5 * obs[:, 3] > 0).astype(np.int64)
    return np.where(rng.random(len(obs)) < 0.4, rng.integers(0, 2, len(obs)), greedy)


@pytest.mark.parametrize(("env_id", "max_steps", "policy"), [
    ("CartPole-v1", None, "random"),
    ("CartPole-v1", None, "balancing"),  # truncations at 500
    ("CartPole-v1", 30, "random"),  # an overridden time limit, truncations and terminations mixed
    ("CartPole-v0", None, "balancing"),  # the 200-step limit of v0
])
def test_numpy_cartpole_equals_gymnasium_vector_env(env_id, max_steps, policy):
    cfg = EnvConfig(n_envs=5, max_episode_steps=max_steps)
    fast = make_vec_env(env_id, cfg, n_envs=5, seed=11)
    ref = make_vec_env(env_id, cfg, n_envs=5, seed=11, generic=True)
    assert isinstance(fast, CartPoleVec) and isinstance(ref, gym.vector.SyncVectorEnv)
    assert fast.single_observation_space == ref.single_observation_space
    assert fast.action_space.sample().tolist() == ref.action_space.sample().tolist()  # same seeding
    obs_f, _ = fast.reset(seed=11)
    obs_r, _ = ref.reset(seed=11)
    rng = np.random.default_rng(0)
    counts = {"terminated": 0, "truncated": 0}
    for _ in range(3000):
        assert obs_f.dtype == obs_r.dtype and np.array_equal(obs_f, obs_r)
        actions = rng.integers(0, 2, 5) if policy == "random" else _balancing_actions(obs_r, rng)
        obs_f, rew_f, term_f, trunc_f, info_f = fast.step(actions)
        obs_r, rew_r, term_r, trunc_r, info_r = ref.step(actions)
        assert rew_f.dtype == rew_r.dtype and np.array_equal(rew_f, rew_r)
        assert np.array_equal(term_f, term_r) and np.array_equal(trunc_f, trunc_r)
        assert np.array_equal(real_next_obs(obs_f, term_f, trunc_f, info_f), real_next_obs(obs_r, term_r, trunc_r, info_r))
        counts["terminated"] += int(term_r.sum())
        counts["truncated"] += int((trunc_r & ~term_r).sum())
    assert counts["terminated"] >= 3
    assert (policy == "random" and max_steps is None) or counts["truncated"] >= 5
    assert np.array_equal(fast.reset(seed=4)[0], ref.reset(seed=4)[0])  # a second seeded reset reseeds
    fast.close()
    ref.close()


def test_numpy_cartpole_is_used_only_for_plain_cartpole():
    assert isinstance(make_vec_env("CartPole-v1", EnvConfig(), n_envs=2, seed=0), CartPoleVec)
    for cfg in (EnvConfig(frame_stack=2), EnvConfig(vectorization="async")):
        assert not isinstance(make_vec_env("CartPole-v1", cfg, n_envs=1, seed=0), CartPoleVec)
    assert not isinstance(make_vec_env("Acrobot-v1", EnvConfig(), n_envs=1, seed=0), CartPoleVec)


def test_numpy_cartpole_refuses_bad_actions():
    env = CartPoleVec("CartPole-v1", 2)
    env.reset(seed=0)
    for bad in (np.array([0, 2]), np.array([-1, 0]), np.array([0.0, 1.0]), np.array([1])):
        with pytest.raises(gym.error.InvalidAction):
            env.step(bad)
