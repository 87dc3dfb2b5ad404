"""``zoolab.zoo.load``: from what a user types to a ready model in the framework they asked for.

Resolution of ``ref``, first match wins:

1. an existing local folder -> that folder;
2. a catalog name (``resnet50``, ``bert-base-uncased``, ...) -> the entry's PyTorch repo, or its
   keras-hub preset for ``framework="tf"``;
3. a repository ref (``org/name`` on the default source, ``hf:org/name``, ``local:org/name``,
   ``team:org/name``, or a bare ``name`` with ``source=``) -> downloaded with
   :func:`zoolab.hub.download` into the Hugging Face cache. A bare name without a source must be
   a catalog name: an unknown one is an error with close matches (``hf:gpt2`` reaches the repo).

The folder is then read (:mod:`zoolab.zoo.metadata`), checked by :mod:`zoolab.zoo.checks`
(safetensors only, no untrusted remote code, keras-hub's own classes only, declared sizes that
fit the weights, bounded image sizes; the same checks ``zoolab scan`` reports) and handed to the
framework's backend.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoolab.errors import (
    DependencyMissingError,
    InvalidInputError,
    InvalidRepoIdError,
    ModelNotFoundError,
    UnsupportedError,
    ZoolabError,
)
from zoolab.zoo import catalog
from zoolab.zoo.catalog import framework_label
from zoolab.zoo.loaded import BACKENDS, LoadedModel
from zoolab.zoo.checks import check_folder
from zoolab.zoo.metadata import PICKLE_SUFFIXES, inspect_folder, pooling_for


@dataclass
class Resolved:
    """Where a ref points: a local folder, or (TensorFlow only) a keras-hub preset name."""

    folder: Path | None
    preset: str | None = None
    origin: dict[str, Any] = field(default_factory=dict)
    """ref, source, repo_id, revision, catalog: recorded in the model's metadata."""


def _looks_like_path(ref: str) -> bool:
    return ref.startswith((".", "/", "~")) or "\\" in ref or ref.count("/") > 1


def resolve(
    ref: str,
    *,
    framework: str = "torch",
    source: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
) -> Resolved:
    """Turn ``ref`` into a local folder (downloading if needed) or a keras-hub preset name.

    ``trust_remote_code`` also fetches the repository's ``*.py`` files (otherwise never fetched).

    Raises:
        ModelNotFoundError: ``ref`` is no folder, catalog name or valid repository ref.
        UnsupportedError: a catalog model has no version for ``framework``.
    """
    if not isinstance(ref, (str, Path)) or not str(ref).strip():
        raise InvalidInputError("a model reference is needed: a catalog name, repo id or folder")
    text = str(ref).strip()
    local = Path(text).expanduser()
    if local.is_dir():
        return Resolved(local.resolve(), origin={"ref": text})
    if isinstance(ref, Path) or _looks_like_path(text):
        raise ModelNotFoundError(f"folder {text} does not exist")
    entry = catalog.find(text) if source is None else None
    if entry is not None:
        target = entry.source_for(framework)
        if framework == "tf":
            return Resolved(None, preset=target, origin={"ref": text, "catalog": entry.name})
        resolved = _download(target, framework=framework, source=None, revision=revision,
                             trust_remote_code=trust_remote_code)  # fmt: skip
        resolved.origin.update(ref=text, catalog=entry.name)
        return resolved
    if source is None and "/" not in text and ":" not in text:
        # A bare name is a catalog name; a repository is always org/name or SOURCE:name, so a
        # typo ("resnet5O") gets suggestions instead of a network round trip.
        catalog.get(text)  # raises ModelNotFoundError with close matches
    return _download(text, framework=framework, source=source, revision=revision,
                     trust_remote_code=trust_remote_code)  # fmt: skip


# Small files that tell a model folder's format (see zoolab.zoo.metadata.inspect_folder).
_METADATA_FILES = ["config.json", "metadata.json", "zoolab.json", "modules.json", "model.safetensors.index.json"]
_PICKLES = [f"*{suffix}" for suffix in PICKLE_SUFFIXES]
#: What loading a timm or transformers checkpoint reads: configs, safetensors weights, tokenizer
#: and vocabulary files, the card. Nothing else of a repository is fetched (a pickle named
#: ``weights.data``, Python files, archives); ``*.py`` only when its code is trusted.
_TORCH_FILES = ["*.json", "*.safetensors", "*.txt", "*.model", "*.tiktoken", "*.md"]


def _download(
    ref: str, *, framework: str, source: str | None, revision: str | None, trust_remote_code: bool = False
) -> Resolved:
    from zoolab.hub.refs import parse_ref

    try:
        prefix, repo_id = parse_ref(ref)
    except InvalidRepoIdError:
        close = [e.name for e in catalog.search(ref.split("/")[-1][:4])][:3]
        raise ModelNotFoundError(
            f"'{ref}' is not a local folder, a catalog model or a repository id",
            hint=f"catalog models like it: {', '.join(close)}" if close
            else "run `zoolab models` for the catalog, or pass SOURCE:org/name",
        ) from None
    try:
        from zoolab.hub import download
    except ImportError as exc:  # the hub client is part of zoolab; only a broken install lacks it
        raise DependencyMissingError(f"zoolab.hub.download is unavailable: {exc}") from exc
    kwargs = {"revision": revision, "source": source}
    torch_files = _TORCH_FILES + (["*.py"] if trust_remote_code else [])
    if framework == "tf":
        # keras-hub reads its own presets (Keras weights) and converts timm/transformers
        # checkpoints (safetensors): the folder's format decides which weights to fetch.
        probe = download(ref, include=_METADATA_FILES, **kwargs)
        kwargs["revision"] = getattr(probe, "commit", None) or revision  # same commit twice
    if framework == "tf" and (Path(probe.path) / "metadata.json").is_file():
        code = [] if trust_remote_code else ["*.py"]  # Keras never imports a preset's .py either
        snapshot = download(ref, framework="tf", exclude=_PICKLES + code, **kwargs)
    else:  # timm/transformers checkpoints, for PyTorch or keras-hub's converters alike
        try:
            # Pickled checkpoints are never loaded, so they are not fetched either.
            snapshot = download(ref, framework="torch", include=torch_files, exclude=_PICKLES, **kwargs)
        except UnsupportedError:
            # No safetensors weights: name the pickles if that is all the repo has; otherwise
            # fetch the small metadata files so load_folder can say what it refuses and why.
            _refuse_pickles_only(ref, source=source, revision=kwargs["revision"])
            snapshot = download(ref, include=_METADATA_FILES, **kwargs)
    origin = {
        "ref": ref,
        "source": source or prefix or getattr(snapshot, "source", None),
        "repo_id": getattr(snapshot, "repo_id", None) or repo_id,
        "revision": getattr(snapshot, "commit", None) or getattr(snapshot, "revision", None)
        or revision,  # fmt: skip
    }
    return Resolved(Path(snapshot.path), origin=origin)


def _refuse_pickles_only(ref: str, *, source: str | None, revision: str | None) -> None:
    """Raise a clear :class:`UnsupportedError` when the repo's weights are all pickled files."""
    from zoolab.hub import info

    try:
        files = [f.path for f in info(ref, source=source, revision=revision).files]
    except ZoolabError:
        return  # the listing is only for a better message; load_folder still refuses the repo
    pickled = [f for f in files if f.endswith(PICKLE_SUFFIXES)]
    if pickled and not any(f.endswith(".safetensors") for f in files):
        raise UnsupportedError(
            f"repository {ref} has only pickled weights ({', '.join(pickled[:3])}); zoolab loads "
            "safetensors only, because unpickling a file from a repository can run arbitrary code",
            hint="ask for a model.safetensors version, or convert it on a machine you trust",
        )


def _backend(framework: str) -> Any:
    if framework not in BACKENDS:
        raise InvalidInputError(f"unknown framework '{framework}'", hint="use 'torch' or 'tf'")
    try:
        return importlib.import_module(BACKENDS[framework])
    except ModuleNotFoundError as exc:
        if exc.name and exc.name.startswith(("tensorflow", "keras")):
            raise DependencyMissingError(
                f"{framework_label(framework)} is not installed", hint="pip install 'zoolab[tf]'"
            ) from exc
        raise


def load(
    ref: str | Path,
    framework: str = "torch",
    task: str | None = None,
    num_labels: int | None = None,
    source: str | None = None,
    revision: str | None = None,
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load ``ref`` as a ready model in ``framework`` ("torch" or "tf").

    Args:
        ref: a catalog name, a repository ref (``org/name``, ``SOURCE:org/name``) or a folder.
        framework: ``"torch"`` (timm / transformers) or ``"tf"`` (keras-hub).
        task: the task to load it for; with ``num_labels``, ``image-classification`` and
            ``text-classification`` put a new classifier head of that size on the model.
        num_labels: size of the classifier head.
        source: the source to download from when ``ref`` has no ``SOURCE:`` prefix.
        revision: branch, tag or commit to download.
        trust_remote_code: run Python code shipped in the repository (transformers ``auto_map``).
            Off by default: that code runs with your permissions.

    Raises:
        ModelNotFoundError: nothing answers to ``ref``.
        UnsupportedError: the model cannot be loaded in ``framework`` (the message names the
            frameworks it has), or it has only pickled weights.
        PermissionDeniedError: the model needs remote code and ``trust_remote_code`` is false.
    """
    if framework not in BACKENDS:
        raise InvalidInputError(f"unknown framework '{framework}'", hint="use 'torch' or 'tf'")
    if num_labels is not None and num_labels < 1:
        raise InvalidInputError(f"num_labels must be at least 1, got {num_labels}")
    if task is not None and task not in catalog.TASKS:
        raise InvalidInputError(f"unknown task '{task}'", hint=f"one of: {', '.join(catalog.TASKS)}")
    resolved = resolve(str(ref), framework=framework, source=source, revision=revision,
                       trust_remote_code=trust_remote_code)  # fmt: skip
    if resolved.preset is not None:  # a keras-hub preset from the catalog (TensorFlow only)
        entry = catalog.get(resolved.origin["catalog"])
        metadata = {**resolved.origin, "preset": resolved.preset, "library": "keras-hub",
                    "architecture": entry.architecture, "frameworks": list(entry.frameworks)}  # fmt: skip
        if entry.task == "feature-extraction":
            metadata["pooling"] = {"mode": entry.preprocessing.get("pooling", "mean"),
                                   "normalize": bool(entry.preprocessing.get("normalize"))}  # fmt: skip
        from zoolab.zoo.kaggle_presets import for_loading  # offline: no Kaggle connection

        preset = for_loading(resolved.preset, name=entry.name)
        return _backend(framework).load(preset, task=task or entry.task,
                                        num_labels=num_labels, labels=None, metadata=metadata)  # fmt: skip
    return load_folder(resolved.folder, framework=framework, task=task, num_labels=num_labels,
                       trust_remote_code=trust_remote_code, origin=resolved.origin)  # fmt: skip


def load_folder(
    folder: Path,
    *,
    framework: str = "torch",
    task: str | None = None,
    num_labels: int | None = None,
    trust_remote_code: bool = False,
    origin: dict[str, Any] | None = None,
) -> LoadedModel:
    """Check the model folder ``folder`` and load it with ``framework``'s backend."""
    info = inspect_folder(folder)
    if framework not in info.frameworks:
        name = (origin or {}).get("ref") or str(folder)
        raise UnsupportedError(
            f"model '{name}' ({info.library} {info.architecture}) cannot be loaded in "
            f"{framework_label(framework)}; it is available for: "
            f"{', '.join(framework_label(f) for f in info.frameworks)}",
            hint=f"pass framework='{info.frameworks[0]}' (CLI: --framework {info.frameworks[0]})",
        )
    # Every check runs whatever zoolab.json claims: the files decide what gets read.
    check_folder(folder, framework=framework, trust_remote_code=trust_remote_code,
                 labels=info.zoolab.get("labels"), num_labels=num_labels)  # fmt: skip
    task = task or info.task
    metadata: dict[str, Any] = {**info.zoolab, **(origin or {}), "path": str(folder),
                                "library": info.library, "frameworks": list(info.frameworks)}  # fmt: skip
    if task == "feature-extraction":
        metadata["pooling"] = pooling_for(folder, info.zoolab)
    labels = info.zoolab.get("labels")
    if num_labels is not None and len(labels or []) != num_labels:
        labels = None  # a new head of another size: its labels are LABEL_0..
    backend = _backend(framework)
    if framework == "torch":
        return backend.load(folder, task=task, num_labels=num_labels, labels=labels,
                            metadata=metadata, trust_remote_code=trust_remote_code)  # fmt: skip
    return backend.load(folder, task=task, num_labels=num_labels, labels=labels, metadata=metadata)
