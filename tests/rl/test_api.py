"""The Python API: construct, learn briefly, predict, evaluate, save/load, for every algorithm and space."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

from zoolab.rl import A2C, ALGORITHMS, DQN, PPO, SAC, TD3, EvalResult, Progress, load_agent
from zoolab.rl.ppo import PPOConfig

SMOKE = [
    (PPO, "CartPole-v1", {"n_steps": 16}),
    (PPO, "Pendulum-v1", {"n_steps": 16, "env.norm_obs": True, "env.norm_reward": True}),
    (A2C, "Acrobot-v1", {}),
    (DQN, "CartPole-v1", {"learning_starts": 64, "double_q": True, "dueling": True, "log_interval": 64}),
    (SAC, "Pendulum-v1", {"learning_starts": 64, "hidden_sizes": [32, 32], "log_interval": 64}),
    (TD3, "MountainCarContinuous-v0", {"learning_starts": 64, "hidden_sizes": [32, 32], "log_interval": 64}),
]


def test_algorithms_registry():
    assert ALGORITHMS == {"ppo": PPO, "a2c": A2C, "dqn": DQN, "sac": SAC, "td3": TD3}


@pytest.mark.parametrize(("cls", "env_id", "config"), SMOKE, ids=[f"{c.algo}-{e}" for c, e, _ in SMOKE])
def test_learn_predict_evaluate_save_load(cls, env_id, config, tmp_path: Path):
    agent = cls(env_id, seed=3, n_envs=2, device="cpu", config=config)
    seen: list[Progress] = []
    agent.learn(256, callback=seen.append)
    assert agent.num_timesteps >= 256 and seen and seen[-1].step == agent.num_timesteps
    assert all(np.isfinite(v) for p in seen for v in p.metrics.values())

    env = agent.make_env()
    obs, _ = env.reset(seed=0)
    action = agent.predict(obs)
    assert env.action_space.contains(np.asarray(action, dtype=env.action_space.dtype).reshape(env.action_space.shape))
    batch = agent.predict(np.stack([obs, obs, obs]))
    assert batch.shape[0] == 3

    result = agent.evaluate(episodes=2)
    assert isinstance(result, EvalResult) and result.episodes == 2 and len(result.returns) == 2
    assert result.deterministic is True and result.mean_return == pytest.approx(np.mean(result.returns))

    folder = agent.save(tmp_path / "agent", results=result)
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors", "results.json"]
    doc = json.loads((folder / "config.json").read_text())
    assert doc["algorithm"] == cls.algo and doc["env_id"] == env_id
    assert doc["action_space"]["type"] == type(agent.action_space).__name__
    assert "obs_mean" in doc["normalization"] and doc["hyperparameters"]["gamma"] == agent.config.gamma

    loaded = cls.load(folder, device="cpu")
    same = load_agent(folder, device="cpu")
    assert type(same) is cls and loaded.num_timesteps == agent.num_timesteps
    probe = np.stack([agent.make_env().reset(seed=s)[0] for s in range(5)])
    np.testing.assert_allclose(loaded.predict(probe), agent.predict(probe))
    assert loaded.evaluate(episodes=2).returns == result.returns
    agent.close()


def test_normalisation_statistics_are_saved_and_frozen_in_make_env(tmp_path):
    agent = PPO("Pendulum-v1", seed=0, device="cpu", n_envs=2, config={"n_steps": 64, "env.norm_obs": True})
    agent.learn(512)
    mean = agent.normalizer.obs_rms.mean.copy()
    assert not np.allclose(mean, 0)
    loaded = load_agent(agent.save(tmp_path / "a"), device="cpu")
    np.testing.assert_allclose(loaded.normalizer.obs_rms.mean, mean)
    raw_env, norm_env = gym.make("Pendulum-v1"), loaded.make_env()
    raw, _ = raw_env.reset(seed=5)
    normed, _ = norm_env.reset(seed=5)
    expected = (raw - mean) / np.sqrt(agent.normalizer.obs_rms.var + 1e-8)
    np.testing.assert_allclose(normed, expected, rtol=1e-5)
    norm_env.step(np.zeros(1, np.float32))
    np.testing.assert_allclose(loaded.normalizer.obs_rms.mean, mean)  # evaluation does not update statistics


def test_frame_stack_async_and_multidiscrete():
    stacked = PPO("CartPole-v1", seed=0, device="cpu", n_envs=2, config={"env.frame_stack": 3, "n_steps": 8,
                                                                          "env.vectorization": "async"})
    assert stacked.observation_space.shape == (12,)
    stacked.learn(64)
    assert stacked.make_env().reset(seed=0)[0].shape == (12,)
    stacked.close()

    gym.register(id="ZoolabTest/MultiDiscreteCartPole-v0",
                 entry_point=lambda: _MultiDiscreteCartPole(gym.make("CartPole-v1")), max_episode_steps=200)
    agent = PPO("ZoolabTest/MultiDiscreteCartPole-v0", seed=0, device="cpu", n_envs=2, config={"n_steps": 32})
    agent.learn(256)
    action = agent.predict(agent.make_env().reset(seed=0)[0])
    assert action.shape == (2,)
    assert agent.evaluate(episodes=1).episodes == 1


class _MultiDiscreteCartPole(gym.ActionWrapper):
    """CartPole driven by a MultiDiscrete([2, 3]) action (only the first component matters)."""

    def __init__(self, env):
        super().__init__(env)
        self.action_space = gym.spaces.MultiDiscrete([2, 3])

    def action(self, action):
        return int(action[0])


def test_config_dataclass_and_device():
    cfg = PPOConfig(n_steps=8)
    agent = PPO("CartPole-v1", config=cfg, device="cpu")
    assert agent.config.n_steps == 8 and agent.config is not cfg
    assert agent.device == torch.device("cpu")
    assert all(p.device.type == "cpu" for p in agent.net.parameters())
    assert PPO("CartPole-v1").config.n_steps == 32  # the preset is applied under explicit overrides
    assert agent.algo == "ppo" and agent.env_id == "CartPole-v1" and agent.num_timesteps == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.gpu
@pytest.mark.parametrize("algo", ["ppo", "dqn", "sac"])
def test_cuda_training(algo, tmp_path):
    env = "Pendulum-v1" if algo == "sac" else "CartPole-v1"
    agent = ALGORITHMS[algo](env, device="cuda", config={"learning_starts": 64} if algo != "ppo" else {})
    agent.learn(512)
    assert agent.device.type == "cuda"
    assert load_agent(agent.save(tmp_path / "a"), device="cuda").evaluate(episodes=1).episodes == 1
