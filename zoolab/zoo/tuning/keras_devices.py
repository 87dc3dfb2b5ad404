"""Where and in which precision the Keras trainer computes: mixed-precision policies and tf.distribute.

Mixed precision (``precision``): bf16 is Keras's ``mixed_bfloat16`` policy, fp16 its
``mixed_float16`` with a dynamic loss scale (``keras_parts.LossScale``), auto picks bf16 on a GPU
that supports it (compute capability 8.0 and up), fp16 on an older GPU and float32 on the CPU, as
the PyTorch trainer does. fp16 runs on the CPU too, but slower than float32 (the plan says so). The model is built before the run, so the policy goes on its backbone's
layers for the run only (:class:`MixedPrecision`): weights stay float32, the head keeps its
float32 policy (float32 logits), and saves and the global policy see float32 as before.

Replicas (``nproc`` with framework "tf", see docs/finetune.md): one process trains on N local
devices with ``tf.distribute.MirroredStrategy``, N GPUs or, on a machine without GPUs, N logical
CPU devices (set up by :func:`prepare` before TensorFlow starts). ``TF_CONFIG`` naming several
workers selects ``MultiWorkerMirroredStrategy`` instead (one process per machine, the chief
writes). The model is rebuilt inside the strategy's scope with the same weights, and its batch
normalisation is synchronised over the replicas, so a step is the step one device takes.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

from zoolab.errors import UnsupportedError
from zoolab.zoo.keras_backend import import_keras
from zoolab.zoo.tuning.distributed import tf_workers

POLICIES = {"bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


# --- precision ---------------------------------------------------------------------------------
def policy_for(precision: str, device: str) -> str | None:
    """The Keras mixed policy for ``precision`` on ``device`` ("/CPU:0", "/GPU:i"); None = float32."""
    if precision == "fp32":
        return None
    if precision == "auto":
        if not device.startswith("/GPU"):
            return None
        return POLICIES["bf16"] if _gpu_capability(int(device.split(":")[1])) >= (8, 0) else POLICIES["fp16"]
    return POLICIES[precision]


def precision_note(policy: str | None, device: str) -> list[str]:
    """What the plan tells the user about the run's precision."""
    if policy is None:
        return []
    note = f"mixed precision: Keras {policy} policy (float32 weights and logits)"
    if policy == POLICIES["fp16"] and not device.startswith("/GPU"):
        note += "; float16 on the CPU is usually slower than float32 there (prefer bf16 or fp32 on a CPU)"
    return [note]


def _gpu_capability(index: int) -> tuple[int, int]:
    import tensorflow as tf

    details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[index])
    return tuple(details.get("compute_capability") or (0, 0))  # type: ignore[return-value]


class MixedPrecision:
    """``policy`` on the backbone's float32 layers and as the global policy, for one run.

    ``with MixedPrecision(model, "mixed_bfloat16"):`` trains in bfloat16 with float32 weights;
    on leaving, every layer and the global policy are back as they were. :meth:`paused` is float32
    for a moment: what best/ and final/ save has float32 policies, so it loads as any preset does.
    """

    def __init__(self, model: Any, policy: str | None) -> None:
        self.model, self.policy = model, policy
        self._layers: list[Any] = []
        self._global: Any = None

    def __enter__(self) -> MixedPrecision:
        if self.policy is not None:
            keras = import_keras()
            self._global = keras.config.dtype_policy()
            keras.config.set_dtype_policy(self.policy)
            # Only float32 layers: tokenisers and integer layers keep their own policies.
            self._layers = [layer for layer in self.model.backbone._flatten_layers()
                            if layer.dtype_policy.name == "float32"]
            self._set(self.policy)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.policy is not None:
            self._set("float32")
            import_keras().config.set_dtype_policy(self._global)

    def _set(self, policy: str) -> None:
        for layer in self._layers:
            layer.dtype_policy = policy

    @contextmanager
    def paused(self) -> Iterator[None]:
        """float32 policies for the block (a save), then the mixed policy again."""
        if self.policy is None:
            yield
            return
        self._set("float32")
        try:
            yield
        finally:
            self._set(self.policy)


# --- replicas ----------------------------------------------------------------------------------
_STRATEGY: dict[str, Any] = {}


def prepare(device: str, replicas: int) -> None:
    """Set TensorFlow up for ``replicas`` local replicas before it starts (call before any model loads).

    N > 1 on a machine whose run uses the CPU makes N logical CPU devices. With several workers in
    ``TF_CONFIG`` the multi-worker strategy is created here, as TensorFlow requires it before any
    other TensorFlow call.

    Raises:
        UnsupportedError: TensorFlow already started with fewer devices, or fewer GPUs than replicas.
    """
    import_keras()  # keras's import order (Triton and sqlite3 before TensorFlow); starts no devices
    import tensorflow as tf

    if tf_workers() is not None:
        if "strategy" not in _STRATEGY:
            _STRATEGY["strategy"] = tf.distribute.MultiWorkerMirroredStrategy()
        return
    if replicas <= 1:
        return
    gpus = tf.config.list_physical_devices("GPU")
    if device.startswith("cuda") or (device == "auto" and gpus):
        if len(gpus) < replicas:
            raise UnsupportedError(f"{replicas} replicas asked for, but TensorFlow sees {len(gpus)} GPU(s)",
                                   hint=f"use --nproc {max(len(gpus), 1)} or --device cpu")
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * replicas)
    except RuntimeError:  # TensorFlow has started: it keeps the devices it has
        have = len(tf.config.list_logical_devices("CPU"))
        if have < replicas:
            raise UnsupportedError(
                f"TensorFlow already runs with {have} CPU device(s) in this process; {replicas} CPU replicas "
                "must be set up before it starts", hint="pass the model by name (zoo.finetune('folder', data, "
                "nproc=N)) in a fresh process, or use `zoolab finetune ... --nproc N`") from None


def strategy(device: str, replicas: int) -> Any:
    """The ``tf.distribute`` strategy of this run, or None for one device.

    ``device`` is the run's TensorFlow device ("/CPU:0", "/GPU:0"); ``prepare`` ran before.
    """
    import tensorflow as tf

    if "strategy" in _STRATEGY:
        return _STRATEGY["strategy"]
    if replicas <= 1:
        return None
    kind = "GPU" if device.startswith("/GPU") else "CPU"
    devices = [d.name for d in tf.config.list_logical_devices(kind)][:replicas]
    if len(devices) < replicas:
        raise UnsupportedError(f"{replicas} replicas asked for, but TensorFlow has {len(devices)} {kind} device(s)",
                               hint=f"use --nproc {len(devices)}")
    return tf.distribute.MirroredStrategy(devices)


def strategy_name(strategy: Any) -> str:
    """The name users know the strategy by (MultiWorkerMirroredStrategy's class has another)."""
    return "MultiWorkerMirroredStrategy" if tf_workers() is not None else type(strategy).__name__


def agree(strategy: Any, flag: bool) -> bool:
    """True on every worker when ``flag`` is True on one (a time budget with several workers)."""
    if strategy is None or tf_workers() is None:
        return flag  # one process: its replicas share the flag already
    import tensorflow as tf

    votes = strategy.run(lambda: tf.constant(1.0 if flag else 0.0))
    return bool(strategy.reduce(tf.distribute.ReduceOp.SUM, votes, axis=None) > 0)


def replicate(model: Any, strategy: Any) -> Any:
    """A copy of the keras-hub task ``model`` whose variables live in ``strategy`` (same weights).

    Variables made outside a strategy's scope cannot be mirrored, so the backbone and the task are
    rebuilt from their configs inside it (the preprocessor object is shared) and the weights copied
    in order. Batch normalisation is synchronised over the replicas (Keras's
    ``BatchNormalization(synchronized=True)``): batch statistics over the global batch, as on one device.
    """
    keras = import_keras()
    with strategy.scope():
        backbone = type(model.backbone).from_config(model.backbone.get_config())
        config = {**model.get_config(), "backbone": backbone, "preprocessor": model.preprocessor}
        copy = type(model).from_config(config)
        copy.set_weights(model.get_weights())
    for layer in copy._flatten_layers():
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.synchronized = True
    return copy


def shards(x: Any, replicas: int) -> list[Any]:
    """Replica i's rows of the global batch ``x`` (an array or dict of arrays): rows i, i+N, ..."""
    if isinstance(x, dict):
        parts = {k: shards(v, replicas) for k, v in x.items()}
        return [{k: v[i] for k, v in parts.items()} for i in range(replicas)]
    return [x[i::replicas] for i in range(replicas)]
