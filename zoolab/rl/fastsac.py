"""SAC's networks and gradient step in numpy, for small MLPs on CPU (see :mod:`zoolab.rl.fastac`).

One SAC step is a critic update, an actor update through the critic and an entropy-coefficient
update: about a hundred tiny torch operations and two autograd passes, milliseconds of overhead
for a 64x64 network. :class:`NumpySAC` computes the same losses with numpy on views of the
torch parameters, writes the hand-derived gradients into each network's flat gradient, and
leaves clipping-free Adam steps and the Polyak average to the same code as the torch path.

Covered: white-noise exploration (no gSDE), relu or tanh, CPU. Noise comes from the agent's
numpy generator (saved in checkpoints) instead of torch's.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from torch import nn

from zoolab.rl.fastac import mlp_backward, mlp_forward
from zoolab.rl.nets import EnsembleLinear, SquashedGaussianActor, TwinQ

LOG_2PI = math.log(2 * math.pi)


def supports(actor: nn.Module, activation: str, device_type: str) -> bool:
    """Whether :class:`NumpySAC` computes what the torch networks do."""
    return device_type == "cpu" and isinstance(actor, SquashedGaussianActor) and activation in ("tanh", "relu")


class _Linear:
    """Numpy views of an ``nn.Sequential`` of Linear layers (weights as (in, out))."""

    def __init__(self, seq: nn.Sequential) -> None:
        layers = [m for m in seq if isinstance(m, nn.Linear)]
        self.w = [layer.weight.detach().numpy().T for layer in layers]
        self.b = [layer.bias.detach().numpy() for layer in layers]
        self.gw = [layer.weight.grad.numpy().T for layer in layers]
        self.gb = [layer.bias.grad.numpy() for layer in layers]


class _Ensemble:
    """Numpy views of ``EnsembleLinear`` layers (member-major)."""

    def __init__(self, seq: nn.Sequential) -> None:
        layers = [m for m in seq if isinstance(m, EnsembleLinear)]
        self.n = layers[0].weight.shape[0]
        self.w = [layer.weight.detach().numpy() for layer in layers]
        self.b = [layer.bias.detach().numpy() for layer in layers]
        self.gw = [layer.weight.grad.numpy() for layer in layers] if layers[0].weight.grad is not None else None
        self.gb = [layer.bias.grad.numpy() for layer in layers] if layers[0].bias.grad is not None else None

    def forward(self, x: np.ndarray, relu: bool) -> tuple[np.ndarray, list[list[np.ndarray]]]:
        """Q-values (n, B) and each member's layer inputs."""
        outs, inputs = [], []
        for m in range(self.n):
            q, hidden = mlp_forward([w[m] for w in self.w], [b[m] for b in self.b], x, relu)
            outs.append(q[:, 0])
            inputs.append(hidden)
        return np.stack(outs), inputs

    def backward(self, m: int, inputs: list[np.ndarray], d_q: np.ndarray, relu: bool, *,
                 weights: bool, input_grad: bool) -> np.ndarray | None:
        gws = [g[m] for g in self.gw] if weights and self.gw is not None else None
        gbs = [g[m, 0] for g in self.gb] if weights and self.gb is not None else None
        return mlp_backward([w[m] for w in self.w], inputs, d_q[:, None], relu, gws, gbs, input_grad=input_grad)


class NumpySAC:
    """Acting and one SAC gradient step (critic, actor, alpha) in numpy; Adam stays with the caller."""

    def __init__(self, actor: SquashedGaussianActor, critic: TwinQ, critic_target: TwinQ, activation: str) -> None:
        self.relu = activation == "relu"
        self.actor = _Linear(actor.net)
        self.critic = _Ensemble(critic.net)
        self.target = _Ensemble(critic_target.net)
        self.scale = actor.action_scale.numpy()
        self.bias = actor.action_bias.numpy()
        self.lo, self.hi = actor.LOG_STD_MIN, actor.LOG_STD_MAX

    def _policy(self, obs: np.ndarray, noise: np.ndarray | None) -> tuple[np.ndarray, ...]:
        """Action, log-probability and what the actor's backward pass needs."""
        out, inputs = mlp_forward(self.actor.w, self.actor.b, obs, self.relu)
        d = out.shape[1] // 2
        mean, raw = out[:, :d], out[:, d:]
        t = np.tanh(raw)
        log_std = self.lo + 0.5 * (self.hi - self.lo) * (t + 1)
        std = np.exp(log_std)
        if noise is None:
            noise = np.zeros_like(mean)
        squashed = np.tanh(mean + std * noise)
        jac = self.scale * (1 - squashed * squashed) + 1e-6
        logp = (-0.5 * noise * noise - log_std - 0.5 * LOG_2PI).sum(-1) - np.log(jac).sum(-1)
        return squashed * self.scale + self.bias, logp, (inputs, t, std, noise, squashed, jac)

    def act(self, obs: np.ndarray, rng: np.random.Generator, deterministic: bool = False) -> np.ndarray:
        """Actions in env bounds for a batch of observations."""
        d = self.scale.shape[0]
        noise = None if deterministic else rng.standard_normal((obs.shape[0], d), dtype=np.float32)
        return self._policy(obs, noise)[0]

    def step(self, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray, next_obs: np.ndarray,
             terminated: np.ndarray, *, alpha: float, gamma: float, rng: np.random.Generator,
             critic_done: Callable[[], None]) -> tuple[float, float, np.ndarray]:
        """Critic gradient, ``critic_done()`` (the caller's critic Adam step), then the actor gradient.

        Returns the critic loss, the actor loss and the log-probabilities of the fresh actions
        (for the entropy-coefficient update).
        """
        bsz, d = obs.shape[0], self.scale.shape[0]
        relu = self.relu
        # Critic: soft Bellman target from the minimum of the two target critics.
        next_a, next_logp, _ = self._policy(next_obs, rng.standard_normal((bsz, d), dtype=np.float32))
        next_q, _ = self.target.forward(np.concatenate([next_obs, next_a], 1), relu)
        target = rewards + gamma * (1.0 - terminated) * (next_q.min(0) - alpha * next_logp)
        q, inputs = self.critic.forward(np.concatenate([obs, actions], 1), relu)
        err = q - target
        critic_loss = 0.5 * float((err * err).sum()) / bsz
        for m in range(self.critic.n):
            self.critic.backward(m, inputs[m], err[m] / bsz, relu, weights=True, input_grad=False)
        critic_done()

        # Actor: maximise the smaller Q (of the just-updated critics) plus entropy; the critics'
        # weights get no gradient here, only the actions do.
        a, logp, (a_inputs, t, std, noise, squashed, jac) = self._policy(obs, rng.standard_normal((bsz, d), dtype=np.float32))
        q_pi, c_inputs = self.critic.forward(np.concatenate([obs, a], 1), relu)
        pick = q_pi.argmin(0)  # torch.min(0) routes the gradient to the smaller member
        q_min = q_pi[pick, np.arange(bsz)]
        actor_loss = float((alpha * logp - q_min).sum()) / bsz
        d_x = np.zeros((bsz, obs.shape[1] + d), np.float32)
        for m in range(self.critic.n):
            d_q = np.where(pick == m, -1.0 / bsz, 0.0).astype(np.float32)
            d_x += self.critic.backward(m, c_inputs[m], d_q, relu, weights=False, input_grad=True)
        d_a = d_x[:, obs.shape[1]:]
        g_lp = alpha / bsz  # d loss / d logp, every row
        d_sq = d_a * self.scale + g_lp * (2 * self.scale * squashed) / jac
        d_pre = d_sq * (1 - squashed * squashed)
        d_log_std = d_pre * std * noise - g_lp
        d_raw = d_log_std * (0.5 * (self.hi - self.lo)) * (1 - t * t)
        mlp_backward(self.actor.w, a_inputs, np.concatenate([d_pre, d_raw], 1).astype(np.float32, copy=False),
                     relu, self.actor.gw, self.actor.gb)
        return critic_loss, actor_loss, logp
