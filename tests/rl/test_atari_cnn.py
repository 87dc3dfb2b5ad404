"""Image observations: the Nature CNN picked for pixels, a timm backbone on request, and a CNN agent
that trains, saves to safetensors, loads, evaluates, renders a video and exports to ONNX/TorchScript;
ale-py's games with the standard Atari preprocessing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch._dynamo  # noqa: F401 - load triton before any TensorFlow in this process
import gymnasium as gym
import numpy as np
import pytest
import torch

from zoolab.errors import InvalidInputError, UnsupportedError
from zoolab.rl import DQN, PPO, SAC
from zoolab.rl.artifacts import load_agent
from zoolab.rl.config import EnvConfig
from zoolab.rl.encoders import NatureCNN, TimmEncoder, image_layout, make_encoder
from zoolab.rl.envs import make_single_env, make_vec_env
from zoolab.rl.export import export_agent, record_observations
from zoolab.rl.media import record_video

SIZE = 36  # the smallest frame the Nature CNN's three convolutions take


class QuadrantEnv(gym.Env):
    """A grey frame (H, W, 1) with a bright square in one quadrant; reward 1 for naming the quadrant."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, render_mode: str | None = None) -> None:
        self.observation_space = gym.spaces.Box(0, 255, (SIZE, SIZE, 1), np.uint8)
        self.action_space = gym.spaces.Discrete(4)
        self.render_mode = render_mode
        self.quadrant = 0
        self.t = 0

    def _frame(self) -> np.ndarray:
        frame = np.full((SIZE, SIZE, 1), 20, np.uint8)
        half = SIZE // 2
        row, col = divmod(self.quadrant, 2)
        frame[row * half + 4 : row * half + 14, col * half + 4 : col * half + 14] = 235
        return frame

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.t = 0
        self.quadrant = int(self.np_random.integers(4))
        return self._frame(), {}

    def step(self, action):
        reward = float(int(action) == self.quadrant)
        self.t += 1
        self.quadrant = int(self.np_random.integers(4))
        return self._frame(), reward, False, self.t >= 8, {}

    def render(self) -> np.ndarray:
        return np.repeat(self._frame(), 3, axis=-1)


if "ZoolabTest/Quadrant-v0" not in gym.registry:
    gym.register(id="ZoolabTest/Quadrant-v0", entry_point=QuadrantEnv)

ENV = "ZoolabTest/Quadrant-v0"
SMALL = {"n_steps": 32, "env.n_envs": 4, "n_epochs": 4, "batch_size": 64, "hidden_sizes": [], "learning_rate": 1e-3}
has_ale = importlib.util.find_spec("ale_py") is not None and importlib.util.find_spec("cv2") is not None


@pytest.fixture(scope="module")
def cnn_agent(tmp_path_factory: pytest.TempPathFactory) -> tuple[PPO, Path]:
    agent = PPO(ENV, seed=0, device="cpu", config=SMALL)
    agent.learn(3072)
    folder = agent.save(tmp_path_factory.mktemp("cnn") / "agent")
    return agent, folder


def test_pixels_get_the_nature_cnn_shared_by_policy_and_value(cnn_agent: tuple[PPO, Path]) -> None:
    agent, _ = cnn_agent
    assert isinstance(agent.net.encoder, NatureCNN)
    assert agent.structured_observation_space.shape == (SIZE, SIZE, 1)
    assert agent.observation_space.shape == (SIZE * SIZE,)  # buffers and exports see the flat vector
    # The CNN's 512 features feed the two linear heads directly (hidden_sizes=[] as in RL Zoo's CnnPolicy).
    assert agent.net.body[0].weight.shape == (2, 512, 4)


def test_cnn_agent_learns_and_its_evaluation_beats_chance(cnn_agent: tuple[PPO, Path]) -> None:
    agent, _ = cnn_agent
    # Chance is 8 x 1/4 = 2 per episode; the CNN has to see where the square is.
    assert agent.evaluate(10).mean_return >= 6.0


def test_cnn_agent_round_trips_through_safetensors(cnn_agent: tuple[PPO, Path]) -> None:
    agent, folder = cnn_agent
    assert (folder / "model.safetensors").exists()
    loaded = load_agent(folder, device="cpu")
    obs = record_observations(agent, 64, seed=5)
    assert np.array_equal(loaded.predict(obs), agent.predict(obs))
    assert loaded.evaluate(3).returns == agent.evaluate(3).returns


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_cnn_policy_exports(cnn_agent: tuple[PPO, Path], fmt: str, tmp_path: Path) -> None:
    agent, _ = cnn_agent
    res = export_agent(agent, fmt, tmp_path / f"p.{fmt}", observations=200)
    cnn_bytes = 4 * sum(p.numel() for p in agent.net.encoder.parameters())
    assert res.observations == 200 and res.max_abs_diff == 0.0 and res.size_bytes > cnn_bytes  # the CNN is in the file


def test_cnn_agent_video(cnn_agent: tuple[PPO, Path], tmp_path: Path) -> None:
    agent, _ = cnn_agent
    result = record_video(agent, tmp_path / "v.mp4", episodes=1, seed=0)
    assert result.frames == 9 and result.path.stat().st_size > 0


def test_dqn_keeps_pixels_as_uint8_and_trains() -> None:
    agent = DQN(ENV, seed=0, device="cpu", config={"learning_starts": 32, "buffer_size": 500, "batch_size": 16,
                                                   "hidden_sizes": [], "log_interval": 100})
    assert isinstance(agent.q.encoder, NatureCNN) and agent.replay.obs.dtype == torch.uint8
    agent.learn(200)
    assert agent.replay.size == 200 and agent.replay.obs[:200].max() == 235
    assert agent.replay.sample(np.random.default_rng(0), 4).obs.dtype == torch.float32


def test_timm_backbone_as_encoder() -> None:
    agent = PPO(ENV, seed=0, device="cpu", config={**SMALL, "encoder": "timm:resnet18", "env.n_envs": 2,
                                                   "n_steps": 16, "n_epochs": 1, "batch_size": 32})
    assert isinstance(agent.net.encoder, TimmEncoder) and agent.net.encoder.out_dim == 512
    assert agent.net.encoder.backbone.conv1.in_channels == 1  # built for the observation's one channel
    before = agent.net.encoder.backbone.conv1.weight.detach().clone()
    agent.learn(32)
    assert not torch.equal(before, agent.net.encoder.backbone.conv1.weight)  # trained with the heads


def test_mlp_encoder_keeps_the_flat_vector() -> None:
    agent = PPO(ENV, seed=0, device="cpu", config={"encoder": "mlp", "env.n_envs": 1})
    assert agent.net.encoder is None and agent.net.body[0].weight.shape[1] == SIZE * SIZE


@pytest.mark.parametrize(("config", "error", "message"), [
    ({"encoder": "resnet"}, InvalidInputError, "unknown encoder"),
    ({"encoder": "timm:no_such_net"}, InvalidInputError, "timm cannot build"),
    ({"env.norm_obs": True}, InvalidInputError, "norm_obs does not apply"),
])
def test_bad_encoder_settings(config: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        PPO(ENV, device="cpu", config={**config, "env.n_envs": 1})


def test_encoder_errors_for_vectors_and_sac() -> None:
    with pytest.raises(UnsupportedError, match="needs image or Dict"):
        make_encoder(gym.spaces.Box(-1, 1, (3,), np.float32), "nature")
    with pytest.raises(UnsupportedError, match="no observation encoders"):
        SAC("Pendulum-v1", device="cpu", config={"encoder": "nature"})


def test_image_layouts() -> None:
    assert image_layout((4, 84, 84)) == ((4, 84, 84), False)  # a frame stack
    assert image_layout((210, 160, 3)) == ((3, 210, 160), True)  # an RGB frame
    assert image_layout((84, 84)) == ((1, 84, 84), False)  # one grey frame
    cnn = NatureCNN((36, 40, 3))
    assert cnn.chw == (3, 36, 40) and cnn(torch.zeros(2, 36 * 40 * 3)).shape == (2, 512)


@pytest.mark.skipif(not has_ale, reason="ale-py is not installed (pip install 'zoolab[atari]')")
def test_atari_preprocessing() -> None:
    cfg = EnvConfig(frame_stack=4)
    env = make_single_env("ALE/Pong-v5", cfg)  # ale-py ships the ROM: no download
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4 * 84 * 84,) and obs.dtype == np.uint8
    env.close()
    breakout = make_single_env("BreakoutNoFrameskip-v4", cfg)
    names = [type(w).__name__ for w in _wrappers(breakout)]
    assert {"AtariPreprocessing", "FireReset", "FrameStackObservation"} <= set(names)
    assert "TransformReward" not in names  # evaluation plays with the real score
    venv = make_vec_env("BreakoutNoFrameskip-v4", cfg, n_envs=1, seed=0)
    venv.reset(seed=0)
    rewards = [venv.step(np.array([int(a)]))[1][0] for a in np.random.default_rng(0).integers(4, size=300)]
    assert set(np.unique(rewards)) <= {0.0, 1.0}  # clipped to the sign (bricks are worth up to 7)
    training = [w for w in _wrappers(venv.envs[0]) if type(w).__name__ == "AtariPreprocessing"][0]
    evaluation = [w for w in _wrappers(breakout) if type(w).__name__ == "AtariPreprocessing"][0]
    assert training.terminal_on_life_loss and not evaluation.terminal_on_life_loss  # episodic life in training only
    breakout.close()
    venv.close()


def _wrappers(env: gym.Env) -> list[gym.Env]:
    out = []
    while isinstance(env, gym.Wrapper):
        out.append(env)
        env = env.env
    return out
