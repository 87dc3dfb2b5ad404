"""The fine-tuning run folder (default ``<ZOOLAB_HOME>/runs/finetune-<model>-<timestamp>``)::

    config.yaml            model ref, framework, task, labels, data origin, resolved settings
    metrics.csv            train rows (step, epoch, train_loss, lr) and validation rows (val_*)
    tb/                    TensorBoard event files
    checkpoints/step-<N>/  model/optim/rng.safetensors + state.json (epoch, batch, monitor, time)
    best/  final/          the best and the last model in their library's format + zoolab.json
                           (when they are the same model, final/'s files but zoolab.json and
                           README.md are hard links to best/'s)
    evaluation.json  confusion_matrix.png  learning_curves.png

Metrics, TensorBoard, atomic checkpoint folders and resume truncation are ``zoolab.runs``, the
same code as RL runs. Checkpoint files are safetensors of numpy arrays plus JSON: no pickle.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from zoolab.errors import ConflictError, InvalidInputError
from zoolab.runs import (MetricsLog, list_step_dirs, load_arrays, new_run_dir, read_metrics, save_arrays,
                         write_step_dir)

if TYPE_CHECKING:
    from zoolab.zoo.loaded import LoadedModel

CONFIG = "config.yaml"
KIND = "zoolab-finetune"
BASE_COLUMNS = ["step", "epoch", "wall_time_s", "train_loss", "lr"]


def default_run_dir(model_name: str) -> Path:
    """A new folder name under ``<ZOOLAB_HOME>/runs``."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", model_name.rstrip("/").split("/")[-1])[:60] or "model"
    return new_run_dir(f"finetune-{safe}")


class RunFolder:
    """One fine-tuning run on disk; see the module docstring for the layout."""

    def __init__(self, path: Path, config: dict[str, Any]) -> None:
        self.path = Path(path)
        self.config = config
        self._log: MetricsLog | None = None
        self.keep = 2

    # --- opening -------------------------------------------------------------------------------
    @classmethod
    def create(cls, path: Path, config: dict[str, Any]) -> RunFolder:
        """Start a new run in ``path`` (created); refuses a folder that already holds a run or other files."""
        path = Path(path).expanduser()
        if (path / CONFIG).exists():
            raise ConflictError(f"{path} already holds a run",
                                hint=f"continue it with --resume {path} (resume=...) or pick another --out")
        if path.is_dir() and any(path.iterdir()):
            raise ConflictError(f"{path} is not empty; refusing to write a run into it", hint="pick a new or empty --out")
        path.mkdir(parents=True, exist_ok=True)
        (path / CONFIG).write_text(yaml.safe_dump({"kind": KIND, **config}, sort_keys=False))
        return cls(path, config)

    @classmethod
    def open(cls, path: Path) -> RunFolder:
        """An existing run, for resume or plotting.

        Raises:
            InvalidInputError: ``path`` is not a fine-tuning run folder (nothing is written then).
        """
        path = Path(path).expanduser()
        cfg = path / CONFIG
        if not cfg.is_file():
            raise InvalidInputError(f"{path} is not a fine-tuning run folder (no {CONFIG})",
                                    hint="pass a folder that `zoolab finetune` created")
        try:
            doc = yaml.safe_load(cfg.read_text())
        except yaml.YAMLError as exc:
            raise InvalidInputError(f"{cfg} is not valid YAML: {str(exc).splitlines()[0]}") from None
        if not isinstance(doc, dict) or doc.get("kind") != KIND:
            raise InvalidInputError(f"{path} is not a fine-tuning run folder ({CONFIG} is not a zoolab fine-tuning config)",
                                    hint="RL runs continue with `zoolab rl train --resume`")
        doc.pop("kind")
        return cls(path, doc)

    # --- metrics -------------------------------------------------------------------------------
    def start_logging(self, resume_step: int | None = None, elapsed_s: float = 0.0) -> None:
        """Open metrics.csv and TensorBoard (on resume, rows after ``resume_step`` are dropped)."""
        self._log = MetricsLog(self.path, base_columns=BASE_COLUMNS, resume_step=resume_step, elapsed_s=elapsed_s)

    def log(self, row: dict[str, Any]) -> None:
        """Append one row (``step`` required); TensorBoard gets train/ and val/ scalars."""
        if self._log is None:
            self.start_logging()
        assert self._log is not None
        scalars = {}
        for k, v in row.items():
            if k in ("step", "epoch", "wall_time_s"):
                continue
            scalars[f"val/{k[4:]}" if k.startswith("val_") else f"train/{k.removeprefix('train_')}"] = v
        self._log.write(row, scalars)

    def metrics(self) -> list[dict[str, Any]]:
        """The rows of metrics.csv, numbers parsed."""
        return read_metrics(self.path)

    def close(self) -> None:
        """Flush the logs."""
        if self._log is not None:
            self._log.close()
            self._log = None

    # --- checkpoints ---------------------------------------------------------------------------
    @property
    def checkpoints_dir(self) -> Path:
        return self.path / "checkpoints"

    def write_checkpoint(self, step: int, arrays: dict[str, dict[str, Any]], state: dict[str, Any]) -> Path:
        """Write ``checkpoints/step-<step>/``: one ``<group>.safetensors`` per array group + state.json."""

        def fill(tmp: Path) -> None:
            for group, values in arrays.items():
                save_arrays(values, tmp / f"{group}.safetensors")
            (tmp / "state.json").write_text(json.dumps({**state, "step": step, "groups": sorted(arrays)}, indent=1))

        return write_step_dir(self.checkpoints_dir, step, fill, keep=self.keep)

    def latest_checkpoint(self) -> Path | None:
        """The newest complete checkpoint, or None."""
        found = list_step_dirs(self.checkpoints_dir)
        return found[-1][1] if found else None

    def read_checkpoint(self, path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
        """``(arrays, state)`` of a checkpoint written by :meth:`write_checkpoint`."""
        try:
            state = json.loads((Path(path) / "state.json").read_text())
            arrays = {g: load_arrays(Path(path) / f"{g}.safetensors") for g in state["groups"]}
        except (OSError, ValueError, KeyError) as exc:
            raise InvalidInputError(f"checkpoint {path} is unreadable: {exc}") from None
        return arrays, state

    # --- models --------------------------------------------------------------------------------
    def save_model(self, name: str, loaded: LoadedModel, row: dict[str, Any] | None = None,
                   same_model_as: str | None = None) -> Path:
        """Save ``loaded`` as ``best/`` or ``final/`` (atomically replacing the previous one).

        ``same_model_as`` names a saved folder of this run that holds the same weights (final/ when
        the last epoch was the best): its weight, config and tokenizer files are hard-linked (copied
        where the file system has no links) instead of serialised again, and only ``zoolab.json``
        and ``README.md`` are written, so the two folders share one copy on disk.
        """
        from zoolab.zoo.save import CARD_FILES, write_card_files

        target = self.path / name
        tmp = self.path / f".tmp-{name}"
        shutil.rmtree(tmp, ignore_errors=True)
        meta = dict(loaded.metadata)
        meta["training"] = {**self.training_summary(), "model": name, "metrics": dict(row or {})}
        original = loaded.metadata
        loaded.metadata = meta
        source = self.path / same_model_as if same_model_as else None
        try:
            if source is not None and (source / CARD_FILES[0]).is_file():
                _link_tree(source, tmp, skip=CARD_FILES)
                write_card_files(loaded, tmp)
            else:
                loaded.save(tmp)
        finally:
            loaded.metadata = original
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
        return target

    def training_summary(self) -> dict[str, Any]:
        """The ``training`` section of zoolab.json: data, settings, epochs, time (metrics added by callers)."""
        c = self.config
        return {"run": str(self.path), "framework": c.get("framework"), "base": c.get("model"),
                "data": c.get("data"), "labels": c.get("labels"), "settings": c.get("settings"),
                **{k: v for k, v in c.get("result", {}).items()}}

    def update_config(self, **values: Any) -> None:
        """Record more of the run (e.g. ``result``) in config.yaml."""
        self.config.update(values)
        (self.path / CONFIG).write_text(yaml.safe_dump({"kind": KIND, **self.config}, sort_keys=False))

    # --- plots ---------------------------------------------------------------------------------
    def plot(self) -> Any:
        """A matplotlib figure of this run's learning curves."""
        return plot_runs([self.path])


def _link_tree(source: Path, target: Path, skip: tuple[str, ...] = ()) -> None:
    """Recreate ``source``'s files under ``target`` as hard links (copies where linking fails),
    leaving out the top-level names in ``skip``."""
    import os

    for path in sorted(source.rglob("*")):
        rel = path.relative_to(source)
        if path.is_dir() or (len(rel.parts) == 1 and rel.name in skip):
            continue
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(path, dest)
        except OSError:  # another device, or a file system without hard links
            shutil.copy2(path, dest)


def plot_runs(paths: list[Path], out: Path | None = None) -> Any:
    """Overlay the learning curves (train loss, validation loss and accuracy) of several runs.

    The figure is made without pyplot, so that writing ``learning_curves.png`` never switches a
    notebook's inline backend away (the returned figure still shows inline, as the cell's value).
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 3.6))
    axes = fig.subplots(1, 2)
    for path in paths:
        rows = read_metrics(Path(path))
        if not rows:
            raise InvalidInputError(f"{path} has no metrics.csv rows to plot")
        label = Path(path).name
        train = [r for r in rows if "train_loss" in r and "val_loss" not in r]
        val = [r for r in rows if "val_loss" in r]
        axes[0].plot([r["epoch"] for r in train], [r["train_loss"] for r in train], label=f"{label} train", alpha=0.6)
        axes[0].plot([r["epoch"] for r in val], [r["val_loss"] for r in val], "o-", label=f"{label} validation")
        axes[1].plot([r["epoch"] for r in val], [r.get("val_accuracy", float("nan")) for r in val], "o-", label=label)
    axes[0].set(xlabel="epoch", ylabel="loss", title="loss")
    axes[1].set(xlabel="epoch", ylabel="accuracy", title="validation accuracy")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    if out is not None:
        from zoolab.zoo.tuning.report import save_figure

        save_figure(fig, out)
    return fig
