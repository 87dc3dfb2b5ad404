"""The typed schema of ``zoolab.json``: every field zoolab reads from a repository's metadata file.

``zoolab.json`` comes from whoever published the repository, so nothing in it is trusted before
it is checked here: a field of the wrong type or out of range gets one line naming the field
(``zoolab.json field 'labels': expected a list of strings, got int``), never a ``TypeError``
later in a backend. Unknown fields are kept as they are (newer zoolab versions may add some) but
never drive loading.

This module imports no framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from zoolab.errors import InvalidInputError, UnsupportedError

FORMAT_VERSION = 1
"""The ``format_version`` this zoolab writes and reads."""
MAX_LABELS = 100_000
"""Most labels a classifier may name (ImageNet-21k has 21,843)."""
MAX_TEXT = 1_000
"""Longest label, architecture or license string accepted."""
FRAMEWORKS = ("torch", "tf")
LIBRARIES = ("timm", "transformers", "keras-hub")
TASKS = ("image-classification", "text-classification", "feature-extraction", "fill-mask", "text-generation")
POOLING_MODES = ("mean", "cls", "max")


@dataclass(frozen=True)
class ZoolabMeta:
    """``zoolab.json`` after validation (absent fields are None / empty)."""

    task: str | None = None
    labels: list[str] | None = None
    framework: str | None = None
    frameworks: tuple[str, ...] = ()
    library: str | None = None
    architecture: str | None = None
    pooling: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict)
    """The whole file, for the model's metadata (validated fields replaced by their checked values)."""


def _type_name(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _fail(name: str, expected: str, value: Any) -> InvalidInputError:
    return InvalidInputError(
        f"zoolab.json field '{name}': expected {expected}, got {_type_name(value)}"
        + (f" {value!r}" if isinstance(value, (str, int, float)) and len(repr(value)) <= 60 else ""),
        hint="fix or remove the field (zoolab writes it with LoadedModel.save)",
    )


def _text(raw: dict[str, Any], name: str, choices: tuple[str, ...] | None = None) -> str | None:
    value = raw.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > MAX_TEXT:
        raise _fail(name, f"a string of at most {MAX_TEXT} characters", value)
    if choices is not None and value not in choices:
        raise _fail(name, "one of " + ", ".join(choices), value)
    return value


def _labels(raw: dict[str, Any]) -> list[str] | None:
    value = raw.get("labels")
    if value is None:
        return None
    if not isinstance(value, list):
        raise _fail("labels", "a list of strings", value)
    if len(value) > MAX_LABELS:
        raise InvalidInputError(f"zoolab.json field 'labels': {len(value)} labels, at most {MAX_LABELS} accepted")
    for i, label in enumerate(value):
        if not isinstance(label, str) or len(label) > MAX_TEXT:
            raise _fail(f"labels[{i}]", f"a string of at most {MAX_TEXT} characters", label)
    return list(value)


def _frameworks(raw: dict[str, Any]) -> tuple[str, ...]:
    value = raw.get("frameworks")
    if value is None:
        return ()
    # A bare string is refused rather than split: "torch" must not read as "t, o, r, c, h".
    if not isinstance(value, list) or not value:
        raise _fail("frameworks", "a non-empty list of 'torch' / 'tf'", value)
    for item in value:
        if item not in FRAMEWORKS:
            raise _fail("frameworks", "a list of 'torch' / 'tf'", item)
    return tuple(dict.fromkeys(value))


def _pooling(raw: dict[str, Any]) -> dict[str, Any] | None:
    value = raw.get("pooling")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise _fail("pooling", "an object {mode, normalize}", value)
    mode = value.get("mode", "mean")
    if mode not in POOLING_MODES:
        raise _fail("pooling.mode", "one of " + ", ".join(POOLING_MODES), mode)
    normalize = value.get("normalize", False)
    if not isinstance(normalize, bool):
        raise _fail("pooling.normalize", "true or false", normalize)
    return {"mode": mode, "normalize": normalize}


def parse_zoolab_json(raw: Any) -> ZoolabMeta:
    """Validate the content of a ``zoolab.json``.

    Raises:
        InvalidInputError: a field has the wrong type or value (the message names the field).
        UnsupportedError: the file was written by a newer zoolab (``format_version``).
    """
    if not isinstance(raw, dict):
        raise InvalidInputError(f"zoolab.json must hold a JSON object, got {_type_name(raw)}")
    version = raw.get("format_version", FORMAT_VERSION)
    if type(version) is not int or version < 1:
        raise _fail("format_version", "a positive integer", version)
    if version > FORMAT_VERSION:
        raise UnsupportedError(
            f"zoolab.json has format_version {version}; this zoolab reads version {FORMAT_VERSION}",
            hint="upgrade zoolab",
        )
    for name in ("base", "training", "keras_overrides"):
        if raw.get(name) is not None and not isinstance(raw[name], dict):
            raise _fail(name, "an object", raw[name])
    _text(raw, "license")
    meta = ZoolabMeta(
        task=_text(raw, "task", TASKS),
        labels=_labels(raw),
        framework=_text(raw, "framework", FRAMEWORKS),
        frameworks=_frameworks(raw),
        library=_text(raw, "library", LIBRARIES),
        architecture=_text(raw, "architecture") or None,
        pooling=_pooling(raw),
    )
    checked = {**raw, "labels": meta.labels, "pooling": meta.pooling}
    if meta.pooling is None:
        checked.pop("pooling")
    if "labels" not in raw:
        checked.pop("labels")
    return ZoolabMeta(**{**meta.__dict__, "raw": checked})
