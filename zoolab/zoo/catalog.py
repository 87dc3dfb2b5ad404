"""The curated model catalog: names a user can load, with their PyTorch and TensorFlow sources.

The entries live in the declarative file ``catalog.yaml`` next to this module (packaged with
zoolab). This module reads it, answers look-ups and searches, and imports no framework, so
``zoolab search`` and ``zoolab models`` stay fast::

    >>> from zoolab.zoo import catalog
    >>> catalog.get("resnet50").torch_repo
    'hf:timm/resnet50.a1_in1k'
    >>> [e.name for e in catalog.search("resnet", framework="tf")]
    ['resnet18', 'resnet50']
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

from zoolab.errors import ConfigError, InvalidInputError, ModelNotFoundError

TASKS = (
    "image-classification",
    "text-classification",
    "feature-extraction",
    "fill-mask",
    "text-generation",
)
FRAMEWORKS = ("torch", "tf")


@dataclass(frozen=True)
class CatalogEntry:
    """One curated model and where each framework gets it from."""

    name: str
    task: str
    frameworks: tuple[str, ...]
    """The frameworks that can load it: ``("torch", "tf")`` or ``("torch",)``."""
    library: str
    """PyTorch library of the checkpoint: ``timm`` or ``transformers``."""
    license: str
    params: int
    """Parameter count of the PyTorch model with its default head."""
    torch_repo: str
    """The PyTorch checkpoint as a zoolab repo ref, e.g. ``hf:timm/resnet50.a1_in1k``."""
    tf_preset: str | None
    """The keras-hub preset name, or None when there is no TensorFlow source."""
    input_size: tuple[int, ...]
    """``(channels, height, width)`` for images, ``(max_tokens,)`` for text."""
    architecture: str = ""
    """timm model name or transformers model_type."""
    description: str = ""
    aliases: tuple[str, ...] = ()
    preprocessing: dict[str, Any] = field(default_factory=dict)
    torch_config: dict[str, Any] = field(default_factory=dict)
    """transformers config fields of the checkpoint (empty for timm models)."""

    def source_for(self, framework: str) -> str:
        """The ref to load for ``framework``: the torch repo or the keras-hub preset name."""
        if framework == "torch":
            return self.torch_repo
        if framework == "tf" and self.tf_preset:
            return self.tf_preset
        from zoolab.errors import UnsupportedError

        raise UnsupportedError(
            f"catalog model '{self.name}' has no {framework_label(framework)} version; "
            f"it is available for: {', '.join(framework_label(f) for f in self.frameworks)}",
            hint="pass framework=" + repr(self.frameworks[0]),
        )


def framework_label(framework: str) -> str:
    """Human name of a framework code: ``torch`` -> PyTorch, ``tf`` -> TensorFlow/Keras."""
    return {"torch": "PyTorch", "tf": "TensorFlow/Keras"}.get(framework, framework)


def _entry(raw: dict[str, Any]) -> CatalogEntry:
    try:
        size = raw["input_size"]
        tf_preset = raw.get("tf_preset")
        return CatalogEntry(
            name=raw["name"],
            task=raw["task"],
            frameworks=("torch", "tf") if tf_preset else ("torch",),
            library=raw["library"],
            license=raw["license"],
            params=int(raw["params"]),
            torch_repo=raw["torch_repo"],
            tf_preset=tf_preset,
            input_size=tuple(size) if isinstance(size, list) else (int(size),),
            architecture=raw.get("architecture", ""),
            description=raw.get("description", ""),
            aliases=tuple(raw.get("aliases") or ()),
            preprocessing=dict(raw.get("preprocessing") or {}),
            torch_config=dict(raw.get("torch_config") or {}),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"invalid catalog entry {raw.get('name', raw)!r}: {exc!r}") from exc


@functools.lru_cache(maxsize=1)
def _entries() -> tuple[CatalogEntry, ...]:
    text = resources.files("zoolab.zoo").joinpath("catalog.yaml").read_text(encoding="utf-8")
    return tuple(_entry(raw) for raw in yaml.safe_load(text)["models"])


def list_models(*, task: str | None = None, framework: str | None = None) -> list[CatalogEntry]:
    """Every catalog entry, optionally only those for ``task`` and/or ``framework``."""
    if task is not None and task not in TASKS:
        raise InvalidInputError(f"unknown task '{task}'", hint=f"one of: {', '.join(TASKS)}")
    if framework is not None and framework not in FRAMEWORKS:
        raise InvalidInputError(f"unknown framework '{framework}'", hint="use 'torch' or 'tf'")
    return [
        e
        for e in _entries()
        if (task is None or e.task == task) and (framework is None or framework in e.frameworks)
    ]


def _index() -> dict[str, CatalogEntry]:
    index: dict[str, CatalogEntry] = {}
    for entry in _entries():
        for key in (entry.name, *entry.aliases):
            index[key.lower()] = entry
    return index


def find(name: str) -> CatalogEntry | None:
    """The entry called ``name`` (or one of its aliases, case-insensitive), or None."""
    return _index().get(name.strip().lower())


def get(name: str) -> CatalogEntry:
    """The entry called ``name``; :class:`ModelNotFoundError` with close matches if none is."""
    entry = find(name)
    if entry is not None:
        return entry
    close = difflib.get_close_matches(name.lower(), list(_index()), n=3, cutoff=0.5)
    hint = (
        f"did you mean: {', '.join(close)}?" if close else "run `zoolab models` to list the catalog"
    )
    raise ModelNotFoundError(f"'{name}' is not in the model catalog", hint=hint)


def search(
    query: str = "", *, task: str | None = None, framework: str | None = None
) -> list[CatalogEntry]:
    """Catalog entries whose name, aliases, description, architecture or sources contain ``query``.

    Matching is case-insensitive and ignores ``-``/``_`` differences; an empty query matches all.
    """

    def norm(text: str) -> str:
        return text.lower().replace("_", "").replace("-", "").replace("/", "")

    needle = norm(query.strip())
    hits = []
    for entry in list_models(task=task, framework=framework):
        haystack = " ".join(
            [entry.name, *entry.aliases, entry.description, entry.architecture, entry.torch_repo]
            + ([entry.tf_preset] if entry.tf_preset else [])
        )
        if needle in norm(haystack):
            hits.append(entry)
    return hits
