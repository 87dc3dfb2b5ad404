"""SavedModel and TFLite exports of a Keras zoo model, each checked by running it.

The SavedModel comes from Keras' own ``model.export(path, format="tf_saved_model")``: its
``serve`` signature takes the preprocessed batch (an NHWC float image batch, or ``token_ids`` /
``padding_mask`` (/ ``segment_ids``) int32 tensors of any batch size and length) and returns the
model's main output. The TFLite file is converted from that SavedModel with
``tf.lite.TFLiteConverter`` (float32, no quantisation); run it with the TFLite interpreter after
``resize_tensor_input`` to the batch's shape.
"""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from zoolab.errors import UnsupportedError

#: The batch the export is checked with, and a second one of another size and length.
SAMPLE_TEXTS = (["the cat sat on the mat"], ["a dog", "the red cat is fast", "hello"])


def sample_batch(loaded: Any, which: int = 0) -> Any:
    """A batch made by the model's own preprocessing: one item (``which=0``) or three (``1``)."""
    from zoolab.zoo import keras_backend
    from zoolab.zoo.keras_preprocess import ImagePreprocessing

    if isinstance(loaded.preprocessor, ImagePreprocessing):
        rng = np.random.default_rng(which)
        images = [rng.integers(0, 256, (96, 96, 3), dtype=np.uint8) for _ in range(1 + 2 * which)]
        return keras_backend.preprocess(loaded, images)
    batch = keras_backend.preprocess(loaded, SAMPLE_TEXTS[which])
    # Exported signatures take int32 tensors (keras-hub's padding mask is bool in Python).
    return {k: np.asarray(v).astype(np.int32) for k, v in batch.items()}


def _main_output(outputs: Any) -> np.ndarray:
    if isinstance(outputs, dict):
        outputs = outputs.get("sequence_output", next(iter(outputs.values())))
    return np.asarray(outputs, dtype=np.float32)


def export_and_check(loaded: Any, fmt: str, target: Path) -> tuple[float, dict[str, list[int]], bool]:
    """Write ``loaded`` to ``target`` in ``fmt`` and run the export on two batches of different shape.

    Returns (max abs diff, the first batch's input shapes, whether the export also ran and
    matched on the second batch).
    """
    from zoolab.zoo import keras_backend

    keras_backend.import_keras()
    batch, other = sample_batch(loaded), sample_batch(loaded, which=1)
    expected = _main_output(loaded.model(batch, training=False))
    expected_other = _main_output(loaded.model(other, training=False))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = _savedmodel(loaded, target) if fmt == "savedmodel" else _tflite(loaded, target)
            got = _pick_output(run(batch), expected.shape)
    except UnsupportedError:
        raise
    except Exception as exc:  # noqa: BLE001 - TF conversion errors come as many exception types
        raise UnsupportedError(
            f"TensorFlow could not export this Keras model to {fmt}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
            hint="try savedmodel, or a PyTorch format (onnx, pt2, torchscript)",
        ) from None
    diff = float(np.abs(got - expected).max())
    try:
        got_other = _pick_output(run(other), expected_other.shape)
        flexible = got_other.shape == expected_other.shape
        if flexible:
            diff = max(diff, float(np.abs(got_other - expected_other).max()))
    except Exception:  # noqa: BLE001 - an export fixed to the first shape rejects others
        flexible = False
    shapes = {k: list(v.shape) for k, v in batch.items()} if isinstance(batch, dict) else {"images": list(batch.shape)}
    return diff, shapes, flexible


def _pick_output(outputs: list[np.ndarray], shape: tuple[int, ...]) -> np.ndarray:
    """Backbones have several outputs (sequence and pooled): the main one has the model's shape."""
    return next((o for o in outputs if o.shape == tuple(shape)), outputs[0])


def _write_savedmodel(loaded: Any, folder: Path) -> None:
    import keras

    if folder.exists():
        shutil.rmtree(folder)
    # A plain functional model over the same layers: a keras-hub task also tracks its
    # preprocessor (tokenizer lookup tables), which TFLite cannot hold and serving does not need.
    network = keras.Model(loaded.model.input, loaded.model.output)
    network.export(str(folder), format="tf_saved_model", verbose=False)


def _savedmodel(loaded: Any, target: Path) -> Callable[[Any], list[np.ndarray]]:
    import tensorflow as tf

    _write_savedmodel(loaded, target)
    reloaded = tf.saved_model.load(str(target))

    def run(batch: Any) -> list[np.ndarray]:
        if isinstance(batch, dict):
            out = reloaded.serve({k: tf.constant(v) for k, v in batch.items()})
        else:
            out = reloaded.serve(tf.constant(batch))
        values = out.values() if isinstance(out, dict) else [out]
        return [np.asarray(v, np.float32) for v in values]

    return run


def _tflite(loaded: Any, target: Path) -> Callable[[Any], list[np.ndarray]]:
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="zoolab-savedmodel-") as tmp:
        saved = Path(tmp) / "savedmodel"
        _write_savedmodel(loaded, saved)
        converter = tf.lite.TFLiteConverter.from_saved_model(str(saved))
        target.write_bytes(converter.convert())
    interpreter = tf.lite.Interpreter(model_path=str(target))

    def run(batch: Any) -> list[np.ndarray]:
        arrays = batch if isinstance(batch, dict) else {"": batch}
        for detail in interpreter.get_input_details():
            interpreter.resize_tensor_input(detail["index"], list(_pick(arrays, detail["name"]).shape))
        interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], _pick(arrays, detail["name"]).astype(detail["dtype"]))
        interpreter.invoke()
        return [np.asarray(interpreter.get_tensor(d["index"]), np.float32) for d in interpreter.get_output_details()]

    return run


def _pick(arrays: dict[str, np.ndarray], tensor_name: str) -> np.ndarray:
    """The array for a TFLite input (named like ``serving_default_token_ids:0``)."""
    if "" in arrays:
        return arrays[""]
    for key in sorted(arrays, key=len, reverse=True):
        if key in tensor_name:
            return arrays[key]
    raise UnsupportedError(f"the TFLite model has an input {tensor_name!r} zoolab has no data for")
