"""PPO's actor-critic in numpy, for the small MLPs of classic-control presets on CPU.

A PPO step on CartPole is a few dozen tiny tensor operations. In torch each one costs several
microseconds of dispatch and autograd bookkeeping, far more than its arithmetic (a 256x64 by
64x64 matmul is ~25 us; ``torch.tanh`` on it is slower than numpy's), so acting and the update
are dominated by overhead. :class:`NumpyActorCritic` computes the same network and the same
PPO loss with numpy on *views* of the torch parameters and gradients (:class:`FlatParams`
storage): acting reads the weights in place, the update writes the hand-derived gradients into
``flat.param.grad`` and the usual clipping, data-parallel averaging and Adam step act on it.
Checkpoints, saving and ``predict`` keep using the torch module, which holds the same numbers.

It covers the common case (no encoder, no gSDE, Discrete or state-independent Gaussian Box
actions, tanh or relu); :func:`supports` says when, and PPO falls back to autograd otherwise.
Acting samples from the agent's numpy generator (saved in checkpoints) instead of torch's.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from zoolab.rl.nets import ActorCritic, EnsembleLinear

LOG_2PI = math.log(2 * math.pi)


def supports(net: ActorCritic, activation: str, device_type: str) -> bool:
    """Whether :class:`NumpyActorCritic` computes exactly what ``net`` does."""
    return (device_type == "cpu" and net.encoder is None and not net.use_sde and net.kind in ("Discrete", "Box")
            and activation in ("tanh", "relu"))


class Losses(NamedTuple):
    """One minibatch's loss terms and diagnostics (floats)."""

    policy: float
    value: float
    entropy: float
    approx_kl: float
    clip_fraction: float


class NumpyActorCritic:
    """Forward, sampling and the PPO loss gradient of an :class:`ActorCritic`, in numpy (see module)."""

    def __init__(self, net: ActorCritic, activation: str) -> None:
        self.kind = net.kind
        self.relu = activation == "relu"
        layers = [m for m in net.body if isinstance(m, EnsembleLinear)]
        # Views: torch's optimiser steps and checkpoint loads (in-place copies) show up here.
        self.w = [layer.weight.detach().numpy() for layer in layers]
        self.b = [layer.bias.detach().numpy() for layer in layers]
        self.gw = [layer.weight.grad.numpy() for layer in layers]
        self.gb = [layer.bias.grad.numpy() for layer in layers]
        self._gb_rows = [g[:, 0] for g in self.gb]  # (members, out): what a column sum writes into
        if self.kind == "Box":
            self.log_std = net.log_std.detach().numpy()
            self.g_log_std = net.log_std.grad.numpy()

    def forward(self, obs: np.ndarray, keep: bool = False) -> tuple[np.ndarray, np.ndarray, list | None]:
        """Policy output (B, n_out), values (B,), and (with ``keep``) every layer's input.

        Both members (policy, value) go through each layer together, as in torch's ``baddbmm``:
        one stacked matmul per layer (BLAS runs one product per member) and one activation call
        on both, half the numpy calls of a member-by-member pass.
        """
        out, inputs = mlp_forward(self.w, self.b, obs, self.relu)
        return out[0], out[1, :, 0], inputs if keep else None

    def act_value(self, obs: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sampled actions, their log-probabilities and the state values (as ``ActorCritic.act_value``)."""
        out, value, _ = self.forward(obs)
        if self.kind == "Box":
            std = np.exp(self.log_std)
            noise = rng.standard_normal(out.shape, dtype=np.float32)
            action = out + noise * std
            logp = (-0.5 * noise * noise - self.log_std - 0.5 * LOG_2PI).sum(-1)
            return action, logp.astype(np.float32), value
        logp_all = _log_softmax(out)
        cdf = np.cumsum(np.exp(logp_all), -1)
        u = rng.random((out.shape[0], 1), dtype=np.float32) * cdf[:, -1:]
        action = np.minimum((cdf < u).sum(-1), out.shape[1] - 1)
        return action, logp_all[np.arange(out.shape[0]), action], value

    def value(self, obs: np.ndarray) -> np.ndarray:
        """State values (B,)."""
        return self.forward(obs)[1]

    def ppo_gradient(self, obs: np.ndarray, actions: np.ndarray, old_logp: np.ndarray, adv: np.ndarray,
                     returns: np.ndarray, old_values: np.ndarray, *, clip: float, clip_vf: float | None,
                     ent_coef: float, vf_coef: float, normalize_advantage: bool) -> Losses:
        """Write the gradient of PPO's loss on this minibatch into the parameter gradients.

        The loss is :class:`zoolab.rl.ppo.PPO`'s (clipped surrogate + ``vf_coef`` x value loss -
        ``ent_coef`` x entropy); the backward pass is written out, including how ``torch.max``
        and ``torch.clamp`` route gradients (a tie of the two surrogate terms gets the full one).
        """
        bsz = obs.shape[0]
        out, values, hidden = self.forward(obs, keep=True)
        assert hidden is not None
        # Means as sum / n: np.mean's Python wrapper costs more than the sum on these sizes.
        if normalize_advantage and bsz > 1:
            centred = adv - adv.sum() / bsz
            adv = centred / (np.sqrt(np.dot(centred, centred) / (bsz - 1)) + 1e-8)  # torch's std is unbiased

        if self.kind == "Box":
            std = np.exp(self.log_std)
            z = (actions - out) / std
            logp = (-0.5 * z * z - self.log_std - 0.5 * LOG_2PI).sum(-1)
            entropy = float((self.log_std + 0.5 * (1.0 + LOG_2PI)).sum())
            ent_rows = None
        else:
            logp_all = _log_softmax(out)
            probs = np.exp(logp_all)
            rows = _cached("arange", bsz)
            logp = logp_all[rows, actions]
            ent_rows = -(probs * logp_all).sum(-1)
            entropy = float(ent_rows.sum()) / bsz

        log_ratio = logp - old_logp
        ratio = np.exp(log_ratio)
        neg_adv = -adv
        pg1 = neg_adv * ratio
        pg2 = neg_adv * np.minimum(np.maximum(ratio, 1 - clip), 1 + clip)  # np.clip's wrapper costs more
        pg_loss = float(np.maximum(pg1, pg2).sum()) / bsz
        # d loss / d logp: through pg1 where it is the larger term or the ratio is inside the
        # clip range (then both terms are equal and carry the same gradient); else zero.
        live = (pg1 > pg2) | ((ratio >= 1 - clip) & (ratio <= 1 + clip))
        d_logp = np.where(live, pg1 / bsz, 0.0).astype(np.float32, copy=False)

        err = values - returns
        if clip_vf is None:
            v_loss = 0.5 * float(np.dot(err, err)) / bsz
            d_values = err
        else:
            delta = values - old_values
            v_clipped = old_values + np.clip(delta, -clip_vf, clip_vf)
            err_c = v_clipped - returns
            l1, l2 = err * err, err_c * err_c
            v_loss = 0.5 * float(np.maximum(l1, l2).sum()) / bsz
            inside = ((delta >= -clip_vf) & (delta <= clip_vf)).astype(np.float32)
            # torch.max splits a tie's gradient in half between its two inputs.
            d_values = np.where(l1 > l2, err, np.where(l2 > l1, err_c * inside, 0.5 * (err + err_c * inside)))
        d_values = (d_values * (vf_coef / bsz)).astype(np.float32)

        if self.kind == "Box":
            d_out = d_logp[:, None] * (z / std)
            self.g_log_std[...] = (d_logp[:, None] * (z * z - 1.0)).sum(0) - ent_coef
        else:
            onehot = actions[:, None] == _cached("arange", probs.shape[1])
            d_out = d_logp[:, None] * (onehot - probs)
            if ent_coef:
                d_out += (ent_coef / bsz) * probs * (logp_all + ent_rows[:, None])
        d_members = np.zeros((2, *out.shape), np.float32)  # the value member's other output columns are unused
        d_members[0] = d_out
        d_members[1, :, 0] = d_values
        mlp_backward(self.w, hidden, d_members, self.relu, self.gw, self._gb_rows)

        ratio_m1 = ratio - 1
        approx_kl = float((ratio_m1 - log_ratio).sum()) / bsz
        clip_fraction = int(np.count_nonzero(np.abs(ratio_m1) > clip)) / bsz
        return Losses(pg_loss, v_loss, entropy, approx_kl, clip_fraction)


def mlp_forward(ws: list[np.ndarray], bs: list[np.ndarray], x: np.ndarray,
                relu: bool) -> tuple[np.ndarray, list[np.ndarray]]:
    """``x @ W + b`` layer by layer with tanh/relu between; returns the output and every layer's input.

    Weights may be stacked ensembles, ``(members, in, out)`` with biases ``(members, 1, out)``:
    a 2-D ``x`` then goes to every member and the outputs are ``(members, B, out)``.
    """
    inputs = [x]
    h = x
    last = len(ws) - 1
    for i, (w, b) in enumerate(zip(ws, bs)):
        z = h @ w
        z += b
        if i < last:
            h = np.maximum(z, 0.0, out=z) if relu else np.tanh(z, out=z)
            inputs.append(h)
        else:
            h = z
    return h, inputs


def mlp_backward(ws: list[np.ndarray], inputs: list[np.ndarray], d_out: np.ndarray, relu: bool,
                 gws: list[np.ndarray] | None, gbs: list[np.ndarray] | None, *, input_grad: bool = False) -> np.ndarray | None:
    """Backward pass of :func:`mlp_forward`: writes dW, db into ``gws``/``gbs`` (skipped when None)
    and returns d loss / d input if ``input_grad``. With stacked weights, ``d_out`` is
    ``(members, B, out)`` and ``gbs[i]`` is ``(members, out)``."""
    d_z = d_out
    ones = _cached("ones", d_z.shape[-2], d_z.dtype)
    for i in range(len(ws) - 1, -1, -1):
        h_in = inputs[i]
        if gws is not None and gbs is not None:
            np.matmul(h_in.swapaxes(-1, -2), d_z, out=gws[i])
            # The bias gradient (column sums) as a matrix-vector product: np.sum over axis 0 of a
            # (256, 64) array costs three times as much.
            gbs[i][...] = ones @ d_z
        if i == 0 and not input_grad:
            return None
        d_h = d_z @ ws[i].swapaxes(-1, -2)
        if i == 0:
            return d_h
        if relu:
            d_h *= h_in > 0
        else:
            slope = h_in * h_in
            d_h *= np.subtract(1.0, slope, out=slope)
        d_z = d_h
    return None


_VECTORS: dict[tuple[str, int, np.dtype], np.ndarray] = {}


def _cached(kind: str, n: int, dtype: type | np.dtype = np.int64) -> np.ndarray:
    """A read-only ``np.ones(n)`` (``kind="ones"``, column sums by matrix product) or
    ``np.arange(n)`` (row indices), made once per size: every minibatch has the same."""
    key = (kind, n, np.dtype(dtype))
    vec = _VECTORS.get(key)
    if vec is None:
        vec = _VECTORS[key] = np.ones(n, dtype) if kind == "ones" else np.arange(n, dtype=dtype)
        vec.flags.writeable = False
    return vec


def _log_softmax(x: np.ndarray) -> np.ndarray:
    # The ufuncs' own reduce: ndarray.max/.sum go through a Python wrapper that costs more than
    # the work on these (B, n_actions) arrays.
    shifted = x - np.maximum.reduce(x, axis=-1, keepdims=True)
    return shifted - np.log(np.add.reduce(np.exp(shifted), axis=-1, keepdims=True))
