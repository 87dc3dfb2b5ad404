"""``zoolab.zoo.predict``: inputs in, the top-k labels with their probabilities out.

What a prediction is depends on the model's task:

- ``image-classification`` / ``text-classification``: the ``top_k`` labels by softmax probability;
- ``fill-mask``: the ``top_k`` tokens for the (first) mask token, by probability;
- ``text-generation``: the ``top_k`` candidates for the next token, by probability;
- ``feature-extraction`` (sentence embeddings such as all-MiniLM-L6-v2): for each input, the
  ``top_k`` *other inputs* most similar to it, scored by cosine similarity. A single input has no
  neighbours and gets an empty list; :func:`embed` returns the vectors themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from zoolab.errors import InvalidInputError
from zoolab.zoo.loaded import LoadedModel, Prediction


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (stable for large logits), returned as float32."""
    shifted = logits.astype(np.float64) - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=-1, keepdims=True)).astype(np.float32)


def cosine_similarity(vectors: np.ndarray) -> np.ndarray:
    """Pairwise cosine similarity of the rows of ``vectors``."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.clip(norms, 1e-12, None)
    return unit @ unit.T


def _as_loaded(ref_or_loaded: str | Path | LoadedModel, **load_kwargs: Any) -> LoadedModel:
    if isinstance(ref_or_loaded, LoadedModel):
        return ref_or_loaded
    from zoolab.zoo.loading import load

    return load(ref_or_loaded, **load_kwargs)


def _label_names(loaded: LoadedModel, indices: list[int]) -> list[str]:
    namer = getattr(loaded.backend, "label_names", None)
    if namer is not None:
        return list(namer(loaded, indices))
    labels = loaded.labels or []
    return [labels[i] if i < len(labels) else f"LABEL_{i}" for i in indices]


def embed(ref_or_loaded: str | Path | LoadedModel, inputs: Sequence[Any], **load_kwargs: Any) -> np.ndarray:
    """The model's output vectors for ``inputs`` (for feature-extraction models: embeddings)."""
    return _as_loaded(ref_or_loaded, **load_kwargs)(list(inputs))


def predict(
    ref_or_loaded: str | Path | LoadedModel,
    inputs: Sequence[Any],
    top_k: int = 5,
    **load_kwargs: Any,
) -> list[list[Prediction]]:
    """Top-``top_k`` predictions for each input (see the module docstring for each task).

    ``ref_or_loaded`` is a :class:`LoadedModel` or anything :func:`zoolab.zoo.load` takes;
    ``load_kwargs`` (framework, task, source, ...) go to ``load``.
    """
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    if not inputs:
        raise InvalidInputError("give at least one input (an image file or a text)")
    if top_k < 1:
        raise InvalidInputError(f"top_k must be at least 1, got {top_k}")
    loaded = _as_loaded(ref_or_loaded, **load_kwargs)
    return rank(loaded, np.asarray(loaded(list(inputs))), list(inputs), top_k)


def rank(
    loaded: LoadedModel, outputs: np.ndarray, inputs: Sequence[Any], top_k: int = 5
) -> list[list[Prediction]]:
    """Turn raw ``outputs`` of ``loaded`` on ``inputs`` into top-``top_k`` predictions."""
    if loaded.task == "feature-extraction":
        return _neighbours(outputs, [str(x) for x in inputs], top_k)
    probs = softmax(outputs)
    results: list[list[Prediction]] = []
    for row in probs:
        k = min(top_k, row.shape[-1])
        best = np.argsort(-row, kind="stable")[:k]
        names = _label_names(loaded, [int(i) for i in best])
        results.append([Prediction(name, float(row[i])) for name, i in zip(names, best)])
    return results


def _neighbours(vectors: np.ndarray, names: list[str], top_k: int) -> list[list[Prediction]]:
    sims = cosine_similarity(vectors.reshape(len(names), -1))
    results = []
    for i in range(len(names)):
        order = [j for j in np.argsort(-sims[i], kind="stable") if j != i][:top_k]
        results.append([Prediction(names[j], float(sims[i, j])) for j in order])
    return results
