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
        - at the end save ``job.run.save_model("final", exportable, last_row)`` (with
          ``same_model_as="best"`` when no optimiser step was taken since best/ was saved: its
          files are then linked, not written again), then restore the best weights into the
          returned model; ``FitOutcome.best_validation_logits`` may carry that model's float32
          validation logits, so the final report does not predict them again.
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
    replicas: int = 1
    """TensorFlow: local devices to train on with MirroredStrategy (``nproc``); PyTorch uses processes."""


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
    best_validation_logits: Any = None
    """The returned model's float32 logits on the validation split, in row order, when the trainer
    computed them while training (the final report on validation then reuses them), else None."""


TRAINERS = {"torch": "zoolab.zoo.tuning.torch_trainer", "tf": "zoolab.zoo.tuning.keras_trainer"}
_VISION_LIBS = ("timm",)


@dataclass
class FinetuneRun:
    """What :func:`finetune` returns."""

    model: LoadedModel
    """The fine-tuned model, best weights restored; ``model.save(...)`` writes it anywhere."""
    folder: Path
    """The run folder (config, metrics, checkpoints, best/, final/, evaluation)."""
    metrics: list[dict[str, Any]]
    """The rows of metrics.csv (train rows and validation rows)."""
    evaluation: Any
    """EvaluationReport of the best model on the test split (validation when there is no test)."""
    stopped: str = "completed"
    best: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def plot(self) -> Any:
        """A matplotlib figure of the learning curves (train/validation loss, validation accuracy)."""
        from zoolab.zoo.tuning.runfolder import plot_runs

        return plot_runs([self.folder])


class _BasicReport:
    """Loss and accuracy only: stands in while zoolab.zoo.tuning.evaluation is not installed."""

    def __init__(self, y_true: Any, logits: Any, labels: list[str]) -> None:
        import numpy as np

        y = np.asarray(y_true, dtype=np.int64)
        z = np.asarray(logits, dtype=np.float64)
        z = z - z.max(axis=1, keepdims=True)
        logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        self.values = {"loss": float(-logp[np.arange(len(y)), y].mean()) if len(y) else float("nan"),
                       "accuracy": float((z.argmax(axis=1) == y).mean()) if len(y) else float("nan")}
        self.labels = labels

    def to_dict(self) -> dict[str, Any]:
        return dict(self.values)

    def save(self, folder: Path) -> None:
        import json

        (Path(folder) / "evaluation.json").write_text(json.dumps({**self.values, "labels": self.labels}, indent=2))


def metrics_report(y_true: Any, logits: Any, labels: list[str]) -> Any:
    """``evaluation.metrics_from`` (the full report) or, without it, loss and accuracy."""
    try:
        from zoolab.zoo.tuning.evaluation import metrics_from
    except ModuleNotFoundError as exc:
        if exc.name != "zoolab.zoo.tuning.evaluation":
            raise
        return _BasicReport(y_true, logits, labels)
    return metrics_from(y_true, logits, labels)


def _validation_metrics(labels: list[str]) -> Callable[[Any, Any], dict[str, float]]:
    def validate(y_true: Any, logits: Any) -> dict[str, float]:
        report = metrics_report(y_true, logits, labels)
        values = report.summary() if hasattr(report, "summary") else report.to_dict()
        return {f"val_{k}": float(v) for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}

    return validate


def _resolve_model(model: Any, framework: str | None) -> LoadedModel:
    from zoolab.zoo.loaded import LoadedModel

    if isinstance(model, LoadedModel):
        return model
    from zoolab.zoo.loading import load

    return load(str(model), framework=framework or "torch")


def _resolve_data(data: Any, settings: FinetuneSettings, data_args: dict[str, Any]) -> LabelledData:
    if hasattr(data, "splits") and hasattr(data, "labels"):
        return data
    from zoolab.zoo.data import load_data

    return load_data(data, val_split=settings.data.val_split,
                     seed=settings.data.seed if settings.data.seed is not None else settings.seed, **data_args)


def _check_pair(loaded: LoadedModel, data: LabelledData) -> None:
    from zoolab.errors import InvalidInputError, UnsupportedError

    vision = loaded.library in _VISION_LIBS or loaded.task == "image-classification"
    if data.task == "image-classification" and not vision:
        raise UnsupportedError(f"{loaded.metadata.get('ref', 'this model')} is a {loaded.task} text model; images need an image model",
                               hint="pick an image classifier such as resnet18")
    if data.task == "text-classification" and vision:
        raise UnsupportedError("an image model cannot read texts", hint="pick a text encoder such as all-MiniLM-L6-v2 or bert-base-uncased")
    for split in ("train", "validation"):
        if split not in data.splits or len(data.splits[split]) == 0:
            raise InvalidInputError(f"the data has no {split} rows", hint="give more data, or a validation split")


def plan_lines(loaded: LoadedModel, data: LabelledData, settings: FinetuneSettings, run_dir: Path) -> list[str]:
    """The plan printed before training: model, labels, split sizes, settings that differ from defaults."""
    n = len(data.labels)
    shown = ", ".join(data.labels[:10]) + (f" ... ({n} in all)" if n > 10 else "")
    sizes = ", ".join(f"{k} {len(v)}" for k, v in data.splits.items())
    changed = ", ".join(f"{k}={v}" for k, v in settings.changed().items()) or "defaults"
    ref = loaded.metadata.get("ref") or loaded.metadata.get("architecture") or type(loaded.model).__name__
    return [f"model: {ref} ({loaded.library}, {loaded.framework})", f"labels: {shown}", f"data: {sizes}",
            f"settings: {changed}", f"run folder: {run_dir}"]


def _record_result(folder: Path, result: dict[str, Any], loaded: LoadedModel) -> None:
    """Add the final result to ``best/`` and ``final/`` (``zoolab.json`` and the card's model-index,
    both written before the final evaluation existed) and to ``loaded``'s metadata, so that a later
    ``run.model.save(...)`` carries the scores too."""
    import json

    from zoolab.zoo.save import card_text

    for name in ("best", "final"):
        path = folder / name / "zoolab.json"
        if path.is_file():
            doc = json.loads(path.read_text())
            doc["training"] = {**(doc.get("training") or {}), **result}
            path.write_text(json.dumps(doc, indent=2, default=str) + "\n")
            (path.parent / "README.md").write_text(card_text(loaded, doc, name), encoding="utf-8")
            if name == "best":
                loaded.metadata["training"] = doc["training"]


def finetune(
    model: Any,
    data: Any,
    epochs: float | None = None,
    settings: FinetuneSettings | None = None,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    quiet: bool = False,
    framework: str | None = None,
    data_args: dict[str, Any] | None = None,
    nproc: int | None = None,
    **overrides: Any,
) -> FinetuneRun:
    """Fine-tune ``model`` (a LoadedModel, or a name/folder for ``zoo.load``) on ``data``.

    ``data`` is a ``zoo.data`` LabelledData, or anything ``zoo.data.load_data`` reads (folder, CSV,
    ``datasets`` object; ``data_args`` go to it: ``text``, ``text_pair``, ``label``, ``task``).
    ``settings`` plus ``overrides`` (``lr=1e-4``, ``**{"lora.rank": 8}``) make the settings; the
    head is resized to the data's labels. ``resume`` continues the run in that folder from its
    newest checkpoint (its own settings apply; ``model``/``data`` may then be None). ``nproc``
    trains in that many local processes (PyTorch DistributedDataParallel, docs/finetune.md), or,
    for framework "tf", on that many local devices in this process (MirroredStrategy); a run
    started by ``torchrun`` (or TensorFlow workers given ``TF_CONFIG``) is found from its environment.

    Raises:
        InvalidInputError: bad settings, bad data, or a ``resume`` folder that is not a run.
        UnsupportedError: a model that cannot be fine-tuned for this data's classification task.
        TrainingError: NaN loss or out of memory (the message names the checkpoint kept).
    """
    import importlib
    import json

    from zoolab.errors import TrainingError
    from zoolab.launch import check_nproc
    from zoolab.zoo.tuning.loop import Monitor
    from zoolab.zoo.tuning.progress import make_progress
    from zoolab.zoo.tuning.runfolder import RunFolder, default_run_dir, plot_runs
    from zoolab.zoo.tuning.settings import FinetuneSettings

    from zoolab.zoo.tuning import distributed

    replicas = 1
    if nproc is not None and check_nproc(nproc) > 1:
        if distributed.framework_of(model, framework, resume) == "tf":
            replicas = nproc  # one process, N devices (MirroredStrategy)
        else:
            return distributed.launch_run(nproc, dict(model=model, data=data, epochs=epochs, settings=settings, out=out,
                                                  resume=resume, quiet=quiet, framework=framework,
                                                  data_args=data_args, **overrides))
    data_args = dict(data_args or {})
    if epochs is not None:
        overrides["schedule.epochs"] = epochs
    run: RunFolder | None = None
    if resume is not None:
        run = distributed.for_rank(RunFolder.open(Path(resume)))
        settings = FinetuneSettings.from_dict(run.config["settings"])
        framework = run.config.get("framework")
        model = model if model is not None else run.config["model"]
        data = data if data is not None else run.config["data"].get("source")
        data_args = {**run.config.get("data_args", {}), **data_args}
        from zoolab.errors import InvalidInputError

        if not model or data is None:
            raise InvalidInputError(f"the run in {run.path} was given its model or data as Python objects",
                                    hint="pass them again: finetune(model, data, resume=...)")
    else:
        settings = (settings or FinetuneSettings()).with_overrides(overrides)
    distributed.join(settings, framework if framework is not None else getattr(model, "framework", None), replicas)
    loaded = _resolve_model(model, framework)
    labelled = _resolve_data(data, settings, data_args)
    _check_pair(loaded, labelled)
    trainer = importlib.import_module(TRAINERS[loaded.framework])
    loaded, head_note = trainer.with_head(loaded, list(labelled.labels), settings.seed)
    progress = make_progress(quiet or not distributed.leader())
    if run is None:
        ref = str(model) if not hasattr(model, "metadata") else str(model.metadata.get("ref") or model.metadata.get("path") or "")
        if out is None and distributed.tf_workers() is not None:
            from zoolab.errors import InvalidInputError

            raise InvalidInputError("several TensorFlow workers (TF_CONFIG) need --out (out=...) on storage they all see")
        path = Path(out).expanduser() if out is not None else default_run_dir(ref or loaded.library)
        source = str(data) if isinstance(data, (str, Path)) else None
        run = distributed.create_run(path, {
            "model": ref, "framework": loaded.framework, "task": labelled.task, "labels": list(labelled.labels),
            "data": {**dict(labelled.origin or {}), "source": source}, "data_args": data_args,
            "settings": settings.to_dict()})
    run.keep = settings.checkpoint.keep
    for line in [*plan_lines(loaded, labelled, settings, run.path), *(labelled.notes or []), *([head_note] if head_note else [])]:
        progress.note(line)
    ckpt = run.latest_checkpoint()
    state = json.loads((ckpt / "state.json").read_text()) if ckpt is not None else {}
    run.start_logging(resume_step=int(state.get("step", 0)) if resume is not None else None,
                      elapsed_s=float(state.get("elapsed_s", 0.0)))
    job = FitJob(loaded, labelled, settings, run, Monitor(settings.early_stopping),
                 distributed.clock(settings.time_budget_s), progress, _validation_metrics(list(labelled.labels)),
                 ckpt if resume is not None else None, replicas=replicas)
    try:
        outcome = trainer.fit(job)
    except TrainingError as exc:
        kept = run.latest_checkpoint()
        where = f"the last good checkpoint is kept in {kept}" if kept else "no checkpoint had been written yet"
        raise TrainingError(f"{exc.message}; training stopped and {where}",
                            hint=exc.hint or "lower optim.lr or use precision=fp32, then start again") from None
    except KeyboardInterrupt:
        import sys

        print(f"interrupted: a checkpoint is in {run.latest_checkpoint()}; "
              f"continue with `zoolab finetune --resume {run.path}` (Python: resume=...)", file=sys.stderr)
        raise
    finally:
        run.close()
    if not distributed.leader():  # rank 0 evaluates and writes the results
        return FinetuneRun(outcome.loaded, run.path, [], None, outcome.stopped, outcome.best)
    split = "test" if "test" in labelled.splits and len(labelled.splits["test"]) else "validation"
    y = labelled.splits[split]["label"]
    scores = outcome.best_validation_logits
    if split != "validation" or scores is None:
        scores = trainer.logits(outcome.loaded, labelled.splits[split])
    report = metrics_report(y, scores, list(labelled.labels))
    if hasattr(report, "split"):
        report.split = split
    report.save(run.path)
    plot_runs([run.path], out=run.path / "learning_curves.png")
    result = {"epochs": outcome.epochs, "steps": outcome.steps, "stopped": outcome.stopped,
              "train_time_s": round(job.clock.elapsed, 2), "best": outcome.best,
              "evaluation": {"split": split, **(report.summary() if hasattr(report, "summary") else report.to_dict())}}
    run.update_config(result=result)
    _record_result(run.path, result, outcome.loaded)
    notes = [*(labelled.notes or []), *([head_note] if head_note else []), *outcome.notes]
    for note in outcome.notes:
        progress.note(note)
    return FinetuneRun(outcome.loaded, run.path, run.metrics(), report, outcome.stopped, outcome.best, notes)
