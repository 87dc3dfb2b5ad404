"""Sources of models: the Hugging Face Hub, zoolab hub servers and the embedded local registry.

Every source offers the same four operations (``search``, ``info``, ``download``, ``publish``);
search, info, download and publish take ``repo_type`` (``model`` or ``dataset``).
There are exactly two implementations:

- :class:`zoolab.hub.remote.RemoteSource` speaks the Hugging Face Hub HTTP API through
  ``huggingface_hub`` (``HfApi(endpoint=..., token=...)``, ``snapshot_download(endpoint=...)``).
  The built-in ``hf`` source (``HF_ENDPOINT``, default huggingface.co) and every zoolab server a
  user adds are instances of it: one code path.
- :class:`zoolab.hub.local.LocalSource` reads and writes the embedded store in-process and writes
  downloads in the same Hugging Face cache layout.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol, Sequence

from zoolab import settings
from zoolab.errors import ConfigError
from zoolab.hub import config as _config
from zoolab.hub.refs import parse_ref

if TYPE_CHECKING:
    from zoolab.hub.types import PublishResult, RepoDetails, SearchHit, Snapshot


class Source(Protocol):
    """What search, info, download and publish need from a source."""

    name: str
    kind: str
    """``hf``, ``zoolab`` (a zoolab hub server) or ``local``."""
    url: str

    def search(
        self, query: str, *, task: str | None, library: str | None, author: str | None, sort: str, limit: int,
        repo_type: str = "model",
    ) -> list[SearchHit]: ...

    def info(self, repo_id: str, *, revision: str | None = None, repo_type: str = "model") -> RepoDetails: ...

    def download(
        self,
        repo_id: str,
        *,
        revision: str | None,
        include: Sequence[str] | None,
        exclude: Sequence[str] | None,
        framework: str | None,
        local_dir: Path | None,
        progress: bool = True,
        repo_type: str = "model",
    ) -> Snapshot: ...

    def publish(
        self,
        folder: Path,
        repo_id: str,
        *,
        files: list[str],
        extra: dict[str, bytes],
        private: bool,
        branch: str,
        message: str,
        progress: bool = True,
        repo_type: str = "model",
    ) -> PublishResult: ...


def source_names() -> list[str]:
    """All source names: the built-ins, then configured servers in name order."""
    cfg = _config.load()
    return list(_config.BUILTIN_SOURCES) + sorted(n for n, s in cfg.sources.items() if s.url)


def default_source() -> str:
    """The source an unqualified repo id goes to (``default`` in the config, else ``hf``)."""
    return _config.load().default


def get_source(name: str | None = None) -> Source:
    """The source called ``name`` (default source when None).

    Raises :class:`ConfigError` for an unknown name, naming the known ones.
    """
    cfg = _config.load()
    name = name or cfg.default
    if name == "local":
        from zoolab.hub.local import LocalSource

        return LocalSource()
    from zoolab.hub.remote import RemoteSource

    if name == "hf":
        src = cfg.sources.get("hf")
        return RemoteSource("hf", settings.hf_endpoint(), token=(src.token if src else None), kind="hf")
    src = cfg.sources.get(name)
    if src is None or not src.url:
        known = ", ".join(source_names())
        raise ConfigError(f"unknown source '{name}' (known: {known})", hint="add it with `zoolab source add NAME URL`")
    return RemoteSource(name, src.url, token=src.token, kind="zoolab")


def resolve(ref: str, source: str | None = None) -> tuple[Source, str]:
    """Parse ``ref`` (``[SOURCE:]org/name``) and return the source object and the bare repo id.

    An explicit ``source`` argument and a qualified ref must agree.
    """
    qualified, repo_id = parse_ref(ref)
    if qualified and source and qualified != source:
        raise ConfigError(f"'{ref}' names source '{qualified}' but --source is '{source}'", hint="give only one")
    return get_source(qualified or source), repo_id


def describe_sources() -> list[dict[str, object]]:
    """One row per source for ``zoolab source list``: name, kind, url, default, has token."""
    cfg = _config.load()
    rows: list[dict[str, object]] = []
    hf_tok = cfg.sources.get("hf")
    rows.append(
        {"name": "hf", "kind": "hf", "url": settings.hf_endpoint(), "default": cfg.default == "hf",
         "token": bool((hf_tok and hf_tok.token) or settings.hf_token())}
    )
    rows.append(
        {"name": "local", "kind": "local", "url": str(settings.registry_dir()), "default": cfg.default == "local",
         "token": False}
    )
    for name in sorted(cfg.sources):
        s = cfg.sources[name]
        if s.url:
            rows.append({"name": name, "kind": "zoolab", "url": s.url, "default": cfg.default == name,
                         "token": bool(s.token)})
    return rows
