"""Repository administration the Hub offers beyond commits: renaming (``move_repo``), squashing a
branch's history, and listing and permanently deleting a repo's LFS files.

Each is one write transaction of the store (visible whole or not at all) and needs write access
to the repo (and, for a move, to the target namespace).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from zoolab.errors import RepoExistsError, RevisionNotFoundError
from zoolab.hub.store import auth
from zoolab.hub.store.types import CommitInfo, User
from zoolab.hub.store.validation import validate_ref_name, validate_repo_id, validate_sha256

if TYPE_CHECKING:
    from zoolab.hub.store.store import Store


@dataclass(frozen=True)
class LfsFile:
    """One LFS object of a repo: its sha256, a path it has, size, first push and a branch holding it."""

    sha256: str
    filename: str
    size: int
    pushed_at: datetime
    ref: str | None

    @property
    def pointer_oid(self) -> str:
        """The git blob id of the object's LFS pointer file (what git stores in place of the content)."""
        pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{self.sha256}\nsize {self.size}\n"
        data = pointer.encode()
        return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def move_repo(store: Store, from_id: str, to_id: str, *, actor: User | None = None) -> str:
    """Rename ``from_id`` to ``to_id`` (another name or namespace); the old id keeps resolving to
    the repo (as the Hub redirects it) until a repo of that id is created. Returns the new id."""
    validate_repo_id(from_id)
    owner, name = validate_repo_id(to_id)
    owner = auth.namespace_spelling(store.db, owner)
    to_id = f"{owner}/{name}"
    store._check_write(actor, owner)
    with store.db.write() as conn:
        row = store._repo_row(conn, from_id, actor, check_visible=actor is not None)
        store._check_write(actor, row["owner"])
        existing = store._find_repo(conn, to_id)
        if existing is not None and existing["pk"] != row["pk"]:
            raise RepoExistsError(f"A {store.repo_type} repository called {existing['repo_id']} already exists",
                                  hint="pick another name or delete that repository first")
        conn.execute("UPDATE repos SET repo_id = ?, owner = ?, name = ?, last_modified = ? WHERE pk = ?",
                     (to_id, owner, name, time.time(), row["pk"]))
        conn.execute("UPDATE repos_fts SET repo_id = ? WHERE rowid = ?",
                     (to_id.replace("/", " ") + " " + to_id, row["pk"]))
        conn.execute("DELETE FROM repo_redirects WHERE repo_type = ? AND old_id = ?", (store.repo_type, to_id))
        conn.execute("INSERT OR REPLACE INTO repo_redirects(repo_type, old_id, repo_pk) VALUES (?, ?, ?)",
                     (store.repo_type, row["repo_id"], row["pk"]))
    return to_id


def super_squash(store: Store, repo_id: str, branch: str, message: str, *, author: str | None = None,
                 actor: User | None = None) -> CommitInfo:
    """Replace ``branch``'s history with one commit holding its current files. Other branches and
    tags keep their commits."""
    validate_ref_name(branch, kind="branch")
    now = time.time()
    with store.db.write() as conn:
        row = store._repo_row(conn, repo_id, actor, check_visible=actor is not None)
        store._check_write(actor, row["owner"])
        head = conn.execute("SELECT commit_id FROM refs WHERE repo_pk = ? AND kind = 'branch' AND name = ?",
                            (row["pk"], branch)).fetchone()
        if head is None:
            raise RevisionNotFoundError(f"Invalid rev id: {branch}", hint=f"no branch '{branch}' in '{repo_id}'")
        files = {e.path: (e.sha256, e.lfs) for e in store._files(conn, row["pk"], head["commit_id"])}
        commit_id = store._write_commit(conn, row["pk"], row["repo_id"], files, (), message, author, now)
        conn.execute("UPDATE refs SET commit_id = ? WHERE repo_pk = ? AND kind = 'branch' AND name = ?",
                     (commit_id, row["pk"], branch))
        conn.execute("UPDATE repos SET last_modified = ? WHERE pk = ?", (now, row["pk"]))
    return CommitInfo(commit_id, (), message, author, datetime.fromtimestamp(now, tz=timezone.utc))


def list_lfs_files(store: Store, repo_id: str, *, viewer: User | None = None) -> list[LfsFile]:
    """Every LFS object any commit of ``repo_id`` references, oldest push first. ``ref`` is the
    default branch if its head holds the object, else another branch whose head does, else None."""
    with store.db.read() as conn:
        row = store._repo_row(conn, repo_id, viewer, check_visible=True)
        pk = row["pk"]
        objects = conn.execute(
            "SELECT f.sha256, MIN(f.path) AS path, b.size, MIN(c.created_at) AS pushed FROM commit_files f "
            "JOIN blobs b USING (sha256) JOIN commits c ON c.repo_pk = f.repo_pk AND c.commit_id = f.commit_id "
            "WHERE f.repo_pk = ? AND f.lfs = 1 GROUP BY f.sha256, b.size ORDER BY pushed, f.sha256", (pk,)).fetchall()
        branches = conn.execute("SELECT name, commit_id FROM refs WHERE repo_pk = ? AND kind = 'branch' "
                                "ORDER BY name = ? DESC, name", (pk, row["default_branch"])).fetchall()
        held: dict[str, str] = {}
        for branch in branches:
            for (sha,) in conn.execute("SELECT sha256 FROM commit_files WHERE repo_pk = ? AND commit_id = ? "
                                       "AND lfs = 1", (pk, branch["commit_id"])):
                held.setdefault(sha, branch["name"])
    return [LfsFile(o["sha256"], o["path"], o["size"], datetime.fromtimestamp(o["pushed"], tz=timezone.utc),
                    held.get(o["sha256"])) for o in objects]


def delete_lfs_files(store: Store, repo_id: str, sha256s: Sequence[str], *, actor: User | None = None) -> int:
    """Remove LFS objects from every commit of ``repo_id`` (history is rewritten in place: commit
    ids stay, their file lists lose these files). Returns how many file entries went. The blobs
    become unreachable from this repo and ``zoolab hub gc`` frees them once no repo holds them."""
    shas = sorted({validate_sha256(sha) for sha in sha256s})
    removed = 0
    with store.db.write() as conn:
        row = store._repo_row(conn, repo_id, actor, check_visible=actor is not None)
        store._check_write(actor, row["owner"])
        for sha in shas:
            cur = conn.execute("DELETE FROM commit_files WHERE repo_pk = ? AND sha256 = ? AND lfs = 1",
                               (row["pk"], sha))
            removed += cur.rowcount
            conn.execute("DELETE FROM uploads WHERE repo_pk = ? AND sha256 = ?", (row["pk"], sha))
    return removed


__all__ = ["LfsFile", "delete_lfs_files", "list_lfs_files", "move_repo", "super_squash"]
