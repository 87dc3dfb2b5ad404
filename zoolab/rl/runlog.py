"""Run-folder logging: ``metrics.csv`` and TensorBoard event files under ``tb/``."""

from __future__ import annotations

import csv
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoolab.rl.agent import Progress

BASE_COLUMNS = ["step", "wall_time_s", "episodes", "steps_per_sec", "episode_return_mean",
                "episode/return_std", "episode/return_min", "episode/return_max"]


def _prefer_tensorboard_stub() -> None:
    """Make TensorBoard's writer use its built-in TF stub instead of importing TensorFlow.

    Writing event files needs no TensorFlow, but tensorboard imports it when it is installed
    (seconds of start-up and log noise). tensorboard skips it when ``tensorboard.compat.notf``
    exists, the marker its TensorFlow-free build ships; register that marker unless TensorFlow is
    already loaded.
    """
    import sys
    import types

    if "tensorflow" not in sys.modules and "tensorboard.compat.notf" not in sys.modules:
        sys.modules["tensorboard.compat.notf"] = types.ModuleType("tensorboard.compat.notf")


class RunLogger:
    """Appends one row per progress report; on resume, drops rows newer than the checkpoint."""

    def __init__(self, run_dir: Path, *, resume_step: int | None = None, elapsed_s: float = 0.0) -> None:
        _prefer_tensorboard_stub()
        from torch.utils.tensorboard import SummaryWriter

        self.path = run_dir / "metrics.csv"
        self._columns: list[str] | None = None
        self._t0 = time.perf_counter() - elapsed_s
        if resume_step is not None and self.path.is_file():
            with self.path.open(newline="") as fh:
                reader = csv.DictReader(fh)
                self._columns = list(reader.fieldnames or []) or None
                rows = [r for r in reader if int(float(r["step"])) <= resume_step]
            with self.path.open("w", newline="") as fh:
                if self._columns:
                    writer = csv.DictWriter(fh, self._columns)
                    writer.writeheader()
                    writer.writerows(rows)
        elif self.path.exists():
            self.path.unlink()
        # purge_step hides events a killed run wrote after its last checkpoint.
        self.tb = SummaryWriter(str(run_dir / "tb"), purge_step=resume_step)

    @property
    def elapsed(self) -> float:
        """Seconds of training wall time so far (continued across resumes)."""
        return time.perf_counter() - self._t0

    def log(self, progress: Progress) -> None:
        """Write one row and the matching scalars."""
        row: dict[str, Any] = {
            "step": progress.step, "wall_time_s": round(self.elapsed, 3), "episodes": progress.episodes,
            "steps_per_sec": round(progress.steps_per_sec, 1),
            "episode_return_mean": "" if progress.recent_return is None else progress.recent_return,
            **progress.metrics,
        }
        new_file = self._columns is None
        if new_file:
            self._columns = BASE_COLUMNS + sorted(k for k in progress.metrics if k not in BASE_COLUMNS)
        with self.path.open("a", newline="") as fh:
            writer = csv.DictWriter(fh, self._columns, restval="", extrasaction="ignore")
            if new_file:
                writer.writeheader()
            writer.writerow(row)
        if progress.recent_return is not None:
            self.tb.add_scalar("rollout/episode_return_mean", progress.recent_return, progress.step)
        self.tb.add_scalar("time/steps_per_sec", progress.steps_per_sec, progress.step)
        for key, value in progress.metrics.items():
            if math.isfinite(value):
                self.tb.add_scalar(key if "/" in key else f"train/{key}", value, progress.step)

    def close(self) -> None:
        """Flush and close the TensorBoard writer."""
        self.tb.flush()
        self.tb.close()
