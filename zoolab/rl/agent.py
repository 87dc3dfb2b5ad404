"""The one base class of every algorithm: environments, stepping, progress, predict/evaluate/save/load.

An algorithm subclasses :class:`Agent` once and writes, in its own module, ``_build`` (networks
and optimisers), ``_train`` (a generator: collect experience, update, ``yield`` metrics at points
where a checkpoint is safe) and ``_act`` (actions for ``predict``). Everything else is here or in
the plain modules (``envs``, ``buffers``, ``checkpoint``, ``evaluation``).
"""

from __future__ import annotations

import abc
import dataclasses
import json
import math
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from zoolab.errors import InvalidInputError, TrainingError, UnsupportedError
from zoolab.rl import config as cfgmod
from zoolab.rl.amp import Precision
from zoolab.rl.config import EnvConfig
from zoolab.rl.envs import (FrozenObsNormalization, Normalizer, check_env_id, make_single_env, make_vec_env, real_next_obs,
                            structured_space)
from zoolab.rl.nets import FlatParams
from zoolab.rl.optim import FlatAdam


ENCODER_ALGOS = ("ppo", "a2c", "dqn")
"""Algorithms whose networks take an observation encoder (SAC and TD3 see the flat vector)."""


@dataclass
class AlgoConfig:
    """Settings every algorithm has; each algorithm's config extends this once."""

    env: EnvConfig = field(default_factory=EnvConfig)
    """Environment settings (vectorisation, normalisation, frame stacking)."""
    learning_rate: float = 3e-4
    """Adam learning rate."""
    gamma: float = 0.99
    """Discount factor."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of every MLP."""
    activation: str = "tanh"
    """Activation between hidden layers: tanh, relu, elu or gelu."""
    torch_threads: int = 1
    """CPU threads torch may use while training (1 is fastest for small networks; 0 leaves torch's setting)."""
    encoder: str = "auto"
    """Observation encoder: auto (Nature CNN for images, one per key for Dict), mlp, nature or timm:NAME."""
    precision: str = "fp32"
    """Arithmetic of the updates: fp32, bf16 (autocast) or fp16 (autocast and loss scaling); see zoolab.rl.amp."""


@dataclass
class Progress:
    """What a ``learn`` callback receives at every checkpoint-safe point."""

    step: int
    total_steps: int
    episodes: int
    steps_per_sec: float
    recent_return: float | None
    metrics: dict[str, float]


@dataclass
class EvalResult:
    """Returns of complete evaluation episodes (raw, unnormalised rewards)."""

    mean_return: float
    std_return: float
    episodes: int
    returns: list[float]
    lengths: list[int]
    deterministic: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (written to ``results.json``)."""
        return dataclasses.asdict(self)


def resolve_device(device: str) -> torch.device:
    """``auto`` -> cuda when available else cpu; ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidInputError("device 'cuda' was requested but no CUDA GPU is available", hint="use --device cpu or auto")
    try:
        return torch.device(device)
    except RuntimeError:
        raise InvalidInputError(f"unknown device '{device}'", hint="use auto, cpu or cuda") from None


class Agent(abc.ABC):
    """Base of PPO, A2C, DQN, SAC and TD3 (see the module docstring for what a subclass writes)."""

    algo: ClassVar[str] = ""
    config_class: ClassVar[type] = AlgoConfig
    action_spaces: ClassVar[tuple[str, ...]] = ()
    """Names of the gymnasium action-space classes the algorithm supports."""

    def __init__(self, env_id: str, *, seed: int = 0, n_envs: int | None = None, device: str = "auto",
                 config: dict[str, Any] | Any | None = None) -> None:
        check_env_id(env_id)
        self.env_id = env_id
        self.seed = int(seed)
        self.config = self._resolve_config(env_id, config, n_envs)
        self.device = resolve_device(device)
        probe = make_single_env(env_id, self.config.env)
        self.observation_space, self.action_space = probe.observation_space, probe.action_space
        self.structured_observation_space = structured_space(probe)
        probe.close()
        self._check_action_space()
        if self.algo not in ENCODER_ALGOS and self.config.encoder not in ("auto", "mlp"):
            raise UnsupportedError(f"{self.algo.upper()} has no observation encoders (encoder={self.config.encoder})",
                                   hint=f"it sees the flat observation; encoders exist for {', '.join(ENCODER_ALGOS)}")
        self.n_envs = self.config.env.n_envs
        self.obs_dim = int(np.prod(self.observation_space.shape))
        self.normalizer = Normalizer(self.obs_dim, self.config.env, self.config.gamma, self.n_envs)
        torch.manual_seed(self.seed)  # same seed -> same initial weights
        self.rng = np.random.default_rng(self.seed)
        self.modules: dict[str, nn.Module] = {}
        self.optimizers: dict[str, Any] = {}  # FlatAdam, or FlatRMSprop for A2C (zoolab.rl.optim)
        self.num_timesteps = 0
        self.episodes = 0
        self.n_updates = 0
        self._venv: gym.vector.VectorEnv | None = None
        self._obs: np.ndarray | None = None
        self._recent: deque[float] = deque(maxlen=10)
        self.amp = Precision(self.config.precision, self.device)
        self._build()

    # --- construction ------------------------------------------------------------------------
    @classmethod
    def _resolve_config(cls, env_id: str, config: Any, n_envs: int | None) -> Any:
        from zoolab.rl.presets import get_preset

        if isinstance(config, cls.config_class):
            resolved = dataclasses.replace(config)
        elif config is None or isinstance(config, dict):
            preset = get_preset(cls.algo, env_id)
            resolved = cfgmod.apply_overrides(cls.config_class(), preset.config)
            resolved.env.n_envs = preset.n_envs
            resolved = cfgmod.apply_overrides(resolved, config or {})
        else:
            raise InvalidInputError(f"config for {cls.__name__} must be a dict or {cls.config_class.__name__}, not {type(config).__name__}")
        if n_envs is not None:
            if n_envs < 1:
                raise InvalidInputError(f"n_envs must be >= 1, got {n_envs}")
            resolved.env = dataclasses.replace(resolved.env, n_envs=int(n_envs))
        cfgmod.check_ranges(resolved)
        return resolved

    def _check_action_space(self) -> None:
        from zoolab.rl import ALGORITHMS

        kind = type(self.action_space).__name__
        if kind not in self.action_spaces:
            able = [name for name, c in ALGORITHMS.items() if kind in c.action_spaces]
            raise UnsupportedError(
                f"{self.algo.upper()} does not support the {kind} action space of '{self.env_id}' "
                f"(it supports {', '.join(self.action_spaces)})",
                hint=f"algorithms for {kind} actions: {', '.join(able) or 'none'}",
            )

    @abc.abstractmethod
    def _build(self) -> None:
        """Create networks (into ``self.modules``) and optimisers (``self.optimizers``)."""

    @abc.abstractmethod
    def _train(self, target_steps: int) -> Iterator[dict[str, float]]:
        """Train until ``num_timesteps >= target_steps``, yielding metrics at checkpoint-safe points."""

    @abc.abstractmethod
    def _act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        """Actions in the env's format for a batch of (normalised) observations."""

    def _encoder(self) -> nn.Module | None:
        """The observation encoder the ``encoder`` setting gives this env (None: the MLP sees the flat vector)."""
        from zoolab.rl.encoders import has_images, make_encoder

        space = self.structured_observation_space
        if self.config.env.norm_obs and self.config.encoder != "mlp" and has_images(space):
            raise InvalidInputError(f"env.norm_obs does not apply to the image observations of '{self.env_id}' "
                                    "(the CNN scales pixels to [0, 1] itself)", hint="set env.norm_obs=false")
        encoder = make_encoder(space, self.config.encoder)
        return None if encoder is None else encoder.to(self.device)

    def _obs_storage_dtype(self) -> torch.dtype:
        """uint8 for raw pixel observations (replay buffers store them so), else float32."""
        space = self.observation_space
        if not self.config.env.norm_obs and isinstance(space, gym.spaces.Box) and space.dtype == np.uint8:
            return torch.uint8
        return torch.float32

    def _adam(self, flat: FlatParams, lr: float, **kw: Any) -> FlatAdam:
        # One flat parameter: six in-place ops per step, and no torch.optim (whose first use
        # imports torch._dynamo, seconds of start-up; see zoolab.rl.optim).
        return FlatAdam(flat.param, lr=lr, **kw)

    # --- environment stepping (shared by every algorithm) ------------------------------------
    def _ensure_env(self) -> np.ndarray:
        if self._venv is None:
            self._venv = make_vec_env(self.env_id, self.config.env, n_envs=self.n_envs, seed=self.seed + self.num_timesteps)
            raw, _ = self._venv.reset(seed=self.seed + self.num_timesteps)
            self._obs = self.normalizer.obs(raw, update=True)
            self._ep_ret = np.zeros(self.n_envs, np.float64)
            self._ep_len = np.zeros(self.n_envs, np.int64)
        assert self._obs is not None
        return self._obs

    def _env_step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Step every env. Returns ``(next_obs, reward, terminated, truncated, real_next_obs)``.

        ``next_obs`` is what the policy sees next (the reset observation where an episode ended);
        ``real_next_obs`` is the observation the action led to (``final_obs`` there), which is what
        buffers store and what truncated episodes bootstrap from. Rewards are normalised if asked.
        """
        assert self._venv is not None
        raw_next, reward, terminated, truncated, info = self._venv.step(actions)
        done = terminated | truncated
        self._ep_ret += reward
        self._ep_len += 1
        if done.any():
            for i in np.flatnonzero(done):
                self._recent.append(float(self._ep_ret[i]))
                self.episodes += 1
            self._ep_ret[done] = 0.0
            self._ep_len[done] = 0
        next_obs = self.normalizer.obs(raw_next, update=True)
        if done.any():
            real = self.normalizer.obs(real_next_obs(raw_next, terminated, truncated, info), update=False)
        else:
            real = next_obs
        scaled = self.normalizer.reward(reward, done, update=True)
        self.num_timesteps += self.n_envs
        self._obs = next_obs
        return next_obs, scaled, terminated, truncated, real

    def close(self) -> None:
        """Close the training environments."""
        if self._venv is not None:
            self._venv.close()
            self._venv = None

    # --- public API ----------------------------------------------------------------------------
    def learn(self, total_steps: int, *, callback: Callable[[Progress], bool | None] | None = None) -> Agent:
        """Train for ``total_steps`` more environment steps (all envs together).

        ``callback(progress)`` runs at every checkpoint-safe point; returning ``False`` stops early.

        Raises:
            TrainingError: a loss or a weight became NaN/inf (training stops at once).
        """
        if int(total_steps) <= 0:
            raise InvalidInputError(f"total_steps must be a positive number of steps, got {total_steps}")
        from threadpoolctl import threadpool_limits

        threads = self.config.torch_threads
        if self.device.type == "cpu" and threads > 0:
            torch.set_num_threads(threads)
        target = self.num_timesteps + int(total_steps)
        self._ensure_env()
        # numpy's BLAS (the numpy actor-critic, see zoolab.rl.fastac) gets the same thread count:
        # on matrices this small its default threading costs several times the arithmetic.
        with threadpool_limits(threads if threads > 0 else None, user_api="blas"):
            self._learn_loop(target, callback)
        return self

    def _learn_loop(self, target: int, callback: Callable[[Progress], bool | None] | None) -> None:
        t0, s0 = time.perf_counter(), self.num_timesteps
        for metrics in self._train(target):
            self.check_finite(metrics)
            if self._recent:  # spread of the recent training returns, once an episode has finished
                recent = np.asarray(self._recent)
                metrics = {**metrics, "episode/return_std": float(recent.std()),
                           "episode/return_min": float(recent.min()), "episode/return_max": float(recent.max())}
            elapsed = max(time.perf_counter() - t0, 1e-9)
            progress = Progress(
                step=self.num_timesteps, total_steps=target, episodes=self.episodes,
                steps_per_sec=(self.num_timesteps - s0) / elapsed,
                recent_return=float(np.mean(self._recent)) if self._recent else None, metrics=metrics,
            )
            if callback is not None and callback(progress) is False:
                break

    def check_finite(self, metrics: dict[str, float]) -> None:
        """Raise :class:`TrainingError` if a metric or a weight is NaN/inf."""
        bad = [k for k, v in metrics.items() if not math.isfinite(v)]
        for name, module in self.modules.items():
            if not all(bool(torch.isfinite(p).all()) for p in module.parameters()):
                bad.append(f"{name} weights")
        if bad:
            raise TrainingError(
                f"training diverged at step {self.num_timesteps}: {', '.join(bad)} became NaN or infinite",
                hint="lower the learning rate or enable normalisation",
            )

    def predict(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        """Actions for one observation or a batch (observations as ``make_env()`` returns them)."""
        arr = np.asarray(obs, dtype=np.float32)
        single = arr.shape == tuple(self.observation_space.shape)
        batch = torch.as_tensor(arr.reshape(-1, self.obs_dim), device=self.device)
        with torch.no_grad():
            action = self._act(batch, deterministic).cpu().numpy()
        return action[0] if single else action

    def make_env(self, render_mode: str | None = None) -> gym.Env:
        """One environment with the agent's wrappers and normalisation frozen (for evaluation/videos)."""
        env = make_single_env(self.env_id, self.config.env, render_mode=render_mode)
        if self.config.env.norm_obs:
            rms = self.normalizer.obs_rms
            env = FrozenObsNormalization(env, rms.mean.copy(), rms.var.copy(), self.config.env.clip_obs)
        return env

    def evaluate(self, episodes: int = 10, *, deterministic: bool = True, seed: int | None = None) -> EvalResult:
        """Play ``episodes`` full episodes; episode k resets with ``seed + k``, ``seed`` defaulting to ``agent.seed + 1000``."""
        from zoolab.rl.evaluation import evaluate_agent

        return evaluate_agent(self, episodes, deterministic=deterministic, seed=self.seed + 1000 if seed is None else seed)

    def save(self, folder: str | Path, *, results: EvalResult | None = None) -> Path:
        """Write the agent in zoolab's format (``config.json``, ``model.safetensors``, card)."""
        from zoolab.rl.artifacts import save_agent

        return save_agent(self, Path(folder), results=results)

    @classmethod
    def load(cls, folder: str | Path, device: str = "auto") -> Agent:
        """Load an agent saved by :meth:`save` (its class must match, unless called on ``Agent``)."""
        from zoolab.rl.artifacts import load_agent

        agent = load_agent(folder, device=device)
        if cls is not Agent and not isinstance(agent, cls):
            raise InvalidInputError(f"{folder} holds a {agent.algo.upper()} agent, not {cls.__name__}", hint=f"use {type(agent).__name__}.load or load_agent")
        return agent

    # --- state for checkpoints ------------------------------------------------------------------
    def extra_state(self) -> dict[str, Any]:
        """Algorithm-specific JSON state for checkpoints (override to add counters)."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`extra_state` returned."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(env_id={self.env_id!r}, seed={self.seed}, device='{self.device}', steps={self.num_timesteps})"


def hparams(agent: Agent) -> dict[str, Any]:
    """The resolved config as a nested JSON-friendly dict."""
    return cfgmod.to_dict(agent.config)


def dumps(data: Any) -> str:
    """JSON with a trailing newline (every JSON file zoolab writes)."""
    return json.dumps(data, indent=2, sort_keys=False) + "\n"
