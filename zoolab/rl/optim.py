"""Adam over one flat parameter tensor, without ``torch.optim``.

Every ``torch.optim.Optimizer`` runs its constructor, ``state_dict`` and ``load_state_dict``
through ``torch._disable_dynamo``, which imports ``torch._dynamo`` (and with it sympy and the
compiler stack) on first use: about 1.5 s of a quiet machine's start-up, more under load, before
the first step of a run that takes a few seconds. The agents keep each network's parameters in
one contiguous tensor (:class:`zoolab.rl.nets.FlatParams`), so Adam is six in-place operations on
that tensor. The update is torch's Adam (``amsgrad=False``, no weight decay), and ``state_dict``
has torch's layout, so checkpoints written with ``torch.optim.Adam`` load here and the other way
round.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


class FlatAdam:
    """Adam (Kingma & Ba 2015) for a single parameter tensor whose ``.grad`` is kept in place."""

    def __init__(self, param: torch.Tensor, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8) -> None:
        self.param = param
        # ``param_groups`` mirrors torch's so callers set ``group["lr"]`` for schedules.
        self.param_groups: list[dict[str, Any]] = [{"lr": float(lr), "betas": (float(betas[0]), float(betas[1])),
                                                    "eps": float(eps), "weight_decay": 0.0, "amsgrad": False,
                                                    "params": [0]}]
        self.exp_avg = torch.zeros_like(param, memory_format=torch.preserve_format)
        self.exp_avg_sq = torch.zeros_like(param, memory_format=torch.preserve_format)
        self.steps = 0
        # On CPU the same update runs in numpy on views of the tensors: a numpy call costs about a
        # microsecond, a torch one several, and these tensors are a few thousand numbers.
        self._np: tuple[np.ndarray, ...] | None = None
        if param.device.type == "cpu" and param.grad is not None:
            self._np = (param.detach().numpy(), param.grad.numpy(), self.exp_avg.numpy(), self.exp_avg_sq.numpy(),
                        np.empty_like(param.detach().numpy()))

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
        if self._np is not None and grad.data_ptr() == self._np[1].ctypes.data:
            p, g, m, v, tmp = self._np
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

    def state_dict(self) -> dict[str, Any]:
        """Moments and step count in ``torch.optim.Adam``'s layout (parameter id 0)."""
        state = {} if self.steps == 0 else {0: {"step": torch.tensor(float(self.steps)), "exp_avg": self.exp_avg,
                                                "exp_avg_sq": self.exp_avg_sq}}
        return {"state": state, "param_groups": [dict(g) for g in self.param_groups]}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output (or a ``torch.optim.Adam`` one over the same single tensor)."""
        group = sd["param_groups"][0]
        mine = self.param_groups[0]
        mine["lr"] = float(group["lr"])
        mine["betas"] = (float(group["betas"][0]), float(group["betas"][1]))
        mine["eps"] = float(group["eps"])
        state = sd["state"].get(0) or sd["state"].get("0")
        if not state:
            self.steps = 0
            self.exp_avg.zero_()
            self.exp_avg_sq.zero_()
            return
        step = state["step"]
        self.steps = int(step.item() if isinstance(step, torch.Tensor) else step)
        with torch.no_grad():
            self.exp_avg.copy_(state["exp_avg"])
            self.exp_avg_sq.copy_(state["exp_avg_sq"])
