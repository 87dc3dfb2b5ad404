"""Export a zoo model to a deployment format, and check the export by running it.

    >>> from zoolab.zoo.export import export_model
    >>> report = export_model("my-folder", "onnx")        # or a LoadedModel
    >>> report.passed, report.max_abs_diff, report.path

Formats and the framework each is made from:

=============  ==========  ==========================================================
format         framework   made with / checked with
=============  ==========  ==========================================================
torchscript    PyTorch     ``torch.jit.trace`` / ``torch.jit.load``
pt2            PyTorch     ``torch.export.export`` + ``torch.export.save`` / ``torch.export.load``
onnx           PyTorch     ``torch.onnx.export`` (dynamo exporter) / onnxruntime
savedmodel     TensorFlow  Keras ``model.export`` / ``tf.saved_model.load``
tflite         TensorFlow  ``tf.lite.TFLiteConverter`` / the TFLite interpreter
=============  ==========  ==========================================================

Every export is run on the same preprocessed sample as the source model and the largest absolute
difference of the outputs is compared with the format's tolerance (:data:`TOLERANCES`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoolab.errors import InvalidInputError, UnsupportedError

FORMATS: dict[str, str] = {
    "torchscript": "torch",
    "pt2": "torch",
    "onnx": "torch",
    "savedmodel": "tf",
    "tflite": "tf",
}
"""Export format -> the framework whose model it is made from."""

TOLERANCES: dict[str, float] = {
    "torchscript": 1e-5,
    "pt2": 1e-5,
    "onnx": 1e-4,
    "savedmodel": 1e-5,
    "tflite": 1e-4,
}
"""Largest absolute output difference (float32) an export may show against its source model."""

_SUFFIXES = {"torchscript": ".torchscript.pt", "pt2": ".pt2", "onnx": ".onnx", "savedmodel": "_savedmodel",
             "tflite": ".tflite"}  # fmt: skip


@dataclass
class ExportReport:
    """What was written and how its check went."""

    path: Path
    format: str
    framework: str
    size_bytes: int
    max_abs_diff: float
    tolerance: float
    passed: bool
    input_shapes: dict[str, list[int]]
    """The sample batch the export was made and checked with."""
    flexible_shapes: bool
    """True when the export also accepts other batch sizes (and sequence lengths); for the PyTorch
    formats this is checked by running a second batch of another shape (also within tolerance)."""


def export_model(
    ref_or_loaded: Any, fmt: str, out: str | Path | None = None, *, framework: str | None = None
) -> ExportReport:
    """Export ``ref_or_loaded`` (a ref for ``zoolab.zoo.load`` or a LoadedModel) to ``fmt``.

    The model is loaded in the framework the format is made from; ``framework``, when given, must
    be that one. ``out`` defaults to ``./NAME<suffix>`` in the working folder.

    Raises:
        InvalidInputError: unknown format, or a framework that cannot make it.
        UnsupportedError: the model cannot be loaded in the format's framework or cannot be
            traced/converted (the message says which and why).
    """
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown export format {fmt!r}", hint=f"one of: {', '.join(FORMATS)}")
    needed = FORMATS[fmt]
    if framework is not None and framework != needed:
        raise InvalidInputError(
            f"{fmt} is made from the {_label(needed)} model, not {_label(framework)}",
            hint=f"drop --framework or pass --framework {needed}",
        )
    loaded = _load_for(ref_or_loaded, fmt, needed)
    target = Path(out) if out is not None else Path.cwd() / f"{_name(ref_or_loaded, loaded)}{_SUFFIXES[fmt]}"
    target.parent.mkdir(parents=True, exist_ok=True)
    if needed == "torch":
        from zoolab.zoo.export import torch_formats as impl
    else:
        from zoolab.zoo.export import keras_formats as impl  # type: ignore[no-redef]
    diff, shapes, flexible = impl.export_and_check(loaded, fmt, target)
    tolerance = TOLERANCES[fmt]
    return ExportReport(
        path=target, format=fmt, framework=needed, size_bytes=_size(target), max_abs_diff=diff,
        tolerance=tolerance, passed=bool(diff <= tolerance), input_shapes=shapes, flexible_shapes=flexible,
    )


def _label(framework: str) -> str:
    return {"torch": "PyTorch", "tf": "TensorFlow/Keras"}.get(framework, framework)


def _load_for(ref_or_loaded: Any, fmt: str, needed: str) -> Any:
    from zoolab.zoo.loaded import LoadedModel

    if isinstance(ref_or_loaded, LoadedModel):
        if ref_or_loaded.framework == needed:
            return ref_or_loaded
        raise InvalidInputError(
            f"{fmt} is made from a {_label(needed)} model; this one is {_label(ref_or_loaded.framework)}",
            hint=f"load it with framework='{needed}' first, or export the ref instead",
        )
    import zoolab.zoo as zoo

    try:
        return zoo.load(ref_or_loaded, framework=needed)
    except UnsupportedError as exc:
        raise UnsupportedError(
            f"cannot export {ref_or_loaded} to {fmt}: {fmt} is made from the {_label(needed)} model, "
            f"and {exc.message}",
            hint=exc.hint,
        ) from None


def _name(ref: Any, loaded: Any) -> str:
    if isinstance(ref, (str, Path)):
        text = str(ref).rstrip("/")
        return text.replace(":", "/").split("/")[-1] or "model"
    return str(loaded.metadata.get("repo_id") or loaded.metadata.get("catalog") or "model").split("/")[-1]


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size if path.exists() else 0
