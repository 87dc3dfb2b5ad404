"""Replay buffer for the off-policy algorithms (DQN, SAC, TD3): preallocated tensors on the device.

Each row is ``(obs, action, reward, next_obs, terminated)``. ``next_obs`` is the observation the
action really led to (``final_obs`` at the end of an episode, see :mod:`zoolab.rl.envs`), and only
*termination* stops bootstrapping: a time-limit truncation still bootstraps from ``next_obs``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch


class ReplayBatch(NamedTuple):
    """A sampled minibatch (or a stack of ``k`` minibatches with a leading axis)."""

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor


class ReplayBuffer:
    """Ring buffer of ``capacity`` transitions."""

    FIELDS = ("obs", "actions", "rewards", "next_obs", "terminated")

    def __init__(self, capacity: int, obs_dim: int, action_shape: tuple[int, ...], action_dtype: torch.dtype,
                 device: torch.device, obs_dtype: torch.dtype = torch.float32) -> None:
        self.capacity, self.device = int(capacity), device
        # Pixels are kept as uint8 (a quarter of the memory) and handed out as floats.
        # Uninitialised: only rows below ``size`` are ever read, and untouched pages cost no memory
        # (a 100,000-frame Atari buffer is 5.6 GB once full).
        self.obs = torch.empty((self.capacity, obs_dim), dtype=obs_dtype, device=device)
        self.next_obs = torch.empty((self.capacity, obs_dim), dtype=obs_dtype, device=device)
        self.actions = torch.zeros((self.capacity, *action_shape), dtype=action_dtype, device=device)
        self.rewards = torch.zeros(self.capacity, device=device)
        self.terminated = torch.zeros(self.capacity, device=device)
        self.pos = 0
        self.size = 0
        # On CPU, numpy views of the same storage: a row write or a gather costs a microsecond
        # there against several for a torch indexing call.
        self.arrays = {f: getattr(self, f).numpy() for f in self.FIELDS} if device.type == "cpu" else None

    def add(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray,
            terminated: np.ndarray) -> None:
        """Append one vector step (``n_envs`` rows)."""
        n = obs.shape[0]
        idx = (self.pos + np.arange(n)) % self.capacity if self.pos + n > self.capacity else slice(self.pos, self.pos + n)
        if self.arrays is not None:
            a = self.arrays
            a["obs"][idx] = obs
            a["next_obs"][idx] = next_obs
            a["actions"][idx] = np.asarray(actions).reshape(n, *a["actions"].shape[1:])
            a["rewards"][idx] = rewards
            a["terminated"][idx] = terminated
            self.pos = (self.pos + n) % self.capacity
            self.size = min(self.size + n, self.capacity)
            return
        dev = self.device
        self.obs[idx] = torch.as_tensor(obs, device=dev)
        self.next_obs[idx] = torch.as_tensor(next_obs, device=dev)
        self.actions[idx] = torch.as_tensor(actions, device=dev, dtype=self.actions.dtype).reshape(n, *self.actions.shape[1:])
        self.rewards[idx] = torch.as_tensor(rewards, device=dev, dtype=torch.float32)
        self.terminated[idx] = torch.as_tensor(terminated, device=dev, dtype=torch.float32)
        self.pos = (self.pos + n) % self.capacity
        self.size = min(self.size + n, self.capacity)

    def sample(self, rng: np.random.Generator, batch_size: int, k: int | None = None) -> ReplayBatch:
        """``batch_size`` uniform rows (with a leading axis of ``k`` minibatches if ``k`` is given)."""
        shape = (batch_size,) if k is None else (k, batch_size)
        idx = torch.as_tensor(rng.integers(0, self.size, size=shape), device=self.device)
        return ReplayBatch(self.obs[idx].float(), self.actions[idx], self.rewards[idx], self.next_obs[idx].float(),
                           self.terminated[idx])

    def sample_arrays(self, rng: np.random.Generator, batch_size: int, k: int) -> list[tuple[np.ndarray, ...]]:
        """``k`` minibatches of numpy rows (CPU buffers only), drawn as :meth:`sample` draws them."""
        assert self.arrays is not None
        idx = rng.integers(0, self.size, size=(k, batch_size))
        a = self.arrays
        return [tuple(np.asarray(a[f][i], np.float32) for f in self.FIELDS) for i in idx]

    # --- checkpoints -------------------------------------------------------------------------------
    def tensors(self) -> dict[str, torch.Tensor]:
        """The filled rows, for ``buffer.safetensors``."""
        return {f: getattr(self, f)[: self.size].detach().to("cpu").contiguous() for f in self.FIELDS}

    def meta(self) -> dict[str, Any]:
        """Position and size (JSON)."""
        return {"pos": self.pos, "size": self.size, "capacity": self.capacity}

    def load(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Restore rows written by :meth:`tensors`."""
        size = int(meta["size"])
        for f in self.FIELDS:
            getattr(self, f)[:size] = tensors[f].to(self.device)
        self.size, self.pos = size, int(meta["pos"])
