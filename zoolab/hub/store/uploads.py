"""Which blobs a commit to a repository may name, and the blob rows a commit records.

Blob files are shared by the whole store (content-addressed), but reaching one goes through a
repository: a commit may name a blob by sha256 only if one of this repo's commits references it,
or the committing user uploaded it to this repo (LFS) and that upload has not expired. Whether a
blob exists elsewhere (another user's private repo, a deleted repo) is never revealed, so knowing
a file's sha256 gives no access to it.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoolab.hub.store.blobs import BlobDigest, BlobFiles
from zoolab.hub.store.types import User

UPLOAD_TTL_S = 24 * 3600.0
"""How long an uploaded (LFS) blob stays committable by its uploader before it must be re-sent."""


def record_upload(conn: sqlite3.Connection, pk: int, sha256: str, user: User, ttl_s: float = UPLOAD_TTL_S) -> None:
    """Note (in a write transaction) that ``user`` uploaded blob ``sha256`` to repo ``pk``."""
    conn.execute("INSERT OR REPLACE INTO uploads(repo_pk, user, sha256, expires) VALUES (?,?,?,?)",
                 (pk, user.name, sha256, time.time() + ttl_s))


def reachable(conn: sqlite3.Connection, blobs: BlobFiles, pk: int, sha256: str,
              actor: User | None) -> sqlite3.Row | None:
    """The blobs row of ``sha256`` if a commit to repo ``pk`` by ``actor`` may name it, else None.
    ``actor`` None (a trusted in-process caller) reaches every stored blob."""
    meta = conn.execute("SELECT * FROM blobs WHERE sha256 = ?", (sha256,)).fetchone()
    if meta is None or not blobs.exists(sha256):
        return None
    if actor is None:
        return meta
    if conn.execute("SELECT 1 FROM commit_files WHERE repo_pk = ? AND sha256 = ? LIMIT 1", (pk, sha256)).fetchone():
        return meta
    if conn.execute("SELECT 1 FROM uploads WHERE repo_pk = ? AND user = ? AND sha256 = ? AND expires > ?",
                    (pk, actor.name, sha256, time.time())).fetchone():
        return meta
    return None


def settle_uploads(conn: sqlite3.Connection, pk: int, actor: User, shas: Sequence[str]) -> None:
    """Forget the pending uploads a commit just referenced (the repo holds them now)."""
    conn.executemany("DELETE FROM uploads WHERE repo_pk = ? AND user = ? AND sha256 = ?",
                     [(pk, actor.name, sha) for sha in shas])


def blob_rows(store_blobs: BlobFiles, blobs: Sequence[tuple[BlobDigest, Path | None]]) -> list[tuple[Any, ...]]:
    """``blobs`` table rows for (digest, local file holding its bytes, or None for a stored blob)
    pairs; reads the bytes' start, so call it outside any transaction."""
    rows = []
    for digest, path in blobs:
        if path is None:
            sample = store_blobs.read_head(digest.sha256, 8000)
        else:
            with open(path, "rb") as fh:
                sample = fh.read(8000)
        rows.append((digest.sha256, digest.size, digest.git_oid, int(b"\x00" in sample), time.time()))
    return rows


def insert_blob_rows(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    """Record blob rows (known ones are left as they are)."""
    conn.executemany(
        "INSERT OR IGNORE INTO blobs(sha256, size, git_oid, lfs_hint, created_at) VALUES (?,?,?,?,?)", rows
    )
