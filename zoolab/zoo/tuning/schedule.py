"""The learning-rate schedule both trainers use: linear warmup, then cosine, linear or constant.

A pure function of the optimiser step, so the PyTorch trainer (``LambdaLR``) and the Keras
trainer (a ``LearningRateSchedule``) follow the same curve, and a resumed run picks the curve up
exactly where the checkpoint left it (the step counter is all the state there is).
"""

from __future__ import annotations

import math


def warmup_steps(total_steps: int, warmup_ratio: float) -> int:
    """Optimiser steps of linear warmup for a run of ``total_steps`` steps."""
    return int(math.ceil(total_steps * warmup_ratio)) if warmup_ratio > 0 else 0


def lr_factor(step: int, total: int, warmup: int, kind: str = "cosine", min_ratio: float = 0.0) -> float:
    """Multiplier of the peak learning rate for optimiser step ``step`` (0-based) of ``total``.

    Warmup rises linearly from ``1 / (warmup + 1)`` to 1 over ``warmup`` steps (never exactly 0,
    so the first step moves the weights); after it, ``kind`` is ``"cosine"`` (half a cosine
    wave), ``"linear"`` or ``"constant"``, ending at ``min_ratio`` on the last step.
    """
    if kind not in ("cosine", "linear", "constant"):
        raise ValueError(f"unknown decay {kind!r}: choose cosine, linear or constant")
    if step < warmup:
        return (step + 1) / (warmup + 1)
    if kind == "constant":
        return 1.0
    span = max(total - warmup - 1, 1)
    progress = min(max((step - warmup) / span, 0.0), 1.0)
    shape = 0.5 * (1.0 + math.cos(math.pi * progress)) if kind == "cosine" else 1.0 - progress
    return min_ratio + (1.0 - min_ratio) * shape
