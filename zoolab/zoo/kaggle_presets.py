"""keras-hub presets by name (``resnet_50_imagenet``) under zoolab's cache and offline rules.

keras-hub fetches named presets from Kaggle through kagglehub. zoolab keeps that cache under the
user's Hugging Face cache (:mod:`zoolab.hub.kaggle_cache`) and, in offline mode
(``ZOOLAB_OFFLINE=1`` or ``HF_HUB_OFFLINE=1``), opens no connection: a cached preset is loaded
from its folder, a missing one is an :class:`OfflineError` worded like the hub client's.
"""

from __future__ import annotations

from pathlib import Path

from zoolab import settings
from zoolab.errors import OfflineError
from zoolab.hub import kaggle_cache


def kaggle_handle(preset: str) -> str | None:
    """The versioned Kaggle handle keras-hub downloads ``preset`` from, or None (not a Kaggle preset)."""
    if preset.startswith("kaggle://"):
        return preset
    if "://" in preset:
        return None
    from keras_hub.src.utils.preset_utils import BUILTIN_PRESETS

    entry = BUILTIN_PRESETS.get(preset)
    return entry.get("kaggle_handle") if isinstance(entry, dict) else None


def for_loading(preset: str, *, name: str | None = None) -> str | Path:
    """What to hand keras-hub for ``preset``: the name online, the cached folder offline.

    Raises:
        OfflineError: offline mode is on and the preset is not (completely) in the cache.
    """
    kaggle_cache.configure()
    if not settings.is_offline():
        return preset
    handle = kaggle_handle(preset)
    folder = kaggle_cache.model_folder(handle) if handle else None
    if folder is not None and (folder / "config.json").is_file() and (folder / "metadata.json").is_file():
        return folder
    shown = f"kaggle:{handle.removeprefix('kaggle://')}" if handle else preset
    raise OfflineError(
        f"keras-hub preset {preset} ({shown}) is not in the cache and offline mode is on "
        "(ZOOLAB_OFFLINE or HF_HUB_OFFLINE)",
        hint=f"run `zoolab predict {name or preset} ... --framework tf` when Kaggle is reachable",
    )
