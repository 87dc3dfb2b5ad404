"""Mixed precision for the RL updates: autocast around the networks, dynamic loss scaling for fp16.

Every algorithm's losses go through :meth:`Precision.optimize`, so one setting (``precision`` in
every config, ``--precision`` on the command line) covers PPO, A2C, DQN, SAC and TD3:

- ``fp32``: plain float32 (the default; small MLPs gain nothing from lower precision, and the
  numpy fast paths on CPU need it).
- ``bf16``: the networks' forward passes run under ``torch.autocast(dtype=bfloat16)``; weights,
  gradients, optimiser state and the loss arithmetic stay float32. Works on CPU and CUDA.
- ``fp16``: the same with float16, and the loss scaled before ``backward`` so small gradients do
  not underflow. The scale halves (and the step is skipped) when a gradient overflows, and doubles
  after ``growth_interval`` clean steps — the algorithm of ``torch.amp.GradScaler``, kept per
  parameter set because zoolab's optimisers work on one flat tensor (see ``nets.FlatParams``).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, ContextManager

import torch

from zoolab.rl import distributed

PRECISIONS = ("fp32", "bf16", "fp16")
"""The values of the ``precision`` setting."""

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class LossScale:
    """The dynamic loss scale of one parameter set (GradScaler's defaults)."""

    scale: float = 2.0**16
    growth_factor: float = 2.0
    backoff_factor: float = 0.5
    growth_interval: int = 2000
    clean_steps: int = 0
    skipped: int = 0

    def update(self, finite: bool) -> None:
        """Back off after an overflow; grow after ``growth_interval`` clean steps in a row."""
        if not finite:
            self.scale *= self.backoff_factor
            self.clean_steps = 0
            self.skipped += 1
            return
        self.clean_steps += 1
        if self.clean_steps >= self.growth_interval:
            self.scale *= self.growth_factor
            self.clean_steps = 0


class Precision:
    """Autocast and loss scaling for one agent (``name`` is one of :data:`PRECISIONS`)."""

    def __init__(self, name: str, device: torch.device) -> None:
        if name not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, not {name!r}")
        self.name = name
        self.device_type = device.type
        self.dtype = _DTYPES.get(name)
        self.scales: dict[str, LossScale] = {}

    def autocast(self) -> ContextManager[Any]:
        """The context the networks' forward passes run in (a no-op for fp32)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def optimize(self, loss: torch.Tensor, flat: Any, optimizer: Any, *, key: str,
                 max_grad_norm: float | None = None, average: bool = False) -> bool:
        """Backward, (all-reduce,) unscale and check, clip, step; False when an fp16 step was skipped.

        Args:
            loss: the scalar loss of this parameter set.
            flat: the ``FlatParams`` whose single gradient tensor the optimiser reads.
            optimizer: its optimiser (``step()``).
            key: names the parameter set, for its loss scale (kept in checkpoints).
            max_grad_norm: clip the gradient's global norm to this, if given.
            average: data-parallel training: average the gradient over processes first.
        """
        flat.zero_grad()
        scale = self.scales.setdefault(key, LossScale()) if self.name == "fp16" else None
        (loss if scale is None else loss.float() * scale.scale).backward()
        if average:  # before the overflow check, so every process sees the same verdict
            distributed.average_gradients(flat)
        if scale is not None:
            grad = flat.param.grad
            grad.mul_(1.0 / scale.scale)
            finite = bool(torch.isfinite(grad).all())
            scale.update(finite)
            if not finite:
                return False
        if max_grad_norm is not None:
            flat.clip_grad_norm(max_grad_norm)
        optimizer.step()
        return True

    def state(self) -> dict[str, Any]:
        """The loss scales, for a checkpoint (empty unless fp16)."""
        return {key: [s.scale, s.clean_steps, s.skipped] for key, s in self.scales.items()}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state` returned."""
        for key, (value, clean, skipped) in state.items():
            self.scales[key] = LossScale(scale=float(value), clean_steps=int(clean), skipped=int(skipped))
