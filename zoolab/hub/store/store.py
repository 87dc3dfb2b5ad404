"""The :class:`Store` facade: repositories (:mod:`.repos`), revisions, branches and tags (:mod:`.refs`),
commits (:mod:`.commits`), blobs, uploads, maintenance and access control.

See the package docstring for the contract. All metadata changes are single SQLite transactions;
blobs are written (verified, atomically) before the transaction that references them.
"""

from __future__ import annotations

import copy
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from zoolab import settings
from zoolab.errors import PermissionDeniedError, UnsupportedError
from zoolab.hub.store import auth, maintenance, uploads
from zoolab.hub.store.backends import StoreLocation, open_blobs, open_database
from zoolab.hub.store.blobs import BlobDigest, BlobFiles, BlobWriter
from zoolab.hub.store.commits import CommitOps
from zoolab.hub.store.db import Database
from zoolab.hub.store.refs import RefOps
from zoolab.hub.store.repos import RepoOps
from zoolab.hub.store.types import User
from zoolab.hub.store.uploads import UPLOAD_TTL_S
from zoolab.hub.store.validation import validate_sha256

REPO_TYPES = ("model", "dataset")
"""Repository types the store hosts (Spaces need a runtime, which zoolab does not offer)."""


class Store(RepoOps, RefOps, CommitOps):
    """The store under ``settings.registry_dir(home)``; created on first use. ``location`` may
    put its metadata in PostgreSQL and its blobs in an S3 bucket instead (:mod:`.backends`):
    the same operations, the same guarantees.

    Its operations are grouped by responsibility: repositories in :class:`RepoOps`, revisions,
    files at a revision, branches and tags in :class:`RefOps`, commits and history in
    :class:`CommitOps`; blobs, uploads, maintenance and access control are here."""

    def __init__(self, home: Path | None = None, *, root: Path | None = None, location: StoreLocation | None = None):
        self.root = Path(root) if root is not None else settings.registry_dir(Path(home) if home else None)
        self.root.mkdir(parents=True, exist_ok=True)
        self.location = location or StoreLocation()
        """Where metadata and blobs live (:mod:`.backends`); the default is all under ``root``."""
        self.blobs: BlobFiles = open_blobs(self.location, self.root)
        self.db: Database = open_database(self.location, self.root)
        self.repo_type = "model"
        """Which repos this store object names: ``model`` or ``dataset`` (see :meth:`for_type`)."""

    def for_type(self, repo_type: str | None) -> Store:
        """The same store (database, blobs) naming repos of ``repo_type`` (``model``/``dataset``).

        Models and datasets share blobs, users and access rules; one id may name a model and a
        dataset, as on the Hub, so every repo lookup is by type and id.
        """
        kind = repo_type or "model"
        if kind not in REPO_TYPES:
            raise UnsupportedError(f"repo type {kind!r} is not supported: this hub hosts models and datasets",
                                   hint="use repo_type='model' or 'dataset'")
        if kind == self.repo_type:
            return self
        view = copy.copy(self)
        view.repo_type = kind
        return view

    def url_secret(self) -> bytes:
        """The key signing LFS upload URLs, shared by every server process of this store: in the
        database when it is PostgreSQL (processes on several machines), else a file beside it."""
        if self.location.database is not None:
            with self.db.write() as conn:
                conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('url_secret', ?)",
                             (secrets.token_hex(32),))
                return bytes.fromhex(conn.execute("SELECT value FROM meta WHERE key = 'url_secret'").fetchone()[0])
        path = self.root / "url-secret"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as fh:
                fh.write(secrets.token_bytes(32))
                fh.flush()
                os.fsync(fh.fileno())
        return path.read_bytes()

    def blob_path(self, sha256: str) -> Path:
        """The read-only file holding blob ``sha256``."""
        return self.blobs.path(sha256)

    def has_blob(self, sha256: str) -> bool:
        """True if the blob is stored and recorded."""
        sha = validate_sha256(sha256)
        row = self.db.conn().execute("SELECT 1 FROM blobs WHERE sha256 = ?", (sha,)).fetchone()
        return row is not None and self.blobs.exists(sha)

    def blob_writer(self, *, expected_size: int | None = None, max_size: int | None = None) -> BlobWriter:
        """A streaming writer; pass its result to :meth:`register_blob`."""
        return self.blobs.writer(expected_size=expected_size, max_size=max_size)

    def register_blob(self, digest: BlobDigest) -> tuple[str, int]:
        """Record a blob written with :meth:`blob_writer` so commits may reference it."""
        known = self.db.conn().execute("SELECT 1 FROM blobs WHERE sha256 = ?", (digest.sha256,)).fetchone()
        if known is None:  # a write transaction (an fsync) only for new content
            rows = uploads.blob_rows(self.blobs, [(digest, None)])
            with self.db.write() as conn:
                uploads.insert_blob_rows(conn, rows)
        return digest.sha256, digest.size

    def put_blob(self, data: bytes | BinaryIO | Path, *, expected_sha256: str | None = None,
                 expected_size: int | None = None) -> tuple[str, int]:
        """Store bytes, a binary stream or a file as a blob, verified and atomic: ``(sha256, size)``."""
        digest = self.blobs.put(data, expected_sha256=expected_sha256, expected_size=expected_size)
        return self.register_blob(digest)

    # ------------------------------------------------------------------ uploads and blob reachability
    def record_upload(self, repo_id: str, sha256: str, user: User, *, ttl_s: float = UPLOAD_TTL_S) -> None:
        """Note that ``user`` uploaded blob ``sha256`` (verified) to ``repo_id``: for ``ttl_s`` a commit
        by ``user`` to that repo may name it (see :meth:`reachable_blob`)."""
        sha = validate_sha256(sha256)
        with self.db.write() as conn:
            uploads.record_upload(conn, self._repo_row(conn, repo_id)["pk"], sha, user, ttl_s)

    def reachable_blob(self, repo_id: str, sha256: str, actor: User | None) -> int | None:
        """The size of blob ``sha256`` if a commit to ``repo_id`` by ``actor`` may name it, else None:
        one of the repo's commits references it, or ``actor`` uploaded it to this repo
        (:meth:`record_upload`) and that has not expired (see :mod:`zoolab.hub.store.uploads`)."""
        sha = validate_sha256(sha256)
        with self.db.read() as conn:
            row = self._repo_row(conn, repo_id)
            meta = uploads.reachable(conn, self.blobs, row["pk"], sha, actor)
        return None if meta is None else int(meta["size"])

    # ------------------------------------------------------------------ maintenance
    def verify(self, *, progress: Callable[[int, int], None] | None = None) -> list[str]:
        """Re-hash every blob and check every referenced blob exists; one line per problem.
        ``progress(done_bytes, total_bytes)`` is called as blobs are checked."""
        return maintenance.verify(self.db, self.blobs, progress=progress)

    def gc(self, *, grace_s: float = 3600.0) -> tuple[int, int]:
        """Remove blobs no commit references (older than ``grace_s``, so uploads in flight survive)
        and stale temp files. Returns ``(blobs removed, bytes freed)``."""
        return maintenance.gc(self.db, self.blobs, grace_s=grace_s)

    # ------------------------------------------------------------------ access control
    def create_user(self, name: str) -> None:
        """Create a user (no-op if it exists)."""
        auth.create_user(self.db, name, exist_ok=True)

    def create_token(self, user: str, *, write: bool = False) -> str:
        """A new token for ``user``; only its hash is stored."""
        return auth.create_token(self.db, user, write=write)

    def revoke_token(self, token: str) -> bool:
        """Forget a token (whole, or its id from :meth:`list_tokens`); True if it existed."""
        return auth.revoke_token(self.db, token)

    def list_tokens(self, user: str | None = None) -> list[dict[str, object]]:
        """Tokens (never their value): ``{id, user, write, created_at}``."""
        return auth.list_tokens(self.db, user)

    def authenticate(self, token: str | None) -> User | None:
        """The user of ``token``, or None."""
        return auth.authenticate(self.db, token)

    def create_org(self, name: str, *, exist_ok: bool = False) -> None:
        """Create an organisation."""
        auth.create_org(self.db, name, exist_ok=exist_ok)

    def add_member(self, org: str, user: str) -> None:
        """Add ``user`` to ``org``."""
        auth.add_member(self.db, org, user)

    def remove_member(self, org: str, user: str) -> None:
        """Remove ``user`` from ``org``."""
        auth.remove_member(self.db, org, user)

    def list_orgs(self) -> dict[str, list[str]]:
        """Organisations and their members."""
        return auth.list_orgs(self.db)

    @staticmethod
    def _check_write(actor: User | None, namespace: str) -> None:
        # actor None: trusted in-process caller (the local registry), no access control.
        if actor is not None and not actor.may_write_to(namespace):
            why = "this token is read-only" if not actor.can_write else f"'{actor.name}' may not write to '{namespace}'"
            raise PermissionDeniedError(
                why, hint="use a write token of the namespace's user or of a member of its organisation"
            )


__all__ = ["Store"]
