"""Dict observation spaces: one encoder per key (a ReLU layer for vectors, the Nature CNN for
images), concatenated; PPO learns a small task whose answer is spread over two keys."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from zoolab.rl import DQN, PPO
from zoolab.rl.encoders import DictEncoder, NatureCNN, VectorEncoder


class TwoKeyEnv(gym.Env):
    """``{"cue": one-hot of 2, "noise": 3 floats, "sign": 1 float}``: the right action (of 4) is
    ``2 * cue + (sign > 0)``, so the policy needs both informative keys. 10 steps, reward 1 each."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Dict({
            "cue": gym.spaces.Box(0.0, 1.0, (2,), np.float32),
            "noise": gym.spaces.Box(-1.0, 1.0, (3,), np.float32),
            "sign": gym.spaces.Box(-1.0, 1.0, (1,), np.float32),
        })
        self.action_space = gym.spaces.Discrete(4)
        self.t = 0

    def _obs(self) -> dict[str, np.ndarray]:
        self.cue = int(self.np_random.integers(2))
        self.sign = float(self.np_random.uniform(-1, 1))
        return {"cue": np.eye(2, dtype=np.float32)[self.cue],
                "noise": self.np_random.uniform(-1, 1, 3).astype(np.float32),
                "sign": np.array([self.sign], np.float32)}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        reward = float(int(action) == 2 * self.cue + int(self.sign > 0))
        self.t += 1
        return self._obs(), reward, False, self.t >= 10, {}


class PixelAndVectorEnv(TwoKeyEnv):
    """The same spaces plus a 36x36 grey ``camera`` key."""

    def __init__(self) -> None:
        super().__init__()
        spaces = dict(self.observation_space.spaces)
        spaces["camera"] = gym.spaces.Box(0, 255, (36, 36), np.uint8)
        self.observation_space = gym.spaces.Dict(spaces)

    def _obs(self) -> dict[str, np.ndarray]:
        return {**super()._obs(), "camera": np.full((36, 36), 128, np.uint8)}


for _id, _cls in [("ZoolabTest/TwoKey-v0", TwoKeyEnv), ("ZoolabTest/PixelAndVector-v0", PixelAndVectorEnv)]:
    if _id not in gym.registry:
        gym.register(id=_id, entry_point=_cls)


def test_ppo_learns_from_a_dict_observation() -> None:
    agent = PPO("ZoolabTest/TwoKey-v0", seed=3, device="cpu",
                config={"n_steps": 64, "env.n_envs": 4, "batch_size": 64, "n_epochs": 4, "learning_rate": 3e-3})
    enc = agent.net.encoder
    assert isinstance(enc, DictEncoder) and enc.keys == ["cue", "noise", "sign"]
    assert enc.slices == [(0, 2), (2, 5), (5, 6)] and all(isinstance(p, VectorEncoder) for p in enc.parts)
    assert enc.out_dim == 3 * 64
    random = agent.evaluate(20, deterministic=False).mean_return  # the untrained policy is near uniform
    agent.learn(12_000)
    learned = agent.evaluate(20).mean_return
    # Chance is 10 / 4 = 2.5; either key alone caps the return at 5.
    assert random < 5.0 and learned >= 8.0, (random, learned)


def test_dict_encoder_cuts_the_flat_vector_by_key() -> None:
    space = gym.spaces.Dict({"a": gym.spaces.Box(-1, 1, (2,), np.float32), "b": gym.spaces.Box(-1, 1, (3,), np.float32)})
    enc = DictEncoder(space, "auto")
    flat = gym.spaces.flatten(space, {"a": np.array([1, 2], np.float32), "b": np.array([3, 4, 5], np.float32)})
    x = torch.as_tensor(flat[None])
    with torch.no_grad():
        expected = torch.cat([enc.parts[0](x[:, :2]), enc.parts[1](torch.tensor([[3.0, 4.0, 5.0]]))], -1)
        assert torch.equal(enc(x), expected)


@pytest.mark.parametrize("algo", [PPO, DQN])
def test_image_key_gets_the_cnn(algo: type) -> None:
    agent = algo("ZoolabTest/PixelAndVector-v0", seed=0, device="cpu",
                 config={"env.n_envs": 1, "hidden_sizes": [32]} | ({"learning_starts": 16, "batch_size": 8} if algo is DQN else {"n_steps": 16, "batch_size": 16}))
    net = agent.net if algo is PPO else agent.q
    parts = dict(zip(net.encoder.keys, net.encoder.parts, strict=True))
    assert isinstance(parts["camera"], NatureCNN) and net.encoder.out_dim == 512 + 3 * 64
    agent.learn(32)
    obs = agent._obs
    assert agent.predict(obs).shape == (1,)
