"""On-policy rollouts (PPO, A2C): a preallocated buffer, collection, and GAE.

Truncation: when a time limit cuts an episode, the return does not end there. The last reward is
increased by ``gamma * V(final_obs)`` (the value of the observation actually reached, read from
``info["final_obs"]`` by the env layer) and the step is then treated as terminal for GAE, which
is exact for the one-step bootstrap. Terminated episodes get no bootstrap.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from zoolab.rl.fastac import NumpyActorCritic
from zoolab.rl.nets import ActorCritic


class RolloutBatch(NamedTuple):
    """Flattened rollout data, all on the agent's device."""

    obs: torch.Tensor
    actions: torch.Tensor
    logprobs: torch.Tensor
    values: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor


class RolloutBuffer:
    """``n_steps x n_envs`` transitions, preallocated once."""

    def __init__(self, n_steps: int, n_envs: int, obs_dim: int, action_shape: tuple[int, ...],
                 action_dtype: torch.dtype, device: torch.device) -> None:
        self.n_steps, self.n_envs, self.device = n_steps, n_envs, device
        self.obs = torch.zeros((n_steps, n_envs, obs_dim), device=device)
        self.actions = torch.zeros((n_steps, n_envs, *action_shape), dtype=action_dtype, device=device)
        self.logprobs = torch.zeros((n_steps, n_envs), device=device)
        self.values = torch.zeros((n_steps, n_envs), device=device)
        # rewards/dones stay in numpy: they come from the env and GAE runs on them there.
        self.rewards = np.zeros((n_steps, n_envs), np.float32)
        self.dones = np.zeros((n_steps, n_envs), np.float32)

    def compute(self, last_value: np.ndarray, gamma: float, gae_lambda: float, n: int | None = None) -> RolloutBatch:
        """GAE(lambda) advantages and returns over the first ``n`` steps (all by default);
        ``dones[t]`` means step t ended its episode."""
        n = self.n_steps if n is None else n
        values = self.values[:n].cpu().numpy()
        adv = np.zeros_like(self.rewards[:n])
        last = np.zeros(self.n_envs, np.float32)
        for t in reversed(range(n)):
            next_value = last_value if t == n - 1 else values[t + 1]
            nonterminal = 1.0 - self.dones[t]
            delta = self.rewards[t] + gamma * next_value * nonterminal - values[t]
            last = delta + gamma * gae_lambda * nonterminal * last
            adv[t] = last
        advantages = torch.as_tensor(adv, device=self.device)
        returns = advantages + self.values[:n]
        flat = lambda x: x[:n].reshape(n * self.n_envs, *x.shape[2:])  # noqa: E731
        return RolloutBatch(flat(self.obs), flat(self.actions), flat(self.logprobs), flat(self.values),
                            flat(advantages), flat(returns))


def rollout_length(agent, n_steps: int, target_steps: int) -> int:  # noqa: ANN001 - Agent (import cycle)
    """Steps per env of the next rollout: ``n_steps``, or fewer for a last rollout that would pass
    ``target_steps`` (so ``learn(N)`` stops at N, rounded up to a multiple of ``n_envs``)."""
    left = target_steps - agent.num_timesteps
    return max(1, min(n_steps, -(-left // agent.n_envs)))


def collect_rollout(agent, net: ActorCritic, buf: RolloutBuffer, n: int | None = None) -> np.ndarray:  # noqa: ANN001
    """Fill the first ``n`` (default ``n_steps``) steps of ``buf`` for every env; returns V(last obs) for GAE."""
    obs = agent._obs
    gamma = agent.config.gamma
    is_box = net.kind == "Box"
    low, high = (agent.action_space.low, agent.action_space.high) if is_box else (None, None)
    with torch.no_grad():
        for t in range(buf.n_steps if n is None else n):
            obs_t = torch.as_tensor(obs, device=buf.device)
            action, logp, value = net.act_value(obs_t)
            buf.obs[t] = obs_t
            buf.actions[t] = action
            buf.logprobs[t] = logp
            buf.values[t] = value
            env_action = action.cpu().numpy()
            if is_box:  # the Gaussian sample is stored unclipped; the env gets it clipped
                env_action = np.clip(env_action, low, high)
            obs, reward, terminated, truncated, real_next = agent._env_step(env_action)
            if truncated.any():
                idx = np.flatnonzero(truncated & ~terminated)
                if idx.size:
                    boot = net.value(torch.as_tensor(real_next[idx], device=buf.device)).cpu().numpy()
                    reward = reward.copy()
                    reward[idx] += gamma * boot
            buf.rewards[t] = reward
            buf.dones[t] = terminated | truncated
        last_value = net.value(torch.as_tensor(obs, device=buf.device)).cpu().numpy()
    return last_value


def collect_rollout_numpy(agent, fast: NumpyActorCritic, buf: RolloutBuffer, n: int | None = None) -> np.ndarray:  # noqa: ANN001
    """:func:`collect_rollout` with the numpy actor-critic (CPU): the same transitions, written into
    numpy views of the buffer, with no torch call per step."""
    obs = agent._obs
    gamma = agent.config.gamma
    rng = agent.rng
    is_box = fast.kind == "Box"
    low, high = (agent.action_space.low, agent.action_space.high) if is_box else (None, None)
    b_obs, b_act, b_logp, b_val = (x.numpy() for x in (buf.obs, buf.actions, buf.logprobs, buf.values))
    for t in range(buf.n_steps if n is None else n):
        obs = np.asarray(obs, np.float32)
        action, logp, value = fast.act_value(obs, rng)
        b_obs[t] = obs
        b_act[t] = action
        b_logp[t] = logp
        b_val[t] = value
        env_action = np.clip(action, low, high) if is_box else action  # stored unclipped, stepped clipped
        obs, reward, terminated, truncated, real_next = agent._env_step(env_action)
        if truncated.any():
            idx = np.flatnonzero(truncated & ~terminated)
            if idx.size:
                reward = reward.copy()
                reward[idx] += gamma * fast.value(np.asarray(real_next[idx], np.float32))
        buf.rewards[t] = reward
        buf.dones[t] = terminated | truncated
    return fast.value(np.asarray(obs, np.float32))
