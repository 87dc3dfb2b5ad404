"""Every environment variable and default path zoolab uses, in one place.

Values are read when a function is called, never cached at import time, so tests and long-lived
processes (notebooks, the hub server) see changes to the environment.

zoolab's own variables:

- ``ZOOLAB_HOME``: the local registry, configuration and RL runs (default ``~/.zoolab``).
- ``ZOOLAB_OFFLINE``: ``1`` serves everything from caches and never opens a connection.
- ``ZOOLAB_DEBUG``: ``1`` lets the CLI print full tracebacks.

Hugging Face's variables are honoured, not shadowed: ``HF_HOME``, ``HF_HUB_CACHE``,
``HF_ENDPOINT``, ``HF_TOKEN`` and ``HF_HUB_OFFLINE`` mean what they mean to ``huggingface_hub``.

Layout of ``ZOOLAB_HOME``::

    ~/.zoolab/
    ├── config.toml        sources and defaults (mode 0600: it may hold tokens)
    ├── registry/          the embedded local registry (SQLite + content-addressed blobs)
    └── runs/              RL and fine-tuning run folders
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HF_ENDPOINT = "https://huggingface.co"
_TRUE = {"1", "true", "yes", "on"}


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in _TRUE


def zoolab_home() -> Path:
    """The zoolab home folder (``ZOOLAB_HOME``, default ``~/.zoolab``); not created here."""
    value = os.environ.get("ZOOLAB_HOME")
    return Path(value).expanduser() if value else Path.home() / ".zoolab"


def registry_dir(home: Path | None = None) -> Path:
    """Where the embedded local registry keeps its database and blobs."""
    return (home or zoolab_home()) / "registry"


def runs_dir(home: Path | None = None) -> Path:
    """Default parent folder of RL and fine-tuning runs."""
    return (home or zoolab_home()) / "runs"


def config_path(home: Path | None = None) -> Path:
    """The TOML configuration file (sources, default source, tokens)."""
    return (home or zoolab_home()) / "config.toml"


def is_offline() -> bool:
    """True when ``ZOOLAB_OFFLINE`` or ``HF_HUB_OFFLINE`` is set to a true value."""
    return _flag("ZOOLAB_OFFLINE") or _flag("HF_HUB_OFFLINE")


def is_debug() -> bool:
    """True when ``ZOOLAB_DEBUG`` asks for full tracebacks."""
    return _flag("ZOOLAB_DEBUG")


def hf_endpoint() -> str:
    """The Hugging Face Hub endpoint: ``HF_ENDPOINT`` or https://huggingface.co, no trailing slash."""
    return os.environ.get("HF_ENDPOINT", DEFAULT_HF_ENDPOINT).rstrip("/")


def hf_token() -> str | None:
    """``HF_TOKEN`` if set and non-empty."""
    return os.environ.get("HF_TOKEN") or None


def hf_home() -> Path:
    """``HF_HOME`` (default ``~/.cache/huggingface``), as huggingface_hub computes it."""
    value = os.environ.get("HF_HOME")
    if value:
        return Path(value).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "huggingface"


def hf_hub_cache() -> Path:
    """The Hugging Face download cache (``HF_HUB_CACHE``, default ``$HF_HOME/hub``).

    zoolab downloads into this folder in the Hugging Face layout, so transformers, timm and
    keras-hub reuse what zoolab fetched, and the reverse.
    """
    value = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    return Path(value).expanduser() if value else hf_home() / "hub"
