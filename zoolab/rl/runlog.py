"""RL run logging: one ``metrics.csv`` row and TensorBoard scalars per progress report (``zoolab.runs``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoolab.runs import MetricsLog

if TYPE_CHECKING:
    from zoolab.rl.agent import Progress

BASE_COLUMNS = ["step", "wall_time_s", "episodes", "steps_per_sec", "episode_return_mean",
                "episode/return_std", "episode/return_min", "episode/return_max"]


class RunLogger:
    """Appends one row per progress report; on resume, drops rows newer than the checkpoint."""

    def __init__(self, run_dir: Path, *, resume_step: int | None = None, elapsed_s: float = 0.0) -> None:
        self._log = MetricsLog(run_dir, base_columns=BASE_COLUMNS, resume_step=resume_step, elapsed_s=elapsed_s)
        self.path = self._log.path
        self.tb = self._log.tb

    @property
    def elapsed(self) -> float:
        """Seconds of training wall time so far (continued across resumes)."""
        return self._log.elapsed

    def log(self, progress: Progress) -> None:
        """Write one row and the matching scalars."""
        row: dict[str, Any] = {
            "step": progress.step, "wall_time_s": round(self.elapsed, 3), "episodes": progress.episodes,
            "steps_per_sec": round(progress.steps_per_sec, 1),
            "episode_return_mean": "" if progress.recent_return is None else progress.recent_return,
            **progress.metrics,
        }
        scalars = {"time/steps_per_sec": progress.steps_per_sec}
        if progress.recent_return is not None:
            scalars["rollout/episode_return_mean"] = progress.recent_return
        scalars.update({key if "/" in key else f"train/{key}": v for key, v in progress.metrics.items()})
        self._log.write(row, scalars)

    def close(self) -> None:
        """Flush and close the TensorBoard writer."""
        self._log.close()
