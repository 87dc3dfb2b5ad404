"""What every zoolab run folder shares (RL and fine-tuning): metrics CSV, TensorBoard, checkpoints.

- :class:`MetricsLog` appends rows to ``metrics.csv`` (columns grow as new keys appear) and
  scalars to TensorBoard event files under ``tb/`` (:mod:`zoolab.tbevents`); on resume it drops
  what a killed run wrote after its last checkpoint, so the logs of a resumed run read like
  those of an uninterrupted one.
- :func:`write_step_dir` writes ``checkpoints/step-<N>/`` atomically (a temporary folder, fsync,
  rename), so a process killed mid-write never leaves a half checkpoint that resume would pick;
  :func:`list_step_dirs` lists the complete ones; older ones are pruned to ``keep``.
- :func:`save_arrays` / :func:`load_arrays`: safetensors files of numpy arrays (no pickle), for
  trainers of any framework; :func:`flatten_optimizer` / :func:`restore_optimizer` for torch ones.
"""

from __future__ import annotations

import csv
import math
import os
import re
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

_STEP_DIR = re.compile(r"step-(\d+)")  # fullmatch: "step-3\n" is no checkpoint


class MetricsLog:
    """``metrics.csv`` plus TensorBoard scalars for one run folder."""

    def __init__(self, run_dir: Path, *, base_columns: list[str], resume_step: int | None = None,
                 elapsed_s: float = 0.0) -> None:
        from zoolab.tbevents import ScalarWriter

        self.path = Path(run_dir) / "metrics.csv"
        self._base = list(base_columns)
        self._columns: list[str] | None = None
        self._t0 = time.perf_counter() - elapsed_s
        if resume_step is not None and self.path.is_file():
            with self.path.open(newline="") as fh:
                reader = csv.DictReader(fh)
                self._columns = list(reader.fieldnames or []) or None
                rows = [r for r in reader if int(float(r["step"])) <= resume_step]
            self._rewrite(rows)
        elif self.path.exists():
            self.path.unlink()
        # purge_step hides events a killed run wrote after its last checkpoint.
        self.tb = ScalarWriter(Path(run_dir) / "tb", purge_step=resume_step)

    @property
    def elapsed(self) -> float:
        """Seconds of wall time so far (continued across resumes)."""
        return time.perf_counter() - self._t0

    def _rewrite(self, rows: list[dict[str, Any]]) -> None:
        with self.path.open("w", newline="") as fh:
            if self._columns:
                writer = csv.DictWriter(fh, self._columns, restval="", extrasaction="ignore")
                writer.writeheader()
                writer.writerows(rows)

    def write(self, row: Mapping[str, Any], scalars: Mapping[str, float] | None = None) -> None:
        """Append ``row`` (it must hold ``step``) and log ``scalars`` (default: the row's numbers)."""
        new = [k for k in row if self._columns is None or k not in self._columns]
        if self._columns is None:
            self._columns = self._base + sorted(k for k in new if k not in self._base)
            with self.path.open("w", newline="") as fh:
                csv.DictWriter(fh, self._columns).writeheader()
        elif new:  # a column appears later (validation metrics): rewrite the small file with it
            with self.path.open(newline="") as fh:
                old = list(csv.DictReader(fh))
            self._columns += sorted(new)
            self._rewrite(old)
        with self.path.open("a", newline="") as fh:
            csv.DictWriter(fh, self._columns, restval="", extrasaction="ignore").writerow(row)
        step = int(row["step"])
        items = scalars if scalars is not None else {k: v for k, v in row.items() if k != "step"}
        for key, value in items.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
                self.tb.add_scalar(key, value, step)

    def close(self) -> None:
        """Flush and close the TensorBoard writer."""
        self.tb.flush()
        self.tb.close()


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The rows of a run's ``metrics.csv``, numbers parsed, empty cells dropped."""
    path = Path(run_dir) / "metrics.csv"
    if not path.is_file():
        return []
    out = []
    with path.open(newline="") as fh:
        for r in csv.DictReader(fh):
            row: dict[str, Any] = {}
            for k, v in r.items():
                if v in ("", None):
                    continue
                try:
                    row[k] = float(v)
                except ValueError:
                    row[k] = v
            out.append(row)
    return out


def list_step_dirs(folder: Path, marker: str = "state.json") -> list[tuple[int, Path]]:
    """Complete ``step-<N>`` checkpoints under ``folder`` as ``(step, path)``, oldest first."""
    if not Path(folder).is_dir():
        return []
    found = []
    for entry in Path(folder).iterdir():
        m = _STEP_DIR.fullmatch(entry.name)
        if m and (entry / marker).is_file():
            found.append((int(m.group(1)), entry))
    return sorted(found)


def write_step_dir(folder: Path, step: int, fill: Callable[[Path], None], *, keep: int) -> Path:
    """Create ``folder/step-<step>`` atomically: ``fill(tmp)`` writes the files, then fsync + rename.

    Only the newest ``keep`` checkpoints stay.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"step-{step:010d}"
    tmp = folder / f".tmp-step-{step:010d}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    fill(tmp)
    fsync_dir(tmp)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    for _, old in list_step_dirs(folder)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def flatten_optimizer(name: str, opt: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """A torch optimiser's state as ``({"<name>/<param id>/<key>": tensor}, JSON-able meta)``, no pickle."""
    import torch

    sd = opt.state_dict()
    tensors: dict[str, Any] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{name}/{pid}/{key}"] = value.detach().to("cpu").contiguous().clone()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def restore_optimizer(name: str, opt: Any, tensors: dict[str, Any], meta: dict[str, Any]) -> None:
    """Inverse of :func:`flatten_optimizer`."""
    state: dict[int, dict[str, Any]] = {}
    prefix = f"{name}/"
    for key, value in tensors.items():
        if key.startswith(prefix):
            pid, field = key[len(prefix):].split("/", 1)
            state.setdefault(int(pid), {})[field] = value
    for pid, values in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(values)
    # JSON turned tuples (Adam's betas) into lists; torch expects them back as tuples.
    groups = [{k: tuple(v) if isinstance(v, list) and k != "params" else v for k, v in g.items()}
              for g in meta["param_groups"]]
    opt.load_state_dict({"state": state, "param_groups": groups})


def new_run_dir(name: str) -> Path:
    """A folder path under ``<ZOOLAB_HOME>/runs`` named ``<name>-<YYYYmmdd-HHMMSS>`` that does not
    exist yet (``-2``, ``-3``... when several runs start in the same second)."""
    from zoolab import settings

    base = settings.runs_dir() / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def fsync_dir(folder: Path) -> None:
    """fsync every file in ``folder`` (a checkpoint must be on disk before it is renamed into place)."""
    for entry in Path(folder).iterdir():
        if entry.is_file():
            with open(entry, "rb") as fh:
                os.fsync(fh.fileno())


def save_arrays(arrays: Mapping[str, Any], path: Path) -> None:
    """Write ``{name: numpy array}`` as a safetensors file."""
    import numpy as np
    from safetensors.numpy import save_file

    save_file({k: np.ascontiguousarray(v) for k, v in arrays.items()}, str(path))


def load_arrays(path: Path) -> dict[str, Any]:
    """Read a safetensors file as ``{name: numpy array}``."""
    from safetensors.numpy import load_file

    return load_file(str(path))


class DeferredInterrupt:
    """Ctrl-C acted on by the training loop: the first one sets ``asked`` (the loop checkpoints at
    its next safe point and stops), a second one raises ``KeyboardInterrupt`` at once.

    Installed only in the main thread (signal handlers cannot be set elsewhere); ``restore()``
    puts the previous handler back.
    """

    def __init__(self) -> None:
        import signal
        import threading

        self.asked = False
        self._old: Any = None
        if threading.current_thread() is threading.main_thread():
            self._old = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, frame: Any) -> None:
        if self.asked:
            raise KeyboardInterrupt
        self.asked = True

    def restore(self) -> None:
        """Reinstate the handler that was there before."""
        import signal

        if self._old is not None:
            signal.signal(signal.SIGINT, self._old)
            self._old = None
