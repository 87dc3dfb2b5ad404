"""The Keras training loop of ``zoo.finetune`` (framework "tf"); the contract is in ``api.py``.

A custom loop rather than ``model.fit``: it has to stop and resume mid-epoch bit for bit, step
two learning-rate groups and follow the schedule both frameworks share. The Keras pieces
(batches, optimisers, the compiled step, state as arrays) are in ``keras_parts``.

LoRA is keras-hub's ``backbone.enable_lora`` (query/value projections, or ``lora.target_modules``)
with ``lora.alpha / rank`` as the scale. keras-hub folds adapters into the kernels whenever it
saves a preset, so ``best/`` and ``final/`` are always plain presets; with ``lora.merge=false``
they also hold ``adapters.lora.h5``, the adapters alone in keras-hub's format
(``backbone.load_lora_weights``), not peft's.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import numpy as np

from zoolab.errors import InvalidInputError, TrainingError, UnsupportedError
from zoolab.zoo.keras_backend import import_keras
from zoolab.zoo.keras_preprocess import ImagePreprocessing
from zoolab.zoo.loaded import LoadedModel
from zoolab.zoo.tuning import keras_devices
from zoolab.zoo.tuning import keras_parts as parts
from zoolab.zoo.tuning.api import FitJob, FitOutcome
from zoolab.zoo.tuning.loop import plan_steps
from zoolab.zoo.tuning.settings import FinetuneSettings, LoraSettings

ADAPTERS_FILE = "adapters.lora.h5"


def with_head(loaded: LoadedModel, labels: list[str], seed: int) -> tuple[LoadedModel, str | None]:
    """A keras-hub classifier for ``labels`` on ``loaded``'s backbone (see the contract in api.py)."""
    keras = import_keras()
    import keras_hub

    model, n = loaded.model, len(labels)
    if isinstance(model, (keras_hub.models.ImageClassifier, keras_hub.models.TextClassifier)):
        if list(loaded.labels or []) == list(labels):
            return loaded, None
        backbone, old = model.backbone, f"{model.num_classes} -> "
        cls, kwargs = type(model), {k: v for k, v in model.get_config().items()
                                    if k in ("activation", "dropout", "pooling", "head_dtype")}
        preprocessor = model.preprocessor
    elif isinstance(model, keras_hub.models.Backbone) and loaded.task == "feature-extraction":
        backbone, old, kwargs, preprocessor = model, "", {}, None
        cls = _classifier_class(type(backbone))
        if isinstance(loaded.preprocessor, keras_hub.models.TextClassifierPreprocessor):
            preprocessor = loaded.preprocessor
    else:
        raise UnsupportedError(
            f"a {loaded.task} model ({type(model).__name__}) cannot be fine-tuned for classification in Keras",
            hint="start from an image/text classifier or an encoder (feature-extraction) model",
        )
    if not isinstance(loaded.preprocessor, ImagePreprocessing) and preprocessor is None:
        preprocessor = loaded.preprocessor
    keras.utils.set_random_seed(seed)
    classifier = cls(backbone=backbone, num_classes=n, preprocessor=preprocessor, **kwargs)
    task = "image-classification" if isinstance(classifier, keras_hub.models.ImageClassifier) else "text-classification"
    meta = {k: v for k, v in loaded.metadata.items() if k != "pooling"}
    new = LoadedModel(classifier, "tf", "keras-hub", task, loaded.preprocessor, list(labels),
                      {**meta, "task": task, "labels": list(labels)})
    return new, f"new head: {old}{n} labels ({', '.join(labels[:5])}{' ...' if n > 5 else ''})"


def _classifier_class(backbone_cls: type) -> type:
    """The keras-hub classifier task whose backbone class is ``backbone_cls``."""
    import keras_hub

    stack = [keras_hub.models.ImageClassifier, keras_hub.models.TextClassifier]
    while stack:
        cls = stack.pop()
        if getattr(cls, "backbone_cls", None) is backbone_cls:
            return cls
        stack.extend(cls.__subclasses__())
    raise UnsupportedError(f"keras-hub has no classifier task for {backbone_cls.__name__}",
                           hint="fine-tune it with framework='torch'")


def logits(loaded: LoadedModel, dataset: Any, batch_size: int = 64) -> np.ndarray:
    """float32 ``(N, num_labels)`` eval-mode logits of the split ``dataset``, in row order."""
    import_keras()
    settings = FinetuneSettings.from_overrides({"optim.eval_batch_size": batch_size})
    return parts.predict_logits(loaded.model, parts.batches_for(loaded, dataset, settings, train=False))


def fit(job: FitJob) -> FitOutcome:
    """Train ``job.loaded`` on ``job.data`` as ``job.settings`` say (see the contract in api.py)."""
    import tensorflow as tf

    s, device = job.settings, _device(job.settings)
    policy = keras_devices.policy_for(s.precision, device)
    _seed(s.seed, deterministic=device.startswith("/CPU"))
    strategy = keras_devices.strategy(device, job.replicas)
    if strategy is None:
        with tf.device(device):
            return _Loop(job, policy, None, device).run()
    job = dataclasses.replace(job, loaded=dataclasses.replace(
        job.loaded, model=keras_devices.replicate(job.loaded.model, strategy)))
    with strategy.scope():  # LoRA adapters and optimiser slots are mirrored too
        loop = _Loop(job, policy, strategy, device)
    return loop.run()


class _Loop:
    """One fit: state (epoch, batch, step), the loop, checkpoints and validations."""

    def __init__(self, job: FitJob, policy: str | None, strategy: Any, device: str) -> None:
        s = job.settings
        self.job, self.s, self.loaded, self.strategy = job, s, job.loaded, strategy
        self.notes: list[str] = keras_devices.precision_note(policy, device)
        if strategy is not None:
            self.notes.append(f"{strategy.num_replicas_in_sync} replicas ({keras_devices.strategy_name(strategy)}); "
                              f"batch size {s.optim.batch_size} over all of them")
        self.mixed = keras_devices.MixedPrecision(self.loaded.model, policy)
        if s.lora.rank:
            self.notes += enable_lora(self.loaded.model, s.lora)
        parts.reseed(self.loaded.model, s.seed)
        self.train = parts.batches_for(self.loaded, job.data["train"], s, train=True)
        self.val = parts.batches_for(self.loaded, job.data["validation"], s, train=False)
        self.notes += self.train.notes
        self.plan = plan_steps(len(job.data["train"]), s)
        self.stepper = parts.Stepper(self.loaded.model, s, self.plan.total_steps, self.plan.warmup_steps,
                                     strategy=strategy, loss_scale=policy == keras_devices.POLICIES["fp16"])
        self.epoch = self.batch = self.step = 0
        self.loss_sum, self.loss_n = 0.0, 0
        self.best_weights: list[np.ndarray] | None = None
        self.last_row: dict[str, Any] = {}
        if job.resume_from is not None:
            self._restore(Path(job.resume_from))
        self._snapshot()

    # --- the loop ------------------------------------------------------------------------------
    def run(self) -> FitOutcome:
        s, job, n = self.s, self.job, len(self.train)
        stopped, accum = "completed", s.optim.grad_accumulation
        freeze_steps = s.freeze_backbone_epochs * self.plan.steps_per_epoch
        with self.mixed:
            try:
                while self.step < self.plan.total_steps and stopped == "completed":
                    job.progress.start_epoch(self.epoch + 1, n, self.batch)
                    group: list[float] = []
                    for x, y in self.train.epoch(self.epoch, self.batch):
                        frozen = self.step < freeze_steps
                        share = len(y) / self._group_rows()  # as PyTorch weighs a short last batch
                        group.append(self._forward(x, y, share, frozen) * share)
                        self.batch += 1
                        if self.batch % accum and self.batch < n:
                            continue
                        lr = self.stepper.apply(self.step, frozen)
                        loss, size, group = float(np.sum(group)), len(group), []
                        self.step += 1
                        self.loss_sum, self.loss_n = self.loss_sum + loss, self.loss_n + 1
                        self._snapshot()
                        job.progress.advance(size, loss=loss)
                        if self.step % s.log_every_steps == 0:
                            job.run.log({**self._where(), "train_loss": loss, "lr": lr})
                        every = s.checkpoint.every_steps
                        if every and self.step % every == 0 and self.batch < n:
                            self._checkpoint()
                        if keras_devices.agree(self.strategy, job.clock.expired()):
                            stopped = "time_budget"
                        if stopped != "completed" or self.step >= self.plan.total_steps:
                            break
                    stopped = self._validate(stopped)
                    if self.batch >= n:
                        self.epoch, self.batch, self.loss_sum, self.loss_n = self.epoch + 1, 0, 0.0, 0
                        self._snapshot()
                    if s.checkpoint.per_epoch or stopped != "completed" or self.step >= self.plan.total_steps:
                        self._checkpoint()
            except KeyboardInterrupt:
                self._rewind()
                self._checkpoint()
                raise
            except tf_oom() as exc:
                raise TrainingError(f"out of memory at batch size {s.optim.batch_size}: {str(exc).splitlines()[0][:200]}",
                                    hint="lower --batch-size and raise optim.grad_accumulation to keep the effective batch") from None
            finally:
                job.progress.close()
                parts.forget_compiled()  # validation traced the run's policy and devices
        return self._finish(stopped)

    def _group_rows(self) -> int:
        """Rows in the accumulation group the current batch belongs to."""
        bs, rows, accum = self.s.optim.batch_size, len(self.job.data["train"]), self.s.optim.grad_accumulation
        first = self.batch - self.batch % accum
        last = min(first + accum, len(self.train))
        return sum(min(bs, rows - i * bs) for i in range(first, last))

    def _forward(self, x: Any, y: Any, share: float, frozen: bool) -> float:
        loss = self.stepper.forward_backward(x, y, share, frozen)
        if not math.isfinite(loss):
            raise TrainingError(f"the training loss became {loss} at step {self.step + 1} (epoch {self.epoch + 1})",
                                hint="lower the learning rate (--lr) or keep max_grad_norm on")
        return loss

    def _where(self) -> dict[str, Any]:
        epoch = round(self.epoch + self.batch / max(len(self.train), 1), 4)
        return {"step": self.step, "epoch": epoch, "wall_time_s": round(self.job.clock.elapsed, 3)}

    def _validate(self, stopped: str) -> str:
        """Validate, log and keep the best model; returns why to stop ("completed": not yet)."""
        job = self.job
        scores = job.validate(self.val.labels, parts.predict_logits(self.loaded.model, self.val))
        row = {**self._where(), "train_loss": self.loss_sum / max(self.loss_n, 1), **scores}
        self.last_row = row
        job.run.log(row)
        job.progress.end_epoch(row)
        if job.monitor.update(row):
            self.best_weights = [np.asarray(v.numpy()) for v in self.loaded.model.variables]
            with self.mixed.paused():
                job.run.save_model("best", self.exportable(), row)
        if job.monitor.should_stop and stopped == "completed":
            return "early_stopping"
        return stopped

    def _finish(self, stopped: str) -> FitOutcome:
        job = self.job
        job.run.save_model("final", self.exportable(), self.last_row)
        model = self.loaded.model
        if self.best_weights is not None:
            for var, value in zip(model.variables, self.best_weights):
                var.assign(value)
        elif (job.run.path / "best").is_dir():
            # The best model came before a resume: read it back from best/.
            from zoolab.zoo.loading import load

            best = load(job.run.path / "best", framework="tf")
            self.loaded = LoadedModel(best.model, "tf", "keras-hub", self.loaded.task, self.loaded.preprocessor,
                                      self.loaded.labels, self.loaded.metadata)
        else:
            job.run.save_model("best", self.exportable(), self.last_row)
        return FitOutcome(loaded=self.loaded, steps=self.step, epochs=float(self.last_row.get("epoch", self.epoch)),
                          stopped=stopped, best=dict(job.monitor.best_row), notes=self.notes)

    # --- state ---------------------------------------------------------------------------------
    def _snapshot(self) -> None:
        """What changes between optimiser steps besides gradients: batch-norm statistics, seed states."""
        self._boundary = (self.epoch, self.batch, self.step,
                          [np.asarray(v.numpy()) for v in self.loaded.model.non_trainable_variables])

    def _rewind(self) -> None:
        """Back to the last optimiser step (a Ctrl-C mid-accumulation drops the partial group)."""
        self.epoch, self.batch, self.step, values = self._boundary
        for var, value in zip(self.loaded.model.non_trainable_variables, values):
            var.assign(value)
        for acc in self.stepper.accum:
            acc.assign(np.zeros(acc.shape, acc.dtype.as_numpy_dtype))

    def _checkpoint(self) -> Path:
        weights, rng = parts.model_arrays(self.loaded.model)
        state = {"framework": "tf", "epoch": self.epoch, "batch": self.batch, "monitor": self.job.monitor.state(),
                 "elapsed_s": self.job.clock.elapsed, "loss_sum": self.loss_sum, "loss_n": self.loss_n}
        return self.job.run.write_checkpoint(self.step, {"model": weights, "optim": self.stepper.optimizer_arrays(),
                                                         "rng": rng}, state)

    def _restore(self, path: Path) -> None:
        arrays, state = self.job.run.read_checkpoint(path)
        if state.get("framework") not in (None, "tf"):
            raise InvalidInputError(f"checkpoint {path} was written by the {state['framework']} trainer",
                                    hint="resume with the framework the run started with")
        parts.load_model_arrays(self.loaded.model, arrays["model"], arrays.get("rng", {}))
        self.stepper.load_optimizer_arrays(arrays["optim"])
        self.epoch, self.batch, self.step = int(state["epoch"]), int(state["batch"]), int(state["step"])
        self.loss_sum, self.loss_n = float(state["loss_sum"]), int(state["loss_n"])
        self.job.monitor.load_state(state["monitor"])
        self.job.clock.set_elapsed(float(state.get("elapsed_s", 0.0)))
        self.job.progress.note(f"resumed from {path.name} (epoch {self.epoch + 1}, step {self.step})")

    def exportable(self) -> LoadedModel:
        """What best/ and final/ hold (adapters apart too, for LoRA without merge)."""
        if self.s.lora.rank and not self.s.lora.merge:
            return _WithAdapters(**vars(self.loaded))
        return self.loaded


class _WithAdapters(LoadedModel):
    """Saves the (merged) preset plus the LoRA adapters alone, in keras-hub's ``.lora.h5`` format."""

    def save(self, folder: str | Path) -> Path:
        out = super().save(folder)
        self.model.backbone.save_lora_weights(str(Path(out) / ADAPTERS_FILE))
        return out


def enable_lora(model: Any, lora: LoraSettings) -> list[str]:
    """keras-hub LoRA on ``model``'s backbone at ``lora.rank`` and scale ``alpha / rank``."""
    if lora.dropout:
        raise UnsupportedError("lora.dropout is not available in Keras (keras-hub's LoRA layers have none)",
                               hint="set lora.dropout=0 for framework tf")
    backbone = model.backbone
    backbone.enable_lora(lora.rank, target_layer_names=list(lora.target_modules) or None)
    adapted = [layer for layer in backbone._flatten_layers() if getattr(layer, "lora_enabled", False)]
    if not adapted:
        raise UnsupportedError(f"{type(backbone).__name__} has no layers keras-hub can give LoRA adapters "
                               f"({', '.join(lora.target_modules or backbone.default_lora_layer_names())})",
                               hint="LoRA in Keras adapts attention projections; use lora.rank=0 for this model")
    for layer in adapted:
        layer.lora_alpha = lora.scale_alpha  # keras-hub's default is alpha = rank (scale 1)
    return [f"LoRA rank {lora.rank} on {len(adapted)} layers of the backbone; the rest of the backbone is frozen"]


def _device(s: FinetuneSettings) -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if s.device == "mps":
        raise UnsupportedError("device mps is not available for TensorFlow", hint="use device=cpu or cuda")
    if s.device.startswith("cuda"):
        index = int(s.device[5:] or 0) if ":" in s.device else 0
        if index >= len(gpus):
            raise InvalidInputError(f"device {s.device} asked for, but TensorFlow sees {len(gpus)} GPU(s)",
                                    hint="use --device cpu or auto")
        return f"/GPU:{index}"
    return "/GPU:0" if s.device == "auto" and gpus else "/CPU:0"


def _seed(seed: int, *, deterministic: bool) -> None:
    import tensorflow as tf

    keras = import_keras()
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def tf_oom() -> type[BaseException]:
    import tensorflow as tf

    return tf.errors.ResourceExhaustedError
