"""Store maintenance: ``verify`` (re-hash every blob) and ``gc`` (drop unreferenced blobs).

Both work through the blob interface (:class:`zoolab.hub.store.blobs.BlobFiles`), so they run the
same on the blob folder and on an S3 bucket, and through the database layer on SQLite and
PostgreSQL alike.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from typing import Any

from zoolab.hub.store.blobs import CHUNK, BlobFiles


def rehash(blobs: BlobFiles, sha256: str) -> tuple[str, int]:
    """``(sha256, size)`` of a stored blob's bytes as read back now."""
    digest = hashlib.sha256()
    size = 0
    with blobs.open_blob(sha256) as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def verify(db: Any, blobs: BlobFiles, *, progress: Callable[[int, int], None] | None = None) -> list[str]:
    """Re-hash every blob against its name and recorded size, and check every referenced blob
    exists. Returns one line per problem (empty: all good).

    ``progress(done_bytes, total_bytes)`` is called after each blob.
    """
    problems: list[str] = []
    conn = db.conn()
    recorded = {r["sha256"]: r["size"] for r in conn.execute("SELECT sha256, size FROM blobs")}
    on_disk: set[str] = set()
    all_blobs = list(blobs.list_blobs())
    total = sum(b.size for b in all_blobs)
    done = 0
    for blob in all_blobs:
        name = blob.sha256
        on_disk.add(name)
        sha, size = rehash(blobs, name)
        if sha != name:
            problems.append(f"blob {name}: content hashes to {sha} (corrupted)")
        elif name in recorded and recorded[name] != size:
            problems.append(f"blob {name}: {size} bytes stored, {recorded[name]} recorded")
        done += size
        if progress is not None:
            progress(done, total)
    referenced = conn.execute(
        "SELECT DISTINCT r.repo_id, f.path, f.sha256 FROM commit_files f JOIN repos r ON r.pk = f.repo_pk"
    ).fetchall()
    missing_reported: set[str] = set()
    for r in referenced:
        if r["sha256"] not in on_disk and r["sha256"] not in missing_reported:
            missing_reported.add(r["sha256"])
            problems.append(f"blob {r['sha256']} is missing (referenced by {r['repo_id']}:{r['path']})")
    return problems


def gc(db: Any, blobs: BlobFiles, *, grace_s: float = 3600.0) -> tuple[int, int]:
    """Remove blobs no commit references and that were not written or reused in the last
    ``grace_s`` seconds (an upload waiting for its commit), then stale temp files.

    Each removal re-checks, in a write transaction, that no commit references the blob, so it
    serialises with commits: a commit either sees the blob or refuses cleanly.
    Returns ``(blobs removed, bytes freed)``.
    """
    removed = freed = 0
    cutoff = time.time() - grace_s
    stored: set[str] = set()
    for blob in list(blobs.list_blobs()):
        stored.add(blob.sha256)
        if blob.mtime > cutoff:
            continue
        with db.write() as conn:
            if conn.execute("SELECT 1 FROM commit_files WHERE sha256 = ? LIMIT 1", (blob.sha256,)).fetchone():
                continue
            if conn.execute("SELECT 1 FROM uploads WHERE sha256 = ? AND expires > ? LIMIT 1",
                            (blob.sha256, time.time())).fetchone():
                continue  # uploaded, its commit still to come
            conn.execute("DELETE FROM blobs WHERE sha256 = ?", (blob.sha256,))
            blobs.delete(blob.sha256)
        stored.discard(blob.sha256)
        removed += 1
        freed += blob.size
    with db.write() as conn:
        conn.execute("DELETE FROM uploads WHERE expires <= ?", (time.time(),))
        # rows whose blob is gone can only be used again after a fresh upload
        for r in conn.execute("SELECT sha256 FROM blobs").fetchall():
            if r["sha256"] not in stored and not blobs.exists(r["sha256"]) and not conn.execute(
                "SELECT 1 FROM commit_files WHERE sha256 = ? LIMIT 1", (r["sha256"],)
            ).fetchone():
                conn.execute("DELETE FROM blobs WHERE sha256 = ?", (r["sha256"],))
    blobs.clean_temp(older_than_s=grace_s)
    return removed, freed
