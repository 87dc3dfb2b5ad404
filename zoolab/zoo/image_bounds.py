"""Bounds on the image sizes a repository's preprocessing settings ask for.

An input side or a timm ``crop_pct`` comes from the repository; ``crop_pct = 0.002`` makes a
224-pixel model resize every input to 112,000 pixels a side first. Every size zoolab reads (timm
``pretrained_cfg``, a transformers ``preprocessor_config.json``, a keras-hub
``image_converter.json``, zoolab's ``image_preprocessing.json``, a config's ``image_size``) is
checked here before an image is resized, by the loader and by ``zoolab scan`` alike.

This module imports no framework.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from zoolab.errors import InvalidInputError
from zoolab.zoo.repo_files import read_json_file

MAX_SIDE = 4096
"""Largest image side a model input or an intermediate resize may have, in pixels."""
CROP_PCT_RANGE = (0.25, 2.0)
"""timm's crop fractions are 0.8-1.0 in practice; outside this range a setting is refused."""


def _side(value: Any, where: str) -> int:
    if type(value) is not int and not (isinstance(value, float) and value.is_integer()):
        raise InvalidInputError(f"{where} must be a whole number of pixels, got {value!r}")
    if not 1 <= value <= MAX_SIDE:
        raise InvalidInputError(f"{where} is {value} pixels; zoolab accepts 1 to {MAX_SIDE}")
    return int(value)


def check_image_size(height: Any, width: Any, crop_pct: Any = None, *, where: str) -> tuple[int, int, float | None]:
    """``(height, width, crop_pct)`` if they are sane, else :class:`InvalidInputError` naming ``where``."""
    h, w = _side(height, f"{where} height"), _side(width, f"{where} width")
    if crop_pct is None:
        return h, w, None
    low, high = CROP_PCT_RANGE
    if isinstance(crop_pct, bool) or not isinstance(crop_pct, (int, float)) or not low <= crop_pct <= high:
        raise InvalidInputError(f"{where} crop_pct is {crop_pct!r}; zoolab accepts {low} to {high}")
    if max(h, w) / crop_pct > MAX_SIDE:
        raise InvalidInputError(f"{where}: resizing to {max(h, w)}/crop_pct={crop_pct} exceeds {MAX_SIDE} pixels")
    return h, w, float(crop_pct)


def _size_entry(value: Any, where: str) -> None:
    """A transformers ``size``/``crop_size``: an int or {height, width, shortest_edge, longest_edge}."""
    if value is None:
        return
    if isinstance(value, dict):
        for key, side in value.items():
            if side is not None:
                _side(side, f"{where}.{key}")
    else:
        _side(value, where)


_INTERPOLATIONS = ("nearest", "bilinear", "bicubic", "lanczos", "box", "hamming", "random")


def _normalisation(cfg: dict[str, Any], channels: Any) -> None:
    """timm ``mean``/``std`` are one finite number per channel (std non-zero), ``interpolation`` known."""
    if type(channels) is not int or not 1 <= channels <= 16:
        raise InvalidInputError(f"config.json pretrained_cfg.input_size channels is {channels!r}; expected 1 to 16")
    for key in ("mean", "std"):
        value = cfg.get(key)
        if value is None:
            continue
        if (
            not isinstance(value, (list, tuple)) or len(value) != channels
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 1e6 for v in value)
            or (key == "std" and any(v == 0 for v in value))
        ):  # fmt: skip
            raise InvalidInputError(f"config.json pretrained_cfg.{key} must be {channels} finite numbers, got {value!r}")
    interpolation = cfg.get("interpolation")
    if interpolation is not None and interpolation not in _INTERPOLATIONS:
        raise InvalidInputError(f"config.json pretrained_cfg.interpolation {interpolation!r} is not one of {', '.join(_INTERPOLATIONS)}")


def _processor_numbers(name: str, proc: dict[str, Any]) -> None:
    """A transformers image processor's ``resample`` (a PIL filter) and ``image_mean``/``image_std``."""
    resample = proc.get("resample")
    if resample is not None and (type(resample) is not int or not 0 <= resample <= 5):
        raise InvalidInputError(f"{name} resample must be a PIL filter number 0-5, got {resample!r}")
    for key in ("image_mean", "image_std"):
        value = proc.get(key)
        if value is None:
            continue
        values = value if isinstance(value, list) else [value]
        if not 1 <= len(values) <= 16 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) < 1e6 for v in values) \
                or (key == "image_std" and any(v == 0 for v in values)):  # fmt: skip
            raise InvalidInputError(f"{name} {key} must be finite numbers (std non-zero), got {value!r:.80}")


def check_image_configs(folder: Path, config: dict[str, Any]) -> dict[str, Any]:
    """Check every image size the folder's files declare; return the sizes found (for scans)."""
    found: dict[str, Any] = {}
    cfg = config.get("pretrained_cfg")
    if isinstance(cfg, dict):
        size = cfg.get("input_size", (3, 224, 224))
        if not isinstance(size, (list, tuple)) or len(size) != 3:
            raise InvalidInputError(f"config.json pretrained_cfg.input_size must be [channels, height, width], got {size!r}")
        crop = cfg.get("crop_pct")
        check_image_size(size[1], size[2], crop if crop is not None else 0.875, where="config.json pretrained_cfg")
        _normalisation(cfg, size[0])
        found["input_size"] = list(size)
        found["crop_pct"] = crop
    if config.get("image_size") is not None:
        image_size = config["image_size"]
        for i, side in enumerate(image_size if isinstance(image_size, (list, tuple)) else [image_size]):
            _side(side, f"config.json image_size[{i}]" if isinstance(image_size, (list, tuple)) else "config.json image_size")
        found["image_size"] = image_size
    for name in ("preprocessor_config.json", "image_processor_config.json"):
        if (folder / name).is_file():
            proc = read_json_file(folder / name, display=name)
            if not isinstance(proc, dict):
                raise InvalidInputError(f"{name} must hold a JSON object")
            for key in ("size", "crop_size"):
                _size_entry(proc.get(key), f"{name} {key}")
                if proc.get(key) is not None:
                    found[f"{name}:{key}"] = proc[key]
            _processor_numbers(name, proc)
    if (folder / "image_converter.json").is_file():
        conv = read_json_file(folder / "image_converter.json", display="image_converter.json")
        image_size = ((conv or {}).get("config") or {}).get("image_size") if isinstance(conv, dict) else None
        if image_size is not None:
            if not isinstance(image_size, (list, tuple)) or len(image_size) != 2:
                raise InvalidInputError(f"image_converter.json image_size must be [height, width], got {image_size!r}")
            check_image_size(*image_size, where="image_converter.json image_size")
            found["image_converter"] = list(image_size)
    if (folder / "image_preprocessing.json").is_file():
        saved = read_json_file(folder / "image_preprocessing.json", display="image_preprocessing.json")
        size = saved.get("size") if isinstance(saved, dict) else None
        if not isinstance(size, (list, tuple)) or len(size) != 2:
            raise InvalidInputError(f"image_preprocessing.json size must be [height, width], got {size!r}")
        check_image_size(size[0], size[1], saved.get("crop_pct"), where="image_preprocessing.json")
        found["image_preprocessing"] = list(size)
    return found
