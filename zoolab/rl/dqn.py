"""DQN (Mnih et al. 2015) with optional double Q-learning (van Hasselt 2016), dueling heads (Wang 2016)
and a LayerNorm Q-network (bounded Q-values, see docs/rl.md "DQN stability")."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from zoolab.rl.agent import Agent, AlgoConfig
from zoolab.rl.buffers import ReplayBatch, ReplayBuffer
from zoolab.rl.nets import FlatParams, QNetwork


@dataclass
class DQNConfig(AlgoConfig):
    """DQN hyperparameters."""

    learning_rate: float = 1e-4
    """Adam learning rate."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Hidden layer widths of the Q-network."""
    activation: str = "relu"
    """Activation between hidden layers."""
    buffer_size: int = 100_000
    """Replay buffer capacity (transitions)."""
    learning_starts: int = 1000
    """Environment steps of pure exploration before the first update."""
    batch_size: int = 64
    """Minibatch size."""
    train_freq: int = 4
    """Vector-env steps between training phases."""
    gradient_steps: int = 1
    """Gradient steps per training phase."""
    target_update_interval: int = 1000
    """Environment steps between target-network updates."""
    tau: float = 1.0
    """Target update rate (1.0 = hard copy)."""
    exploration_fraction: float = 0.1
    """Fraction of the run over which epsilon decays."""
    exploration_initial_eps: float = 1.0
    """Initial epsilon of epsilon-greedy exploration."""
    exploration_final_eps: float = 0.05
    """Final epsilon."""
    max_grad_norm: float = 10.0
    """Gradient norm clipping."""
    anneal_lr: bool = False
    """Decay the learning rate linearly to 0 over the run."""
    double_q: bool = False
    """Pick the next action with the online network and evaluate it with the target network."""
    dueling: bool = False
    """Dueling architecture: separate state-value and advantage streams."""
    layer_norm: bool = False
    """LayerNorm in every hidden layer of the Q-network: keeps the Q-values bounded."""
    log_interval: int = 1000
    """Environment steps between progress reports (and possible checkpoints)."""


class DQN(Agent):
    """Deep Q-Network for Discrete action spaces."""

    algo = "dqn"
    config_class = DQNConfig
    action_spaces = ("Discrete",)
    config: DQNConfig

    def _build(self) -> None:
        c = self.config
        n_actions = int(self.action_space.n)
        self.q = QNetwork(self.observation_space, n_actions, c.hidden_sizes, c.activation, c.dueling,
                          c.layer_norm, encoder=self._encoder()).to(self.device)
        self.q_target = copy.deepcopy(self.q).requires_grad_(False)
        self.q_flat, self.q_target_flat = FlatParams(self.q), FlatParams(self.q_target)
        self.optimizer = self._adam(self.q_flat, c.learning_rate)
        self.modules = {"q": self.q, "q_target": self.q_target}
        self.optimizers = {"optimizer": self.optimizer}
        self.replay = ReplayBuffer(c.buffer_size, self.obs_dim, (), torch.long, self.device, self._obs_storage_dtype())

    def _act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        return self.q(obs).argmax(-1)

    def _epsilon(self, target_steps: int) -> float:
        c = self.config
        frac = min(1.0, self.num_timesteps / max(c.exploration_fraction * target_steps, 1))
        return c.exploration_initial_eps + frac * (c.exploration_final_eps - c.exploration_initial_eps)

    @torch.no_grad()
    def _phase_td_targets(self, batches: ReplayBatch) -> torch.Tensor:
        """TD targets ``r + gamma * max_a Q_target(s', a)`` of every minibatch of a phase, shape (k, B).

        The target network only changes between training phases, so one forward pass over all
        ``k`` minibatches replaces ``k`` small ones.
        """
        k, b = batches.rewards.shape
        next_q = self.q_target(batches.next_obs.reshape(k * b, -1)).max(-1).values.view(k, b)
        return batches.rewards + self.config.gamma * (1.0 - batches.terminated) * next_q

    def _train(self, target_steps: int) -> Iterator[dict[str, float]]:
        c, q, q_target = self.config, self.q, self.q_target
        obs = self._obs
        n_actions = int(self.action_space.n)
        next_report = (self.num_timesteps // c.log_interval + 1) * c.log_interval
        last_target = self.num_timesteps // c.target_update_interval
        loss_sum, n_loss = torch.zeros((), device=self.device), 0
        vec_steps = 0
        while self.num_timesteps < target_steps:
            # Epsilon-greedy acting: random rows are drawn from the agent's numpy RNG.
            eps = self._epsilon(target_steps)
            actions = self.rng.integers(0, n_actions, size=self.n_envs)
            greedy = self.rng.random(self.n_envs) >= eps
            if self.num_timesteps >= c.learning_starts and greedy.any():
                with torch.no_grad():
                    best = q(torch.as_tensor(obs, device=self.device)).argmax(-1).cpu().numpy()
                actions = np.where(greedy, best, actions)
            next_obs, reward, terminated, _truncated, real_next = self._env_step(actions)
            self.replay.add(obs, actions, reward, real_next, terminated)
            obs = next_obs
            vec_steps += 1

            if self.num_timesteps >= c.learning_starts and vec_steps % c.train_freq == 0:
                if c.anneal_lr:  # depends on the global step, so a resumed run continues the schedule
                    self.optimizer.param_groups[0]["lr"] = c.learning_rate * max(0.0, 1.0 - self.num_timesteps / target_steps)
                batches = self.replay.sample(self.rng, c.batch_size, k=c.gradient_steps)
                td_targets = None if c.double_q else self._phase_td_targets(batches)
                for g in range(c.gradient_steps):
                    b_obs, b_act = batches.obs[g], batches.actions[g]
                    if td_targets is not None:
                        td_target = td_targets[g]
                    else:  # double Q: the online net, which changes every step, chooses the next action
                        with torch.no_grad():
                            b_next = batches.next_obs[g]
                            next_a = q(b_next).argmax(-1, keepdim=True)
                            next_q = q_target(b_next).gather(-1, next_a).squeeze(-1)
                            td_target = batches.rewards[g] + c.gamma * (1.0 - batches.terminated[g]) * next_q
                    with self.amp.autocast():
                        q_values = q(b_obs)
                    q_taken = q_values.float().gather(-1, b_act.unsqueeze(-1)).squeeze(-1)
                    loss = F.smooth_l1_loss(q_taken, td_target.float())

                    self.amp.optimize(loss, self.q_flat, self.optimizer, key="q", max_grad_norm=c.max_grad_norm)
                    loss_sum += loss.detach()
                    n_loss += 1
                    self.n_updates += 1

            # Target network: hard copy (tau=1) or Polyak average every target_update_interval steps.
            if self.num_timesteps // c.target_update_interval > last_target:
                last_target = self.num_timesteps // c.target_update_interval
                with torch.no_grad():
                    self.q_target_flat.param.lerp_(self.q_flat.param, c.tau)

            if self.num_timesteps >= next_report or self.num_timesteps >= target_steps:
                next_report = (self.num_timesteps // c.log_interval + 1) * c.log_interval
                metrics = {"exploration_rate": eps}
                if n_loss:
                    metrics["loss/td"] = float(loss_sum) / n_loss
                loss_sum, n_loss = torch.zeros((), device=self.device), 0
                self._obs = obs
                yield metrics
