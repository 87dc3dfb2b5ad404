"""TD3 (Fujimoto et al. 2018): twin critics, delayed policy updates, target policy smoothing; Box actions."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from zoolab.rl.agent import Agent, AlgoConfig
from zoolab.rl.buffers import ReplayBuffer
from zoolab.rl.nets import DeterministicActor, FlatParams, TwinQ


@dataclass
class TD3Config(AlgoConfig):
    """TD3 hyperparameters."""

    learning_rate: float = 1e-3
    """Adam learning rate of actor and critics."""
    hidden_sizes: tuple[int, ...] = (256, 256)
    """Hidden layer widths of actor and critics."""
    activation: str = "relu"
    """Activation between hidden layers."""
    buffer_size: int = 1_000_000
    """Replay buffer capacity (transitions)."""
    learning_starts: int = 1000
    """Environment steps with uniformly random actions before learning starts."""
    batch_size: int = 256
    """Minibatch size."""
    train_freq: int = 1
    """Vector-env steps between training phases."""
    gradient_steps: int = 1
    """Gradient steps per training phase."""
    tau: float = 0.005
    """Polyak rate of the target networks."""
    policy_delay: int = 2
    """Critic updates per actor (and target) update."""
    exploration_noise: float = 0.1
    """Std of the Gaussian action noise while collecting, as a fraction of the action half-range."""
    target_policy_noise: float = 0.2
    """Std of the smoothing noise on target actions (fraction of the half-range)."""
    target_noise_clip: float = 0.5
    """Clip of the smoothing noise (fraction of the half-range)."""
    log_interval: int = 1000
    """Environment steps between progress reports (and possible checkpoints)."""


class TD3(Agent):
    """Twin Delayed DDPG."""

    algo = "td3"
    config_class = TD3Config
    action_spaces = ("Box",)
    config: TD3Config

    def _build(self) -> None:
        c = self.config
        obs_space, act_space = self.observation_space, self.action_space
        self.actor = DeterministicActor(obs_space, act_space, c.hidden_sizes, c.activation).to(self.device)
        self.actor_target = copy.deepcopy(self.actor).requires_grad_(False)
        self.critic = TwinQ(obs_space, act_space, c.hidden_sizes, c.activation).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.actor_flat, self.actor_target_flat = FlatParams(self.actor), FlatParams(self.actor_target)
        self.critic_flat, self.critic_target_flat = FlatParams(self.critic), FlatParams(self.critic_target)
        self.actor_opt = self._adam(self.actor_flat, c.learning_rate)
        self.critic_opt = self._adam(self.critic_flat, c.learning_rate)
        self.modules = {"actor": self.actor, "actor_target": self.actor_target,
                        "critic": self.critic, "critic_target": self.critic_target}
        self.optimizers = {"actor": self.actor_opt, "critic": self.critic_opt}
        self.replay = ReplayBuffer(c.buffer_size, self.obs_dim, tuple(act_space.shape), torch.float32, self.device)

    def _act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        return self.actor(obs)

    def _update(self, b: Any, update_actor: bool) -> tuple[torch.Tensor, torch.Tensor | None]:
        """One critic step, and an actor + target step when ``update_actor``; returns the losses."""
        c = self.config
        scale, bias = self.actor.action_scale, self.actor.action_bias

        # Critic: target policy smoothing, then the minimum of the two target critics.
        with torch.no_grad(), self.amp.autocast():
            noise = (torch.randn_like(b.actions) * c.target_policy_noise).clamp(-c.target_noise_clip, c.target_noise_clip)
            next_a = (self.actor_target(b.next_obs).float() + noise * scale).clamp(bias - scale, bias + scale)
            next_q = self.critic_target(b.next_obs, next_a).min(0).values.float()
            target_q = b.rewards + c.gamma * (1.0 - b.terminated) * next_q
        with self.amp.autocast():
            q = self.critic(b.obs, b.actions)
        critic_loss = 0.5 * (q.float() - target_q).pow(2).mean(-1).sum()
        self.amp.optimize(critic_loss, self.critic_flat, self.critic_opt, key="critic")

        if not update_actor:
            return critic_loss.detach(), None
        # Delayed actor: maximise the first critic; then move both target networks.
        with self.amp.autocast():
            q_pi = self.critic(b.obs, self.actor(b.obs))[0]
        actor_loss = -q_pi.float().mean()
        self.amp.optimize(actor_loss, self.actor_flat, self.actor_opt, key="actor")
        with torch.no_grad():
            self.critic_target_flat.param.lerp_(self.critic_flat.param, c.tau)
            self.actor_target_flat.param.lerp_(self.actor_flat.param, c.tau)
        return critic_loss.detach(), actor_loss.detach()

    def _train(self, target_steps: int) -> Iterator[dict[str, float]]:
        c = self.config
        obs = self._obs
        low, high = self.action_space.low, self.action_space.high
        half = (high - low) / 2
        next_report = (self.num_timesteps // c.log_interval + 1) * c.log_interval
        sums, n_critic, n_actor = torch.zeros(2, device=self.device), 0, 0
        vec_steps = 0
        while self.num_timesteps < target_steps:
            if self.num_timesteps < c.learning_starts:
                actions = self.rng.uniform(low, high, size=(self.n_envs, *low.shape)).astype(np.float32)
            else:
                with torch.no_grad():
                    actions = self.actor(torch.as_tensor(obs, device=self.device)).cpu().numpy()
                noise = self.rng.normal(0.0, c.exploration_noise, size=actions.shape) * half
                actions = np.clip(actions + noise, low, high).astype(np.float32)
            next_obs, reward, terminated, _truncated, real_next = self._env_step(actions)
            self.replay.add(obs, actions, reward, real_next, terminated)
            obs = next_obs
            vec_steps += 1

            if self.num_timesteps >= c.learning_starts and vec_steps % c.train_freq == 0:
                batches = self.replay.sample(self.rng, c.batch_size, k=c.gradient_steps)
                for g in range(c.gradient_steps):
                    self.n_updates += 1
                    critic_loss, actor_loss = self._update(type(batches)(*(x[g] for x in batches)),
                                                           self.n_updates % c.policy_delay == 0)
                    sums[0] += critic_loss
                    n_critic += 1
                    if actor_loss is not None:
                        sums[1] += actor_loss
                        n_actor += 1

            if self.num_timesteps >= next_report or self.num_timesteps >= target_steps:
                next_report = (self.num_timesteps // c.log_interval + 1) * c.log_interval
                metrics: dict[str, float] = {}
                if n_critic:
                    metrics["loss/critic"] = float(sums[0]) / n_critic
                if n_actor:
                    metrics["loss/actor"] = float(sums[1]) / n_actor
                sums, n_critic, n_actor = torch.zeros(2, device=self.device), 0, 0
                self._obs = obs
                yield metrics
