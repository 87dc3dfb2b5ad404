"""``FinetuneSettings``: every knob of fine-tuning, as small nested groups with working defaults.

The same object drives both frameworks (``zoolab.zoo.tuning.torch_trainer`` and
``keras_trainer``). Keys are dotted (``optim.lr``, ``schedule.decay``, ``lora.rank``) and a few
short aliases (``lr``, ``batch_size``, ``epochs``, ``lora_rank``...) name the fields people set
most; :data:`ALIASES` lists them.

    >>> s = FinetuneSettings.from_overrides({"optim.lr": 1e-3, "schedule.epochs": 5})
    >>> s = s.with_overrides(["lora.rank=8", "precision=bf16"])      # as from ``--set``

Unknown keys are refused with the closest valid key, values are checked against the field's type
(strings from ``--set`` are parsed as YAML scalars), and every group checks its ranges when it is
built, with a line saying what is allowed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from zoolab.errors import InvalidInputError
from zoolab.rl.config import apply_overrides, field_docs, field_types, from_dict, normalize_overrides, to_dict

Precision = Literal["auto", "fp32", "bf16", "fp16"]
Decay = Literal["cosine", "linear", "constant"]


def _check(ok: bool, key: str, value: Any, allowed: str) -> None:
    if not ok:
        raise InvalidInputError(f"bad value {value!r} for '{key}': {allowed}")


@dataclass
class OptimSettings:
    """AdamW and what happens around each step."""

    lr: float = 1e-3
    """Peak learning rate of the new head (and of everything when backbone_lr_scale is 1)."""
    backbone_lr_scale: float = 0.1
    """The backbone (and LoRA adapters) train at lr * backbone_lr_scale; 1 trains all at lr."""
    weight_decay: float = 0.01
    """AdamW decoupled weight decay; never applied to norms, biases and embeddings' norms."""
    batch_size: int = 32
    """Samples per forward pass."""
    grad_accumulation: int = 1
    """Forward passes per optimiser step (effective batch = batch_size * grad_accumulation)."""
    max_grad_norm: float | None = 1.0
    """Clip the global gradient norm to this value; None turns clipping off."""
    label_smoothing: float = 0.0
    """Cross-entropy label smoothing (0 = none)."""
    eval_batch_size: int | None = None
    """Samples per forward pass when evaluating; None uses 2 * batch_size."""

    def __post_init__(self) -> None:
        _check(self.lr > 0, "optim.lr", self.lr, "must be > 0 (typical 1e-5 .. 1e-2)")
        _check(0 <= self.backbone_lr_scale <= 1, "optim.backbone_lr_scale", self.backbone_lr_scale, "must be in [0, 1]")
        _check(self.weight_decay >= 0, "optim.weight_decay", self.weight_decay, "must be >= 0")
        _check(self.batch_size >= 1, "optim.batch_size", self.batch_size, "must be an integer >= 1")
        _check(self.grad_accumulation >= 1, "optim.grad_accumulation", self.grad_accumulation, "must be an integer >= 1")
        _check(self.max_grad_norm is None or self.max_grad_norm > 0, "optim.max_grad_norm", self.max_grad_norm,
               "must be > 0, or none to turn clipping off")
        _check(0 <= self.label_smoothing < 1, "optim.label_smoothing", self.label_smoothing, "must be in [0, 1)")
        _check(self.eval_batch_size is None or self.eval_batch_size >= 1, "optim.eval_batch_size",
               self.eval_batch_size, "must be an integer >= 1, or none")


@dataclass
class ScheduleSettings:
    """How long to train and how the learning rate moves (see zoolab.zoo.tuning.schedule)."""

    epochs: float = 3
    """Passes over the training split; a fraction (0.5) stops half-way through the first epoch."""
    warmup_ratio: float = 0.06
    """Fraction of all optimiser steps spent warming the learning rate up linearly from 0."""
    decay: Decay = "cosine"
    """After warmup: cosine or linear decay to min_lr_ratio * lr, or constant."""
    min_lr_ratio: float = 0.0
    """The learning rate at the last step, as a fraction of the peak."""

    def __post_init__(self) -> None:
        _check(self.epochs > 0, "schedule.epochs", self.epochs, "must be > 0")
        _check(0 <= self.warmup_ratio < 1, "schedule.warmup_ratio", self.warmup_ratio, "must be in [0, 1)")
        _check(0 <= self.min_lr_ratio <= 1, "schedule.min_lr_ratio", self.min_lr_ratio, "must be in [0, 1]")


@dataclass
class DataSettings:
    """How the data is split, read and fed."""

    val_split: float = 0.1
    """Without a validation split, hold out this fraction of train (stratified, seeded)."""
    max_length: int | None = None
    """Texts: tokens kept per input (longer ones are truncated and counted); None = the model's limit, at most 512."""
    augment: bool = True
    """Images: random resized crop and horizontal flip while training (the model's own eval transform otherwise)."""
    seed: int | None = None
    """Seed of the validation hold-out; None uses the run's seed."""
    group_by_length: bool = True
    """Texts: batch inputs of similar length together (less padding), in a seeded random order."""
    num_workers: int = 0
    """Background processes preparing batches (0 = in the training process; deterministic)."""

    def __post_init__(self) -> None:
        _check(0 < self.val_split < 1, "data.val_split", self.val_split, "must be in (0, 1), for example 0.1")
        _check(self.max_length is None or self.max_length >= 2, "data.max_length", self.max_length,
               "must be an integer >= 2, or none for the model's limit")
        _check(self.num_workers >= 0, "data.num_workers", self.num_workers, "must be an integer >= 0")


@dataclass
class CheckpointSettings:
    """When training state is written to ``checkpoints/`` (what resume continues from)."""

    every_steps: int | None = None
    """Also write a checkpoint every N optimiser steps (mid-epoch); None = only at epoch ends."""
    per_epoch: bool = True
    """Write a checkpoint at the end of every epoch."""
    keep: int = 2
    """How many of the newest checkpoints to keep (the best model is kept apart, in best/)."""

    def __post_init__(self) -> None:
        _check(self.every_steps is None or self.every_steps >= 1, "checkpoint.every_steps", self.every_steps,
               "must be an integer >= 1, or none")
        _check(self.keep >= 1, "checkpoint.keep", self.keep, "must be an integer >= 1")


@dataclass
class EarlyStoppingSettings:
    """Which validation metric picks the best model, and when training stops early."""

    monitor: str = "val_accuracy"
    """val_loss, val_accuracy, val_macro_f1, val_weighted_f1 (any validation metric, prefixed val_)."""
    mode: Literal["auto", "min", "max"] = "auto"
    """Whether lower or higher is better; auto = min for losses and errors, max otherwise."""
    patience: int | None = None
    """Stop after this many evaluations without improvement; None never stops early."""
    min_delta: float = 0.0
    """An improvement smaller than this does not count."""

    def __post_init__(self) -> None:
        _check(self.monitor.startswith("val_") and len(self.monitor) > 4, "early_stopping.monitor", self.monitor,
               "name a validation metric such as val_loss, val_accuracy or val_macro_f1")
        _check(self.patience is None or self.patience >= 1, "early_stopping.patience", self.patience,
               "must be an integer >= 1, or none")
        _check(self.min_delta >= 0, "early_stopping.min_delta", self.min_delta, "must be >= 0")

    @property
    def higher_is_better(self) -> bool:
        """True when the monitored metric improves upwards."""
        if self.mode != "auto":
            return self.mode == "max"
        return not any(w in self.monitor for w in ("loss", "error", "ece", "calibration"))


@dataclass
class LoraSettings:
    """Low-rank adapters (peft in PyTorch, keras-hub enable_lora in Keras); rank 0 trains all weights."""

    rank: int = 0
    """Adapter rank; 0 turns LoRA off and fine-tunes every weight."""
    alpha: float | None = None
    """Adapter scaling numerator (scale = alpha / rank); None uses 2 * rank."""
    dropout: float = 0.0
    """Dropout on the adapter input."""
    merge: bool = True
    """Fold the adapters into the weights when saving (a plain model); false saves peft adapter files."""
    target_modules: tuple[str, ...] = ()
    """Layer names that get adapters; empty = the attention/linear layers peft or keras-hub choose."""

    def __post_init__(self) -> None:
        _check(self.rank >= 0, "lora.rank", self.rank, "must be an integer >= 0 (0 = no LoRA)")
        _check(self.alpha is None or self.alpha > 0, "lora.alpha", self.alpha, "must be > 0, or none for 2 * rank")
        _check(0 <= self.dropout < 1, "lora.dropout", self.dropout, "must be in [0, 1)")

    @property
    def scale_alpha(self) -> float:
        """``alpha`` with its default filled in."""
        return float(self.alpha) if self.alpha is not None else 2.0 * self.rank


@dataclass
class FinetuneSettings:
    """Everything fine-tuning needs besides the model and the data; every field has a working default."""

    optim: OptimSettings = field(default_factory=OptimSettings)
    """AdamW, batch size, accumulation, clipping."""
    schedule: ScheduleSettings = field(default_factory=ScheduleSettings)
    """Epochs, warmup and learning-rate decay."""
    data: DataSettings = field(default_factory=DataSettings)
    """Validation hold-out, text length, augmentation, batching."""
    checkpoint: CheckpointSettings = field(default_factory=CheckpointSettings)
    """How often training state is saved for resume."""
    early_stopping: EarlyStoppingSettings = field(default_factory=EarlyStoppingSettings)
    """Best-model metric and early stop."""
    lora: LoraSettings = field(default_factory=LoraSettings)
    """Low-rank adapters."""
    precision: Precision = "auto"
    """auto = bf16 (or fp16) autocast where the device supports it, fp32 on CPU; or force one."""
    freeze_backbone_epochs: float = 0
    """Train only the new head for the first N epochs, then everything."""
    time_budget_s: float | None = None
    """Stop (after a checkpoint and an evaluation) once training has run this many seconds."""
    seed: int = 0
    """Seeds weights of the new head, data order, augmentation and dropout."""
    device: str = "auto"
    """auto (cuda when available, else cpu), cpu, cuda or cuda:N (mps on Apple machines)."""
    log_every_steps: int = 10
    """Optimiser steps between two rows of train loss in metrics.csv / TensorBoard."""

    def __post_init__(self) -> None:
        _check(self.freeze_backbone_epochs >= 0, "freeze_backbone_epochs", self.freeze_backbone_epochs, "must be >= 0")
        _check(self.time_budget_s is None or self.time_budget_s > 0, "time_budget_s", self.time_budget_s,
               "must be > 0 seconds, or none")
        dev = self.device
        _check(dev in {"auto", "cpu", "cuda", "mps"} or (dev.startswith("cuda:") and dev[5:].isdigit()),
               "device", dev, "choose auto, cpu, cuda, cuda:N or mps")
        _check(self.log_every_steps >= 1, "log_every_steps", self.log_every_steps, "must be an integer >= 1")

    # --- building ------------------------------------------------------------------------------
    @classmethod
    def from_overrides(cls, overrides: Mapping[str, Any] | Iterable[str] | None = None) -> FinetuneSettings:
        """Defaults with ``overrides`` (``{"optim.lr": 1e-3}`` or ``["optim.lr=1e-3"]``) applied."""
        return cls().with_overrides(overrides)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FinetuneSettings:
        """Rebuild settings from :meth:`to_dict` output (as stored in a run's config)."""
        return from_dict(cls, data)

    def with_overrides(self, overrides: Mapping[str, Any] | Iterable[str] | None) -> FinetuneSettings:
        """A copy with ``overrides`` applied; aliases (``lr``, ``batch_size``...) are accepted.

        Raises:
            InvalidInputError: an unknown key (naming the closest valid one), a value of the wrong
                type, or a value outside the field's range.
        """
        flat = {ALIASES.get(k, k): v for k, v in normalize_overrides(overrides).items()}
        known = field_types(type(self))
        for key in flat:
            tail = key.rsplit(".", 1)[-1]
            if key not in known and tail in ALIASES:  # optim.learning_rate: the alias names the field
                raise InvalidInputError(f"unknown setting '{key}' for FinetuneSettings; did you mean {ALIASES[tail]}?")
        return apply_overrides(self, flat)

    # --- reading -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Nested plain dict (JSON/YAML friendly)."""
        return to_dict(self)

    def flat(self) -> dict[str, Any]:
        """``{"optim.lr": 0.001, ...}`` for every field."""
        out: dict[str, Any] = {}
        for key in field_types(type(self)):
            value: Any = self
            for part in key.split("."):
                value = getattr(value, part)
            out[key] = list(value) if isinstance(value, tuple) else value
        return out

    def changed(self) -> dict[str, Any]:
        """The fields whose value differs from the defaults (what a plan prints)."""
        default = FinetuneSettings().flat()
        return {k: v for k, v in self.flat().items() if default[k] != v}

    def replace(self, **changes: Any) -> FinetuneSettings:
        """``dataclasses.replace`` for top-level fields."""
        return dataclasses.replace(self, **changes)


ALIASES: dict[str, str] = {
    "lr": "optim.lr", "learning_rate": "optim.lr", "batch_size": "optim.batch_size",
    "weight_decay": "optim.weight_decay", "grad_accumulation": "optim.grad_accumulation",
    "max_grad_norm": "optim.max_grad_norm", "backbone_lr_scale": "optim.backbone_lr_scale",
    "epochs": "schedule.epochs", "warmup_ratio": "schedule.warmup_ratio", "decay": "schedule.decay",
    "val_split": "data.val_split", "max_length": "data.max_length", "augment": "data.augment",
    "lora_rank": "lora.rank", "lora_alpha": "lora.alpha", "lora_dropout": "lora.dropout", "lora_merge": "lora.merge",
    "patience": "early_stopping.patience", "monitor": "early_stopping.monitor",
    "checkpoint_every_steps": "checkpoint.every_steps",
}
"""Short names accepted by ``zoo.finetune(**overrides)``, ``--set`` and ``from_overrides``."""


def describe() -> dict[str, str]:
    """``{key: "type, default: docstring"}`` for every setting (for docs and ``--help`` text)."""
    docs = field_docs(FinetuneSettings)
    types_ = field_types(FinetuneSettings)
    default = FinetuneSettings().flat()
    return {k: f"{getattr(t, '__name__', str(t)).replace('typing.', '')} = {default[k]!r}: {docs.get(k, '')}"
            for k, t in types_.items()}
