"""PPO (Schulman et al. 2017), clipped surrogate objective, GAE, for Discrete/MultiDiscrete/Box actions."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from zoolab.rl import distributed
from zoolab.rl.agent import Agent, AlgoConfig
from zoolab.rl import fastac
from zoolab.rl.nets import ActorCritic, FlatParams, check_sde_settings
from zoolab.rl.rollout import RolloutBatch, RolloutBuffer, collect_rollout, collect_rollout_numpy, rollout_length


@dataclass
class PPOConfig(AlgoConfig):
    """PPO hyperparameters."""

    n_steps: int = 128
    """Steps collected per environment before each update."""
    batch_size: int = 64
    """Minibatch size in samples."""
    n_epochs: int = 10
    """Passes over the rollout per update."""
    gae_lambda: float = 0.95
    """GAE lambda (bias/variance trade-off of the advantage)."""
    clip_range: float = 0.2
    """Clipping of the probability ratio."""
    clip_range_vf: float | None = None
    """Clipping of the value update around the old value (None: no clipping)."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    max_grad_norm: float = 0.5
    """Gradient norm clipping."""
    normalize_advantage: bool = True
    """Normalise advantages per minibatch."""
    anneal_lr: bool = False
    """Decay the learning rate linearly to 0 over the run."""
    anneal_clip: bool = False
    """Decay the clip range linearly to 0 over the run."""
    target_kl: float | None = None
    """Stop the epochs of an update early when the approximate KL exceeds this."""
    log_std_init: float = 0.0
    """Initial log standard deviation of Gaussian policies (Box actions; with use_sde, of the gSDE matrix)."""
    use_sde: bool = False
    """Explore with generalised State-Dependent Exploration (gSDE, Box actions) instead of white noise."""
    sde_sample_freq: int = -1
    """With use_sde: draw a new exploration matrix every N env steps (-1: once per rollout)."""


class PPO(Agent):
    """Proximal Policy Optimisation."""

    algo = "ppo"
    config_class = PPOConfig
    action_spaces = ("Discrete", "MultiDiscrete", "Box")
    config: PPOConfig

    def _build(self) -> None:
        c = self.config
        check_sde_settings(self.algo, c.use_sde, c.sde_sample_freq, self.action_space)
        self.net = ActorCritic(self.observation_space, self.action_space, c.hidden_sizes, c.activation,
                               c.log_std_init, use_sde=c.use_sde, sde_sample_freq=c.sde_sample_freq,
                               n_envs=self.n_envs, encoder=self._encoder()).to(self.device)
        self.flat = FlatParams(self.net)
        self.optimizer = self._adam(self.flat, c.learning_rate, eps=1e-5)
        self.modules = {"policy": self.net}
        self.optimizers = {"optimizer": self.optimizer}
        discrete = type(self.action_space).__name__ == "Discrete"
        shape = () if discrete else tuple(self.action_space.shape)
        dtype = torch.long if type(self.action_space).__name__ != "Box" else torch.float32
        self.buffer = RolloutBuffer(c.n_steps, self.n_envs, self.obs_dim, shape, dtype, self.device)
        # Small MLPs on CPU act and learn in numpy on views of the same weights (see zoolab.rl.fastac).
        self.fast = (fastac.NumpyActorCritic(self.net, c.activation)
                     if c.precision == "fp32" and fastac.supports(self.net, c.activation, self.device.type)
                     else None)

    def _act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        action, _ = self.net.sample(obs, deterministic)
        if self.net.kind == "Box":
            low = torch.as_tensor(self.action_space.low, device=obs.device)
            high = torch.as_tensor(self.action_space.high, device=obs.device)
            action = torch.max(torch.min(action, high), low)
        return action

    def _train(self, target_steps: int) -> Iterator[dict[str, float]]:
        c, net, buf = self.config, self.net, self.buffer
        while self.num_timesteps < target_steps:
            n_roll = rollout_length(self, c.n_steps, target_steps)
            n_samples = n_roll * self.n_envs
            batch_size = min(c.batch_size, n_samples)
            # Schedules depend on the global step, so a resumed run continues the same schedule.
            frac = 1.0 - self.num_timesteps / target_steps
            lr = c.learning_rate * frac if c.anneal_lr else c.learning_rate
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            clip = c.clip_range * frac if c.anneal_clip else c.clip_range

            if net.use_sde:  # fresh exploration matrices for every rollout
                net.sde.resample()
            if self.fast is not None:
                last_value = collect_rollout_numpy(self, self.fast, buf, n_roll)
                batch = buf.compute(last_value, c.gamma, c.gae_lambda, n_roll)
                means = self._update_numpy(batch, n_samples, batch_size, clip)
            else:
                last_value = collect_rollout(self, net, buf, n_roll)
                batch = buf.compute(last_value, c.gamma, c.gae_lambda, n_roll)
                means = self._update_torch(batch, n_samples, batch_size, clip)
            y = batch.returns.cpu().numpy()
            var_y = float(np.var(y))
            explained = float("nan") if var_y == 0 else 1 - float(np.var(y - batch.values.cpu().numpy())) / var_y
            yield {
                "loss/policy": means[0], "loss/value": means[1], "entropy": means[2],
                "approx_kl": means[3], "clip_fraction": means[4], "learning_rate": lr,
                **({"explained_variance": explained} if np.isfinite(explained) else {}),
            }

    def _update_numpy(self, batch: RolloutBatch, n_samples: int, batch_size: int, clip: float) -> list[float]:
        """The epochs of minibatch updates with :class:`fastac.NumpyActorCritic`; returns the mean losses."""
        c, fast = self.config, self.fast
        assert fast is not None
        obs, actions, logprobs, values, advantages, returns = (x.numpy() for x in batch)
        sums = np.zeros(5)
        n_mb = 0
        for _epoch in range(c.n_epochs):
            # One minibatch of the whole rollout: its order changes nothing, so skip the shuffle.
            perm = None if batch_size >= n_samples else torch.randperm(n_samples).numpy()
            for start in range(0, n_samples, batch_size):
                idx = slice(None) if perm is None else perm[start : start + batch_size]
                losses = fast.ppo_gradient(obs[idx], actions[idx], logprobs[idx], advantages[idx], returns[idx],
                                           values[idx], clip=clip, clip_vf=c.clip_range_vf, ent_coef=c.ent_coef,
                                           vf_coef=c.vf_coef, normalize_advantage=c.normalize_advantage)
                distributed.average_gradients(self.flat)
                self.flat.clip_grad_norm(c.max_grad_norm)
                self.optimizer.step()
                sums += losses
                n_mb += 1
                self.n_updates += 1
            if c.target_kl is not None and distributed.mean(losses.approx_kl) > 1.5 * c.target_kl:
                break
        return list(sums / max(n_mb, 1))

    def _update_torch(self, batch: RolloutBatch, n_samples: int, batch_size: int, clip: float) -> list[float]:
        """The epochs of minibatch updates with autograd; returns the mean losses."""
        c, net = self.config, self.net
        sums = torch.zeros(5, device=self.device)  # pg, vf, entropy, approx_kl, clipfrac
        n_mb = 0
        for _epoch in range(c.n_epochs):
            perm = torch.randperm(n_samples, device=self.device)
            for start in range(0, n_samples, batch_size):
                idx = perm[start : start + batch_size]
                with self.amp.autocast():
                    logp, entropy, values = net.evaluate(batch.obs[idx], batch.actions[idx])
                logp, entropy, values = logp.float(), entropy.float(), values.float()  # losses in fp32
                log_ratio = logp - batch.logprobs[idx]
                ratio = log_ratio.exp()
                adv = batch.advantages[idx]
                if c.normalize_advantage and adv.numel() > 1:
                    adv = (adv - adv.mean()) / (adv.std() + 1e-8)

                # Clipped surrogate policy loss.
                pg_loss1 = -adv * ratio
                pg_loss2 = -adv * torch.clamp(ratio, 1 - clip, 1 + clip)
                pg_loss = torch.max(pg_loss1, pg_loss2).mean()

                # Value loss, optionally clipped around the rollout's values.
                if c.clip_range_vf is None:
                    v_loss = 0.5 * (values - batch.returns[idx]).pow(2).mean()
                else:
                    old = batch.values[idx]
                    v_clipped = old + torch.clamp(values - old, -c.clip_range_vf, c.clip_range_vf)
                    v_loss = 0.5 * torch.max((values - batch.returns[idx]).pow(2),
                                             (v_clipped - batch.returns[idx]).pow(2)).mean()

                ent = entropy.mean()
                loss = pg_loss + c.vf_coef * v_loss - c.ent_coef * ent

                # data-parallel: the gradient is the mean over processes
                self.amp.optimize(loss, self.flat, self.optimizer, key="policy", max_grad_norm=c.max_grad_norm,
                                  average=True)

                with torch.no_grad():
                    approx_kl = ((ratio - 1) - log_ratio).mean()
                    clipfrac = ((ratio - 1).abs() > clip).float().mean()
                    sums += torch.stack([pg_loss.detach(), v_loss.detach(), ent.detach(), approx_kl, clipfrac])
                n_mb += 1
                self.n_updates += 1
            if c.target_kl is not None and distributed.mean(float(approx_kl)) > 1.5 * c.target_kl:
                break

        return (sums / max(n_mb, 1)).tolist()
