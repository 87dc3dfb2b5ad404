"""``zoolab.hub.download``: a repository revision on local disk, in the Hugging Face cache layout."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from zoolab.hub.frameworks import check_framework
from zoolab.hub.sources import resolve
from zoolab.hub.types import Snapshot


def download(
    repo: str,
    *,
    revision: str | None = None,
    source: str | None = None,
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
    framework: str | None = None,
    local_dir: str | Path | None = None,
    progress: bool = True,
) -> Snapshot:
    """Download ``repo`` (``org/name`` or ``SOURCE:org/name``) and return the snapshot.

    - ``revision``: branch, tag or 40-hex commit (default ``main``). A commit already complete
      in the cache is returned without any network call.
    - ``include`` / ``exclude``: globs (``*.json``, ``onnx/``) selecting files.
    - ``framework``: ``torch`` or ``tf`` fetches only the files loading in that framework needs.
    - ``local_dir``: copy into this plain folder instead of the cache.

    Files land in the Hugging Face cache layout (``models--org--name/{blobs,snapshots,refs}``):
    the ``hf`` source in ``HF_HUB_CACHE`` (shared with transformers and timm), other sources in
    ``<HF_HUB_CACHE>/../zoolab-hub/<source>/``. In offline mode (``ZOOLAB_OFFLINE=1`` or
    ``HF_HUB_OFFLINE=1``) or when the source cannot be reached, the cache serves the request by
    branch, tag or commit; otherwise :class:`OfflineError` names what is missing.
    """
    src, repo_id = resolve(repo, source)
    return src.download(
        repo_id, revision=revision, include=list(include) if include else None,
        exclude=list(exclude) if exclude else None, framework=check_framework(framework),
        local_dir=Path(local_dir).expanduser().resolve() if local_dir is not None else None, progress=progress,
    )
