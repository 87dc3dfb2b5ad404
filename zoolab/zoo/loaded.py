"""The object every ``zoolab.zoo.load`` call returns, whatever the framework.

A :class:`LoadedModel` is a model plus what it needs to be used: its preprocessor (image
transform or tokenizer), its labels and its metadata. The framework-specific work is done by a
backend module (``zoolab.zoo.torch_backend`` or ``zoolab.zoo.keras_backend``) that provides::

    load(path: Path, *, task: str | None, num_labels: int | None, labels: list[str] | None,
         metadata: dict) -> LoadedModel
    run(loaded: LoadedModel, inputs: list) -> numpy.ndarray   # float32 logits / embeddings, batch first
    save(loaded: LoadedModel, folder: Path) -> None           # the library's own on-disk format

Details both backends follow (``zoolab.zoo.loading`` does resolution, checks and dispatch):

- ``path`` is a local model folder (``Path``) that has passed the checks of
  ``zoolab.zoo.metadata`` (recognised format, safetensors weights for timm/transformers folders,
  framework able to load it). For ``framework="tf"`` and a catalog name whose TensorFlow source is
  a keras-hub preset, ``path`` is instead the preset name (``str``, e.g. ``"resnet_50_imagenet"``)
  and ``metadata["preset"]`` holds it too: pass it to ``from_preset`` as is.
- ``metadata`` holds the folder's ``zoolab.json`` content plus ``ref``, ``source``, ``repo_id``,
  ``revision``, ``catalog`` (whichever apply), ``path``, ``library`` and ``frameworks``. For
  ``task="feature-extraction"`` it has ``pooling = {"mode": "mean"|"cls"|"max", "normalize":
  bool}`` (read from a sentence-transformers folder, e.g. all-MiniLM-L6-v2: mean + normalize).
- ``labels`` is the saved label list, or None (then the backend uses the checkpoint's labels or
  ``LABEL_0..``).
- The torch backend's ``load`` also takes ``trust_remote_code: bool = False``; it is never passed
  to the keras backend.
- ``run`` returns, per task: classification -> logits ``(N, num_labels)``; feature-extraction ->
  one pooled vector per input ``(N, D)`` following ``metadata["pooling"]``; fill-mask -> vocabulary
  logits at the first mask token ``(N, vocab)``; text-generation -> next-token logits after the
  last input token ``(N, vocab)``. ``zoolab.zoo.predict`` applies softmax / cosine similarity.
- Optional: ``label_names(loaded, indices: list[int]) -> list[str]`` names output indices
  (vocabulary tokens for fill-mask/text-generation); without it, ``loaded.labels`` is used.
- ``save`` writes only the library's format; ``zoolab.zoo.save.save_model`` (what
  ``LoadedModel.save`` calls) adds ``zoolab.json`` and the ``README.md`` card around it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Sequence

Framework = Literal["torch", "tf"]

BACKENDS: dict[str, str] = {"torch": "zoolab.zoo.torch_backend", "tf": "zoolab.zoo.keras_backend"}


@dataclass(frozen=True)
class Prediction:
    """One label and its score (a probability for classifiers)."""

    label: str
    score: float


@dataclass
class LoadedModel:
    """A ready-to-use model in one framework, with its preprocessing, labels and metadata."""

    model: Any
    """``torch.nn.Module`` (framework "torch") or ``keras.Model`` (framework "tf")."""
    framework: Framework
    library: str
    """The library whose format and classes the model uses: timm, transformers or keras-hub."""
    task: str
    """image-classification, text-classification, feature-extraction, fill-mask or text-generation."""
    preprocessor: Any = None
    """Image transform (vision) or tokenizer / keras-hub preprocessor (NLP)."""
    labels: list[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    """The ``zoolab.json`` content plus where the model came from (ref, source, repo_id, revision)."""

    @property
    def backend(self) -> Any:
        """The backend module that runs and saves this model."""
        return importlib.import_module(BACKENDS[self.framework])

    def __call__(self, inputs: Sequence[Any]) -> Any:
        """Preprocess ``inputs`` (image paths/PIL images or strings) and return raw outputs (numpy)."""
        return self.backend.run(self, list(inputs))

    def save(self, folder: str | Path) -> Path:
        """Write the model in its library's own format plus ``zoolab.json`` and a model card."""
        from zoolab.zoo.save import save_model

        return save_model(self, Path(folder))
