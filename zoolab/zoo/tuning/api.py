"""``zoo.finetune(model, data)``: fine-tune a zoo model on labelled data, in PyTorch or Keras.

Trainer contract
================

``api.py`` is framework-neutral: it resolves the data and settings, opens the run folder, and
dispatches on ``loaded.framework`` to ``zoolab.zoo.tuning.torch_trainer`` ("torch") or
``zoolab.zoo.tuning.keras_trainer`` ("tf"). Each trainer module provides exactly these functions::

    with_head(loaded: LoadedModel, labels: list[str], seed: int) -> tuple[LoadedModel, str | None]
        A classifier for ``labels`` (in this order: id i is labels[i]) built on ``loaded``'s
        backbone. A head of another size (or names) is replaced by a new one initialised from
        ``seed``; the string says what was done ("new head: 1000 -> 5 labels") or is None when
        the head already fits. ``loaded`` may be a classifier or an encoder (feature-extraction,
        fill-mask); anything else raises UnsupportedError. May reuse ``loaded``'s weights in place.

    fit(job: FitJob) -> FitOutcome
        Train ``job.loaded`` (already with_head'ed) on ``job.data["train"]``, validating on
        ``job.data["validation"]`` after every epoch (and at every mid-epoch checkpoint when
        ``settings.checkpoint.every_steps`` is set), following ``job.settings`` (both trainers
        honour every field they can; a field a framework cannot honour raises UnsupportedError
        before training starts). It must:
        - resume from ``job.resume_from`` (a checkpoint folder from ``job.run.latest_checkpoint()``)
          when not None: weights, optimiser, step counter (the schedule is ``schedule.lr_factor``
          of the step), data order (epoch + batch index; orders are a function of seed and
          epoch), RNG states and ``job.monitor`` state; on CPU the resumed run must end with the
          same weights bit for bit as an uninterrupted one;
        - write checkpoints with ``job.run.write_checkpoint(step, arrays, state)`` (arrays:
          ``{"model": {...}, "optim": {...}, "rng": {...}}`` of numpy arrays -> safetensors; state:
          JSON, including ``{"epoch", "batch", "step", "monitor": job.monitor.state(), ...}``),
          and read them with ``job.run.read_checkpoint(path) -> (arrays, state)``;
        - log with ``job.run.log(row)``: a train row every ``settings.log_every_steps`` optimiser
          steps ``{"step", "epoch", "train_loss", "lr"}`` and a validation row after each
          validation ``{"step", "epoch", "train_loss", **job.validate(y_true, logits)}``
          (``job.validate`` returns ``val_``-prefixed floats: val_loss, val_accuracy, ...);
        - report progress through ``job.progress`` (see ``zoolab.zoo.tuning.progress``):
          ``start_epoch(epoch, steps)``, ``advance(n, **shown)``, ``end_epoch(row)``;
        - feed each validation row to ``job.monitor.update(row) -> bool`` (True: a new best);
          on a new best, save it with ``job.run.save_model("best", exportable, row)``; stop when
          ``job.monitor.should_stop`` (early stopping) or ``job.clock.expired()`` (time budget,
          after a checkpoint and a validation);
        - on a non-finite loss: stop and raise ``TrainingError`` (api.py adds which checkpoint is kept);
        - on KeyboardInterrupt: write a checkpoint, then re-raise (api.py prints how to resume);
        - on out-of-memory: raise ``TrainingError`` suggesting a smaller batch_size or grad_accumulation;
        - at the end save ``job.run.save_model("final", exportable, last_row)``, then restore the
          best weights into the returned model.
        ``exportable`` is a LoadedModel whose ``save`` writes the library's format: with LoRA and
        ``lora.merge`` the adapters folded in; without merge, peft's (or keras-hub's) adapter files.

    logits(loaded: LoadedModel, dataset: datasets.Dataset, batch_size: int) -> numpy.ndarray
        float32 ``(N, num_labels)`` logits for the rows of a normalised split ("image" or
        "text" [+ "text_pair"] columns), with the model's eval preprocessing, in row order.

Neutral objects they receive: :class:`FitJob` / :class:`FitOutcome` (below),
``FinetuneSettings`` (settings.py), ``LabelledData`` (zoolab.zoo.data), ``RunFolder``
(runfolder.py), ``Monitor`` and ``Clock`` (loop.py), ``Progress`` (progress.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from zoolab.zoo.data import LabelledData
    from zoolab.zoo.loaded import LoadedModel
    from zoolab.zoo.tuning.loop import Clock, Monitor
    from zoolab.zoo.tuning.progress import Progress
    from zoolab.zoo.tuning.runfolder import RunFolder
    from zoolab.zoo.tuning.settings import FinetuneSettings


@dataclass
class FitJob:
    """Everything a trainer's ``fit`` gets."""

    loaded: LoadedModel
    """The model with a head for ``data.labels`` (from ``with_head``)."""
    data: LabelledData
    """Splits "train" and "validation" (normalised columns), label names, task."""
    settings: FinetuneSettings
    run: RunFolder
    """Where metrics, checkpoints and the best/final models go."""
    monitor: Monitor
    """Best-model and early-stopping tracker (its state goes into checkpoints)."""
    clock: Clock
    """Training wall time so far (continued across resumes) and the time budget."""
    progress: Progress
    validate: Callable[[Any, Any], dict[str, float]]
    """``validate(y_true, logits) -> {"val_loss": .., "val_accuracy": .., ...}``."""
    resume_from: Path | None = None
    """A checkpoint folder to continue from, or None for a fresh start."""


@dataclass
class FitOutcome:
    """What a trainer's ``fit`` returns."""

    loaded: LoadedModel
    """The fine-tuned model with the best weights restored (LoRA merged when lora.merge)."""
    steps: int
    """Optimiser steps taken in all (across resumes)."""
    epochs: float
    """Epochs trained (fractional when stopped mid-epoch)."""
    stopped: str
    """Why training ended: "completed", "early_stopping" or "time_budget"."""
    best: dict[str, Any] = field(default_factory=dict)
    """The validation row of the best model (step, epoch, val_* metrics)."""
    notes: list[str] = field(default_factory=list)
    """What the user should be told (texts truncated, head replaced, ...)."""
