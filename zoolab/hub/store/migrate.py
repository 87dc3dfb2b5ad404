"""Copy an embedded store (SQLite + blob folder) to PostgreSQL and S3-compatible storage.

Blobs go first, each verified twice: hashed while it is sent (the writer checks the sha256 and
size the store recorded, the bucket re-checks the checksum it receives) and hashed again as read
back from the bucket. The metadata follows in one PostgreSQL transaction, so the target is either
complete or left without any repository; a failed run can simply be run again (blobs already in
the bucket are not sent twice). The source is only read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from zoolab.errors import ConfigError, IntegrityError
from zoolab.hub.store.maintenance import rehash

# Parents before children (foreign keys); each table's rows in their insertion order.
_TABLES: tuple[tuple[str, str], ...] = (
    ("users", "SELECT * FROM users ORDER BY rowid"),
    ("orgs", "SELECT * FROM orgs ORDER BY rowid"),
    ("members", "SELECT * FROM members ORDER BY rowid"),
    ("tokens", "SELECT * FROM tokens ORDER BY rowid"),
    ("repos", "SELECT * FROM repos ORDER BY pk"),
    ("commits", "SELECT repo_pk, commit_id, parents_json, message, author, created_at FROM commits ORDER BY rowid"),
    ("commit_files", "SELECT * FROM commit_files"),
    ("refs", "SELECT * FROM refs"),
    ("blobs", "SELECT * FROM blobs"),
    ("uploads", "SELECT * FROM uploads"),
    ("repo_redirects", "SELECT * FROM repo_redirects"),
    ("repos_fts", "SELECT rowid, repo_id, tags, card FROM repos_fts"),
)


@dataclass
class MigrationReport:
    """What a migration copied."""

    blobs: int
    blob_bytes: int
    rows: dict[str, int]


def migrate(source: Any, target: Any, *, progress: Callable[[int, int], None] | None = None) -> MigrationReport:
    """Copy every blob and every metadata row of ``source`` (an embedded :class:`Store`) into
    ``target`` (a Store on PostgreSQL, with blobs in S3 or in the same folder), verifying each blob.

    ``target``'s database must hold no repository yet. ``progress(done_bytes, total_bytes)`` is
    called after each blob. Raises IntegrityError if a blob does not match its recorded sha256.
    """
    if source.location.database is not None:
        raise ConfigError("the source of a migration is an embedded store", hint="give its --home")
    if target.db.conn().execute("SELECT 1 FROM repos LIMIT 1").fetchone() is not None:
        raise ConfigError("the target database holds repositories already",
                          hint="migrate into an empty database (or drop its tables first)")
    src = source.db.conn()
    recorded = {r["sha256"]: int(r["size"]) for r in src.execute("SELECT sha256, size FROM blobs")}
    total = sum(recorded.values())
    done = copied = 0
    same_blobs = target.location.blobs is None and target.root == source.root
    for sha, size in sorted(recorded.items()):
        path = source.blobs.path(sha)
        if not path.is_file():
            raise IntegrityError(f"blob {sha} is recorded but missing from {source.blobs.blob_dir}",
                                 hint="run 'zoolab hub verify' on the source store first")
        if not same_blobs:
            if not target.blobs.exists(sha):
                try:
                    target.blobs.put(path, expected_sha256=sha, expected_size=size)
                except IntegrityError as exc:
                    raise IntegrityError(
                        f"blob {sha} of the source store does not match what it recorded: {exc.message}",
                        hint="run 'zoolab hub verify' on the source store; nothing was migrated") from None
            got, got_size = rehash(target.blobs, sha)  # read back: what the target really holds
            if (got, got_size) != (sha, size):
                raise IntegrityError(f"blob {sha} reads back as {got} ({got_size} bytes) from the target",
                                     hint="check the object storage, then run the migration again")
        copied += 1
        done += size
        if progress is not None:
            progress(done, total)
    rows: dict[str, int] = {}
    with target.db.write() as conn:
        for table, query in _TABLES:
            data = src.execute(query).fetchall()
            rows[table] = len(data)
            if not data:
                continue
            columns = list(data[0].keys())  # commits: PostgreSQL numbers them (seq) in this order
            statement = f"INSERT INTO {table}({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            conn.executemany(statement, [tuple(r) for r in data])
        # New repositories continue after the copied ids.
        conn.execute("SELECT setval(pg_get_serial_sequence('repos', 'pk'), "
                     "COALESCE((SELECT MAX(pk) FROM repos), 0) + 1, false)")
    return MigrationReport(copied, done, rows)
