"""zoolab: a pretrained-model hub and reinforcement-learning lab for PyTorch and TensorFlow/Keras.

Subpackages (imported on first use, so ``import zoolab`` stays fast):

- :mod:`zoolab.hub`: sources, search, download, cache, publish, and the hub server.
- :mod:`zoolab.zoo`: pretrained vision and NLP models in both frameworks.
- :mod:`zoolab.rl`: reinforcement-learning agents on gymnasium.
"""

from __future__ import annotations

import importlib
from typing import Any

from zoolab._version import __version__

__all__ = ["__version__", "hub", "zoo", "rl"]


def __getattr__(name: str) -> Any:
    # Lazy subpackages: `zoolab --help` must not pay for torch or tensorflow.
    if name in {"hub", "zoo", "rl"}:
        return importlib.import_module(f"zoolab.{name}")
    raise AttributeError(f"module 'zoolab' has no attribute {name!r}")
