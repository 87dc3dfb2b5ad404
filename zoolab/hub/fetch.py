"""``zoolab.hub.download``: a repository revision on local disk, in the Hugging Face cache layout."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from zoolab.errors import InvalidInputError, UnsupportedError
from zoolab.hub.frameworks import check_framework
from zoolab.hub.refs import check_repo_type
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
    repo_type: str = "model",
) -> Snapshot:
    """Download ``repo`` (``org/name`` or ``SOURCE:org/name``) and return the snapshot.

    - ``revision``: branch, tag or 40-hex commit (default ``main``). A commit already complete
      in the cache is returned without any network call.
    - ``include`` / ``exclude``: globs (``*.json``, ``onnx/``) selecting files.
    - ``framework``: ``torch`` or ``tf`` fetches only the files loading in that framework needs;
      for ``tf`` that is the Keras weights, or the safetensors of a timm/transformers checkpoint
      keras-hub converts (the same rule :func:`zoolab.zoo.load` applies).
    - ``local_dir``: copy into this plain folder instead of the cache.
    - ``repo_type``: ``dataset`` downloads a dataset repo (``datasets--org--name`` in the cache);
      ``framework`` does not apply to it.

    Files land in the Hugging Face cache layout (``models--org--name/{blobs,snapshots,refs}``):
    the ``hf`` source in ``HF_HUB_CACHE`` (shared with transformers and timm), other sources in
    ``<HF_HUB_CACHE>/../zoolab-hub/<source>/``. In offline mode (``ZOOLAB_OFFLINE=1`` or
    ``HF_HUB_OFFLINE=1``) or when the source cannot be reached, the cache serves the request by
    branch, tag or commit; otherwise :class:`OfflineError` names what is missing.
    """
    src, repo_id = resolve(repo, source)
    framework = check_framework(framework)
    if check_repo_type(repo_type) == "dataset":
        if framework:
            raise InvalidInputError("a framework filter applies to models, not datasets",
                                    hint="select dataset files with include/exclude globs")
        return src.download(repo_id, revision=revision, framework=None, include=list(include) if include else None,
                            exclude=list(exclude) if exclude else None, progress=progress, repo_type="dataset",
                            local_dir=Path(local_dir).expanduser().resolve() if local_dir is not None else None)
    kwargs = {
        "include": list(include) if include else None, "exclude": list(exclude) if exclude else None,
        "local_dir": Path(local_dir).expanduser().resolve() if local_dir is not None else None,
        "progress": progress,
    }
    try:
        return src.download(repo_id, revision=revision, framework=framework, **kwargs)
    except UnsupportedError:
        if framework != "tf":
            raise
        # No Keras weights: keras-hub's converters still load timm and transformers checkpoints of
        # the architectures they know. The config decides, as it does for `zoolab predict`.
        probe = src.download(repo_id, revision=revision, framework=None, include=_METADATA_FILES,
                             exclude=None, local_dir=None, progress=False)
        if "tf" not in _folder_frameworks(Path(probe.path)):
            raise
        return src.download(repo_id, revision=probe.commit or revision, framework="torch", **kwargs)


# The small files that tell a checkpoint's library and architecture (zoolab.zoo.metadata reads them).
_METADATA_FILES = ["config.json", "metadata.json", "zoolab.json", "modules.json"]


def _folder_frameworks(folder: Path) -> tuple[str, ...]:
    """The frameworks zoolab.zoo can load the checkpoint in ``folder`` with; () when it cannot tell."""
    from zoolab.errors import ZoolabError
    from zoolab.zoo.metadata import inspect_folder

    try:
        return tuple(inspect_folder(folder).frameworks)
    except (ZoolabError, OSError, ValueError):
        return ()
