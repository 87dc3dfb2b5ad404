"""Keras pieces of fine-tuning: batches, the optimiser pair, one training step, state as arrays.

``keras_trainer`` strings these together; each piece is plain Keras/TensorFlow:

- :class:`ImageBatches` / :class:`TextBatches` read a memory-mapped ``datasets.Dataset`` batch by
  batch in a seeded order (a function of seed and epoch only, so a resumed run reads the same
  batches). Images get the model's own eval transform, plus random-resized-crop and flip while
  training (drawn from a generator seeded by seed, epoch and row, never from global state).
  Texts are tokenised once with the model's keras-hub preprocessor and padded per batch.
- :class:`Stepper` owns two AdamW optimisers (backbone at ``lr * backbone_lr_scale``, head at
  ``lr``; weight decay off every 1-D variable: norms and biases), accumulates gradients itself so
  clipping sees the global norm over both groups (as ``clip_grad_norm_`` does in PyTorch), and
  sets each optimiser's learning rate from ``schedule.lr_factor`` of the step.
- :func:`model_arrays` / :func:`load_model_arrays` turn every model variable (weights, batch-norm
  statistics, dropout seed states) into named numpy arrays for safetensors checkpoints.
"""

from __future__ import annotations

import abc
import math
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Iterator

import numpy as np

from zoolab.errors import InvalidInputError, UnsupportedError
from zoolab.zoo.keras_backend import import_keras
from zoolab.zoo.keras_preprocess import ImagePreprocessing, _RESAMPLE, _to_pil
from zoolab.zoo.tuning.loop import epoch_order, length_grouped_order
from zoolab.zoo.tuning.schedule import lr_factor
from zoolab.zoo.tuning.settings import FinetuneSettings

TOKENISE_CHUNK = 1024


# --- data --------------------------------------------------------------------------------------
class _Batches(abc.ABC):
    """Batches of one split: ``epoch(e, start)`` yields ``(x, y)`` from batch ``start`` on."""

    def __init__(self, dataset: Any, batch_size: int, seed: int, train: bool) -> None:
        self.dataset = dataset
        self.batch_size = batch_size
        self.seed = seed
        self.train = train
        self.labels = np.asarray(dataset["label"], dtype=np.int32) if "label" in dataset.column_names else None
        self.notes: list[str] = []

    def __len__(self) -> int:
        return math.ceil(len(self.dataset) / self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        return epoch_order(len(self.dataset), self.seed, epoch) if self.train else np.arange(len(self.dataset))

    def epoch(self, epoch: int, start: int = 0) -> Iterator[tuple[Any, np.ndarray | None]]:
        """Batches of ``epoch`` from index ``start``; the next batch is prepared in a thread meanwhile."""
        order = self.order(epoch)
        chunks = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)][start:]
        if not chunks:
            return
        with ThreadPoolExecutor(max_workers=1) as pool:
            pending = pool.submit(self.batch, chunks[0], epoch)
            for nxt in chunks[1:] + [None]:
                ready = pending.result()
                if nxt is not None:
                    pending = pool.submit(self.batch, nxt, epoch)
                yield ready

    @abc.abstractmethod
    def batch(self, rows: np.ndarray, epoch: int) -> tuple[Any, np.ndarray | None]:
        """Inputs and labels of the dataset ``rows`` (augmented for ``epoch`` when training)."""


class ImageBatches(_Batches):
    """NHWC float32 batches with the model's preprocessing (and augmentation when training)."""

    def __init__(self, dataset: Any, prep: ImagePreprocessing, batch_size: int, seed: int,
                 train: bool, augment: bool) -> None:
        super().__init__(dataset, batch_size, seed, train)
        self.prep = prep
        self.augment = augment and train

    def batch(self, rows: np.ndarray, epoch: int) -> tuple[np.ndarray, np.ndarray | None]:
        images = self.dataset[[int(r) for r in rows]]["image"]
        if self.augment:
            x = np.stack([self._augmented(img, epoch, int(r)) for img, r in zip(images, rows)])
        else:
            x = self.prep(images)
        return x.astype(np.float32), None if self.labels is None else self.labels[rows]

    def _augmented(self, image: Any, epoch: int, row: int) -> np.ndarray:
        """timm's train transform: RandomResizedCrop(scale 0.08-1, ratio 3/4-4/3) + horizontal flip."""
        rng = np.random.default_rng([self.seed, epoch, row, 0xA6])
        img = _to_pil(image)
        width, height = img.size
        box = (0, 0, width, height)
        for _ in range(10):
            area = width * height * rng.uniform(0.08, 1.0)
            ratio = math.exp(rng.uniform(math.log(3 / 4), math.log(4 / 3)))
            w, h = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
            if 0 < w <= width and 0 < h <= height:
                left, top = int(rng.integers(0, width - w + 1)), int(rng.integers(0, height - h + 1))
                box = (left, top, left + w, top + h)
                break
        out_h, out_w = self.prep.size
        img = img.resize((out_w, out_h), _RESAMPLE.get(self.prep.interpolation, 2), box=box)
        array = np.asarray(img, dtype=np.float32) / 255.0
        if rng.random() < 0.5:
            array = array[:, ::-1]
        return (array - np.asarray(self.prep.mean, np.float32)) / np.asarray(self.prep.std, np.float32)


class TextBatches(_Batches):
    """Token batches: the split is tokenised once, each batch is cut to its longest row."""

    def __init__(self, dataset: Any, preprocessor: Any, batch_size: int, seed: int, train: bool,
                 max_length: int | None, group_by_length: bool) -> None:
        super().__init__(dataset, batch_size, seed, train)
        self.group_by_length = group_by_length and train
        limit = int(getattr(preprocessor, "sequence_length", 512) or 512)
        length = min(max_length or min(limit, 512), limit)
        if max_length and max_length > limit:
            self.notes.append(f"data.max_length {max_length} is more than the model takes; using {limit}")
        preprocessor.sequence_length = length
        pairs = "text_pair" in dataset.column_names
        specials = _mask_sum(preprocessor, ([""], [""]) if pairs else [""])[0]
        arrays: dict[str, list[np.ndarray]] = {}
        truncated = 0
        for start in range(0, len(dataset), TOKENISE_CHUNK):
            part = dataset[start:start + TOKENISE_CHUNK]
            inputs = (part["text"], part["text_pair"]) if pairs else part["text"]
            packed = _pack(preprocessor, inputs)
            for key, value in packed.items():
                arrays.setdefault(key, []).append(value)
            raw = sum(_token_counts(preprocessor, texts) for texts in (inputs if pairs else (inputs,)))
            truncated += int((raw + specials > length).sum())
        self.arrays = {k: np.concatenate(v) for k, v in arrays.items()}
        self.lengths = self.arrays["padding_mask"].astype(np.int32).sum(axis=1)
        if truncated:
            self.notes.append(f"{truncated} of {len(dataset)} texts are longer than {length} tokens and were truncated")

    def order(self, epoch: int) -> np.ndarray:
        if self.group_by_length:
            return length_grouped_order(self.lengths, self.batch_size, self.seed, epoch)
        return super().order(epoch)

    def batch(self, rows: np.ndarray, epoch: int) -> tuple[dict[str, np.ndarray], np.ndarray | None]:
        width = int(self.lengths[rows].max())
        x = {k: v[rows, :width] for k, v in self.arrays.items()}
        return x, None if self.labels is None else self.labels[rows]


def _pack(preprocessor: Any, inputs: Any) -> dict[str, np.ndarray]:
    packed = preprocessor(tuple(inputs) if isinstance(inputs, tuple) else list(inputs))
    packed = packed[0] if isinstance(packed, tuple) else packed
    return {k: np.asarray(v) for k, v in packed.items()}


def _mask_sum(preprocessor: Any, inputs: Any) -> np.ndarray:
    return _pack(preprocessor, inputs)["padding_mask"].astype(np.int32).sum(axis=1)


def _token_counts(preprocessor: Any, texts: list[str]) -> np.ndarray:
    tokens = preprocessor.tokenizer(list(texts))
    return np.asarray(tokens.row_lengths() if hasattr(tokens, "row_lengths") else [len(t) for t in tokens])


def batches_for(loaded: Any, dataset: Any, settings: FinetuneSettings, *, train: bool) -> _Batches:
    """The batch reader for ``dataset`` with ``loaded``'s preprocessing."""
    size = settings.optim.batch_size if train else (settings.optim.eval_batch_size or 2 * settings.optim.batch_size)
    columns = set(dataset.column_names)
    if isinstance(loaded.preprocessor, ImagePreprocessing):
        if "image" not in columns:
            raise InvalidInputError(f"an image model needs an 'image' column; the data has {', '.join(sorted(columns))}")
        return ImageBatches(dataset, loaded.preprocessor, size, settings.seed, train, settings.data.augment)
    if "text" not in columns:
        raise InvalidInputError(f"a text model needs a 'text' column; the data has {', '.join(sorted(columns))}")
    return TextBatches(dataset, loaded.preprocessor, size, settings.seed, train, settings.data.max_length,
                       settings.data.group_by_length)


# --- optimisation ------------------------------------------------------------------------------
def split_variables(model: Any) -> tuple[list[Any], list[Any]]:
    """(backbone, head) trainable variables: the head is what the task adds on the backbone."""
    inner = {id(v) for v in model.backbone.trainable_variables}
    trainable = model.trainable_variables
    return [v for v in trainable if id(v) in inner], [v for v in trainable if id(v) not in inner]


def _adamw(weight_decay: float, variables: list[Any]) -> Any:
    keras = import_keras()
    # PyTorch's AdamW defaults (Keras's epsilon is 1e-7), so both frameworks take the same steps.
    opt = keras.optimizers.AdamW(learning_rate=0.0, weight_decay=weight_decay, beta_1=0.9, beta_2=0.999,
                                 epsilon=1e-8)
    opt.exclude_from_weight_decay(var_list=[v for v in variables if len(v.shape) <= 1])
    opt.build(variables)
    return opt


class LossScale:
    """The dynamic loss scale of fp16 training, one for both parameter groups.

    The algorithm and defaults of ``keras.optimizers.LossScaleOptimizer`` (start at 2**15, halve
    and skip the step on a non-finite gradient, double after 2000 finite steps), kept apart from
    the optimisers because one scaled loss feeds two of them and the clipping in between must see
    unscaled gradients.
    """

    def __init__(self, initial: float = 2.0**15, growth_steps: int = 2000) -> None:
        import tensorflow as tf

        self.scale = tf.Variable(initial, dtype=tf.float32, trainable=False, name="loss_scale")
        self.good_steps = tf.Variable(0, dtype=tf.int64, trainable=False, name="loss_scale_good_steps")
        self.growth_steps = growth_steps

    @property
    def variables(self) -> list[Any]:
        """What a checkpoint keeps."""
        return [self.scale, self.good_steps]

    def update(self, finite: Any) -> None:
        """After a step: grow the scale after enough finite steps, halve it on an overflow."""
        import tensorflow as tf

        grown = self.good_steps + 1 >= self.growth_steps
        self.scale.assign(tf.where(finite, tf.where(grown, self.scale * 2.0, self.scale),
                                   tf.maximum(self.scale / 2.0, 1.0)))
        self.good_steps.assign(tf.where(finite & ~grown, self.good_steps + 1, tf.zeros_like(self.good_steps)))


class Stepper:
    """Forward/backward passes, gradient accumulation, clipping and the two AdamW updates.

    With a ``tf.distribute`` strategy (``keras_devices``), each global batch is split among the
    replicas, every replica adds its gradient of (its rows' summed loss / the step's rows) to
    its own accumulators (sync-on-read: reading them sums over replicas) and the optimisers step
    once with the sum, which is the step one device takes at the same global batch size.
    ``loss_scale`` (fp16) multiplies the loss by a :class:`LossScale` and skips overflowing steps.
    """

    def __init__(self, model: Any, settings: FinetuneSettings, total_steps: int, warmup: int,
                 strategy: Any = None, loss_scale: bool = False) -> None:
        import tensorflow as tf

        keras = import_keras()
        self.model, self.settings, self.strategy = model, settings, strategy
        self.total_steps, self.warmup = total_steps, warmup
        self.backbone_vars, self.head_vars = split_variables(model)
        if not self.head_vars:
            raise UnsupportedError("this model has no trainable head on top of its backbone")
        if settings.optim.backbone_lr_scale == 0:
            self.backbone_vars = []
        self.all_vars = self.backbone_vars + self.head_vars
        with strategy.scope() if strategy is not None else _nothing():
            self.optims = {"backbone": _adamw(settings.optim.weight_decay, self.backbone_vars) if self.backbone_vars else None,
                           "head": _adamw(settings.optim.weight_decay, self.head_vars)}
            sync = dict(synchronization=tf.VariableSynchronization.ON_READ,
                        aggregation=tf.VariableAggregation.SUM) if strategy is not None else {}
            self.accum = [tf.Variable(tf.zeros_like(v.value), trainable=False, **sync) for v in self.all_vars]
            self.loss_scale = LossScale() if loss_scale else None
        self.micro = 0
        self.loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True,
                                                            label_smoothing=settings.optim.label_smoothing)
        self.row_loss = keras.losses.CategoricalCrossentropy(from_logits=True, reduction=None,
                                                             label_smoothing=settings.optim.label_smoothing)
        self.num_classes = int(model.num_classes)
        self._steps: dict[bool, Any] = {}
        self._applies = {f: tf.function(self._make_apply(f)) for f in (False, True)}

    def _make_step(self, frozen: bool) -> Any:
        import tensorflow as tf

        count = len(self.backbone_vars)
        sources = self.head_vars if frozen else self.all_vars
        targets = self.accum[count:] if frozen else self.accum
        loss_scale = self.loss_scale

        def fp16_scaled(loss: Any) -> Any:  # inside the tape: the gradients are of the scaled loss
            return loss if loss_scale is None else loss * loss_scale.scale

        def accumulate(tape: Any, loss: Any) -> None:
            for acc, grad in zip(targets, tape.gradient(loss, sources)):
                if grad is not None:
                    acc.assign_add(tf.convert_to_tensor(grad))

        def step(x: Any, y: Any, scale: Any) -> Any:
            with tf.GradientTape() as tape:
                logits = tf.cast(self.model(x, training=True), tf.float32)
                loss = self.loss_fn(tf.one_hot(y, self.num_classes), logits)
                scaled = fp16_scaled(loss * scale)
            accumulate(tape, scaled)
            return loss

        if self.strategy is None:
            return step
        strategy = self.strategy

        def replica_step(x: Any, y: Any, weight: Any) -> Any:
            # weight = 1 / rows of the step: the replicas' summed gradients are one device's.
            with tf.GradientTape() as tape:
                logits = tf.cast(self.model(x, training=True), tf.float32)
                total = tf.reduce_sum(self.row_loss(tf.one_hot(y, self.num_classes), logits))
                scaled = fp16_scaled(total * weight)
            accumulate(tape, scaled)
            return total

        def distributed_step(xs: Any, ys: Any, weight: Any) -> Any:
            pick = lambda parts: strategy.experimental_distribute_values_from_function(  # noqa: E731
                lambda ctx: parts[ctx.replica_id_in_sync_group])
            sums = strategy.run(replica_step, args=(pick(xs), pick(ys), weight))
            return strategy.reduce(tf.distribute.ReduceOp.SUM, sums, axis=None)

        return distributed_step

    def _make_apply(self, frozen: bool) -> Any:
        import tensorflow as tf

        count = len(self.backbone_vars)
        clip = self.settings.optim.max_grad_norm
        loss_scale = self.loss_scale

        def step(grads: list[Any]) -> None:
            if not frozen and self.optims["backbone"] is not None:
                self.optims["backbone"].apply(grads[:count], self.backbone_vars)
            # A frozen backbone is not stepped at all (as PyTorch skips parameters without grads).
            self.optims["head"].apply(grads[-len(self.head_vars):], self.head_vars)

        def apply() -> Any:
            # read_value(): on sync-on-read accumulators, the sum over the replicas
            grads = [acc.read_value() for acc in self.accum]
            if frozen:
                grads = grads[count:]
            if loss_scale is not None:
                grads = [g / loss_scale.scale for g in grads]
            norm = tf.linalg.global_norm(grads)
            if clip is not None:
                grads, _ = tf.clip_by_global_norm(grads, clip, use_norm=norm)
            if loss_scale is None:
                step(grads)
            else:
                finite = tf.math.is_finite(norm)
                tf.cond(finite, lambda: step(grads) or tf.constant(True), lambda: tf.constant(False))
                loss_scale.update(finite)
            for acc in self.accum:
                acc.assign(tf.zeros_like(acc))
            return norm

        return apply

    def forward_backward(self, x: Any, y: np.ndarray, share: float, frozen: bool) -> float:
        """One batch; returns its mean loss. Its gradients, times ``share``, go to the accumulators."""
        import tensorflow as tf

        if frozen not in self._steps:
            # One trace for every batch: free batch and sequence dimensions (texts are padded per batch).
            sig: tuple[Any, ...] = (_spec(x), tf.TensorSpec((None,), tf.int32), tf.TensorSpec((), tf.float32))
            if self.strategy is not None:
                n = self.strategy.num_replicas_in_sync
                sig = ([_spec(x)] * n, [sig[1]] * n, sig[2])
            self._steps[frozen] = tf.function(self._make_step(frozen), input_signature=sig)
        if self.strategy is None:
            loss = float(self._steps[frozen](x, y, np.float32(share)))
        else:
            from zoolab.zoo.tuning.keras_devices import shards

            n = self.strategy.num_replicas_in_sync
            # share = rows / step rows, so share / rows weighs each row's loss by 1 / step rows.
            total = self._steps[frozen](shards(x, n), shards(y, n), np.float32(share / len(y)))
            loss = float(total) / len(y)
        self.micro += 1
        return loss

    def apply(self, step: int, frozen: bool) -> float:
        """Optimiser step ``step`` (0-based) at the schedule's learning rate; returns the head lr."""
        s = self.settings
        factor = lr_factor(step, self.total_steps, self.warmup, s.schedule.decay, s.schedule.min_lr_ratio)
        head_lr = s.optim.lr * factor
        self.optims["head"].learning_rate = head_lr
        if self.optims["backbone"] is not None:
            self.optims["backbone"].learning_rate = head_lr * s.optim.backbone_lr_scale
        self._applies[frozen]()
        self.micro = 0
        return head_lr

    def optimizer_arrays(self) -> dict[str, np.ndarray]:
        """Every optimiser variable (moments, iteration counters), named by group and position."""
        out: dict[str, np.ndarray] = {}
        for group, opt in self.optims.items():
            for i, var in enumerate(opt.variables if opt is not None else []):
                out[f"{group}/{i:05d}/{var.name}"] = np.asarray(var.numpy())
        for var in self.loss_scale.variables if self.loss_scale is not None else []:
            out[f"fp16/{var.name.split(':')[0]}"] = np.asarray(var.numpy())
        return out

    def load_optimizer_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Inverse of :meth:`optimizer_arrays` (the same model and settings)."""
        for group, opt in self.optims.items():
            for i, var in enumerate(opt.variables if opt is not None else []):
                key = f"{group}/{i:05d}/{var.name}"
                if key not in arrays:
                    raise InvalidInputError(f"the checkpoint has no optimiser state {key}; was it written "
                                            "by another model or other settings?")
                var.assign(np.reshape(arrays[key], var.shape))  # safetensors keeps scalars as (1,)
        for var in self.loss_scale.variables if self.loss_scale is not None else []:
            key = f"fp16/{var.name.split(':')[0]}"
            if key not in arrays:
                raise InvalidInputError(f"the checkpoint has no loss scale ({key}); was it written without fp16?")
            var.assign(np.reshape(arrays[key], var.shape))


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def model_arrays(model: Any) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(weights incl. batch-norm statistics, RNG seed states) of ``model`` as named numpy arrays."""
    weights, rng = {}, {}
    for i, var in enumerate(model.variables):
        target = rng if "seed_generator" in var.path else weights
        target[f"{i:05d}/{var.name}"] = np.asarray(var.numpy())
    return weights, rng


def reseed(model: Any, seed: int) -> None:
    """Start every seed generator of ``model`` (dropout) from ``seed``.

    Keras draws their initial states from the global RNG when the model is built, which depends on
    whatever the process did before; a run must depend on its seed alone.
    """
    states = [v for v in model.variables if "seed_generator" in v.path]
    for i, var in enumerate(states):
        var.assign(np.asarray([(seed * 1_000_003 + i) % 2**31, 0], dtype=np.dtype(var.dtype)))


def load_model_arrays(model: Any, *groups: dict[str, np.ndarray]) -> None:
    """Assign arrays written by :func:`model_arrays` back, checking every name and shape."""
    merged = {k: v for g in groups for k, v in g.items()}
    for i, var in enumerate(model.variables):
        key = f"{i:05d}/{var.name}"
        value = merged.get(key)
        if value is None or value.size != math.prod(var.shape):
            raise InvalidInputError(f"the checkpoint does not fit this model (variable {key})",
                                    hint="resume with the model and settings the run started with")
        var.assign(np.reshape(value, var.shape))


def _spec(x: Any) -> Any:
    """A TensorSpec (or dict of them) for ``x`` with every dimension free but an image's channels."""
    import tensorflow as tf

    if isinstance(x, dict):
        return {k: _spec(v) for k, v in x.items()}
    shape = (None,) * (x.ndim - 1) + (x.shape[-1],) if x.ndim == 4 else (None,) * x.ndim
    return tf.TensorSpec(shape, tf.as_dtype(x.dtype))


_PREDICT: dict[int, Any] = {}


def forget_compiled() -> None:
    """Drop the compiled prediction function (it keeps the precision it was traced with)."""
    _PREDICT.clear()


def predict_logits(model: Any, batches: _Batches) -> np.ndarray:
    """Eval-mode logits for every row of ``batches`` (in row order), float32."""
    import tensorflow as tf

    out = []
    for x, _ in batches.epoch(0):
        call = _PREDICT.get(id(model))
        if call is None or call[0] is not model:
            fn = tf.function(lambda v: tf.cast(model(v, training=False), tf.float32), input_signature=(_spec(x),))
            _PREDICT.clear()  # one compiled model at a time; it would keep old models alive
            call = _PREDICT[id(model)] = (model, fn)
        out.append(call[1](x).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, int(model.num_classes)), np.float32)
