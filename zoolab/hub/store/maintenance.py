"""Store maintenance: ``verify`` (re-hash every blob) and ``gc`` (drop unreferenced blobs)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable

from zoolab.hub.store.blobs import CHUNK, BlobFiles
from zoolab.hub.store.db import Database


def verify(db: Database, blobs: BlobFiles, *, progress: Callable[[int, int], None] | None = None) -> list[str]:
    """Re-hash every blob against its name and recorded size, and check every referenced blob
    exists. Returns one line per problem (empty: all good).

    ``progress(done_bytes, total_bytes)`` is called after each blob.
    """
    problems: list[str] = []
    conn = db.conn()
    recorded = {r["sha256"]: r["size"] for r in conn.execute("SELECT sha256, size FROM blobs")}
    on_disk: set[str] = set()
    all_blobs = list(blobs.iter_all())
    total = sum(path.stat().st_size for _, path in all_blobs)
    done = 0
    for name, path in all_blobs:
        on_disk.add(name)
        digest = hashlib.sha256()
        size = 0
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
        if digest.hexdigest() != name:
            problems.append(f"blob {name}: content hashes to {digest.hexdigest()} (corrupted)")
        elif name in recorded and recorded[name] != size:
            problems.append(f"blob {name}: {size} bytes on disk, {recorded[name]} recorded")
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


def gc(db: Database, blobs: BlobFiles, *, grace_s: float = 3600.0) -> tuple[int, int]:
    """Remove blobs no commit references and that were not written or reused in the last
    ``grace_s`` seconds (an upload waiting for its commit), then stale temp files.

    Each removal re-checks, in a write transaction, that no commit references the blob, so it
    serialises with commits: a commit either sees the blob or refuses cleanly.
    Returns ``(blobs removed, bytes freed)``.
    """
    removed = freed = 0
    cutoff = time.time() - grace_s
    for name, path in blobs.iter_all():
        try:
            if path.stat().st_mtime > cutoff:
                continue
        except FileNotFoundError:
            continue
        with db.write() as conn:
            if conn.execute("SELECT 1 FROM commit_files WHERE sha256 = ? LIMIT 1", (name,)).fetchone():
                continue
            if conn.execute("SELECT 1 FROM uploads WHERE sha256 = ? AND expires > ? LIMIT 1",
                            (name, time.time())).fetchone():
                continue  # uploaded, its commit still to come
            size = path.stat().st_size
            conn.execute("DELETE FROM blobs WHERE sha256 = ?", (name,))
            path.unlink(missing_ok=True)
        removed += 1
        freed += size
    with db.write() as conn:
        conn.execute("DELETE FROM uploads WHERE expires <= ?", (time.time(),))
        # rows whose file is gone can only be used again after a fresh upload
        for r in conn.execute("SELECT sha256 FROM blobs").fetchall():
            if not blobs.exists(r["sha256"]) and not conn.execute(
                "SELECT 1 FROM commit_files WHERE sha256 = ? LIMIT 1", (r["sha256"],)
            ).fetchone():
                conn.execute("DELETE FROM blobs WHERE sha256 = ?", (r["sha256"],))
    blobs.clean_temp(older_than_s=grace_s)
    return removed, freed
