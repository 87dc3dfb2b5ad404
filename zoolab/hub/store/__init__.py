"""The embedded store: model and dataset repositories with branches, tags and history, on one machine.

It is both the storage of the hub server and, used in-process, the "local registry".
Metadata lives in SQLite (with FTS5 full-text search), file contents in content-addressed blobs
named by sha256. A commit is one SQLite transaction: visible whole or not at all. The same store
runs on PostgreSQL and an S3 bucket (``Store(location=StoreLocation(database=, blobs=))``, see
:mod:`.backends`), with the same operations and guarantees.

Contract (other parts of zoolab rely on exactly these names)::

    store = Store(home=None)          # data in settings.registry_dir(home); created on first use
    store.for_type("dataset") -> Store  # the same store naming dataset repos (default: models)

    # repositories
    store.create_repo(repo_id, *, private=False, exist_ok=False, actor=None) -> RepoInfo
    store.delete_repo(repo_id, *, actor=None) -> None
    store.repo_info(repo_id, *, viewer=None) -> RepoInfo          # RepoNotFoundError if not visible
    store.list_repos(*, search=None, author=None, tags=(), sort="downloads", limit=None,
                     viewer=None) -> list[RepoInfo]               # sort: downloads|likes|updated|created
    store.record_download(repo_id) -> None

    # revisions and files
    store.resolve_revision(repo_id, revision="main") -> str       # branch, tag or 40-hex commit
    store.list_files(repo_id, revision="main") -> list[FileEntry]
    store.file_entry(repo_id, path, revision="main") -> FileEntry # EntryNotFoundError
    store.blob_path(sha256) -> Path                               # read-only file of that blob
    store.put_blob(data: bytes | BinaryIO | Path, *, expected_sha256=None,
                   expected_size=None) -> tuple[str, int]         # verified, atomic; (sha256, size)
    store.commit(repo_id, operations: Sequence[Operation], *, message, branch="main",
                 parent_commit=None, author=None) -> CommitInfo
    store.list_commits(repo_id, revision="main") -> list[CommitInfo]   # newest first
    store.list_refs(repo_id) -> list[RefInfo]
    store.create_branch(repo_id, branch, *, revision=None, exist_ok=False) -> None
    store.delete_branch(repo_id, branch) -> None
    store.create_tag(repo_id, tag, *, revision="main", message=None, exist_ok=False) -> None
    store.delete_tag(repo_id, tag) -> None

    # maintenance
    store.verify() -> list[str]                                   # one line per problem found
    store.gc() -> tuple[int, int]                                 # (blobs removed, bytes freed)

    # access control
    store.create_user(name) -> None
    store.create_token(user, *, write=False) -> str               # only a hash is stored
    store.authenticate(token) -> User | None
    store.create_org(name) / store.add_member(org, user) / store.remove_member(org, user)

Additions beyond the contract (used by the hub server)::

    store.snapshot(repo_id, revision) -> (commit_id, list[FileEntry])   # one consistent read
    store.file_at(repo_id, path, revision) -> (commit_id, FileEntry)
    store.has_blob(sha256) -> bool
    store.blob_writer(expected_size=, max_size=) -> BlobWriter   # stream in, then register_blob()
    store.register_blob(digest) -> (sha256, size)
    store.update_repo_settings(repo_id, private=, actor=) -> RepoInfo
    store.can_see(repo_id, viewer) -> bool
    store.list_orgs() -> {org: [members]}
    store.gc(grace_s=3600.0)          # unreferenced blobs younger than grace_s are kept
    actor=User on every write          # access control; None = trusted in-process caller

The value types are in :mod:`zoolab.hub.store.types`. :class:`Store` (``store.py``: blobs, uploads,
maintenance, access control) gathers its operations from ``repos.py`` (repositories), ``refs.py``
(revisions, files at a revision, branches and tags) and ``commits.py`` (commits and history).
"""

from zoolab.hub.store.store import Store
from zoolab.hub.store.types import (
    AddFile,
    CommitInfo,
    CopyFile,
    DeleteFile,
    FileEntry,
    Operation,
    RefInfo,
    RepoInfo,
    User,
)

__all__ = [
    "AddFile",
    "CommitInfo",
    "CopyFile",
    "DeleteFile",
    "FileEntry",
    "Operation",
    "RefInfo",
    "RepoInfo",
    "Store",
    "User",
]
