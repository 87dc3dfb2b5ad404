"""Environment factory: any gymnasium id, vectorised, with normalisation and frame stacking.

Autoreset: gymnasium >= 1.0 vector envs default to ``AutoresetMode.NEXT_STEP``, where the step
*after* an episode ends returns the reset observation with reward 0 and no action effect. Training
on that transition would teach the agent a fake step. zoolab builds every vector env with
``AutoresetMode.SAME_STEP`` instead: the step that ends an episode already returns the first
observation of the next one, and the true last observation is in ``info["final_obs"]``.
:func:`real_next_obs` puts it back, so buffers store ``(obs, action, reward, final_obs)`` for the
last transition and truncated episodes can be bootstrapped from the value of ``final_obs``.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from zoolab.errors import DependencyMissingError, EnvNotFoundError, InvalidInputError
from zoolab.rl.config import EnvConfig


def check_env_id(env_id: str) -> None:
    """Raise :class:`EnvNotFoundError` (with the closest registered ids) if ``env_id`` is unknown."""
    if ":" in env_id:  # "module:EnvId" registers the env on import
        module = env_id.split(":", 1)[0]
        try:
            __import__(module)
        except ImportError as exc:
            raise EnvNotFoundError(f"cannot import module '{module}' for environment '{env_id}': {exc}") from None
        env_id = env_id.split(":", 1)[1]
    if env_id in gym.registry:
        return
    from zoolab.rl.atari import register_ale

    if register_ale() and env_id in gym.registry:  # ALE games register when ale-py is imported
        return
    close = difflib.get_close_matches(env_id, list(gym.registry), n=5, cutoff=0.5)
    hint = f"did you mean: {', '.join(close)}" if close else "list them with `python -c \"import gymnasium; gymnasium.pprint_registry()\"`"
    raise EnvNotFoundError(f"unknown gymnasium environment '{env_id}'", hint=hint)


def make_single_env(env_id: str, cfg: EnvConfig, *, render_mode: str | None = None, training: bool = False) -> gym.Env:
    """One environment with zoolab's wrappers (time limit, frame stack, flatten), no normalisation.

    ALE games get the Atari preprocessing of :mod:`zoolab.rl.atari`; ``training`` adds what only
    training environments have there (episodic life, clipped rewards).
    """
    from zoolab.rl.atari import is_atari, make_atari

    check_env_id(env_id)
    kwargs: dict[str, Any] = {}
    if render_mode is not None:
        kwargs["render_mode"] = render_mode
    if cfg.max_episode_steps is not None:
        kwargs["max_episode_steps"] = cfg.max_episode_steps
    try:
        if is_atari(env_id):
            env = make_atari(env_id, training=training, render_mode=render_mode)
            if cfg.max_episode_steps is not None:
                env = gym.wrappers.TimeLimit(env, cfg.max_episode_steps)
        else:
            _route_mujoco_warnings(env_id)
            env = gym.make(env_id, **kwargs)
    except gym.error.DependencyNotInstalled as exc:
        raise DependencyMissingError(f"environment '{env_id}' needs a package that is not installed: {exc}",
                                     hint="pip install 'zoolab[box2d]' (Box2D) or 'zoolab[mujoco]' (MuJoCo)") from None
    if cfg.frame_stack > 1:
        env = gym.wrappers.FrameStackObservation(env, cfg.frame_stack)
    space = env.observation_space
    if not (isinstance(space, gym.spaces.Box) and len(space.shape) == 1):
        try:
            env = gym.wrappers.FlattenObservation(env)  # Discrete -> one-hot, images -> vectors
        except Exception as exc:  # noqa: BLE001 - gymnasium raises several kinds here
            raise InvalidInputError(f"observation space {space} of '{env_id}' cannot be flattened: {exc}") from None
    return env


def _route_mujoco_warnings(env_id: str) -> None:
    """Send MuJoCo's warnings to logging: by default it appends them to MUJOCO_LOG.TXT in the working folder."""
    spec = gym.registry.get(env_id)
    if spec is None or not str(spec.entry_point).startswith("gymnasium.envs.mujoco"):
        return
    try:
        import mujoco
    except ImportError:
        return  # gym.make says what is missing
    mujoco.set_mju_user_warning(lambda msg: logging.getLogger("zoolab.rl.mujoco").info("MuJoCo: %s", msg))


def make_vec_env(env_id: str, cfg: EnvConfig, *, n_envs: int, seed: int, generic: bool = False) -> gym.vector.VectorEnv:
    """``n_envs`` copies with SAME_STEP autoreset (see the module docstring), seeded ``seed + i``.

    CartPole gets :class:`zoolab.rl.cartpole.CartPoleVec`, which returns the same numbers as
    gymnasium's ``SyncVectorEnv`` at a fraction of its cost; ``generic`` asks for the latter.
    """
    from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

    from zoolab.rl import cartpole

    check_env_id(env_id)
    if not generic and cartpole.applies(env_id, cfg):  # the same numbers as the SyncVectorEnv below, without its overhead
        venv: gym.vector.VectorEnv = cartpole.CartPoleVec(env_id, n_envs, cfg.max_episode_steps)
        venv.action_space.seed(seed)
        return venv
    fns: list[Callable[[], gym.Env]] = [lambda: make_single_env(env_id, cfg, training=True) for _ in range(n_envs)]
    if cfg.vectorization == "async":
        venv = AsyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)
    else:
        venv = SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)
    venv.action_space.seed(seed)
    return venv


def structured_space(env: gym.Env) -> gym.Space:
    """The observation space before zoolab flattened it (an image's shape, a Dict's keys)."""
    inner: Any = env
    while isinstance(inner, gym.Wrapper):
        if isinstance(inner, gym.wrappers.FlattenObservation):
            return inner.env.observation_space
        inner = inner.env
    return env.observation_space


def real_next_obs(next_obs: np.ndarray, terminated: np.ndarray, truncated: np.ndarray, info: dict) -> np.ndarray:
    """The observation each env actually reached: ``final_obs`` where an episode just ended."""
    done = terminated | truncated
    if not done.any():
        return next_obs
    real = next_obs.copy()
    final = info["final_obs"]
    for i in np.flatnonzero(done):
        real[i] = final[i]
    return real


class RunningMeanStd:
    """Running mean and variance (parallel algorithm of Chan et al.), float64."""

    def __init__(self, shape: tuple[int, ...] = ()) -> None:
        self.mean = np.zeros(shape, np.float64)
        self.var = np.ones(shape, np.float64)
        self.count = 1e-4

    def update(self, x: np.ndarray) -> None:
        batch_mean, batch_var, n = x.mean(axis=0), x.var(axis=0), x.shape[0]
        delta = batch_mean - self.mean
        total = self.count + n
        self.mean = self.mean + delta * n / total
        m2 = self.var * self.count + batch_var * n + delta**2 * self.count * n / total
        self.var = m2 / total
        self.count = total


class Normalizer:
    """Observation and reward normalisation for a vector env (statistics saved with the agent).

    Observations: ``clip((obs - mean) / sqrt(var + eps))``. Rewards: divided by the std of the
    running discounted return, as in the PPO paper's implementation details; evaluation always
    reports raw rewards.
    """

    def __init__(self, obs_dim: int, cfg: EnvConfig, gamma: float, n_envs: int) -> None:
        self.cfg = cfg
        self.gamma = gamma
        self.obs_rms = RunningMeanStd((obs_dim,))
        self.ret_rms = RunningMeanStd(())
        self.returns = np.zeros(n_envs, np.float64)
        self.eps = 1e-8

    def obs(self, obs: np.ndarray, *, update: bool) -> np.ndarray:
        """Normalise a batch of observations (float32), optionally updating the statistics."""
        if not self.cfg.norm_obs:
            return obs.astype(np.float32, copy=False)
        if update:
            self.obs_rms.update(obs)
        out = (obs - self.obs_rms.mean) / np.sqrt(self.obs_rms.var + self.eps)
        return np.clip(out, -self.cfg.clip_obs, self.cfg.clip_obs).astype(np.float32)

    def reward(self, reward: np.ndarray, done: np.ndarray, *, update: bool) -> np.ndarray:
        """Scale a batch of rewards (float32) by the discounted-return std."""
        if not self.cfg.norm_reward:
            return reward.astype(np.float32, copy=False)
        if update:
            self.returns = self.returns * self.gamma + reward
            self.ret_rms.update(self.returns)
            self.returns[done] = 0.0
        out = reward / np.sqrt(self.ret_rms.var + self.eps)
        return np.clip(out, -self.cfg.clip_reward, self.cfg.clip_reward).astype(np.float32)

    def state(self) -> dict[str, Any]:
        """JSON-friendly statistics (saved in the agent's ``config.json`` and in checkpoints)."""
        return {
            "norm_obs": self.cfg.norm_obs,
            "norm_reward": self.cfg.norm_reward,
            "obs_mean": self.obs_rms.mean.tolist(),
            "obs_var": self.obs_rms.var.tolist(),
            "obs_count": float(self.obs_rms.count),
            "ret_var": float(self.ret_rms.var),
            "ret_mean": float(self.ret_rms.mean),
            "ret_count": float(self.ret_rms.count),
            "clip_obs": self.cfg.clip_obs,
            "clip_reward": self.cfg.clip_reward,
        }

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore statistics written by :meth:`state`."""
        self.obs_rms.mean = np.asarray(state["obs_mean"], np.float64)
        self.obs_rms.var = np.asarray(state["obs_var"], np.float64)
        self.obs_rms.count = float(state["obs_count"])
        self.ret_rms.var = np.asarray(state["ret_var"], np.float64)
        self.ret_rms.mean = np.asarray(state.get("ret_mean", 0.0), np.float64)
        self.ret_rms.count = float(state["ret_count"])


class FrozenObsNormalization(gym.ObservationWrapper):
    """Applies fixed normalisation statistics to a single env (evaluation, videos, enjoy)."""

    def __init__(self, env: gym.Env, mean: np.ndarray, var: np.ndarray, clip: float) -> None:
        super().__init__(env)
        self._mean = np.asarray(mean, np.float64)
        self._std = np.sqrt(np.asarray(var, np.float64) + 1e-8)
        self._clip = clip
        self.observation_space = gym.spaces.Box(-clip, clip, env.observation_space.shape, np.float32)

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return np.clip((observation - self._mean) / self._std, -self._clip, self._clip).astype(np.float32)


def space_to_json(space: gym.Space) -> dict[str, Any]:
    """Describe a gymnasium space in JSON (for ``config.json``)."""

    def nums(a: np.ndarray) -> list:
        return [x if np.isfinite(x) else ("inf" if x > 0 else "-inf") for x in np.asarray(a, np.float64).ravel().tolist()]

    if isinstance(space, gym.spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, gym.spaces.MultiDiscrete):
        return {"type": "MultiDiscrete", "nvec": space.nvec.tolist()}
    if isinstance(space, gym.spaces.Box):
        return {"type": "Box", "shape": list(space.shape), "dtype": str(space.dtype),
                "low": nums(space.low), "high": nums(space.high)}
    return {"type": type(space).__name__, "repr": str(space)}
