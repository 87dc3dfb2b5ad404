"""Value types of the embedded store, shared by the store, the hub server and the hub client.

These are the store's public vocabulary; the in-process API (the "local registry") returns them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Union


@dataclass(frozen=True)
class FileEntry:
    """One file of a repository at one commit."""

    path: str
    size: int
    sha256: str
    """Hex sha256 of the content: the blob's name in the store."""
    git_oid: str
    """Hex git blob sha1 (``sha1(b"blob <size>\\0" + content)``), the Hub's ``oid``."""
    lfs: bool
    """Stored as an LFS file on the Hub protocol (large or binary)."""

    @property
    def etag(self) -> str:
        """What the Hub sends as ETag / X-Linked-Etag: sha256 for LFS files, git oid otherwise."""
        return self.sha256 if self.lfs else self.git_oid


@dataclass(frozen=True)
class CommitInfo:
    """One commit of a repository."""

    commit_id: str
    """40 lowercase hex characters."""
    parent_ids: tuple[str, ...]
    message: str
    author: str | None
    created_at: datetime


@dataclass(frozen=True)
class RefInfo:
    """A branch or a tag and the commit it points to."""

    name: str
    kind: Literal["branch", "tag"]
    commit_id: str


@dataclass
class RepoInfo:
    """Metadata of one model or dataset repository."""

    repo_id: str
    owner: str
    name: str
    private: bool
    created_at: datetime
    last_modified: datetime
    sha: str | None
    """Head commit of the default branch."""
    downloads: int = 0
    likes: int = 0
    tags: list[str] = field(default_factory=list)
    library_name: str | None = None
    pipeline_tag: str | None = None
    card_data: dict[str, Any] = field(default_factory=dict)
    default_branch: str = "main"
    repo_type: str = "model"
    """``model`` or ``dataset``."""
    gated: str | bool = False
    """``False``, or how access requests are approved (``auto`` / ``manual``), as the Hub reports it."""


@dataclass(frozen=True)
class User:
    """An authenticated caller."""

    name: str
    orgs: tuple[str, ...] = ()
    can_write: bool = False

    def may_write_to(self, namespace: str) -> bool:
        """True if this user may create or change repos under ``namespace``."""
        return self.can_write and (namespace == self.name or namespace in self.orgs)


@dataclass(frozen=True)
class AddFile:
    """Commit operation: add or replace ``path``.

    Exactly one of ``sha256`` (a blob already in the store, e.g. uploaded via LFS), ``content``
    or ``source`` (a local file to copy in) is given.
    """

    path: str
    sha256: str | None = None
    content: bytes | None = None
    source: Path | None = None


@dataclass(frozen=True)
class DeleteFile:
    """Commit operation: delete ``path`` (a folder when ``is_folder``)."""

    path: str
    is_folder: bool = False


@dataclass(frozen=True)
class CopyFile:
    """Commit operation: copy ``src_path`` (at ``src_revision``, default the parent) to ``dest_path``."""

    src_path: str
    dest_path: str
    src_revision: str | None = None


Operation = Union[AddFile, DeleteFile, CopyFile]
