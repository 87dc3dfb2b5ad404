"""Repositories of the store: create, delete, settings, info and listing.

Part of :class:`zoolab.hub.store.Store`; every method is one SQLite transaction.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from zoolab.errors import InvalidInputError, RepoExistsError, RepoNotFoundError
from zoolab.hub.store import auth
from zoolab.hub.store.blobs import BlobFiles
from zoolab.hub.store.search import fts_query
from zoolab.hub.store.db import Database, utc_datetime
from zoolab.hub.store.types import RepoInfo, User
from zoolab.hub.store.validation import validate_repo_id

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


class RepoOps:
    """Repository rows: lookup by case-insensitive id, visibility, creation (with the initial commit), listing."""

    db: Database
    blobs: BlobFiles
    repo_type: str

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
            created_at=utc_datetime(row["created_at"]),
            last_modified=utc_datetime(row["last_modified"]),
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
        # (No empty "IN ()": PostgreSQL refuses it.)
        orgs = " OR owner IN (%s)" % ",".join("?" * len(viewer.orgs)) if viewer and viewer.orgs else ""
        where = ["repo_type = ?", "(private = 0" + (f" OR owner = ?{orgs})" if viewer else ")")]
        params: list[Any] = [self.repo_type, viewer.name, *viewer.orgs] if viewer else [self.repo_type]
        if author:
            where.append("owner = ? COLLATE NOCASE")
            params.append(author)
        if search:
            escaped = search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            clause = "repo_id LIKE ? ESCAPE '\\'"
            params.append(f"%{escaped}%")
            fts = fts_query(search, self.db.dialect)
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
