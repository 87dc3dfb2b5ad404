"""SAC (Haarnoja et al. 2018) with twin critics and automatic entropy tuning, for Box actions."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from zoolab.rl import fastsac
from zoolab.rl.agent import Agent, AlgoConfig
from zoolab.rl.buffers import ReplayBuffer
from zoolab.rl.nets import (
    FlatParams,
    SDESquashedGaussianActor,
    SquashedGaussianActor,
    TwinQ,
    check_sde_settings,
)


@dataclass
class SACConfig(AlgoConfig):
    """SAC hyperparameters."""

    hidden_sizes: tuple[int, ...] = (256, 256)
    """Hidden layer widths of actor and critics."""
    activation: str = "relu"
    """Activation between hidden layers."""
    critic_learning_rate: float | None = None
    """Critic learning rate (None: same as learning_rate)."""
    buffer_size: int = 1_000_000
    """Replay buffer capacity (transitions)."""
    learning_starts: int = 100
    """Environment steps with uniformly random actions before learning starts."""
    batch_size: int = 256
    """Minibatch size."""
    train_freq: int = 1
    """Vector-env steps between training phases."""
    gradient_steps: int = 1
    """Gradient steps per training phase."""
    tau: float = 0.005
    """Polyak rate of the target critics."""
    autotune: bool = True
    """Tune the entropy coefficient alpha towards target_entropy."""
    ent_coef: float = 1.0
    """Entropy coefficient alpha (its initial value when autotune is on)."""
    target_entropy: float | None = None
    """Target policy entropy (None: minus the action dimension)."""
    use_sde: bool = False
    """Explore with generalised State-Dependent Exploration (gSDE) instead of white noise."""
    sde_sample_freq: int = -1
    """With use_sde: draw a new exploration matrix every N env steps (-1: once per collection phase)."""
    log_std_init: float = -3.0
    """With use_sde: initial log standard deviation of the gSDE exploration matrix."""
    log_interval: int = 1000
    """Environment steps between progress reports (and possible checkpoints)."""


class _LogAlpha(nn.Module):
    """Holds log(alpha) as a module so it is saved and checkpointed like the networks."""

    def __init__(self, value: float) -> None:
        super().__init__()
        self.log_alpha = nn.Parameter(torch.tensor(float(np.log(value))))


class SAC(Agent):
    """Soft Actor-Critic."""

    algo = "sac"
    config_class = SACConfig
    action_spaces = ("Box",)
    config: SACConfig

    def _build(self) -> None:
        c = self.config
        obs_space, act_space = self.observation_space, self.action_space
        check_sde_settings(self.algo, c.use_sde, c.sde_sample_freq, act_space)
        if c.use_sde:
            self.actor: SquashedGaussianActor | SDESquashedGaussianActor = SDESquashedGaussianActor(
                obs_space, act_space, c.hidden_sizes, c.activation, c.log_std_init, self.n_envs, c.sde_sample_freq,
            ).to(self.device)
        else:
            self.actor = SquashedGaussianActor(obs_space, act_space, c.hidden_sizes, c.activation).to(self.device)
        self.critic = TwinQ(obs_space, act_space, c.hidden_sizes, c.activation).to(self.device)
        self.critic_target = copy.deepcopy(self.critic).requires_grad_(False)
        self.alpha = _LogAlpha(c.ent_coef).to(self.device)
        self.actor_flat, self.critic_flat = FlatParams(self.actor), FlatParams(self.critic)
        self.critic_target_flat, self.alpha_flat = FlatParams(self.critic_target), FlatParams(self.alpha)
        self.actor_opt = self._adam(self.actor_flat, c.learning_rate)
        self.critic_opt = self._adam(self.critic_flat, c.critic_learning_rate or c.learning_rate)
        self.alpha_opt = self._adam(self.alpha_flat, c.learning_rate)
        self.target_entropy = float(c.target_entropy if c.target_entropy is not None else -np.prod(act_space.shape))
        self.modules = {"actor": self.actor, "critic": self.critic, "critic_target": self.critic_target, "alpha": self.alpha}
        self.optimizers = {"actor": self.actor_opt, "critic": self.critic_opt, "alpha": self.alpha_opt}
        self.replay = ReplayBuffer(c.buffer_size, self.obs_dim, tuple(act_space.shape), torch.float32, self.device)
        # Small MLPs on CPU act and learn in numpy on views of the same weights (zoolab.rl.fastsac).
        self.fast = (fastsac.NumpySAC(self.actor, self.critic, self.critic_target, c.activation)
                     if c.precision == "fp32" and fastsac.supports(self.actor, c.activation, self.device.type)
                     else None)

    def _act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        return self.actor(obs, deterministic)[0]

    def _update(self, b: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One gradient step on critics, actor and alpha; returns the three losses (tensors)."""
        c = self.config
        alpha = self.alpha.log_alpha.exp().detach()
        # gSDE: one fresh exploration matrix per gradient step, shared by the whole batch.
        kw = {"sde_eps": torch.randn(self.actor.sde.log_std.shape, device=self.device)} if c.use_sde else {}

        # Critic: soft Bellman target with the minimum of the two target critics.
        with torch.no_grad(), self.amp.autocast():
            next_a, next_logp = self.actor(b.next_obs, **kw)
            next_q = self.critic_target(b.next_obs, next_a).min(0).values.float() - alpha * next_logp.float()
            target_q = b.rewards + c.gamma * (1.0 - b.terminated) * next_q
        with self.amp.autocast():
            q = self.critic(b.obs, b.actions)
        critic_loss = 0.5 * (q.float() - target_q).pow(2).mean(-1).sum()
        self.amp.optimize(critic_loss, self.critic_flat, self.critic_opt, key="critic")

        # Actor: maximise min-Q plus entropy. The critic's weights are frozen for this backward:
        # only the gradient with respect to the action is needed, and skipping the weight
        # gradients shortens the critic's backward pass on every step.
        with self.amp.autocast():
            a, logp = self.actor(b.obs, **kw)
            self.critic.requires_grad_(False)
            q_pi = self.critic(b.obs, a).min(0).values
            self.critic.requires_grad_(True)
        logp = logp.float()
        actor_loss = (alpha * logp - q_pi.float()).mean()
        self.amp.optimize(actor_loss, self.actor_flat, self.actor_opt, key="actor")

        # Entropy coefficient: move alpha so the policy entropy tracks target_entropy. The loss
        # -log_alpha * mean(logp + target_entropy) is linear in log_alpha, so its gradient is
        # written directly instead of running autograd on a one-parameter graph.
        if c.autotune:
            entropy_gap = (logp.detach() + self.target_entropy).mean()
            alpha_loss = -self.alpha.log_alpha.detach() * entropy_gap
            grad = self.alpha_flat.param.grad
            assert grad is not None
            grad.copy_(-entropy_gap.reshape(1))
            self.alpha_opt.step()
        else:
            alpha_loss = torch.zeros((), device=self.device)

        with torch.no_grad():
            self.critic_target_flat.param.lerp_(self.critic_flat.param, c.tau)
        return critic_loss.detach(), actor_loss.detach(), alpha_loss.detach()

    def _update_numpy(self, b: tuple[np.ndarray, ...]) -> tuple[float, float, float]:
        """:meth:`_update` with :class:`fastsac.NumpySAC` (same losses, same order of the three steps)."""
        c, fast = self.config, self.fast
        assert fast is not None
        log_alpha = self.alpha_flat.param.detach().numpy()
        alpha = float(np.exp(log_alpha[0]))
        obs, actions, rewards, next_obs, terminated = b
        critic_loss, actor_loss, logp = fast.step(obs, actions, rewards, next_obs, terminated, alpha=alpha,
                                                  gamma=c.gamma, rng=self.rng, critic_done=self.critic_opt.step)
        self.actor_opt.step()
        alpha_loss = 0.0
        if c.autotune:  # the linear loss of _update: its gradient is written directly
            entropy_gap = float(logp.sum()) / logp.shape[0] + self.target_entropy
            alpha_loss = -float(log_alpha[0]) * entropy_gap
            grad = self.alpha_flat.param.grad
            assert grad is not None
            grad.numpy()[0] = -entropy_gap
            self.alpha_opt.step()
        with torch.no_grad():
            self.critic_target_flat.param.lerp_(self.critic_flat.param, c.tau)
        return critic_loss, actor_loss, alpha_loss

    def _train(self, target_steps: int) -> Iterator[dict[str, float]]:
        c = self.config
        obs = self._obs
        low, high = self.action_space.low, self.action_space.high
        next_report = (self.num_timesteps // c.log_interval + 1) * c.log_interval
        sums, sums_np, n = torch.zeros(3, device=self.device), np.zeros(3), 0
        vec_steps = 0
        while self.num_timesteps < target_steps:
            if self.num_timesteps < c.learning_starts:
                actions = self.rng.uniform(low, high, size=(self.n_envs, *low.shape)).astype(np.float32)
            else:
                if c.use_sde and vec_steps % c.train_freq == 0:  # a collection phase starts: new noise
                    self.actor.sde.resample()
                if self.fast is not None:
                    actions = self.fast.act(np.asarray(obs, np.float32), self.rng)
                else:
                    with torch.no_grad():
                        actions = self.actor(torch.as_tensor(obs, device=self.device))[0].cpu().numpy()
            next_obs, reward, terminated, _truncated, real_next = self._env_step(actions)
            self.replay.add(obs, actions, reward, real_next, terminated)
            obs = next_obs
            vec_steps += 1

            if self.fast is not None and self.num_timesteps >= c.learning_starts and vec_steps % c.train_freq == 0:
                for batch_np in self.replay.sample_arrays(self.rng, c.batch_size, c.gradient_steps):
                    sums_np += self._update_numpy(batch_np)
                    n += 1
                    self.n_updates += 1
            elif self.num_timesteps >= c.learning_starts and vec_steps % c.train_freq == 0:
                batches = self.replay.sample(self.rng, c.batch_size, k=c.gradient_steps)
                for g in range(c.gradient_steps):
                    batch = type(batches)(*(x[g] for x in batches))
                    sums += torch.stack(self._update(batch))
                    n += 1
                    self.n_updates += 1

            if self.num_timesteps >= next_report or self.num_timesteps >= target_steps:
                next_report = (self.num_timesteps // c.log_interval + 1) * c.log_interval
                metrics = {"alpha": float(self.alpha.log_alpha.detach().exp())}
                if n:
                    means = ((sums / n).tolist() if self.fast is None else list(sums_np / n))
                    metrics.update({"loss/critic": means[0], "loss/actor": means[1], "loss/alpha": means[2]})
                sums, sums_np, n = torch.zeros(3, device=self.device), np.zeros(3), 0
                self._obs = obs
                yield metrics
