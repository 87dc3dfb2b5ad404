"""Saving unmerged LoRA adapters in peft's own format (``adapter_config.json`` +
``adapter_model.safetensors``), which ``peft.PeftModel.from_pretrained(base, folder)`` loads.

The folder also gets zoolab.json and a card (``LoadedModel.save``), and, for text models, the
tokenizer, so it holds everything but the base weights, which ``base_model_name_or_path`` names.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

from zoolab.zoo.loaded import LoadedModel


def _save(loaded: LoadedModel, folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    loaded.model.save_pretrained(str(folder))
    if loaded.library == "transformers" and loaded.preprocessor is not None:
        loaded.preprocessor.save_pretrained(str(folder))


class AdapterModel(LoadedModel):
    """A LoadedModel around a ``peft.PeftModel`` whose ``save`` writes adapter files only."""

    @property
    def backend(self) -> Any:
        return types.SimpleNamespace(save=_save)


def adapter_model(loaded: LoadedModel, peft_model: Any) -> LoadedModel:
    """Wrap ``peft_model`` (trained on ``loaded``'s base) for saving in peft's format."""
    base = loaded.metadata.get("ref") or loaded.metadata.get("path")
    if base is not None:
        peft_model.peft_config["default"].base_model_name_or_path = str(base)
    meta = {**loaded.metadata, "adapter": "peft-lora"}
    return AdapterModel(peft_model, "torch", loaded.library, loaded.task, loaded.preprocessor, loaded.labels, meta)
