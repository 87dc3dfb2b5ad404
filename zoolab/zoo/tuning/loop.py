"""What both training loops share and no framework touches: the step plan, the monitor, the clock.

- :func:`plan_steps` turns epochs, batch size and accumulation into optimiser-step counts, so
  the schedule, the checkpoints and the logs count the same steps in PyTorch and in Keras;
- :class:`Monitor` tracks the monitored validation metric: best value, early stopping;
- :class:`Clock` measures training wall time across resumes and enforces the time budget;
- :func:`epoch_order` is the seeded data order of one epoch (a function of seed and epoch only,
  which is what makes mid-epoch resume exact).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from zoolab.zoo.tuning.settings import EarlyStoppingSettings, FinetuneSettings


@dataclass(frozen=True)
class StepPlan:
    """How many batches and optimiser steps a run takes."""

    batches_per_epoch: int
    """Forward passes over one epoch of the training split."""
    steps_per_epoch: int
    """Optimiser steps per epoch (the last accumulation group may be short)."""
    total_steps: int
    """Optimiser steps of the whole run (``epochs`` may be fractional)."""
    warmup_steps: int


def plan_steps(n_train: int, settings: FinetuneSettings) -> StepPlan:
    """The step plan for ``n_train`` training samples under ``settings``."""
    from zoolab.zoo.tuning.schedule import warmup_steps

    batches = max(len(split_batches(np.arange(n_train), settings.optim.batch_size)), 1)
    steps = max(math.ceil(batches / settings.optim.grad_accumulation), 1)
    total = max(math.ceil(steps * settings.schedule.epochs), 1)
    return StepPlan(batches, steps, total, warmup_steps(total, settings.schedule.warmup_ratio))


def split_batches(order: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Cut an epoch's order into batches; a last batch of one sample joins the one before it
    (batch norm cannot train on a single sample)."""
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        batches[-2:] = [np.concatenate(batches[-2:])]
    return batches


def epoch_order(n: int, seed: int, epoch: int) -> np.ndarray:
    """A permutation of ``range(n)`` for ``epoch``; the same for the same seed and epoch."""
    return np.random.default_rng([seed, epoch, 0x5EED]).permutation(n)


def length_grouped_order(lengths: np.ndarray, batch_size: int, seed: int, epoch: int) -> np.ndarray:
    """A seeded order in which each batch holds texts of similar length (less padding).

    Shuffle, cut into windows of 50 batches, sort each window by length, then shuffle the batches:
    random like :func:`epoch_order`, yet each batch is nearly uniform in length (the approach of
    the HF Trainer's ``group_by_length``).
    """
    rng = np.random.default_rng([seed, epoch, 0x1E57])
    order = rng.permutation(len(lengths))
    window = batch_size * 50
    chunks = [order[i:i + window] for i in range(0, len(order), window)]
    order = np.concatenate([c[np.argsort(-lengths[c], kind="stable")] for c in chunks])
    batches = [order[i:i + batch_size] for i in range(0, len(order), batch_size)]
    perm = rng.permutation(len(batches))
    return np.concatenate([batches[i] for i in perm]) if batches else order


class Monitor:
    """Best value of the monitored validation metric, and when to stop early."""

    def __init__(self, settings: EarlyStoppingSettings) -> None:
        self.settings = settings
        self.best: float | None = None
        self.best_row: dict[str, Any] = {}
        self.bad_evals = 0

    @property
    def key(self) -> str:
        """The metric name, e.g. ``val_accuracy``."""
        return self.settings.monitor

    def update(self, row: dict[str, Any]) -> bool:
        """Record a validation row; True when it is the best so far.

        Raises:
            InvalidInputError: the row lacks the monitored metric (the message lists those it has).
        """
        from zoolab.errors import InvalidInputError

        if self.key not in row:
            have = ", ".join(sorted(k for k in row if k.startswith("val_")))
            raise InvalidInputError(f"early_stopping.monitor '{self.key}' is not a validation metric; "
                                    f"choose one of {have}")
        value = float(row[self.key])
        s = self.settings
        if self.best is None or not math.isfinite(self.best):
            better = math.isfinite(value) or self.best is None
        elif s.higher_is_better:
            better = value > self.best + s.min_delta
        else:
            better = value < self.best - s.min_delta
        if better:
            self.best, self.best_row, self.bad_evals = value, dict(row), 0
        else:
            self.bad_evals += 1
        return better

    @property
    def should_stop(self) -> bool:
        """True once ``patience`` evaluations in a row brought no improvement."""
        return self.settings.patience is not None and self.bad_evals >= self.settings.patience

    def state(self) -> dict[str, Any]:
        """JSON state for checkpoints."""
        return {"best": self.best, "best_row": self.best_row, "bad_evals": self.bad_evals}

    def load_state(self, state: dict[str, Any]) -> None:
        """Inverse of :meth:`state`."""
        self.best, self.best_row, self.bad_evals = state["best"], dict(state["best_row"]), int(state["bad_evals"])


class Clock:
    """Training wall time, continued across resumes, against an optional budget."""

    def __init__(self, budget_s: float | None, elapsed_s: float = 0.0) -> None:
        self.budget_s = budget_s
        self._t0 = time.perf_counter() - elapsed_s

    @property
    def elapsed(self) -> float:
        """Seconds of training so far."""
        return time.perf_counter() - self._t0

    def set_elapsed(self, seconds: float) -> None:
        """Continue from ``seconds`` (a resumed run's recorded time)."""
        self._t0 = time.perf_counter() - seconds

    def expired(self) -> bool:
        """True once the time budget is spent."""
        return self.budget_s is not None and self.elapsed >= self.budget_s
