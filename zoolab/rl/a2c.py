"""A2C (Mnih et al. 2016, synchronous): one gradient step per short rollout; any action space PPO takes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from zoolab.rl.agent import Agent, AlgoConfig
from zoolab.rl.nets import ActorCritic, FlatParams, check_sde_settings
from zoolab.rl.optim import FlatAdam, FlatRMSprop
from zoolab.rl.rollout import RolloutBuffer, collect_rollout, rollout_length


@dataclass
class A2CConfig(AlgoConfig):
    """A2C hyperparameters."""

    learning_rate: float = 7e-4
    """Optimiser learning rate."""
    n_steps: int = 5
    """Steps collected per environment before each update."""
    gae_lambda: float = 1.0
    """GAE lambda (1.0 = plain n-step returns)."""
    ent_coef: float = 0.0
    """Entropy bonus coefficient."""
    vf_coef: float = 0.5
    """Value loss coefficient."""
    max_grad_norm: float = 0.5
    """Gradient norm clipping."""
    normalize_advantage: bool = False
    """Normalise advantages per update."""
    use_rms_prop: bool = True
    """RMSprop (alpha 0.99, eps 1e-5) as in the paper; Adam otherwise."""
    anneal_lr: bool = False
    """Decay the learning rate linearly to 0 over the run."""
    log_std_init: float = 0.0
    """Initial log standard deviation of Gaussian policies (Box actions; with use_sde, of the gSDE matrix)."""
    use_sde: bool = False
    """Explore with generalised State-Dependent Exploration (gSDE, Box actions) instead of white noise."""
    sde_sample_freq: int = -1
    """With use_sde: draw a new exploration matrix every N env steps (-1: once per rollout)."""
    log_interval: int = 100
    """Updates between progress reports (and possible checkpoints)."""


class A2C(Agent):
    """Advantage Actor-Critic."""

    algo = "a2c"
    config_class = A2CConfig
    action_spaces = ("Discrete", "MultiDiscrete", "Box")
    config: A2CConfig

    def _build(self) -> None:
        c = self.config
        check_sde_settings(self.algo, c.use_sde, c.sde_sample_freq, self.action_space)
        self.net = ActorCritic(self.observation_space, self.action_space, c.hidden_sizes, c.activation,
                               c.log_std_init, use_sde=c.use_sde, sde_sample_freq=c.sde_sample_freq,
                               n_envs=self.n_envs, encoder=self._encoder()).to(self.device)
        self.flat = FlatParams(self.net)
        # FlatRMSprop is torch.optim.RMSprop on the one flat tensor, without torch.optim's
        # torch._dynamo import (see zoolab.rl.optim); it reads and writes torch's state layout.
        self.optimizer: FlatRMSprop | FlatAdam = (
            FlatRMSprop(self.flat.param, lr=c.learning_rate, alpha=0.99, eps=1e-5) if c.use_rms_prop
            else self._adam(self.flat, c.learning_rate))
        self.modules = {"policy": self.net}
        self.optimizers = {"optimizer": self.optimizer}
        kind = type(self.action_space).__name__
        shape = () if kind == "Discrete" else tuple(self.action_space.shape)
        self.buffer = RolloutBuffer(c.n_steps, self.n_envs, self.obs_dim, shape,
                                    torch.float32 if kind == "Box" else torch.long, self.device)

    def _act(self, obs: torch.Tensor, deterministic: bool) -> torch.Tensor:
        action, _ = self.net.sample(obs, deterministic)
        if self.net.kind == "Box":
            low = torch.as_tensor(self.action_space.low, device=obs.device)
            high = torch.as_tensor(self.action_space.high, device=obs.device)
            action = torch.max(torch.min(action, high), low)
        return action

    def _train(self, target_steps: int) -> Iterator[dict[str, float]]:
        c, net = self.config, self.net
        sums, n = torch.zeros(3, device=self.device), 0
        while self.num_timesteps < target_steps:
            lr = c.learning_rate * (1.0 - self.num_timesteps / target_steps) if c.anneal_lr else c.learning_rate
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            if net.use_sde:  # fresh exploration matrices for every rollout
                net.sde.resample()
            n_roll = rollout_length(self, c.n_steps, target_steps)
            last_value = collect_rollout(self, net, self.buffer, n_roll)
            batch = self.buffer.compute(last_value, c.gamma, c.gae_lambda, n_roll)

            with self.amp.autocast():
                logp, entropy, values = net.evaluate(batch.obs, batch.actions)
            logp, entropy, values = logp.float(), entropy.float(), values.float()  # losses in fp32
            adv = batch.advantages
            if c.normalize_advantage:
                adv = (adv - adv.mean()) / (adv.std() + 1e-8)
            pg_loss = -(adv * logp).mean()
            v_loss = 0.5 * (batch.returns - values).pow(2).mean()
            ent = entropy.mean()
            loss = pg_loss + c.vf_coef * v_loss - c.ent_coef * ent

            # data-parallel: the gradient is the mean over processes
            self.amp.optimize(loss, self.flat, self.optimizer, key="policy", max_grad_norm=c.max_grad_norm,
                              average=True)
            self.n_updates += 1
            sums += torch.stack([pg_loss.detach(), v_loss.detach(), ent.detach()])
            n += 1

            if n >= c.log_interval or self.num_timesteps >= target_steps:
                means = (sums / n).tolist()
                sums, n = torch.zeros(3, device=self.device), 0
                yield {"loss/policy": means[0], "loss/value": means[1], "entropy": means[2], "learning_rate": lr}
