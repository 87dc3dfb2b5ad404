"""The :class:`Store` facade: repositories, revisions, commits, maintenance and access control.

See the package docstring for the contract. All metadata changes are single SQLite transactions;
blobs are written (verified, atomically) before the transaction that references them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import sqlite3
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO

from zoolab import settings
from zoolab.errors import (
    ConflictError,
    EntryNotFoundError,
    InvalidCardError,
    InvalidInputError,
    PermissionDeniedError,
    RefExistsError,
    RepoExistsError,
    RepoNotFoundError,
    RevisionNotFoundError,
    StaleParentError,
    UnsupportedError,
)
from zoolab.hub.store import auth, maintenance, uploads
from zoolab.hub.store.blobs import BlobDigest, BlobFiles, BlobWriter
from zoolab.hub.store.cards import card_of_file, is_lfs_file
from zoolab.hub.store.paths import PathSet
from zoolab.hub.store.search import fts_query, index_card
from zoolab.hub.store.db import Database
from zoolab.hub.store.uploads import UPLOAD_TTL_S
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
from zoolab.hub.store.validation import (
    is_commit_id,
    validate_folder,
    validate_path,
    validate_ref_name,
    validate_repo_id,
    validate_revision,
    validate_sha256,
    validate_text,
)

REPO_TYPES = ("model", "dataset")
"""Repository types the store hosts (Spaces need a runtime, which zoolab does not offer)."""

SORT_COLUMNS = {
    "downloads": "downloads DESC",
    "likes": "likes DESC",
    "updated": "last_modified DESC",
    "created": "created_at DESC",
}

GITATTRIBUTES = (
    "".join(
        f"*{suffix} filter=lfs diff=lfs merge=lfs -text\n"
        for suffix in (".bin", ".ckpt", ".h5", ".keras", ".msgpack", ".npy", ".npz", ".onnx", ".pkl", ".pt",
                       ".pth", ".safetensors", ".tflite", ".gguf", ".zip")
    )  # fmt: skip
).encode()


_REF_PREFIX = {"branch": "refs/heads/", "tag": "refs/tags/"}


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


class Store:
    """The embedded store under ``settings.registry_dir(home)``; created on first use."""

    def __init__(self, home: Path | None = None, *, root: Path | None = None):
        self.root = Path(root) if root is not None else settings.registry_dir(Path(home) if home else None)
        self.root.mkdir(parents=True, exist_ok=True)
        self.blobs = BlobFiles(self.root)
        self.db = Database(self.root / "db.sqlite")
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

    # ------------------------------------------------------------------ repositories
    def _repo_row(self, conn: sqlite3.Connection, repo_id: str, viewer: User | None = None,
                  *, check_visible: bool = False) -> sqlite3.Row:
        validate_repo_id(repo_id)
        row = self._find_repo(conn, repo_id)
        if row is None or (check_visible and not self._may_see(row, viewer)):
            raise RepoNotFoundError(
                f"repository '{repo_id}' not found",
                hint="check the id; a private repo needs a token of its owner or an org member",
            )
        return row

    def _find_repo(self, conn: sqlite3.Connection, repo_id: str) -> sqlite3.Row | None:
        # Repo ids are case-insensitive, as on the Hub (client caches on case-insensitive disks would
        # mix up 'lab/Model' and 'lab/model'); the stored spelling is kept. An exact match wins in
        # stores that hold case variants from before this rule.
        return conn.execute(
            "SELECT * FROM repos WHERE repo_type = ? AND repo_id = ? COLLATE NOCASE ORDER BY repo_id = ? DESC LIMIT 1",
            (self.repo_type, repo_id, repo_id),
        ).fetchone() or conn.execute(  # an id the repo had before a move
            "SELECT repos.* FROM repo_redirects JOIN repos ON repos.pk = repo_redirects.repo_pk "
            "WHERE repo_redirects.repo_type = ? AND old_id = ?", (self.repo_type, repo_id),
        ).fetchone()

    @staticmethod
    def _may_see(row: sqlite3.Row, viewer: User | None) -> bool:
        if not row["private"]:
            return True
        return viewer is not None and (viewer.name == row["owner"] or row["owner"] in viewer.orgs)

    def _info(self, conn: sqlite3.Connection, row: sqlite3.Row) -> RepoInfo:
        head = conn.execute(
            "SELECT commit_id FROM refs WHERE repo_pk = ? AND kind = 'branch' AND name = ?",
            (row["pk"], row["default_branch"]),
        ).fetchone()
        return RepoInfo(
            repo_id=row["repo_id"],
            owner=row["owner"],
            name=row["name"],
            private=bool(row["private"]),
            created_at=_dt(row["created_at"]),
            last_modified=_dt(row["last_modified"]),
            sha=head["commit_id"] if head else None,
            downloads=row["downloads"],
            likes=row["likes"],
            tags=json.loads(row["tags_json"]),
            library_name=row["library_name"],
            pipeline_tag=row["pipeline_tag"],
            card_data=json.loads(row["card_json"]),
            default_branch=row["default_branch"],
            repo_type=row["repo_type"],
            gated=row["gated"] or False,
        )

    def create_repo(self, repo_id: str, *, private: bool = False, exist_ok: bool = False,
                    actor: User | None = None) -> RepoInfo:
        """Create a repository with an initial commit (``.gitattributes``) on ``main``.

        Raises RepoExistsError (or returns the existing one with ``exist_ok``), PermissionDeniedError
        if ``actor`` may not write to the namespace.
        """
        owner, name = validate_repo_id(repo_id)
        owner = auth.namespace_spelling(self.db, owner)  # 'LAB/x' goes to user or org 'lab'
        repo_id = f"{owner}/{name}"
        self._check_write(actor, owner)
        digest = self.put_blob(GITATTRIBUTES)
        now = time.time()
        with self.db.write() as conn:
            existing = self._find_repo(conn, repo_id)
            if existing is not None and existing["repo_id"].lower() != repo_id.lower():
                # The id of a moved repo is free again: the new repo takes it over.
                conn.execute("DELETE FROM repo_redirects WHERE repo_type = ? AND old_id = ?", (self.repo_type, repo_id))
                existing = None
            if existing is not None:
                if exist_ok and (actor is None or self._may_see(existing, actor)):
                    return self._info(conn, existing)
                raise RepoExistsError(f"repository '{existing['repo_id']}' exists already",
                                      hint="pass exist_ok=True (repo ids are case-insensitive)")
            cur = conn.execute(
                "INSERT INTO repos(repo_type, repo_id, owner, name, private, created_at, last_modified) "
                "VALUES (?,?,?,?,?,?,?)",
                (self.repo_type, repo_id, owner, name, int(private), now, now),
            )
            pk = cur.lastrowid
            conn.execute("INSERT INTO repos_fts(rowid, repo_id, tags, card) VALUES (?, ?, '', '')",
                         (pk, repo_id.replace("/", " ") + " " + repo_id))
            files = {".gitattributes": (digest[0], False)}
            author = actor.name if actor is not None else None  # the creator, as on the Hub
            commit_id = self._write_commit(conn, pk, repo_id, files, (), "initial commit", author, now)
            conn.execute("INSERT INTO refs(repo_pk, kind, name, commit_id) VALUES (?, 'branch', 'main', ?)",
                         (pk, commit_id))
            row = conn.execute("SELECT * FROM repos WHERE pk = ?", (pk,)).fetchone()
            return self._info(conn, row)

    def delete_repo(self, repo_id: str, *, actor: User | None = None) -> None:
        """Delete a repository and its history (blobs stay until ``gc``)."""
        with self.db.write() as conn:
            row = self._repo_row(conn, repo_id, actor, check_visible=actor is not None)
            if row["repo_id"].lower() != repo_id.lower():  # never delete a moved repo by its old id
                raise RepoNotFoundError(f"repository '{repo_id}' not found", hint=f"it is now '{row['repo_id']}'")
            self._check_write(actor, row["owner"])
            conn.execute("DELETE FROM repos_fts WHERE rowid = ?", (row["pk"],))
            conn.execute("DELETE FROM commit_files WHERE repo_pk = ?", (row["pk"],))
            conn.execute("DELETE FROM refs WHERE repo_pk = ?", (row["pk"],))
            conn.execute("DELETE FROM uploads WHERE repo_pk = ?", (row["pk"],))
            conn.execute("DELETE FROM commits WHERE repo_pk = ?", (row["pk"],))
            conn.execute("DELETE FROM repos WHERE pk = ?", (row["pk"],))

    def update_repo_settings(self, repo_id: str, *, private: bool | None = None, gated: str | bool | None = None,
                             actor: User | None = None) -> RepoInfo:
        """Change a repository's visibility and gating (``False``, ``auto`` or ``manual``).

        Gating is recorded and reported as on the Hub; zoolab has no access requests, so access
        stays decided by visibility and membership."""
        if gated is not None and gated not in (False, "auto", "manual"):
            raise InvalidInputError(f"invalid gated value {gated!r}", hint="use False, 'auto' or 'manual'")
        with self.db.write() as conn:
            row = self._repo_row(conn, repo_id, actor, check_visible=actor is not None)
            self._check_write(actor, row["owner"])
            if private is not None:
                conn.execute("UPDATE repos SET private = ? WHERE pk = ?", (int(private), row["pk"]))
            if gated is not None:
                conn.execute("UPDATE repos SET gated = ? WHERE pk = ?", (gated or None, row["pk"]))
            return self._info(conn, conn.execute("SELECT * FROM repos WHERE pk = ?", (row["pk"],)).fetchone())

    def repo_info(self, repo_id: str, *, viewer: User | None = None) -> RepoInfo:
        """Metadata of a repository visible to ``viewer``; RepoNotFoundError otherwise."""
        with self.db.read() as conn:
            return self._info(conn, self._repo_row(conn, repo_id, viewer, check_visible=True))

    def can_see(self, repo_id: str, viewer: User | None) -> bool:
        """True if the repo exists and ``viewer`` may read it."""
        try:
            self.repo_info(repo_id, viewer=viewer)
        except RepoNotFoundError:
            return False
        return True

    def list_repos(self, *, search: str | None = None, author: str | None = None, tags: Sequence[str] = (),
                   sort: str = "downloads", limit: int | None = None, viewer: User | None = None,
                   offset: int = 0, gated: bool | None = None) -> list[RepoInfo]:
        """Repositories visible to ``viewer``, filtered (``gated``: only gated / only not gated)
        and sorted (downloads|likes|updated|created)."""
        if sort not in SORT_COLUMNS:
            raise InvalidInputError(f"unknown sort key {sort!r}", hint=f"use one of {', '.join(SORT_COLUMNS)}")
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
            raise InvalidInputError(f"invalid limit {limit!r}", hint="give a non-negative integer")
        where = ["repo_type = ?", "(private = 0" + (" OR owner = ? OR owner IN (%s))" % ",".join("?" * len(viewer.orgs))
                                                     if viewer else ")")]
        params: list[Any] = [self.repo_type, viewer.name, *viewer.orgs] if viewer else [self.repo_type]
        if author:
            where.append("owner = ? COLLATE NOCASE")
            params.append(author)
        if search:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clause = "repo_id LIKE ? ESCAPE '\\'"
            params.append(f"%{escaped}%")
            fts = fts_query(search)
            if fts:
                clause = f"({clause} OR pk IN (SELECT rowid FROM repos_fts WHERE repos_fts MATCH ?))"
                params.append(fts)
            where.append(clause)
        if gated is not None:
            where.append("gated IS NOT NULL" if gated else "gated IS NULL")
        for tag in tags:
            where.append("EXISTS (SELECT 1 FROM json_each(repos.tags_json) WHERE json_each.value = ?)")
            params.append(tag)
        sql = f"SELECT * FROM repos WHERE {' AND '.join(where)} ORDER BY {SORT_COLUMNS[sort]}, repo_id"
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            params += [limit, offset]
        with self.db.read() as conn:
            return [self._info(conn, row) for row in conn.execute(sql, params).fetchall()]

    def record_download(self, repo_id: str) -> None:
        """Count one download of ``repo_id``."""
        with self.db.write() as conn:
            conn.execute("UPDATE repos SET downloads = downloads + 1 WHERE pk = ?",
                         (self._repo_row(conn, repo_id)["pk"],))

    # ------------------------------------------------------------------ revisions and files
    def _resolve(self, conn: sqlite3.Connection, pk: int, repo_id: str, revision: str,
                 *, abbreviated: bool = False) -> str:
        validate_revision(revision)
        row = conn.execute(
            "SELECT commit_id FROM refs WHERE repo_pk = ? AND name = ? ORDER BY kind", (pk, revision)
        ).fetchone()
        if row is not None:
            return row["commit_id"]
        if is_commit_id(revision) and conn.execute(
            "SELECT 1 FROM commits WHERE repo_pk = ? AND commit_id = ?", (pk, revision)
        ).fetchone():
            return revision
        if abbreviated and 7 <= len(revision) < 40 and all(ch in "0123456789abcdef" for ch in revision):
            # A unique commit id prefix (git's short ids), as the Hub takes for tags and branches.
            found = conn.execute("SELECT commit_id FROM commits WHERE repo_pk = ? AND substr(commit_id, 1, ?) = ? "
                                 "LIMIT 2", (pk, len(revision), revision)).fetchall()
            if len(found) == 1:
                return found[0]["commit_id"]
        raise RevisionNotFoundError(
            f"revision '{revision}' not found in '{repo_id}'",
            hint="give an existing branch, tag or full 40-character commit id",
        )

    def resolve_revision(self, repo_id: str, revision: str = "main", *, abbreviated: bool = False) -> str:
        """The commit id a branch, tag or commit id (with ``abbreviated``, a unique prefix of 7+
        hex digits) points to."""
        with self.db.read() as conn:
            row = self._repo_row(conn, repo_id)
            return self._resolve(conn, row["pk"], repo_id, revision, abbreviated=abbreviated)

    def _files(self, conn: sqlite3.Connection, pk: int, commit_id: str) -> list[FileEntry]:
        rows = conn.execute(
            "SELECT f.path, f.sha256, f.lfs, b.size, b.git_oid FROM commit_files f JOIN blobs b USING (sha256) "
            "WHERE f.repo_pk = ? AND f.commit_id = ? ORDER BY f.path",
            (pk, commit_id),
        ).fetchall()
        return [FileEntry(r["path"], r["size"], r["sha256"], r["git_oid"], bool(r["lfs"])) for r in rows]

    def list_files(self, repo_id: str, revision: str = "main") -> list[FileEntry]:
        """Every file at ``revision``, sorted by path."""
        with self.db.read() as conn:
            row = self._repo_row(conn, repo_id)
            return self._files(conn, row["pk"], self._resolve(conn, row["pk"], repo_id, revision))

    def snapshot(self, repo_id: str, revision: str = "main") -> tuple[str, list[FileEntry]]:
        """``(commit_id, files)`` of ``revision`` read in one consistent transaction."""
        with self.db.read() as conn:
            row = self._repo_row(conn, repo_id)
            commit_id = self._resolve(conn, row["pk"], repo_id, revision)
            return commit_id, self._files(conn, row["pk"], commit_id)

    def file_entry(self, repo_id: str, path: str, revision: str = "main") -> FileEntry:
        """One file at ``revision``; EntryNotFoundError if absent."""
        return self.file_at(repo_id, path, revision)[1]

    def file_at(self, repo_id: str, path: str, revision: str = "main") -> tuple[str, FileEntry]:
        """``(commit_id, entry)`` of one file at ``revision``, in one transaction."""
        validate_path(path)
        with self.db.read() as conn:
            row = self._repo_row(conn, repo_id)
            commit_id = self._resolve(conn, row["pk"], repo_id, revision)
            r = conn.execute(
                "SELECT f.path, f.sha256, f.lfs, b.size, b.git_oid FROM commit_files f JOIN blobs b USING (sha256) "
                "WHERE f.repo_pk = ? AND f.commit_id = ? AND f.path = ?",
                (row["pk"], commit_id, path),
            ).fetchone()
            if r is None:
                raise EntryNotFoundError(f"'{path}' not found in '{repo_id}' at revision '{revision}'")
            return commit_id, FileEntry(r["path"], r["size"], r["sha256"], r["git_oid"], bool(r["lfs"]))

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

    def _record_blobs(self, conn: sqlite3.Connection, digests: Sequence[BlobDigest]) -> None:
        uploads.insert_blob_rows(conn, uploads.blob_rows([(d, self.blobs.path(d.sha256)) for d in digests]))

    def register_blob(self, digest: BlobDigest) -> tuple[str, int]:
        """Record a blob written with :meth:`blob_writer` so commits may reference it."""
        known = self.db.conn().execute("SELECT 1 FROM blobs WHERE sha256 = ?", (digest.sha256,)).fetchone()
        if known is None:  # a write transaction (an fsync) only for new content
            with self.db.write() as conn:
                self._record_blobs(conn, [digest])
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

    def commit(self, repo_id: str, operations: Sequence[Operation], *, message: str, branch: str = "main",
               parent_commit: str | None = None, author: str | None = None,
               actor: User | None = None, new_blobs: Sequence[BlobDigest | BlobWriter] = ()) -> CommitInfo:
        """Apply ``operations`` on top of ``branch`` as one new commit, atomically.

        Contents are stored first; then one transaction checks the branch head (``parent_commit``),
        writes the commit and its file list and moves the branch. Raises RevisionNotFoundError for
        an unknown branch, ConflictError if the head moved, EntryNotFoundError for deleting a file
        that does not exist.

        ``new_blobs``: contents the caller wrote for this commit (the inline files of a commit
        request): writers from :meth:`blob_writer` finished with ``publish=False``, or digests of
        blobs already stored. The writers are moved into ``blobs/`` and all are recorded at the end
        of the commit's own transaction, so a refused commit stores none of them, and
        ``AddFile(sha256=)`` may name them. With an ``actor``, any other ``AddFile(sha256=)`` must be
        reachable from the repo (:meth:`reachable_blob`). ``AddFile(content=)`` and ``source=`` are
        staged the same way: nothing of a refused commit is stored.
        """
        operations, created = self._stage_contents(operations)
        try:
            return self._commit(repo_id, operations, message=message, branch=branch, parent_commit=parent_commit,
                                author=author, actor=actor, new_blobs=[*new_blobs, *created])
        finally:
            for blob in created:  # published by a successful commit; removed from tmp/ otherwise
                if isinstance(blob, BlobWriter):
                    blob.abort()

    def _stage_contents(self, operations: Sequence[Operation]) -> tuple[list[Operation], list[BlobDigest | BlobWriter]]:
        """``AddFile(content=)`` / ``AddFile(source=)`` turned into ``AddFile(sha256=)`` of staged blobs."""
        ops: list[Operation] = []
        created: list[BlobDigest | BlobWriter] = []
        try:
            for op in operations:
                if not isinstance(op, AddFile) or op.sha256 is not None or (op.content is None) == (op.source is None):
                    ops.append(op)  # nothing to stage, or malformed: _commit says why
                    continue
                validate_path(op.path)
                if op.content is not None:
                    staged = self.blobs.stage(bytes(op.content))
                    created.append(staged)
                    digest = staged.digest if isinstance(staged, BlobWriter) else staged
                else:
                    writer = self.blobs.writer(expected_size=Path(op.source).stat().st_size)  # type: ignore[arg-type]
                    created.append(writer)  # removed again if anything below fails
                    with open(op.source, "rb") as fh:  # type: ignore[arg-type]
                        writer.write_from(fh)
                    digest = writer.finish(publish=False)
                assert digest is not None
                ops.append(AddFile(op.path, sha256=digest.sha256))
        except BaseException:
            for blob in created:
                if isinstance(blob, BlobWriter):
                    blob.abort()
            raise
        return ops, created

    def _commit(self, repo_id: str, operations: Sequence[Operation], *, message: str, branch: str,
                parent_commit: str | None, author: str | None, actor: User | None,
                new_blobs: Sequence[BlobDigest | BlobWriter]) -> CommitInfo:
        """:meth:`commit` once contents are staged (``new_blobs``)."""
        validate_repo_id(repo_id)
        validate_ref_name(branch, kind="branch")
        if not isinstance(message, str) or not message.strip():
            raise InvalidInputError("empty commit message", hint="give a short summary of the change")
        validate_text(message, what="commit message")
        if parent_commit is not None and not is_commit_id(parent_commit):
            raise InvalidInputError(f"invalid parent commit {parent_commit!r}", hint="give a 40-hex commit id")
        # Stage contents outside the transaction: blobs are immutable and harmless until referenced.
        staged: list[tuple[Operation, str | None]] = []
        pending = [b for b in new_blobs if isinstance(b, BlobWriter)]
        sources = [(b.digest, b.temp_path) if isinstance(b, BlobWriter) else (b, self.blobs.path(b.sha256))
                   for b in new_blobs]
        if any(digest is None for digest, _ in sources):
            raise InvalidInputError("new_blobs holds a writer that was not finished")
        blob_rows = uploads.blob_rows(sources)  # type: ignore[arg-type]
        temp_paths = {b.digest.sha256: b.temp_path for b in pending if b.digest is not None}
        for op in operations:
            if isinstance(op, AddFile):
                validate_path(op.path)
                given = [x is not None for x in (op.sha256, op.content, op.source)]
                if sum(given) != 1:
                    raise InvalidInputError(f"AddFile('{op.path}') needs exactly one of sha256, content, source")
                staged.append((op, validate_sha256(op.sha256)))  # type: ignore[arg-type] (staged by commit)
            elif isinstance(op, DeleteFile):
                validate_folder(op.path) if op.is_folder else validate_path(op.path)
                staged.append((op, None))
            elif isinstance(op, CopyFile):
                validate_path(op.src_path)
                validate_path(op.dest_path)
                if op.src_revision is not None:
                    validate_revision(op.src_revision)
                staged.append((op, None))
            else:
                raise InvalidInputError(f"unknown commit operation {op!r}")
        # Parse a new card before taking the write lock (YAML parsing grows with the card); an
        # error is raised only if the card ends up indexed (the default branch).
        cards: dict[str, tuple[dict[str, Any], str] | InvalidCardError] = {}
        for op, sha in staged:
            if isinstance(op, AddFile) and op.path == "README.md" and sha is not None and sha not in cards:
                try:
                    cards[sha] = card_of_file(temp_paths.get(sha) or self.blobs.path(sha))
                except InvalidCardError as exc:
                    cards[sha] = exc
        now = time.time()
        with self.db.write() as conn:
            row = self._repo_row(conn, repo_id, actor, check_visible=actor is not None)
            self._check_write(actor, row["owner"])
            uploads.insert_blob_rows(conn, blob_rows)
            written = {row[0]: row for row in blob_rows}
            pk = row["pk"]
            head_row = conn.execute(
                "SELECT commit_id FROM refs WHERE repo_pk = ? AND kind = 'branch' AND name = ?", (pk, branch)
            ).fetchone()
            if head_row is None:
                raise RevisionNotFoundError(
                    f"branch '{branch}' not found in '{repo_id}'", hint="create it first with create_branch"
                )
            head = head_row["commit_id"]
            if parent_commit is not None and parent_commit != head:
                raise StaleParentError(branch, head, parent_commit)
            files = {e.path: (e.sha256, e.lfs) for e in self._files(conn, pk, head)}
            index = PathSet(files)  # folder deletions without a scan of every file per operation
            for op, sha in staged:
                if isinstance(op, AddFile):
                    assert sha is not None
                    if sha in written:
                        meta = {"size": written[sha][1], "lfs_hint": written[sha][3]}
                    else:
                        meta = uploads.reachable(conn, self.blobs, pk, sha, actor)
                        if meta is None:
                            # The same answer whether the blob is missing or only in another repo.
                            raise InvalidInputError(
                                f"blob {sha} of '{op.path}' was not uploaded to '{row['repo_id']}'",
                                hint="upload the file's content (LFS batch API) before committing it",
                            )
                    lfs = is_lfs_file(op.path, meta["size"], b"\x00" if meta["lfs_hint"] else b"")
                    files[op.path] = (sha, lfs)
                    index.add(op.path)
                elif isinstance(op, DeleteFile):
                    if op.is_folder:
                        doomed = list(index.below(validate_folder(op.path)))
                    else:
                        # A folder named without its trailing '/' is deleted whole, as on the Hub.
                        doomed = [op.path] if op.path in files else list(index.below(op.path))
                    if not doomed:
                        raise EntryNotFoundError(f"cannot delete '{op.path}': not found in '{repo_id}@{branch}'")
                    for p in doomed:
                        del files[p]
                        index.discard(p)
                elif isinstance(op, CopyFile):
                    src_commit = head if op.src_revision is None else self._resolve(conn, pk, repo_id,
                                                                                    op.src_revision)
                    src = conn.execute(  # one indexed row, not the source commit's whole file list
                        "SELECT sha256, lfs FROM commit_files WHERE repo_pk = ? AND commit_id = ? AND path = ?",
                        (pk, src_commit, op.src_path),
                    ).fetchone()
                    if src is None:
                        raise EntryNotFoundError(f"cannot copy '{op.src_path}': not found in '{repo_id}'")
                    files[op.dest_path] = (src["sha256"], bool(src["lfs"]))
                    index.add(op.dest_path)
            card_update = None
            # Re-read the card only when this commit touches it: an old card never blocks a commit.
            touched = {op.path for op, _ in staged if isinstance(op, (AddFile, DeleteFile))}
            touched |= {op.dest_path for op, _ in staged if isinstance(op, CopyFile)}
            if branch == row["default_branch"] and ("README.md" in touched or "README.md" not in files
                                                    or any(op.is_folder for op, _ in staged
                                                           if isinstance(op, DeleteFile))):
                card_update = self._card_from(files, cards)
            for writer in pending:  # the last step that touches files: only now are they stored
                writer.publish()
            commit_id = self._write_commit(conn, pk, row["repo_id"], files, (head,), message, author, now)
            conn.execute("UPDATE refs SET commit_id = ? WHERE repo_pk = ? AND kind = 'branch' AND name = ?",
                         (commit_id, pk, branch))
            conn.execute("UPDATE repos SET last_modified = ? WHERE pk = ?", (now, pk))
            if actor is not None:  # the uploads are referenced now: nothing left pending
                uploads.settle_uploads(conn, pk, actor, [sha for op, sha in staged if isinstance(op, AddFile)])
            if card_update is not None:
                index_card(conn, pk, repo_id, *card_update)
            return CommitInfo(commit_id, (head,), message, author, _dt(now))

    def _card_from(self, files: dict[str, tuple[str, bool]],
                   parsed: dict[str, tuple[dict[str, Any], str] | InvalidCardError]) -> tuple[dict[str, Any], str]:
        """(YAML metadata, text) of the README at these files; InvalidCardError if malformed.
        ``parsed``: cards parsed already, by blob sha256."""
        entry = files.get("README.md")
        if entry is None:
            return {}, ""
        card = parsed.get(entry[0]) or card_of_file(self.blobs.path(entry[0]))
        if isinstance(card, InvalidCardError):
            raise card
        return card

    @staticmethod
    def _write_commit(conn: sqlite3.Connection, pk: int, repo_id: str, files: dict[str, tuple[str, bool]],
                      parents: tuple[str, ...], message: str, author: str | None, now: float) -> str:
        # The id covers content, history and metadata, like a git commit id.
        body = json.dumps(
            {"repo": repo_id, "parents": list(parents), "files": sorted(files.items()), "message": message,
             "author": author, "time": now},
            sort_keys=True,
        ).encode()
        commit_id = hashlib.sha1(body).hexdigest()
        conn.execute(
            "INSERT INTO commits(repo_pk, commit_id, parents_json, message, author, created_at) VALUES (?,?,?,?,?,?)",
            (pk, commit_id, json.dumps(list(parents)), message, author, now),
        )
        conn.executemany(
            "INSERT INTO commit_files(repo_pk, commit_id, path, sha256, lfs) VALUES (?,?,?,?,?)",
            [(pk, commit_id, path, sha, int(lfs)) for path, (sha, lfs) in files.items()],
        )
        return commit_id

    def list_commits(self, repo_id: str, revision: str = "main") -> list[CommitInfo]:
        """The history reachable from ``revision``, newest first."""
        with self.db.read() as conn:
            row = self._repo_row(conn, repo_id)
            start = self._resolve(conn, row["pk"], repo_id, revision)
            all_rows = {
                r["commit_id"]: r
                for r in conn.execute("SELECT rowid AS seq, * FROM commits WHERE repo_pk = ?", (row["pk"],))
            }
        seen: set[str] = set()
        stack = [start]
        while stack:
            cid = stack.pop()
            if cid in seen or cid not in all_rows:
                continue
            seen.add(cid)
            stack.extend(json.loads(all_rows[cid]["parents_json"]))
        ordered = sorted((all_rows[c] for c in seen), key=lambda r: r["seq"], reverse=True)
        return [
            CommitInfo(r["commit_id"], tuple(json.loads(r["parents_json"])), r["message"], r["author"],
                       _dt(r["created_at"]))
            for r in ordered
        ]

    def list_refs(self, repo_id: str) -> list[RefInfo]:
        """Branches then tags, each sorted by name."""
        with self.db.read() as conn:
            row = self._repo_row(conn, repo_id)
            rows = conn.execute(
                "SELECT kind, name, commit_id FROM refs WHERE repo_pk = ? ORDER BY kind, name", (row["pk"],)
            ).fetchall()
        return [RefInfo(r["name"], r["kind"], r["commit_id"]) for r in rows]

    def _create_ref(self, repo_id: str, kind: str, name: str, revision: str | None, exist_ok: bool,
                    message: str | None, actor: User | None) -> None:
        validate_ref_name(name, kind=kind)
        if message is not None:
            validate_text(message, what=f"{kind} message")
        with self.db.write() as conn:
            row = self._repo_row(conn, repo_id, actor, check_visible=actor is not None)
            self._check_write(actor, row["owner"])
            commit_id = self._resolve(conn, row["pk"], repo_id, revision or row["default_branch"], abbreviated=True)
            # Branches and tags are apart (refs/heads/x and refs/tags/x), as in git and on the Hub.
            clash = conn.execute("SELECT 1 FROM refs WHERE repo_pk = ? AND kind = ? AND name = ?",
                                 (row["pk"], kind, name)).fetchone()
            if clash is not None:
                if exist_ok:
                    return
                raise RefExistsError(f"Reference {_REF_PREFIX[kind]}{name} already exists",
                                     hint="pick another name or pass exist_ok=True")
            conn.execute("INSERT INTO refs(repo_pk, kind, name, commit_id, message) VALUES (?,?,?,?,?)",
                         (row["pk"], kind, name, commit_id, message))

    def create_branch(self, repo_id: str, branch: str, *, revision: str | None = None, exist_ok: bool = False,
                      actor: User | None = None) -> None:
        """Create ``branch`` at ``revision`` (default: the default branch's head)."""
        self._create_ref(repo_id, "branch", branch, revision, exist_ok, None, actor)

    def create_tag(self, repo_id: str, tag: str, *, revision: str = "main", message: str | None = None,
                   exist_ok: bool = False, actor: User | None = None) -> None:
        """Create ``tag`` at ``revision``."""
        self._create_ref(repo_id, "tag", tag, revision, exist_ok, message, actor)

    def _delete_ref(self, repo_id: str, kind: str, name: str, actor: User | None) -> None:
        with self.db.write() as conn:
            row = self._repo_row(conn, repo_id, actor, check_visible=actor is not None)
            self._check_write(actor, row["owner"])
            if kind == "branch" and name == row["default_branch"]:
                raise ConflictError(f"Cannot delete refs/heads/{name}: it is the default branch")
            cur = conn.execute("DELETE FROM refs WHERE repo_pk = ? AND kind = ? AND name = ?",
                               (row["pk"], kind, name))
            if cur.rowcount == 0:
                # The Hub's words; the code (RevisionNotFound) makes clients raise their typed error.
                raise RevisionNotFoundError(f"Invalid rev id: {name}", hint=f"no {kind} '{name}' in '{repo_id}'")

    def delete_branch(self, repo_id: str, branch: str, *, actor: User | None = None) -> None:
        """Delete a branch (not the default one)."""
        self._delete_ref(repo_id, "branch", branch, actor)

    def delete_tag(self, repo_id: str, tag: str, *, actor: User | None = None) -> None:
        """Delete a tag."""
        self._delete_ref(repo_id, "tag", tag, actor)

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
