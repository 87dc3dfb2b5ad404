"""TorchScript, PT2 (``torch.export``) and ONNX exports of a PyTorch zoo model, each checked.

The exported graph is the network itself: it takes the preprocessed tensors (pixel batch, or
token ids and attention mask) and returns the model's main output (logits, or the last hidden
states for base models). Preprocessing and pooling stay outside, as in the libraries' own exports.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from zoolab.errors import UnsupportedError

SAMPLE_TEXT = ["the cat sat on the mat"]


def sample_inputs(loaded: Any) -> tuple[list[str], tuple[Any, ...]]:
    """Input names and a one-item preprocessed batch, made by the model's own preprocessing."""
    import torch
    from PIL import Image

    if loaded.library == "timm" or loaded.task == "image-classification":
        rng = np.random.default_rng(0)
        image = Image.fromarray(rng.integers(0, 256, (96, 96, 3), dtype=np.uint8))
        if loaded.library == "timm":
            pixels = loaded.preprocessor(image).unsqueeze(0)
        else:
            pixels = loaded.preprocessor(images=[image], return_tensors="pt")["pixel_values"]
        return ["pixel_values"], (pixels,)
    if loaded.preprocessor is None:
        raise UnsupportedError("this model has no tokenizer to make a sample input with")
    enc = loaded.preprocessor(SAMPLE_TEXT, return_tensors="pt")
    names = ["input_ids", "attention_mask"]
    return names, tuple(torch.as_tensor(enc[n]) for n in names)


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


def export_and_check(loaded: Any, fmt: str, target: Path) -> tuple[float, dict[str, list[int]]]:
    """Write ``loaded`` to ``target`` in ``fmt``, run the file, return (max abs diff, input shapes)."""
    import torch

    names, args = sample_inputs(loaded)
    module = network(loaded, names)
    with torch.inference_mode():
        expected = module(*args).float().numpy()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            got = _EXPORTERS[fmt](module, names, args, target)
    except UnsupportedError:
        raise
    except Exception as exc:  # noqa: BLE001 - tracing failures come as many exception types
        raise UnsupportedError(
            f"PyTorch could not export this {loaded.library} model to {fmt}: "
            f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
            hint="try another format (onnx, pt2, torchscript)",
        ) from None
    diff = float(np.abs(np.asarray(got, np.float32) - expected).max())
    return diff, {n: list(a.shape) for n, a in zip(names, args)}


def _torchscript(network: Any, names: list[str], args: tuple[Any, ...], target: Path) -> np.ndarray:
    import torch

    with torch.no_grad():
        traced = torch.jit.trace(network, args, strict=False, check_trace=False)
    traced.save(str(target))
    reloaded = torch.jit.load(str(target))
    with torch.inference_mode():
        return reloaded(*args).float().numpy()


def _pt2(network: Any, names: list[str], args: tuple[Any, ...], target: Path) -> np.ndarray:
    import torch

    program = torch.export.export(network, args)
    torch.export.save(program, str(target))
    reloaded = torch.export.load(str(target)).module()
    with torch.inference_mode():
        return reloaded(*args).float().numpy()


def _onnx(network: Any, names: list[str], args: tuple[Any, ...], target: Path) -> np.ndarray:
    import onnxruntime
    import torch

    program = torch.onnx.export(network, args, input_names=names, output_names=["output"], dynamo=True,
                                verbose=False)  # fmt: skip
    program.save(str(target))
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    by_name = {n: a.numpy() for n, a in zip(names, args)}
    # The exporter drops inputs the graph does not use; feed the ones it kept.
    feeds = {i.name: by_name[i.name] for i in session.get_inputs()}
    return session.run(None, feeds)[0]


_EXPORTERS = {"torchscript": _torchscript, "pt2": _pt2, "onnx": _onnx}
