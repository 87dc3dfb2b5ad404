"""Result types of the hub client: what ``zoolab.hub.search / info / download / publish`` return.

Plain dataclasses, so the CLI can print them as tables or as JSON and callers can rely on names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any


@dataclass
class SearchHit:
    """One model found by :func:`zoolab.hub.search`."""

    repo_id: str
    source: str
    """Name of the source that returned it (``hf``, ``local``, ``catalog`` or a configured server)."""
    task: str | None = None
    frameworks: tuple[str, ...] = ()
    """``torch`` and/or ``tf``, derived from library, tags and file names."""
    library: str | None = None
    downloads: int | None = None
    likes: int | None = None
    last_updated: datetime | None = None
    private: bool = False
    repo_type: str = "model"
    """``model`` or ``dataset``."""

    @property
    def qualified_id(self) -> str:
        """``SOURCE:repo_id``: what ``zoolab download`` accepts to fetch exactly this hit."""
        return f"{self.source}:{self.repo_id}"


@dataclass
class SearchResult:
    """Hits merged across sources, plus one warning per source that failed or timed out."""

    hits: list[SearchHit] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    """The sources that were asked."""


@dataclass
class FileDetails:
    """One file of a repository at one revision."""

    path: str
    size: int | None
    lfs: bool = False


@dataclass
class RepoDetails:
    """What :func:`zoolab.hub.info` reports about one repository."""

    repo_id: str
    source: str
    sha: str | None
    private: bool = False
    library: str | None = None
    task: str | None = None
    license: str | None = None
    tags: list[str] = field(default_factory=list)
    frameworks: tuple[str, ...] = ()
    downloads: int | None = None
    likes: int | None = None
    last_updated: datetime | None = None
    branches: dict[str, str] = field(default_factory=dict)
    """Branch name to commit id."""
    tags_refs: dict[str, str] = field(default_factory=dict)
    """Git tag name to commit id."""
    files: list[FileDetails] = field(default_factory=list)
    card: dict[str, Any] = field(default_factory=dict)
    """The model card's YAML metadata."""
    summary: str | None = None
    """The first paragraph of the model card's text, if there is one."""
    repo_type: str = "model"
    """``model`` or ``dataset``."""

    @property
    def total_size(self) -> int:
        """Sum of the known file sizes in bytes."""
        return sum(f.size or 0 for f in self.files)


@dataclass
class Snapshot:
    """A repository revision on local disk, returned by :func:`zoolab.hub.download`."""

    path: Path
    """The snapshot folder (Hugging Face cache layout) or the ``local_dir`` that was asked for."""
    repo_id: str
    source: str
    commit: str
    files: list[str] = field(default_factory=list)
    """Repository paths present under ``path`` for this request."""
    revision: str | None = None
    """The revision that was asked for (branch, tag or commit)."""
    from_cache: bool = False
    """True when no network call was made (warm cache, offline mode or unreachable source)."""


@dataclass
class PublishResult:
    """What :func:`zoolab.hub.publish` created."""

    repo_id: str
    source: str
    commit_id: str
    url: str
    files: list[str] = field(default_factory=list)
    branch: str = "main"
    card_generated: bool = False
    """True when zoolab wrote the README.md model card because the folder had none."""
    changed: bool = True
    """False when the branch already held exactly these files: no commit was made (``commit_id``
    is the branch's head), as huggingface_hub skips empty commits."""


@dataclass
class CachedRevision:
    """One revision of a repository in a download cache."""

    commit: str
    refs: list[str]
    size: int
    files: int


@dataclass
class CachedRepo:
    """One repository in a download cache (``zoolab cache ls``)."""

    repo_id: str
    source: str
    path: Path
    size: int
    revisions: list[CachedRevision] = field(default_factory=list)
    last_accessed: datetime | None = None
    repo_type: str = "model"
    """``model`` or ``dataset`` (a ``datasets--org--name`` cache folder)."""
