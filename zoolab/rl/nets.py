"""Networks shared by the algorithms: MLPs, the actor-critic of PPO/A2C, Q-networks, SAC/TD3 actors.

Distributions are written out by hand (log-softmax, Gaussian log-density) rather than built with
``torch.distributions``: for small batches the object construction and argument validation cost
more than the maths. :class:`StateDependentNoise` is generalised State-Dependent Exploration
(gSDE, Raffin et al. 2022), used by PPO, A2C and SAC with ``use_sde``.
"""

from __future__ import annotations

import itertools
import math

import gymnasium as gym
import numpy as np
import torch
from torch import nn

ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU, "gelu": nn.GELU}
LOG_2PI = math.log(2 * math.pi)
SDE_EPS = 1e-6
"""Added to the gSDE variance so the standard deviation stays positive where the features are zero."""


def mlp(in_dim: int, hidden: tuple[int, ...], out_dim: int, activation: str = "tanh",
        *, ortho: bool = False, out_gain: float = 1.0, layer_norm: bool = False) -> nn.Sequential:
    """``in -> hidden... -> out`` with ``activation`` between layers; orthogonal init if ``ortho``.

    ``layer_norm`` puts a LayerNorm before every hidden activation.
    """
    act = ACTIVATIONS[activation]
    layers: list[nn.Module] = []
    dims = (in_dim, *hidden)
    for a, b in itertools.pairwise(dims):
        layers += [nn.Linear(a, b), *([nn.LayerNorm(b)] if layer_norm else []), act()]
    layers.append(nn.Linear(dims[-1], out_dim))
    if ortho:
        for layer in layers:
            if isinstance(layer, nn.Linear):
                gain = out_gain if layer is layers[-1] else math.sqrt(2)
                nn.init.orthogonal_(layer.weight, gain)
                nn.init.zeros_(layer.bias)
    return nn.Sequential(*layers)


def obs_dim(space: gym.Space) -> int:
    """Length of the flat observation vector."""
    return int(np.prod(space.shape))


def check_sde_settings(algo: str, use_sde: bool, sample_freq: int, action_space: gym.Space) -> None:
    """Reject a ``sde_sample_freq`` that is neither -1 nor positive, and gSDE on non-Box actions."""
    from zoolab.errors import InvalidInputError, UnsupportedError

    if sample_freq == 0 or sample_freq < -1:
        raise InvalidInputError(
            f"sde_sample_freq must be -1 (new noise only at the start of each rollout or collection phase) "
            f"or a positive number of steps, got {sample_freq}",
            hint="set sde_sample_freq=-1 or for example sde_sample_freq=4")
    if use_sde and not isinstance(action_space, gym.spaces.Box):
        raise UnsupportedError(
            f"{algo.upper()} with use_sde needs a Box (continuous) action space, not {type(action_space).__name__}",
            hint="set use_sde=false for discrete actions")


class StateDependentNoise(nn.Module):
    """Generalised State-Dependent Exploration (gSDE): noise that is a linear function of the features.

    The exploration noise of an action is ``latent @ E``, where ``latent`` is the policy's last
    hidden layer and ``E`` (latent_dim x action_dim) is drawn from ``N(0, exp(log_std)^2)`` and kept
    for several steps, so consecutive actions in similar states get similar noise (smooth
    exploration instead of white noise). Given the features, the action is Gaussian around the
    mean with variance ``latent^2 @ exp(log_std)^2``, which is what log-probabilities use.

    ``matrices`` holds one exploration matrix per environment and ``age`` the actions taken since
    they were drawn; both are buffers so checkpoints resume with the same noise.
    """

    def __init__(self, latent_dim: int, action_dim: int, log_std_init: float, n_envs: int = 1,
                 sample_freq: int = -1, learn_features: bool = False) -> None:
        super().__init__()
        self.log_std = nn.Parameter(torch.full((latent_dim, action_dim), float(log_std_init)))
        self.register_buffer("matrices", torch.zeros(n_envs, latent_dim, action_dim))
        self.register_buffer("age", torch.zeros((), dtype=torch.long))
        self.sample_freq = sample_freq
        # PPO/A2C keep the features out of the noise's gradient (they are the policy's), SAC learns them.
        self.learn_features = learn_features
        self.resample()

    def resample(self) -> None:
        """Draw new exploration matrices (one per environment)."""
        with torch.no_grad():
            self.matrices.copy_(torch.randn_like(self.matrices) * self.log_std.exp())
            self.age.zero_()

    def std(self, latent: torch.Tensor) -> torch.Tensor:
        """Standard deviation (B, action_dim) of the action given the features (B, latent_dim)."""
        if not self.learn_features:
            latent = latent.detach()
        return (latent.pow(2) @ self.log_std.exp().pow(2) + SDE_EPS).sqrt()

    def exploration(self, latent: torch.Tensor) -> torch.Tensor:
        """Noise for acting: row i uses environment i's matrix (all rows the first if sizes differ).

        Every ``sample_freq`` calls the matrices are drawn again (never when ``sample_freq`` is -1:
        then the algorithm calls :meth:`resample` at the start of each collection phase).
        """
        if self.sample_freq > 0 and int(self.age) >= self.sample_freq:
            self.resample()
        self.age += 1
        latent = latent.detach()
        if latent.shape[0] == self.matrices.shape[0]:
            return torch.bmm(latent.unsqueeze(1), self.matrices).squeeze(1)
        return latent @ self.matrices[0]

    def reparameterised(self, latent: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """Noise ``latent @ (eps * exp(log_std))`` for one standard-normal matrix ``eps``, differentiable
        in ``log_std`` (and in the features when they are learned): SAC's actor update."""
        if not self.learn_features:
            latent = latent.detach()
        return latent @ (eps * self.log_std.exp())


class ActorCritic(nn.Module):
    """Policy and value MLPs for Discrete, MultiDiscrete and Box action spaces.

    The two networks have no shared weights but the same shape, so they run as a 2-member
    ensemble (:class:`EnsembleLinear`): one batched matmul per layer computes both, halving the
    number of kernels in every forward and backward pass. Member 0 is the policy (its output is
    the logits or the Gaussian mean), member 1 the value (first output column).

    With ``use_sde`` (Box actions) the exploration is gSDE on the policy's last hidden layer
    (:class:`StateDependentNoise`, one matrix per env) instead of a state-independent ``log_std``.
    """

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, hidden: tuple[int, ...],
                 activation: str = "tanh", log_std_init: float = 0.0, *, use_sde: bool = False,
                 sde_sample_freq: int = -1, n_envs: int = 1, encoder: nn.Module | None = None) -> None:
        super().__init__()
        # An encoder (CNN, per-key Dict encoder) is shared by the policy and the value heads.
        self.encoder = encoder
        n_in = int(encoder.out_dim) if encoder is not None else obs_dim(obs_space)
        self.kind = type(action_space).__name__
        self.use_sde = use_sde and self.kind == "Box"
        if isinstance(action_space, gym.spaces.Discrete):
            self.splits: list[int] = [int(action_space.n)]
            n_out = int(action_space.n)
        elif isinstance(action_space, gym.spaces.MultiDiscrete):
            self.splits = [int(n) for n in action_space.nvec.ravel()]
            n_out = sum(self.splits)
        else:
            n_out = int(np.prod(action_space.shape))
            if self.use_sde:
                latent_dim = hidden[-1] if hidden else n_in
                self.sde = StateDependentNoise(latent_dim, n_out, log_std_init, n_envs, sde_sample_freq)
            else:
                self.log_std = nn.Parameter(torch.full((n_out,), float(log_std_init)))
        self.n_out = n_out
        dims = (n_in, *hidden, n_out)
        act = ACTIVATIONS[activation]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(dims)):
            layer = EnsembleLinear(2, a, b)
            last = i == len(dims) - 2
            # Orthogonal init (gain sqrt(2) hidden, 0.01 policy head, 1 value head), zero biases.
            for member, gain in enumerate((0.01, 1.0) if last else (math.sqrt(2), math.sqrt(2))):
                w = torch.empty(b, a)
                nn.init.orthogonal_(w, gain)
                layer.weight.data[member] = w.T
            layer.bias.data.zero_()
            layers.append(layer)
            if not last:
                layers.append(act())
        self.body = nn.Sequential(*layers)

    def features(self, obs: torch.Tensor) -> torch.Tensor:
        """What the heads see: the encoder's features, or the flat observation itself."""
        return obs if self.encoder is None else self.encoder(obs)

    def forward(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Policy output (B, n_out) and state values (B,)."""
        out = self.body(self.features(obs).unsqueeze(0).expand(2, -1, -1))
        return out[0], out[1, :, 0]

    def _forward_sde(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Gaussian mean, gSDE standard deviation (both (B, d)), values (B,) and the policy's features."""
        h = self.features(obs).unsqueeze(0).expand(2, -1, -1)
        for layer in list(self.body)[:-1]:
            h = layer(h)
        out = self.body[-1](h)
        mean, latent = out[0], h[0]
        return mean, self.sde.std(latent), out[1, :, 0], latent

    def value(self, obs: torch.Tensor) -> torch.Tensor:
        """State values, shape (B,)."""
        return self(obs)[1]

    def _dist(self, out: torch.Tensor) -> list[torch.Tensor] | tuple[torch.Tensor, torch.Tensor]:
        if self.kind == "Box":
            return out, self.log_std.expand_as(out)
        return [torch.log_softmax(x, -1) for x in torch.split(out, self.splits, -1)]

    def sample(self, obs: torch.Tensor, deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Actions (B,) / (B, k) / (B, d) and their log-probabilities (B,)."""
        action, logp, _ = self.act_value(obs, deterministic)
        return action, logp

    def act_value(self, obs: torch.Tensor, deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Actions, their log-probabilities and the state values, in one pass."""
        if self.use_sde:
            mean, std, value, latent = self._forward_sde(obs)
            action = mean if deterministic else mean + self.sde.exploration(latent)
            return action, self._gauss_logp(mean, std.log(), action), value
        out, value = self(obs)
        dist = self._dist(out)
        if self.kind == "Box":
            mean, log_std = dist
            action = mean if deterministic else mean + torch.randn_like(mean) * log_std.exp()
            return action, self._gauss_logp(mean, log_std, action), value
        acts, logps = [], []
        for logp in dist:
            a = logp.argmax(-1) if deterministic else torch.multinomial(logp.exp(), 1).squeeze(-1)
            acts.append(a)
            logps.append(logp.gather(-1, a.unsqueeze(-1)).squeeze(-1))
        action = acts[0] if self.kind == "Discrete" else torch.stack(acts, -1)
        return action, torch.stack(logps, 0).sum(0), value

    @staticmethod
    def _gauss_logp(mean: torch.Tensor, log_std: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        z = (action - mean) / log_std.exp()
        return (-0.5 * z.pow(2) - log_std - 0.5 * LOG_2PI).sum(-1)

    def evaluate(self, obs: torch.Tensor, action: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Log-probability and entropy of ``action`` under the current policy, and values (all (B,))."""
        if self.use_sde:
            mean, std, value, _ = self._forward_sde(obs)
            log_std = std.log()
            entropy = (log_std + 0.5 * (1.0 + LOG_2PI)).sum(-1)
            return self._gauss_logp(mean, log_std, action), entropy, value
        out, value = self(obs)
        dist = self._dist(out)
        if self.kind == "Box":
            mean, log_std = dist
            entropy = (log_std + 0.5 * (1.0 + LOG_2PI)).sum(-1)
            return self._gauss_logp(mean, log_std, action), entropy, value
        acts = action.long().unsqueeze(-1) if self.kind == "Discrete" else action.long()
        if len(dist) == 1:
            lp = dist[0]
            return lp.gather(-1, acts).squeeze(-1), -(lp.exp() * lp).sum(-1), value
        logp = torch.zeros(obs.shape[0], device=obs.device)
        entropy = torch.zeros(obs.shape[0], device=obs.device)
        for i, lp in enumerate(dist):
            logp = logp + lp.gather(-1, acts[:, i : i + 1]).squeeze(-1)
            entropy = entropy - (lp.exp() * lp).sum(-1)
        return logp, entropy, value


class QNetwork(nn.Module):
    """Q-values for a Discrete action space; ``dueling`` splits into value and advantage streams.

    ``layer_norm`` normalises every hidden layer. The last hidden features then have a fixed
    norm, so the Q-values of states far from the data cannot grow without bound, which is what
    makes bootstrapped targets diverge (Ball et al. 2023, Gallici et al. 2024). An ``encoder``
    (CNN, per-key Dict encoder) runs before the MLP.
    """

    def __init__(self, obs_space: gym.Space, n_actions: int, hidden: tuple[int, ...],
                 activation: str = "relu", dueling: bool = False, layer_norm: bool = False,
                 encoder: nn.Module | None = None) -> None:
        super().__init__()
        self.dueling = dueling
        self.encoder = encoder
        n_in = int(encoder.out_dim) if encoder is not None else obs_dim(obs_space)
        if dueling:
            if not hidden:
                from zoolab.errors import InvalidInputError

                raise InvalidInputError("dueling DQN needs at least one hidden layer", hint="set hidden_sizes, e.g. 512")
            self.body = (mlp(n_in, hidden[:-1], hidden[-1], activation, layer_norm=layer_norm) if len(hidden) > 1
                         else nn.Linear(n_in, hidden[-1]))
            self.norm = nn.LayerNorm(hidden[-1]) if layer_norm else nn.Identity()
            self.act = ACTIVATIONS[activation]()
            self.value_head = nn.Linear(hidden[-1], 1)
            self.adv_head = nn.Linear(hidden[-1], n_actions)
        else:
            self.net = mlp(n_in, hidden, n_actions, activation, layer_norm=layer_norm)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        if self.encoder is not None:
            obs = self.encoder(obs)
        if not self.dueling:
            return self.net(obs)
        h = self.act(self.norm(self.body(obs)))
        adv = self.adv_head(h)
        return self.value_head(h) + adv - adv.mean(-1, keepdim=True)


class EnsembleLinear(nn.Module):
    """``n`` independent linear layers applied in one batched matmul: input (n, B, in)."""

    def __init__(self, n: int, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(n, in_dim, out_dim))
        self.bias = nn.Parameter(torch.empty(n, 1, out_dim))
        bound = 1 / math.sqrt(in_dim)  # the same init as nn.Linear
        nn.init.uniform_(self.weight, -bound, bound)
        nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class TwinQ(nn.Module):
    """Clipped double-Q critics (SAC, TD3) computed together as a 2-member ensemble."""

    def __init__(self, obs_space: gym.Space, action_space: gym.Space, hidden: tuple[int, ...],
                 activation: str = "relu", n_critics: int = 2) -> None:
        super().__init__()
        dims = (obs_dim(obs_space) + int(np.prod(action_space.shape)), *hidden, 1)
        act = ACTIVATIONS[activation]
        layers: list[nn.Module] = []
        for i, (a, b) in enumerate(itertools.pairwise(dims)):
            layers.append(EnsembleLinear(n_critics, a, b))
            if i < len(dims) - 2:
                layers.append(act())
        self.net = nn.Sequential(*layers)
        self.n = n_critics

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Q-values of every critic, shape (n_critics, B)."""
        x = torch.cat([obs, action], -1).unsqueeze(0).expand(self.n, -1, -1)
        return self.net(x).squeeze(-1)


class _Scaled(nn.Module):
    """Maps tanh outputs in [-1, 1] onto the Box action bounds."""

    def __init__(self, action_space: gym.spaces.Box) -> None:
        super().__init__()
        low = torch.as_tensor(action_space.low, dtype=torch.float32)
        high = torch.as_tensor(action_space.high, dtype=torch.float32)
        self.register_buffer("action_scale", (high - low) / 2)
        self.register_buffer("action_bias", (high + low) / 2)


class SquashedGaussianActor(_Scaled):
    """SAC's policy: a Gaussian squashed by tanh, with the change-of-variables log-probability."""

    LOG_STD_MIN, LOG_STD_MAX = -5.0, 2.0

    def __init__(self, obs_space: gym.Space, action_space: gym.spaces.Box, hidden: tuple[int, ...],
                 activation: str = "relu") -> None:
        super().__init__(action_space)
        n_act = int(np.prod(action_space.shape))
        self.net = mlp(obs_dim(obs_space), hidden, 2 * n_act, activation)

    def forward(self, obs: torch.Tensor, deterministic: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
        """Action in env bounds and its log-probability (B,)."""
        mean, log_std = self.net(obs).chunk(2, -1)
        log_std = self.LOG_STD_MIN + 0.5 * (self.LOG_STD_MAX - self.LOG_STD_MIN) * (torch.tanh(log_std) + 1)
        std = log_std.exp()
        noise = torch.zeros_like(mean) if deterministic else torch.randn_like(mean)
        pre = mean + std * noise
        squashed = torch.tanh(pre)
        logp = (-0.5 * noise.pow(2) - log_std - 0.5 * LOG_2PI).sum(-1)
        logp = logp - (torch.log(self.action_scale * (1 - squashed.pow(2)) + 1e-6)).sum(-1)
        return squashed * self.action_scale + self.action_bias, logp


class SDESquashedGaussianActor(_Scaled):
    """SAC's policy with gSDE exploration: ``tanh(mean + latent @ E)`` (see :class:`StateDependentNoise`).

    The mean is clipped to [-2, 2] before the tanh (as Stable-Baselines3 does with gSDE) so it
    cannot drift into the saturated region where the noise has no effect.
    """

    CLIP_MEAN = 2.0

    def __init__(self, obs_space: gym.Space, action_space: gym.spaces.Box, hidden: tuple[int, ...],
                 activation: str = "relu", log_std_init: float = -3.0, n_envs: int = 1,
                 sample_freq: int = -1) -> None:
        super().__init__(action_space)
        n_act = int(np.prod(action_space.shape))
        act = ACTIVATIONS[activation]
        dims = (obs_dim(obs_space), *hidden)
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(dims):
            layers += [nn.Linear(a, b), act()]
        self.latent = nn.Sequential(*layers)
        self.mu = nn.Linear(dims[-1], n_act)
        self.sde = StateDependentNoise(dims[-1], n_act, log_std_init, n_envs, sample_freq, learn_features=True)

    def forward(self, obs: torch.Tensor, deterministic: bool = False,
                sde_eps: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Action in env bounds and its log-probability (B,).

        Acting uses the per-env exploration matrices; with ``sde_eps`` (a standard-normal
        latent_dim x action_dim matrix) the noise is reparameterised instead, for the actor loss.
        """
        latent = self.latent(obs)
        mean = torch.nn.functional.hardtanh(self.mu(latent), -self.CLIP_MEAN, self.CLIP_MEAN)
        std = self.sde.std(latent)
        if deterministic:
            noise = torch.zeros_like(mean)
        elif sde_eps is not None:
            noise = self.sde.reparameterised(latent, sde_eps)
        else:
            noise = self.sde.exploration(latent)
        squashed = torch.tanh(mean + noise)
        logp = (-0.5 * (noise / std).pow(2) - std.log() - 0.5 * LOG_2PI).sum(-1)
        logp = logp - (torch.log(self.action_scale * (1 - squashed.pow(2)) + 1e-6)).sum(-1)
        return squashed * self.action_scale + self.action_bias, logp


class DeterministicActor(_Scaled):
    """TD3's policy: ``tanh`` of an MLP, scaled to the action bounds."""

    def __init__(self, obs_space: gym.Space, action_space: gym.spaces.Box, hidden: tuple[int, ...],
                 activation: str = "relu") -> None:
        super().__init__(action_space)
        self.net = mlp(obs_dim(obs_space), hidden, int(np.prod(action_space.shape)), activation)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(obs)) * self.action_scale + self.action_bias


class FlatParams:
    """Re-homes a module's parameters (and their gradients) into one contiguous tensor each.

    On CPU with small networks, per-tensor overhead dominates: Adam and gradient clipping over ten
    small tensors cost several times more than over one. After this, ``param`` is a single
    ``nn.Parameter`` whose storage the module's parameters view, and ``param.grad`` is the storage
    their gradients view, so an optimiser over ``[param]`` and ``clip_grad_norm`` on it act on the
    whole network in a handful of kernels. Backward accumulates into the existing gradient views,
    so gradients must be cleared with :meth:`zero_grad` (zeroing in place), never set to None.
    """

    def __init__(self, module: nn.Module) -> None:
        params = list(module.parameters())
        ref = params[0]
        total = sum(p.numel() for p in params)
        flat = torch.zeros(total, dtype=ref.dtype, device=ref.device)
        grad = torch.zeros_like(flat)
        offset = 0
        for p in params:
            n = p.numel()
            flat[offset : offset + n].copy_(p.data.reshape(-1))
            p.data = flat[offset : offset + n].view_as(p)
            if p.requires_grad:
                p.grad = grad[offset : offset + n].view_as(p)
            offset += n
        self.param = nn.Parameter(flat, requires_grad=ref.requires_grad)
        if ref.requires_grad:
            self.param.grad = grad

    def zero_grad(self) -> None:
        """Clear gradients in place (keeps the views the module's gradients live in)."""
        if self.param.grad is not None:
            self.param.grad.zero_()

    def clip_grad_norm(self, max_norm: float) -> None:
        """Scale the gradient in place so its global L2 norm is at most ``max_norm``."""
        grad = self.param.grad
        assert grad is not None
        if grad.device.type == "cpu":  # numpy: two calls of a microsecond instead of three torch ops
            g = grad.numpy()
            scale = max_norm / (math.sqrt(float(np.dot(g, g))) + 1e-6)
            if scale < 1.0:
                g *= np.float32(scale)
            return
        norm = torch.linalg.vector_norm(grad)
        grad.mul_(torch.clamp(max_norm / (norm + 1e-6), max=1.0))
