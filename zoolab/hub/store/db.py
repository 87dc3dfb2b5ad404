"""The store's SQLite database: schema, migrations and per-thread connections.

WAL mode and a busy timeout let a server process and in-process users (the CLI creating a token,
tests, the local registry) share one database. Writes run in ``BEGIN IMMEDIATE`` transactions, so
a commit (new commit row, its file list, the moved branch) is visible whole or not at all.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

def utc_datetime(ts: float) -> datetime:
    """A stored timestamp (seconds since the epoch, as every table keeps them) as an aware UTC datetime."""
    return datetime.fromtimestamp(ts, tz=timezone.utc)


SCHEMA_VERSION = 2
"""2: repos have a type (model or dataset; one id may name one of each) and a gated setting."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS repos (
    pk INTEGER PRIMARY KEY,
    repo_type TEXT NOT NULL DEFAULT 'model',
    repo_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    private INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    last_modified REAL NOT NULL,
    downloads INTEGER NOT NULL DEFAULT 0,
    likes INTEGER NOT NULL DEFAULT 0,
    default_branch TEXT NOT NULL DEFAULT 'main',
    tags_json TEXT NOT NULL DEFAULT '[]',
    library_name TEXT,
    pipeline_tag TEXT,
    card_json TEXT NOT NULL DEFAULT '{}',
    gated TEXT,
    UNIQUE (repo_type, repo_id)
);
CREATE INDEX IF NOT EXISTS repos_owner ON repos(owner);

CREATE TABLE IF NOT EXISTS commits (
    repo_pk INTEGER NOT NULL REFERENCES repos(pk) ON DELETE CASCADE,
    commit_id TEXT NOT NULL,
    parents_json TEXT NOT NULL,
    message TEXT NOT NULL,
    author TEXT,
    created_at REAL NOT NULL,
    PRIMARY KEY (repo_pk, commit_id)
);

-- The full file list of every commit: simple, and a snapshot never needs history walking.
CREATE TABLE IF NOT EXISTS commit_files (
    repo_pk INTEGER NOT NULL,
    commit_id TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    lfs INTEGER NOT NULL,
    PRIMARY KEY (repo_pk, commit_id, path),
    FOREIGN KEY (repo_pk, commit_id) REFERENCES commits(repo_pk, commit_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS commit_files_sha ON commit_files(sha256);

CREATE TABLE IF NOT EXISTS refs (
    repo_pk INTEGER NOT NULL REFERENCES repos(pk) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('branch', 'tag')),
    name TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    message TEXT,
    PRIMARY KEY (repo_pk, kind, name)
);

CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    git_oid TEXT NOT NULL,
    lfs_hint INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);

-- Blobs a user uploaded (LFS) to one repo and may commit there until they expire. Together with
-- commit_files this decides which oids a commit to a repo may name: never a blob that only some
-- other repo holds.
CREATE TABLE IF NOT EXISTS uploads (
    repo_pk INTEGER NOT NULL REFERENCES repos(pk) ON DELETE CASCADE,
    user TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (repo_pk, user, sha256)
);
CREATE INDEX IF NOT EXISTS commit_files_repo_sha ON commit_files(repo_pk, sha256);
CREATE INDEX IF NOT EXISTS repos_id_nocase ON repos(repo_id COLLATE NOCASE);

CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS orgs (
    name TEXT PRIMARY KEY,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS members (
    org TEXT NOT NULL REFERENCES orgs(name) ON DELETE CASCADE,
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    PRIMARY KEY (org, user)
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    can_write INTEGER NOT NULL,
    created_at REAL NOT NULL
);

CREATE VIRTUAL TABLE IF NOT EXISTS repos_fts USING fts5(repo_id, tags, card, tokenize = 'unicode61');

-- Ids a repo had before a move: they keep naming it (as the Hub redirects them) until reused.
CREATE TABLE IF NOT EXISTS repo_redirects (
    repo_type TEXT NOT NULL,
    old_id TEXT NOT NULL COLLATE NOCASE,
    repo_pk INTEGER NOT NULL REFERENCES repos(pk) ON DELETE CASCADE,
    PRIMARY KEY (repo_type, old_id)
);

CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


_REPO_COLUMNS = ("pk, repo_id, owner, name, private, created_at, last_modified, downloads, likes, default_branch, "
                 "tags_json, library_name, pipeline_tag, card_json")


def _add_repo_types(conn: sqlite3.Connection) -> None:
    """Migrate a version-1 store: its repos table (ids unique across types, no type column) is
    rebuilt with every repo a model. SQLite cannot change a UNIQUE constraint in place, and
    dropping the old table with foreign keys on would cascade into commits, so they are off."""
    columns = {row["name"] for row in conn.execute("PRAGMA table_info(repos)")}
    if "repo_type" not in columns:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("BEGIN IMMEDIATE")
        try:
            table = _SCHEMA[_SCHEMA.index("CREATE TABLE IF NOT EXISTS repos ("):_SCHEMA.index(");") + 2]
            conn.execute(table.replace("EXISTS repos (", "EXISTS repos_typed ("))
            conn.execute(f"INSERT INTO repos_typed({_REPO_COLUMNS}) SELECT {_REPO_COLUMNS} FROM repos")
            conn.execute("DROP TABLE repos")
            conn.execute("ALTER TABLE repos_typed RENAME TO repos")
            conn.execute("CREATE INDEX IF NOT EXISTS repos_owner ON repos(owner)")
            conn.execute("CREATE INDEX IF NOT EXISTS repos_id_nocase ON repos(repo_id COLLATE NOCASE)")
            conn.execute("UPDATE meta SET value = '2' WHERE key = 'schema_version'")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")
            conn.execute("PRAGMA foreign_keys = ON")


class Database:
    """One SQLite file, a connection per thread."""

    dialect = "sqlite"

    def __init__(self, path: Path, *, busy_timeout_s: float = 30.0):
        self.path = path
        self._busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = self.conn()
        conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "COMMIT;")
        _add_repo_types(conn)
        with self.write() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),)
            )

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (opened on first use)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(
                self.path, timeout=self._busy_timeout_s, isolation_level=None, check_same_thread=False
            )
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout_s * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = FULL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: committed when the block ends, rolled back on any exception."""
        conn = self.conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot for several queries."""
        conn = self.conn()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
