"""Batches for the PyTorch trainer: images through timm's transforms, texts tokenised once.

Images use the model's own ``pretrained_cfg`` (``timm.data.resolve_data_config``): the eval
transform for validation, and for training ``create_transform(is_training=True)`` (random
resized crop, flip) when ``data.augment`` is on. Augmentation draws from torch's and Python's
global generators, which the trainer checkpoints, so a resumed run draws the same crops.

Texts are tokenised once with ``datasets.map`` (cached next to file-backed data), truncated to
``max_length`` (counted), and padded per batch to the longest row of that batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from zoolab.errors import InvalidInputError
from zoolab.zoo.loaded import LoadedModel
from zoolab.zoo.tuning.settings import FinetuneSettings


@dataclass
class Feeder:
    """Turns row indices of one split into model inputs."""

    dataset: Any
    kind: str
    """"image" or "text"."""
    transform: Any = None
    pad_id: int = 0
    labels: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    lengths: np.ndarray | None = None
    truncated: int = 0
    _cache: Any = None

    def __len__(self) -> int:
        return len(self.labels)

    def batch(self, idx: np.ndarray) -> tuple[dict[str, Any], Any]:
        """``(inputs, targets)`` tensors for rows ``idx`` (in that order)."""
        import torch

        y = torch.as_tensor(self.labels[idx], dtype=torch.long)
        if self.kind == "image":
            if self._cache is not None:
                return {"x": self._cache[torch.as_tensor(idx)]}, y
            rows = self.dataset[[int(i) for i in idx]]["image"]
            return {"x": torch.stack([self.transform(img.convert("RGB")) for img in rows])}, y
        rows = self.dataset[[int(i) for i in idx]]
        width = max(len(r) for r in rows["input_ids"])
        out = {}
        for key in ("input_ids", "attention_mask", "token_type_ids"):
            if key not in rows:
                continue
            fill = self.pad_id if key == "input_ids" else 0
            arr = np.full((len(idx), width), fill, dtype=np.int64)
            for i, r in enumerate(rows[key]):
                arr[i, :len(r)] = r
            out[key] = torch.from_numpy(arr)
        return out, y

    def cache_all(self, limit_bytes: int = 512 << 20) -> None:
        """Preprocess every image once (validation: the eval transform is deterministic)."""
        if self.kind != "image" or self._cache is not None or len(self) == 0:
            return
        import torch

        first = self.transform(self.dataset[0]["image"].convert("RGB"))
        if first.numel() * 4 * len(self) > limit_bytes:
            return
        chunks = [self.batch(np.arange(i, min(i + 256, len(self))))[0]["x"] for i in range(0, len(self), 256)]
        self._cache = torch.cat(chunks)


def image_transforms(loaded: LoadedModel, augment: bool) -> tuple[Any, Any]:
    """``(train_transform, eval_transform)`` from the timm model's pretrained_cfg."""
    import timm.data

    cfg = timm.data.resolve_data_config({}, model=loaded.model)
    evaluation = timm.data.create_transform(**cfg)
    if not augment:
        return evaluation, evaluation
    train = timm.data.create_transform(**cfg, is_training=True, scale=(0.6, 1.0), hflip=0.5, color_jitter=0.0)
    return train, evaluation


def text_limit(loaded: LoadedModel, settings: FinetuneSettings) -> int:
    """Tokens kept per input: ``data.max_length`` or the model's own limit (at most 512)."""
    if settings.data.max_length:
        return int(settings.data.max_length)
    tok_max = getattr(loaded.preprocessor, "model_max_length", 512) or 512
    pos = getattr(getattr(loaded.model, "config", None), "max_position_embeddings", 512) or 512
    return int(min(tok_max, pos, 512))


def _tokenize(dataset: Any, tokenizer: Any, max_length: int) -> tuple[Any, int]:
    pair = "text_pair" in dataset.column_names

    def encode(batch: dict[str, list]) -> dict[str, list]:
        args = (batch["text"], batch["text_pair"]) if pair else (batch["text"],)
        # One token over the limit tells which rows were cut, without a second full pass.
        enc = tokenizer(*args, truncation=True, max_length=max_length + 1)
        cut = [len(ids) > max_length for ids in enc["input_ids"]]
        if any(cut):
            rows = [i for i, c in enumerate(cut) if c]
            again = tokenizer(*[[a[i] for i in rows] for a in args], truncation=True, max_length=max_length)
            for key in enc:
                for j, i in enumerate(rows):
                    enc[key][i] = again[key][j]
        out = {k: enc[k] for k in ("input_ids", "attention_mask", "token_type_ids") if k in enc}
        out["n_tokens"] = [len(ids) for ids in enc["input_ids"]]
        out["was_truncated"] = cut
        return out

    keep = [c for c in dataset.column_names if c == "label"]
    mapped = dataset.map(encode, batched=True, batch_size=1000,
                         remove_columns=[c for c in dataset.column_names if c not in keep],
                         desc="tokenizing", load_from_cache_file=True)
    truncated = int(np.asarray(mapped["was_truncated"]).sum()) if len(mapped) else 0
    return mapped, truncated


def feeder(loaded: LoadedModel, dataset: Any, settings: FinetuneSettings, *, train: bool) -> Feeder:
    """The :class:`Feeder` for one split of normalised columns."""
    labels = np.asarray(dataset["label"], dtype=np.int64)
    if "image" in dataset.column_names:
        train_tf, eval_tf = image_transforms(loaded, settings.data.augment)
        return Feeder(dataset, "image", train_tf if train else eval_tf, labels=labels)
    if "text" not in dataset.column_names:
        raise InvalidInputError(f"the data has neither an 'image' nor a 'text' column (it has {', '.join(dataset.column_names)})")
    tokenizer = loaded.preprocessor
    if tokenizer is None:
        raise InvalidInputError("this text model has no tokenizer, so it cannot read the texts",
                                hint="save the tokenizer next to the model (tokenizer.json)")
    import datasets

    datasets.disable_progress_bars()
    mapped, truncated = _tokenize(dataset, tokenizer, text_limit(loaded, settings))
    return Feeder(mapped, "text", pad_id=int(tokenizer.pad_token_id or 0), labels=labels,
                  lengths=np.asarray(mapped["n_tokens"], dtype=np.int64), truncated=truncated)
