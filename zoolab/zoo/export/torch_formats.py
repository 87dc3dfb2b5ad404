"""TorchScript, PT2 (``torch.export``) and ONNX exports of a PyTorch zoo model, each checked.

The exported graph is the network itself: it takes the preprocessed tensors (pixel batch, or
token ids and attention mask) and returns the model's main output (logits, or the last hidden
states for base models). Preprocessing and pooling stay outside, as in the libraries' own exports.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

from zoolab.errors import UnsupportedError

#: Two samples to trace with (a batch of one would fix the batch size), and a second batch of
#: another size and length to check that the export is not tied to the first one's shape.
SAMPLE_TEXTS = (["the cat sat on the mat", "hello world"], ["a dog", "the red cat is fast", "hello"])


def sample_inputs(loaded: Any, which: int = 0) -> tuple[list[str], tuple[Any, ...]]:
    """Input names and a preprocessed batch made by the model's own preprocessing.

    ``which=0``: the two-item batch the export is traced with; ``which=1``: a three-item batch.
    """
    import torch
    from PIL import Image

    count = 2 + which
    if loaded.library == "timm" or loaded.task == "image-classification":
        rng = np.random.default_rng(which)
        images = [Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8)) for _ in range(count)]
        if loaded.library == "timm":
            pixels = torch.stack([loaded.preprocessor(image) for image in images])
        else:
            pixels = loaded.preprocessor(images=images, return_tensors="pt")["pixel_values"]
        return ["pixel_values"], (pixels,)
    if loaded.preprocessor is None:
        raise UnsupportedError("this model has no tokenizer to make a sample input with")
    enc = loaded.preprocessor(SAMPLE_TEXTS[which], padding=True, return_tensors="pt")
    names = ["input_ids", "attention_mask"]
    return names, tuple(torch.as_tensor(enc[n]) for n in names)


def dynamic_shapes(names: list[str], args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Batch (and sequence) dimensions left free; Dim.AUTO keeps what the model specialises."""
    from torch.export import Dim

    axes = [{0: Dim.AUTO(min=1)}] if names == ["pixel_values"] else [{0: Dim.AUTO(min=1), 1: Dim.AUTO(min=1)} for _ in args]
    # The network takes its tensors as one *args tuple: the spec is that tuple, wrapped once.
    return (tuple(axes),)


def network(loaded: Any, names: list[str]) -> Any:
    """A torch Module taking the tensors positionally and returning the model's main output."""
    import torch

    class Network(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, *tensors: Any) -> Any:
            if loaded.library == "timm":
                return self.model(*tensors)
            # transformers returns a ModelOutput; exporters want plain tensors.
            out = self.model(**dict(zip(names, tensors)))
            logits = getattr(out, "logits", None)
            return logits if logits is not None else out.last_hidden_state

    return Network(loaded.model).eval()


def export_and_check(loaded: Any, fmt: str, target: Path) -> tuple[float, dict[str, list[int]], bool]:
    """Write ``loaded`` to ``target`` in ``fmt`` and run the file on two batches of different shape.

    Returns (max abs diff on the traced batch, its input shapes, whether the export also ran and
    matched on the other batch). The second result's difference counts only when it ran.
    """
    import torch

    names, args = sample_inputs(loaded)
    _, other = sample_inputs(loaded, which=1)
    module = network(loaded, names)
    with torch.inference_mode():
        expected = module(*args).float().numpy()
        expected_other = module(*other).float().numpy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run = _EXPORTERS[fmt](module, names, args, target)
            got = run(args)
    except UnsupportedError:
        raise
    except Exception as exc:  # noqa: BLE001 - tracing failures come as many exception types
        raise UnsupportedError(
            f"PyTorch could not export this {loaded.library} model to {fmt}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
            hint="try another format (onnx, pt2, torchscript)",
        ) from None
    diff = float(np.abs(np.asarray(got, np.float32) - expected).max())
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got_other = np.asarray(run(other), np.float32)
        flexible = got_other.shape == expected_other.shape
        if flexible:
            diff = max(diff, float(np.abs(got_other - expected_other).max()))
    except Exception:  # noqa: BLE001 - an export fixed to the traced shape rejects other shapes
        flexible = False
    return diff, {n: list(a.shape) for n, a in zip(names, args)}, flexible


def _torchscript(network: Any, names: list[str], args: tuple[Any, ...], target: Path) -> Callable[..., Any]:
    import torch

    with torch.no_grad():
        traced = torch.jit.trace(network, args, strict=False, check_trace=False)
    traced.save(str(target))
    reloaded = torch.jit.load(str(target))

    def run(batch: tuple[Any, ...]) -> np.ndarray:
        with torch.inference_mode():
            return reloaded(*batch).float().numpy()

    return run


def _pt2(network: Any, names: list[str], args: tuple[Any, ...], target: Path) -> Callable[..., Any]:
    import torch

    program = torch.export.export(network, args, dynamic_shapes=dynamic_shapes(names, args))
    torch.export.save(program, str(target))
    reloaded = torch.export.load(str(target)).module()

    def run(batch: tuple[Any, ...]) -> np.ndarray:
        with torch.inference_mode():
            return reloaded(*batch).float().numpy()

    return run


def _onnx(network: Any, names: list[str], args: tuple[Any, ...], target: Path) -> Callable[..., Any]:
    import onnxruntime
    import torch

    program = torch.onnx.export(network, args, input_names=names, output_names=["output"], dynamo=True,
                                dynamic_shapes=dynamic_shapes(names, args), verbose=False)  # fmt: skip
    program.save(str(target))
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])

    def run(batch: tuple[Any, ...]) -> np.ndarray:
        by_name = {n: a.numpy() for n, a in zip(names, batch)}
        # The exporter drops inputs the graph does not use; feed the ones it kept.
        return session.run(None, {i.name: by_name[i.name] for i in session.get_inputs()})[0]

    return run


_EXPORTERS = {"torchscript": _torchscript, "pt2": _pt2, "onnx": _onnx}
