"""Revisions of the store: resolving branches, tags and commit ids, the files at a revision, and
creating and deleting branches and tags.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from zoolab.errors import ConflictError, EntryNotFoundError, RefExistsError, RevisionNotFoundError
from zoolab.hub.store.blobs import BlobFiles
from zoolab.hub.store.db import Database
from zoolab.hub.store.types import FileEntry, RefInfo, User
from zoolab.hub.store.validation import (
    is_commit_id,
    validate_path,
    validate_ref_name,
    validate_revision,
    validate_text,
)

_REF_PREFIX = {"branch": "refs/heads/", "tag": "refs/tags/"}


@dataclass(frozen=True)
class RepoAccess:
    """The facts of a repository that decide who may read its files."""

    repo_id: str
    repo_type: str
    owner: str
    gated: str | bool


@dataclass(frozen=True)
class DownloadTarget:
    """What a download URL names: the repo, the commit the revision points to and the file there
    (None: no such file at that commit)."""

    repo: RepoAccess
    commit_id: str
    entry: FileEntry | None


class RefOps:
    """Branches, tags and the files a revision holds."""

    db: Database
    blobs: BlobFiles
    repo_type: str

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

    def download_target(self, repo_id: str, revision: str, path: str, viewer: User | None,
                        check: Callable[[RepoAccess], None] | None = None) -> DownloadTarget:
        """The repo, commit and file a download URL names: the few indexed lookups of every
        ``resolve`` request, in one read transaction.

        In the order the Hub answers: RepoNotFoundError unless ``viewer`` may see the repo, then
        ``check`` (the caller's gating), then the revision and the path are validated and resolved.
        """
        with self.db.read() as conn:
            row = self._repo_row(conn, repo_id, viewer, check_visible=True)
            access = RepoAccess(row["repo_id"], row["repo_type"], row["owner"], row["gated"] or False)
            if check is not None:
                check(access)
            commit_id = self._resolve(conn, row["pk"], repo_id, revision)  # validates the revision
            validate_path(path)
            r = conn.execute(
                "SELECT f.path, f.sha256, f.lfs, b.size, b.git_oid FROM commit_files f JOIN blobs b USING (sha256) "
                "WHERE f.repo_pk = ? AND f.commit_id = ? AND f.path = ?",
                (row["pk"], commit_id, path),
            ).fetchone()
        entry = None if r is None else FileEntry(r["path"], r["size"], r["sha256"], r["git_oid"], bool(r["lfs"]))
        return DownloadTarget(access, commit_id, entry)

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
