"""Preprocessing on the Keras side that produces the same arrays as the PyTorch side.

Images: timm's evaluation transform (resize the short side to ``size / crop_pct``, centre-crop,
scale to [0, 1], normalise with the checkpoint's mean/std) or, for transformers image processors
and keras-hub presets, a plain resize to the input size. Resizing is done with Pillow, as
torchvision does for PIL images, so both frameworks see identical pixels. Output is NHWC float32.

Text: the keras-hub tokenizer/preprocessor converted from the checkpoint, with batches padded to
the longest sequence (as ``tokenizer(texts, padding=True)`` does) instead of the preset's fixed
length, so shapes and values match transformers.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from zoolab.errors import InvalidInputError
from zoolab.zoo.image_bounds import check_image_size

IMAGE_PREPROCESSING_FILE = "image_preprocessing.json"
_RESAMPLE = {"nearest": 0, "bilinear": 2, "bicubic": 3, "lanczos": 1, "box": 4, "hamming": 5}
_PIL_TO_NAME = {0: "nearest", 2: "bilinear", 3: "bicubic", 1: "lanczos", 4: "box", 5: "hamming"}


@dataclass(frozen=True)
class ImagePreprocessing:
    """How an image becomes the model's input array."""

    size: tuple[int, int]
    """Output (height, width)."""
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    interpolation: str = "bilinear"
    crop_pct: float | None = None
    """timm centre crop: resize the short side to size/crop_pct first; None resizes to size directly."""

    def __post_init__(self) -> None:
        # Sizes come from the repository: bound them before any image is resized.
        check_image_size(*self.size, self.crop_pct, where="image preprocessing")
        for name in ("mean", "std"):
            value = getattr(self, name)
            if len(value) != 3 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in value):
                raise InvalidInputError(f"image preprocessing {name} must be 3 finite numbers, got {value!r}")
        if any(v == 0 for v in self.std):
            raise InvalidInputError(f"image preprocessing std must not be 0, got {self.std!r}")

    def to_json(self) -> dict[str, Any]:
        """Plain JSON values (written next to a saved Keras preset)."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "ImagePreprocessing":
        """Inverse of :meth:`to_json`."""
        return cls(
            size=tuple(data["size"]), mean=tuple(data["mean"]), std=tuple(data["std"]),  # type: ignore[arg-type]
            interpolation=data.get("interpolation", "bilinear"), crop_pct=data.get("crop_pct"),
        )

    @classmethod
    def from_timm(cls, config: dict[str, Any]) -> "ImagePreprocessing":
        """From a timm ``config.json`` (its ``pretrained_cfg``), as timm's eval transform reads it."""
        cfg = config.get("pretrained_cfg") or {}
        _, height, width = cfg.get("input_size", (3, 224, 224))
        interpolation = cfg.get("interpolation") or "bilinear"
        return cls(
            size=(int(height), int(width)),
            mean=tuple(cfg.get("mean", (0.485, 0.456, 0.406))),  # type: ignore[arg-type]
            std=tuple(cfg.get("std", (0.229, 0.224, 0.225))),  # type: ignore[arg-type]
            interpolation=interpolation if interpolation in _RESAMPLE else "bilinear",
            crop_pct=float(cfg.get("crop_pct") or 0.875),
        )

    @classmethod
    def from_image_processor(cls, folder: Path, config: dict[str, Any]) -> "ImagePreprocessing":
        """From a transformers ``preprocessor_config.json`` (ViT-style: resize, rescale, normalise)."""
        path = folder / "preprocessor_config.json"
        proc = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        size = proc.get("size") or {}
        side = config.get("image_size", 224)
        height = size.get("height", size.get("shortest_edge", side)) if isinstance(size, dict) else size
        width = size.get("width", size.get("shortest_edge", side)) if isinstance(size, dict) else size
        return cls(
            size=(int(height), int(width)),
            mean=tuple(proc.get("image_mean", (0.5, 0.5, 0.5))),  # type: ignore[arg-type]
            std=tuple(proc.get("image_std", (0.5, 0.5, 0.5))),  # type: ignore[arg-type]
            interpolation=_PIL_TO_NAME.get(int(proc.get("resample", 2)), "bilinear"),
        )

    @classmethod
    def from_keras_converter(cls, folder: Path) -> "ImagePreprocessing | None":
        """From a keras-hub preset's ``image_converter.json`` (scale/offset to mean/std)."""
        path = folder / "image_converter.json"
        if not path.exists():
            return None
        cfg = json.loads(path.read_text(encoding="utf-8")).get("config", {})
        if not cfg.get("image_size"):
            return None
        scale = _per_channel(cfg.get("scale"), 1 / 255)
        offset = _per_channel(cfg.get("offset"), 0.0)
        std = tuple(1 / (255 * s) for s in scale)
        mean = tuple(-o * s for o, s in zip(offset, std))
        return cls(
            size=tuple(cfg["image_size"]), mean=mean, std=std,  # type: ignore[arg-type]
            interpolation=cfg.get("interpolation", "bilinear"),
        )

    def __call__(self, images: Sequence[Any]) -> np.ndarray:
        """Images (paths, PIL images or HxWx3 uint8 arrays) to an NHWC float32 batch."""
        return np.stack([self._one(image) for image in images]).astype(np.float32)

    def _one(self, image: Any) -> np.ndarray:
        img = _to_pil(image)
        height, width = self.size
        resample = _RESAMPLE.get(self.interpolation, 2)
        if self.crop_pct is None:
            img = img.resize((width, height), resample)
        else:
            # timm: Resize(short side = floor(size / crop_pct)) then CenterCrop(size), torchvision style.
            scale = (math.floor(height / self.crop_pct), math.floor(width / self.crop_pct))
            if scale[0] == scale[1]:
                short = scale[0]
                w, h = img.size
                if w <= h:
                    new = (short, int(short * h / w))
                else:
                    new = (int(short * w / h), short)
                img = img.resize(new, resample)
            else:
                img = img.resize((scale[1], scale[0]), resample)
            img = _center_crop(img, height, width)
        array = np.asarray(img, dtype=np.float32) / 255.0
        return (array - np.asarray(self.mean, np.float32)) / np.asarray(self.std, np.float32)


def _per_channel(value: Any, default: float) -> tuple[float, float, float]:
    if value is None:
        return (default,) * 3  # type: ignore[return-value]
    if isinstance(value, (int, float)):
        return (float(value),) * 3  # type: ignore[return-value]
    return tuple(float(v) for v in value)  # type: ignore[return-value]


def _to_pil(image: Any) -> Any:
    from PIL import Image

    if isinstance(image, Image.Image):
        return image.convert("RGB")
    if isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[-1] != 3:
            raise InvalidInputError(f"an image array must be HxWx3, got shape {image.shape}")
        return Image.fromarray(image.astype(np.uint8), "RGB")
    path = Path(image)
    if not path.is_file():
        raise InvalidInputError(f"image file not found: {path}", hint="pass an existing image path")
    try:
        with Image.open(path) as img:
            return img.convert("RGB")
    except OSError as exc:
        raise InvalidInputError(f"cannot read {path} as an image: {exc}") from None


def _center_crop(img: Any, height: int, width: int) -> Any:
    """torchvision's CenterCrop on a PIL image (rounding as torchvision does; no padding case)."""
    w, h = img.size
    if w < width or h < height:
        raise InvalidInputError(f"image {w}x{h} is smaller than the crop {width}x{height}")
    top = int(round((h - height) / 2.0))
    left = int(round((w - width) / 2.0))
    return img.crop((left, top, left + width, top + height))


def encode_texts(preprocessor: Any, texts: Sequence[str]) -> dict[str, np.ndarray]:
    """Tokenise ``texts`` with a keras-hub preprocessor, padded to the longest text of the batch."""
    from keras_hub.models import CausalLMPreprocessor

    if not texts or not all(isinstance(t, str) for t in texts):
        raise InvalidInputError("text models take a non-empty list of strings")
    if isinstance(preprocessor, CausalLMPreprocessor):
        # Prompts, as transformers tokenises them: no end token, a start token only if configured.
        if not preprocessor.built:
            preprocessor.build(None)
        token_ids, padding_mask = preprocessor.packer(
            preprocessor.tokenizer(list(texts)),
            sequence_length=preprocessor.sequence_length,
            add_start_value=bool(getattr(preprocessor, "add_start_token", True)),
            add_end_value=False,
        )
        batch = {"token_ids": token_ids, "padding_mask": padding_mask}
    else:
        batch = preprocessor(list(texts))
    if isinstance(batch, tuple):
        batch = batch[0]
    arrays = {key: np.asarray(value) for key, value in batch.items()}
    length = int(arrays["padding_mask"].astype(np.int64).sum(axis=1).max())
    return {key: value[:, :length] for key, value in arrays.items()}


def lowercases_like_keras_only(tokenizer: Any) -> bool:
    """True for a keras-hub WordPiece tokenizer that lowercases (uncased BERT and its kin).

    keras-hub lowercases with ``tf_text.case_fold_utf8``, which is NFKC case folding: full-width
    ``（，＼`` become ``(,\\``, half-width katakana full-width, ``´`` a space and an accent; and its
    BERT converter leaves accents in. transformers' BERT normaliser strips accents, then only
    lowercases (``str.lower``), so a converted checkpoint saw other token ids in Keras for such
    texts (real kaomoji: about half of them).
    """
    from keras_hub.tokenizers import WordPieceTokenizer

    return isinstance(tokenizer, WordPieceTokenizer) and bool(tokenizer.lowercase)


def bert_normalise(text: str, keep: Sequence[str] = ()) -> str:
    """transformers' ``BertNormalizer`` (clean text, strip accents, lowercase), leaving the tokens
    in ``keep`` (special tokens such as ``[CLS]``) as they are. CJK characters are split by
    keras-hub's own pre-tokenizer, as transformers does."""
    import re
    import unicodedata

    if keep:
        pattern = "(" + "|".join(re.escape(t) for t in sorted(keep, key=len, reverse=True)) + ")"
        return "".join(p if i % 2 else bert_normalise(p) for i, p in enumerate(re.split(pattern, text)))
    chars = []
    for ch in text:
        cat = unicodedata.category(ch)
        if ch in "\t\n\r" or cat == "Zs":
            chars.append(" ")
        elif ord(ch) == 0 or ord(ch) == 0xFFFD or cat in ("Cc", "Cf"):
            continue
        else:
            chars.append(ch)
    decomposed = unicodedata.normalize("NFD", "".join(chars))
    return "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn").lower()


def use_transformers_lowercase(tokenizer: Any) -> None:
    """Make ``tokenizer`` (see :func:`lowercases_like_keras_only`) lowercase as transformers does.

    The texts are normalised in Python (:func:`bert_normalise`) and tokenised with keras-hub's
    own lowercasing switched off for the call; the tokenizer's config keeps ``lowercase=True``, so
    a saved preset still lowercases in stock keras-hub. Every caller of the tokenizer (the
    preprocessor, zoolab's batches) gets the same ids as transformers' tokenizer.
    """
    import tensorflow as tf

    original = tokenizer.tokenize
    # Special tokens typed in a text stay whole only where keras-hub matches them in strings.
    keep = [str(t) for t in tokenizer.special_tokens] if getattr(tokenizer, "special_tokens_in_strings", False) else []

    def tokenize(inputs: Any, *args: Any, **kwargs: Any) -> Any:
        array = inputs.numpy() if isinstance(inputs, tf.Tensor) else np.asarray(inputs, dtype=object)
        flat = [bert_normalise(x.decode("utf-8") if isinstance(x, bytes) else str(x), keep) for x in array.reshape(-1)]
        texts = tf.constant(np.array(flat, dtype=object).reshape(array.shape), dtype=tf.string)
        tokenizer.lowercase = False
        try:
            return original(texts, *args, **kwargs)
        finally:
            tokenizer.lowercase = True

    tokenizer.tokenize = tokenize
