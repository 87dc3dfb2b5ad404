"""The registry: search, download, cache and publish models across sources.

Sources are the Hugging Face Hub (``hf``), zoolab hub servers a user adds, and the embedded local
registry (``local``). The implementation modules have names distinct from the functions
(``finder``, ``details``, ``fetch``, ``publishing``) so importing one never shadows
``zoolab.hub.search`` and friends. ``import zoolab.hub`` stays light: huggingface_hub and the store are
imported only when a function needs them.

>>> import zoolab.hub as hub
>>> hits = hub.search("resnet", framework="torch").hits          # doctest: +SKIP
>>> snap = hub.download("local:me/tiny", framework="torch")      # doctest: +SKIP
>>> snap.path                                                     # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoolab.hub.fetch import download
    from zoolab.hub.details import info
    from zoolab.hub.publishing import publish
    from zoolab.hub.finder import search
    from zoolab.hub.store import Store
    from zoolab.hub.types import (
        CachedRepo,
        CachedRevision,
        FileDetails,
        PublishResult,
        RepoDetails,
        SearchHit,
        SearchResult,
        Snapshot,
    )

_LAZY = {
    "search": "zoolab.hub.finder",
    "info": "zoolab.hub.details",
    "download": "zoolab.hub.fetch",
    "publish": "zoolab.hub.publishing",
    "Store": "zoolab.hub.store",
    "SearchHit": "zoolab.hub.types",
    "SearchResult": "zoolab.hub.types",
    "RepoDetails": "zoolab.hub.types",
    "FileDetails": "zoolab.hub.types",
    "Snapshot": "zoolab.hub.types",
    "PublishResult": "zoolab.hub.types",
    "CachedRepo": "zoolab.hub.types",
    "CachedRevision": "zoolab.hub.types",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'zoolab.hub' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
