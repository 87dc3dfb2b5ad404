"""zoolab.zoo: pretrained vision and NLP models in PyTorch and TensorFlow/Keras, from any source.

    >>> import zoolab.zoo as zoo
    >>> model = zoo.load("resnet50")                        # catalog name, PyTorch (timm)
    >>> model = zoo.load("bert-base-uncased", framework="tf")  # keras-hub preset
    >>> model = zoo.load("local:my-team/pets", task="image-classification", num_labels=3)
    >>> zoo.predict(model, ["cat.jpg"], top_k=3)
    >>> model.save("pets-model")                            # timm/transformers format + zoolab.json

Names are imported lazily: ``import zoolab.zoo`` imports no framework.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoolab.zoo.catalog import CatalogEntry, list_models, search
    from zoolab.zoo.importer import ImportResult, import_weights
    from zoolab.zoo.loading import load
    from zoolab.zoo.loaded import LoadedModel, Prediction
    from zoolab.zoo.prediction import embed, predict

_LAZY = {
    "load": "zoolab.zoo.loading",
    "LoadedModel": "zoolab.zoo.loaded",
    "Prediction": "zoolab.zoo.loaded",
    "CatalogEntry": "zoolab.zoo.catalog",
    "list_models": "zoolab.zoo.catalog",
    "search": "zoolab.zoo.catalog",
    "predict": "zoolab.zoo.prediction",
    "embed": "zoolab.zoo.prediction",
    "import_weights": "zoolab.zoo.importer",
    "ImportResult": "zoolab.zoo.importer",
    "LabelledData": "zoolab.zoo.data",
    "evaluate": "zoolab.zoo.tuning.evaluation",
    "EvaluationReport": "zoolab.zoo.tuning.evaluation",
    "finetune": "zoolab.zoo.tuning.api",
    "FinetuneRun": "zoolab.zoo.tuning.api",
    "FinetuneSettings": "zoolab.zoo.tuning.settings",
}
# Submodules reached as attributes (``zoo.data.image_folder(...)``).
_SUBMODULES = {"data": "zoolab.zoo.data"}

__all__ = sorted(_LAZY) + ["data"]


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(_SUBMODULES[name])
    if name in _LAZY:
        # The modules are named loading/prediction (not load/predict) so that importing them
        # never replaces the functions `zoolab.zoo.load` / `zoolab.zoo.predict` on this package.
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'zoolab.zoo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY) | set(_SUBMODULES))
