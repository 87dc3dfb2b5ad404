"""CartPole stepped for all copies at once in numpy, with the numbers gymnasium's own envs give.

``SyncVectorEnv`` over ``gym.make("CartPole-v1")`` spends about 90 us of CPU on a step of 8 copies,
almost all of it in Python: each copy goes through four wrappers, an action-space check and the
scalar physics (this class: 30-40 us). :class:`CartPoleVec` does the same arithmetic on arrays, in the same order and with the
same float64 state, so every observation, reward and flag equals what zoolab's vector env of the
registered env returns (``tests/rl/test_fast_paths.py`` compares them step by step, resets
included):

- copy ``i`` has its own generator, seeded ``seed + i`` by :meth:`reset` as ``SyncVectorEnv``
  does, and draws its reset state from it exactly as ``CartPoleEnv.reset`` does;
- SAME_STEP autoreset (see :mod:`zoolab.rl.envs`): the step that ends an episode returns the next
  episode's first observation and puts the last one in ``info["final_obs"]``;
- the time limit truncates at ``max_episode_steps`` steps, as ``TimeLimit`` does.

gymnasium's ``CartPoleVectorEnv`` is not used: it autoresets on the next step and draws every
copy's reset from one shared generator, so its episodes differ from the single env's.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from zoolab.rl.config import EnvConfig

_ENTRY_POINT = "gymnasium.envs.classic_control.cartpole:CartPoleEnv"


def applies(env_id: str, cfg: EnvConfig) -> bool:
    """Whether ``make_vec_env(env_id, cfg)`` would be plain CartPole copies (no other wrappers)."""
    spec = gym.registry.get(env_id)
    return (spec is not None and spec.entry_point == _ENTRY_POINT and not spec.kwargs
            and not spec.additional_wrappers and spec.max_episode_steps is not None
            and cfg.frame_stack == 1 and cfg.vectorization == "sync")


class CartPoleVec(gym.vector.VectorEnv):
    """``n_envs`` CartPole copies with SAME_STEP autoreset (see the module docstring)."""

    metadata = {"autoreset_mode": AutoresetMode.SAME_STEP}

    def __init__(self, env_id: str, n_envs: int, max_episode_steps: int | None = None) -> None:
        spec = gym.registry[env_id]
        probe = gym.make(env_id).unwrapped  # the physical constants, read from the env itself
        if probe.kinematics_integrator != "euler":
            raise ValueError(f"{env_id}: only the euler integrator is implemented")
        self.gravity, self.total_mass, self.length = probe.gravity, probe.total_mass, probe.length
        self.masspole, self.polemass_length = probe.masspole, probe.polemass_length
        self.force_mag, self.tau = probe.force_mag, probe.tau
        self.theta_threshold, self.x_threshold = probe.theta_threshold_radians, probe.x_threshold
        self.single_observation_space, self.single_action_space = probe.observation_space, probe.action_space
        probe.close()
        self.num_envs = n_envs
        self.max_episode_steps = int(max_episode_steps or spec.max_episode_steps)
        self.observation_space = batch_space(self.single_observation_space, n_envs)
        self.action_space = batch_space(self.single_action_space, n_envs)
        self.spec = spec
        self.render_mode = None
        self.closed = False
        self.state = np.zeros((4, n_envs), np.float64)
        self._forces = np.array([-self.force_mag, self.force_mag])  # indexed by the action
        self._ones = np.ones(n_envs, np.float64)
        self.elapsed = np.zeros(n_envs, np.int64)
        self.rngs: list[np.random.Generator] = []

    def reset(self, *, seed: int | list[int | None] | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Reset every copy; an int ``seed`` seeds copy ``i`` with ``seed + i`` (as ``SyncVectorEnv``)."""
        if options:
            raise ValueError("CartPoleVec.reset takes no options")
        seeds = [seed + i for i in range(self.num_envs)] if isinstance(seed, int) else seed or [None] * self.num_envs
        if len(seeds) != self.num_envs:
            raise ValueError(f"{len(seeds)} seeds for {self.num_envs} environments")
        if not self.rngs:
            self.rngs = [seeding.np_random(s)[0] for s in seeds]
        else:
            self.rngs = [seeding.np_random(s)[0] if s is not None else rng for s, rng in zip(seeds, self.rngs)]
        for i, rng in enumerate(self.rngs):
            self.state[:, i] = rng.uniform(low=-0.05, high=0.05, size=(4,))
        self.elapsed[:] = 0
        return self.state.T.astype(np.float32, order="C"), {}

    def step(self, actions: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Advance every copy one step (``CartPoleEnv.step`` + ``TimeLimit``, autoreset on the same step)."""
        actions = np.asarray(actions)
        # Integers other than 0 and 1 have some other bit set (negative ones the sign bits).
        if actions.shape != (self.num_envs,) or actions.dtype.kind not in "iu" or (actions & ~1).any():
            raise gym.error.InvalidAction(f"{actions!r} is not one action in {{0, 1}} per environment")
        if not self.rngs:
            raise gym.error.ResetNeeded("call reset before step")
        # CartPoleEnv.step's expressions, term by term and in its order, on float64 arrays
        # (the state is stored (4, n_envs) so each variable is one contiguous row).
        x, x_dot, theta, theta_dot = self.state
        force = self._forces[actions]
        costheta = np.cos(theta)
        sintheta = np.sin(theta)
        temp = (force + self.polemass_length * np.square(theta_dot) * sintheta) / self.total_mass
        thetaacc = (self.gravity * sintheta - costheta * temp) / (
            self.length * (4.0 / 3.0 - self.masspole * np.square(costheta) / self.total_mass))
        xacc = temp - self.polemass_length * thetaacc * costheta / self.total_mass
        state = np.empty_like(self.state)
        np.add(x, self.tau * x_dot, out=state[0])
        np.add(x_dot, self.tau * xacc, out=state[1])
        np.add(theta, self.tau * theta_dot, out=state[2])
        np.add(theta_dot, self.tau * thetaacc, out=state[3])
        self.state = state
        # |v| > t is exactly (v < -t) | (v > t).
        terminated = (np.abs(state[0]) > self.x_threshold) | (np.abs(state[2]) > self.theta_threshold)
        self.elapsed += 1
        truncated = self.elapsed >= self.max_episode_steps
        reward = self._ones.copy()
        obs = state.T.astype(np.float32, order="C")
        info: dict[str, Any] = {}
        done = terminated | truncated
        if done.any():
            final = np.zeros_like(obs)
            final[done] = obs[done]
            info = {"final_obs": final, "_final_obs": done.copy()}
            for i in np.flatnonzero(done):
                state[:, i] = self.rngs[i].uniform(low=-0.05, high=0.05, size=(4,))
                obs[i] = state[:, i]
            self.elapsed[done] = 0
        return obs, reward, terminated, truncated, info
