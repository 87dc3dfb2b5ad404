"""Adam and RMSprop over one flat parameter tensor, without ``torch.optim``.

Every ``torch.optim.Optimizer`` runs its constructor, ``state_dict`` and ``load_state_dict``
through ``torch._disable_dynamo``, which imports ``torch._dynamo`` (and with it sympy and the
compiler stack) on first use: about 1.5 s of a quiet machine's start-up, more under load, before
the first step of a run that takes a few seconds. The agents keep each network's parameters in
one contiguous tensor (:class:`zoolab.rl.nets.FlatParams`), so an update is a handful of in-place
operations on that tensor. The updates are torch's (Adam with ``amsgrad=False``; RMSprop without
momentum or centring; no weight decay), and ``state_dict`` has torch's layout, so checkpoints
written with ``torch.optim.Adam`` / ``torch.optim.RMSprop`` load here and the other way round.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


class _FlatOptimizer:
    """One parameter tensor, per-element state buffers named as torch names them, a step count."""

    buffer_names: tuple[str, ...] = ()
    group_floats: tuple[str, ...] = ("lr",)
    """``param_groups[0]`` entries read back by :meth:`load_state_dict` (``betas`` apart)."""

    def __init__(self, param: torch.Tensor, group: dict[str, Any]) -> None:
        self.param = param
        # ``param_groups`` mirrors torch's so callers set ``group["lr"]`` for schedules.
        self.param_groups: list[dict[str, Any]] = [{**group, "weight_decay": 0.0, "params": [0]}]
        self.buffers = {name: torch.zeros_like(param, memory_format=torch.preserve_format) for name in self.buffer_names}
        self.steps = 0
        # On CPU the update runs in numpy on views of the tensors: a numpy call costs about a
        # microsecond, a torch one several, and these tensors are a few thousand numbers.
        self._np: tuple[np.ndarray, ...] | None = None
        if param.device.type == "cpu" and param.grad is not None:
            self._np = (param.detach().numpy(), param.grad.numpy(), *(b.numpy() for b in self.buffers.values()),
                        np.empty_like(param.detach().numpy()))

    def _numpy_views(self) -> tuple[np.ndarray, ...] | None:
        """``(param, grad, *buffers, scratch)`` as numpy views while ``param.grad`` is the tensor they view."""
        grad = self.param.grad
        if self._np is not None and grad is not None and grad.data_ptr() == self._np[1].ctypes.data:
            return self._np
        return None

    def state_dict(self) -> dict[str, Any]:
        """Buffers and step count in ``torch.optim``'s layout (parameter id 0)."""
        state = {} if self.steps == 0 else {0: {"step": torch.tensor(float(self.steps)), **self.buffers}}
        return {"state": state, "param_groups": [dict(g) for g in self.param_groups]}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output (or torch's optimiser's over the same single tensor)."""
        group = sd["param_groups"][0]
        mine = self.param_groups[0]
        for key in self.group_floats:
            mine[key] = float(group[key])
        if "betas" in mine:
            mine["betas"] = (float(group["betas"][0]), float(group["betas"][1]))
        state = sd["state"].get(0) or sd["state"].get("0")
        if not state:
            self.steps = 0
            for buf in self.buffers.values():
                buf.zero_()
            return
        step = state["step"]
        self.steps = int(step.item() if isinstance(step, torch.Tensor) else step)
        with torch.no_grad():
            for name, buf in self.buffers.items():
                buf.copy_(state[name])


class FlatAdam(_FlatOptimizer):
    """Adam (Kingma & Ba 2015) for a single parameter tensor whose ``.grad`` is kept in place."""

    buffer_names = ("exp_avg", "exp_avg_sq")
    group_floats = ("lr", "eps")

    def __init__(self, param: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        super().__init__(param, {"lr": float(lr), "betas": (float(betas[0]), float(betas[1])), "eps": float(eps),
                                 "amsgrad": False})
        self.exp_avg, self.exp_avg_sq = self.buffers["exp_avg"], self.buffers["exp_avg_sq"]

    def step(self) -> None:
        """One Adam update of ``param`` from ``param.grad``."""
        grad = self.param.grad
        if grad is None:
            return
        group = self.param_groups[0]
        beta1, beta2 = group["betas"]
        self.steps += 1
        step_size = group["lr"] / (1 - beta1**self.steps)
        bias2_sqrt = math.sqrt(1 - beta2**self.steps)
        views = self._numpy_views()
        if views is not None:
            p, g, m, v, tmp = views
            m += (1 - beta1) * (g - m)
            v *= beta2
            np.multiply(g, g, out=tmp)
            tmp *= 1 - beta2
            v += tmp
            np.sqrt(v, out=tmp)
            tmp /= bias2_sqrt
            tmp += group["eps"]
            np.divide(m, tmp, out=tmp)
            tmp *= -step_size
            p += tmp
            return
        with torch.no_grad():
            self.exp_avg.lerp_(grad, 1 - beta1)
            self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            denom = (self.exp_avg_sq.sqrt() / bias2_sqrt).add_(group["eps"])
            self.param.addcdiv_(self.exp_avg, denom, value=-step_size)


class FlatRMSprop(_FlatOptimizer):
    """RMSprop (Hinton's lecture 6e; torch's form: no momentum, not centred) for a single flat parameter."""

    buffer_names = ("square_avg",)
    group_floats = ("lr", "alpha", "eps")

    def __init__(self, param: torch.Tensor, lr: float, alpha: float = 0.99, eps: float = 1e-8) -> None:
        super().__init__(param, {"lr": float(lr), "alpha": float(alpha), "eps": float(eps), "momentum": 0.0,
                                 "centered": False})
        self.square_avg = self.buffers["square_avg"]

    def step(self) -> None:
        """``square_avg = alpha * square_avg + (1 - alpha) * g^2``; ``param -= lr * g / (sqrt(square_avg) + eps)``."""
        grad = self.param.grad
        if grad is None:
            return
        group = self.param_groups[0]
        alpha, lr, eps = group["alpha"], group["lr"], group["eps"]
        self.steps += 1
        views = self._numpy_views()
        if views is not None:
            p, g, v, tmp = views
            v *= alpha
            np.multiply(g, g, out=tmp)
            tmp *= 1 - alpha
            v += tmp
            np.sqrt(v, out=tmp)
            tmp += eps
            np.divide(g, tmp, out=tmp)
            tmp *= -lr
            p += tmp
            return
        with torch.no_grad():
            self.square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
            self.param.addcdiv_(grad, self.square_avg.sqrt().add_(eps), value=-lr)
