"""Where keras-hub's presets (downloaded by kagglehub from Kaggle) are cached, and what is there.

kagglehub caches under ``KAGGLEHUB_CACHE`` (default ``~/.cache/kagglehub``, outside ``HF_HOME``).
zoolab points it at ``$HF_HOME/kagglehub`` unless the user set ``KAGGLEHUB_CACHE`` themselves, so
every download zoolab causes lives under the cache the user configured, and ``zoolab cache ls``
lists these presets (source ``kaggle``) beside the Hugging Face layout caches. The layout is
kagglehub's: ``models/<owner>/<model>/<framework>/<variation>/<version>/<files>``.
"""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from zoolab import settings
from zoolab.hub.types import CachedRepo, CachedRevision


def cache_root() -> Path:
    """kagglehub's cache folder as zoolab sets it: ``KAGGLEHUB_CACHE``, else ``$HF_HOME/kagglehub``."""
    value = os.environ.get("KAGGLEHUB_CACHE")
    return Path(value).expanduser() if value else settings.hf_home() / "kagglehub"


def configure() -> Path:
    """Point kagglehub at :func:`cache_root` (read by kagglehub at each download); return it."""
    root = cache_root()
    os.environ["KAGGLEHUB_CACHE"] = str(root)
    return root


def model_folder(handle: str) -> Path | None:
    """The cache folder of a versioned Kaggle model handle (``[kaggle://]owner/model/fw/variation/N``)."""
    parts = handle.removeprefix("kaggle://").strip("/").split("/")
    if len(parts) != 5 or any(not p or p in (".", "..") for p in parts):
        return None
    return cache_root().joinpath("models", *parts)


def scan() -> list[CachedRepo]:
    """Every cached Kaggle model variation, one revision per version folder."""
    models = cache_root() / "models"
    repos: list[CachedRepo] = []
    if not models.is_dir():
        return repos
    for variation in sorted(p for p in models.glob("*/*/*/*") if p.is_dir()):
        revisions, total, accessed = [], 0, 0.0
        for version in sorted((v for v in variation.iterdir() if v.is_dir()), key=lambda v: v.name):
            files = [f for f in version.rglob("*") if f.is_file() and not f.name.endswith(".complete")]
            size = sum(f.stat().st_size for f in files)
            total += size
            accessed = max([accessed, *(f.stat().st_atime for f in files)])
            revisions.append(CachedRevision(commit=version.name, refs=[], size=size, files=len(files)))
        repos.append(CachedRepo(
            repo_id=variation.relative_to(models).as_posix(), source="kaggle", path=variation, size=total,
            revisions=revisions, last_accessed=datetime.fromtimestamp(accessed, timezone.utc) if accessed else None,
        ))
    return repos
