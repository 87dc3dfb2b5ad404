"""The store's metadata in PostgreSQL: the same tables as :mod:`.db`, the same query code.

repos.py, refs.py, commits.py and the rest write their SQL once, in SQLite's dialect;
:func:`translate` turns each statement into PostgreSQL's (placeholders, ``COLLATE NOCASE``,
``INSERT OR IGNORE/REPLACE``, ``json_each``, the FTS5 ``MATCH``) and caches the result. Full-text
search uses a ``tsvector`` column with a GIN index in place of the FTS5 table.

Transactions keep the embedded store's guarantees across processes and machines: a write takes
one transaction-scoped advisory lock first, so writers serialise exactly as SQLite's
``BEGIN IMMEDIATE`` does (a commit reads the branch head and moves it with no other writer in
between: no acknowledged commit is lost, history stays linear), while reads never wait, each in a
``REPEATABLE READ`` snapshot. Every server process opens its own connections; nothing else is
shared but the database.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from zoolab.errors import ConfigError

SCHEMA_VERSION = 2

WRITE_LOCK_KEY = 0x7A6F6F6C  # "zool": the advisory lock every write transaction holds

_SCHEMA = """
CREATE TABLE IF NOT EXISTS repos (
    pk BIGSERIAL PRIMARY KEY,
    repo_type TEXT NOT NULL DEFAULT 'model',
    repo_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    private BIGINT NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL,
    last_modified DOUBLE PRECISION NOT NULL,
    downloads BIGINT NOT NULL DEFAULT 0,
    likes BIGINT NOT NULL DEFAULT 0,
    default_branch TEXT NOT NULL DEFAULT 'main',
    tags_json TEXT NOT NULL DEFAULT '[]',
    library_name TEXT,
    pipeline_tag TEXT,
    card_json TEXT NOT NULL DEFAULT '{}',
    gated TEXT,
    UNIQUE (repo_type, repo_id)
);
CREATE INDEX IF NOT EXISTS repos_owner ON repos(lower(owner));
CREATE INDEX IF NOT EXISTS repos_id_nocase ON repos(repo_type, lower(repo_id));

-- seq: insertion order, which the history listing sorts by (SQLite's rowid).
CREATE TABLE IF NOT EXISTS commits (
    seq BIGSERIAL,
    repo_pk BIGINT NOT NULL REFERENCES repos(pk) ON DELETE CASCADE,
    commit_id TEXT NOT NULL,
    parents_json TEXT NOT NULL,
    message TEXT NOT NULL,
    author TEXT,
    created_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (repo_pk, commit_id)
);

CREATE TABLE IF NOT EXISTS commit_files (
    repo_pk BIGINT NOT NULL,
    commit_id TEXT NOT NULL,
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    lfs BIGINT NOT NULL,
    PRIMARY KEY (repo_pk, commit_id, path),
    FOREIGN KEY (repo_pk, commit_id) REFERENCES commits(repo_pk, commit_id) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS commit_files_sha ON commit_files(sha256);
CREATE INDEX IF NOT EXISTS commit_files_repo_sha ON commit_files(repo_pk, sha256);

CREATE TABLE IF NOT EXISTS refs (
    repo_pk BIGINT NOT NULL REFERENCES repos(pk) ON DELETE CASCADE,
    kind TEXT NOT NULL CHECK (kind IN ('branch', 'tag')),
    name TEXT NOT NULL,
    commit_id TEXT NOT NULL,
    message TEXT,
    PRIMARY KEY (repo_pk, kind, name)
);

CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    size BIGINT NOT NULL,
    git_oid TEXT NOT NULL,
    lfs_hint BIGINT NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL
);

CREATE TABLE IF NOT EXISTS uploads (
    repo_pk BIGINT NOT NULL REFERENCES repos(pk) ON DELETE CASCADE,
    "user" TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    expires DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (repo_pk, "user", sha256)
);

CREATE TABLE IF NOT EXISTS users (name TEXT PRIMARY KEY, created_at DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS orgs (name TEXT PRIMARY KEY, created_at DOUBLE PRECISION NOT NULL);
CREATE TABLE IF NOT EXISTS members (
    org TEXT NOT NULL REFERENCES orgs(name) ON DELETE CASCADE,
    "user" TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    PRIMARY KEY (org, "user")
);
CREATE TABLE IF NOT EXISTS tokens (
    token_hash TEXT PRIMARY KEY,
    "user" TEXT NOT NULL REFERENCES users(name) ON DELETE CASCADE,
    can_write BIGINT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL
);

-- Full-text search: FTS5's unicode61 splits on every non-alphanumeric character; the 'simple'
-- configuration over the same text with those characters turned into spaces matches it.
CREATE TABLE IF NOT EXISTS repos_fts (
    rowid BIGINT PRIMARY KEY REFERENCES repos(pk) ON DELETE CASCADE,
    repo_id TEXT NOT NULL,
    tags TEXT NOT NULL,
    card TEXT NOT NULL,
    doc tsvector GENERATED ALWAYS AS (to_tsvector('simple', regexp_replace(
        repo_id || ' ' || tags || ' ' || card, '[^[:alnum:]]+', ' ', 'g'))) STORED
);
CREATE INDEX IF NOT EXISTS repos_fts_doc ON repos_fts USING GIN (doc);

-- old_id is matched case-insensitively (SQLite: COLLATE NOCASE), so the key is lower(old_id).
CREATE TABLE IF NOT EXISTS repo_redirects (
    repo_type TEXT NOT NULL,
    old_id TEXT NOT NULL,
    repo_pk BIGINT NOT NULL REFERENCES repos(pk) ON DELETE CASCADE
);
CREATE UNIQUE INDEX IF NOT EXISTS repo_redirects_key ON repo_redirects(repo_type, lower(old_id));

CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

# The conflict target of each table that SQLite code writes with INSERT OR REPLACE.
_REPLACE_KEYS = {"uploads": 'repo_pk, "user", sha256', "repo_redirects": "repo_type, lower(old_id)"}
_COLUMNS = re.compile(r"INSERT OR REPLACE INTO (\w+)\s*\(([^)]*)\)")
_NOCASE = re.compile(r"(\"?[\w.]+\"?) = \? COLLATE NOCASE")
_USER = re.compile(r'(?<![\w."\'])user(?![\w"\'(])')
_JSON_EACH = re.compile(
    r"EXISTS \(SELECT 1 FROM json_each\(([\w.]+)\) WHERE json_each\.value = \?\)")


@functools.lru_cache(maxsize=1024)
def translate(sql: str) -> str:
    """One statement of the store's SQLite dialect in PostgreSQL's (cached: the store's SQL is a
    fixed set of strings). Only the constructs the store uses are handled."""
    out = _USER.sub('"user"', sql.replace("%", "%%"))  # a reserved word in PostgreSQL
    out = _NOCASE.sub(r"lower(\1) = lower(?)", out)
    out = _JSON_EACH.sub(r"EXISTS (SELECT 1 FROM jsonb_array_elements_text(\1::jsonb) AS t(value) "
                         r"WHERE t.value = ?)", out)
    out = out.replace("old_id = ?", "lower(old_id) = lower(?)")
    out = out.replace(" LIKE ? ESCAPE", " ILIKE ? ESCAPE")  # SQLite's LIKE ignores ASCII case
    out = out.replace("WHERE repos_fts MATCH ?", "WHERE doc @@ to_tsquery('simple', ?)")
    out = out.replace("SELECT rowid AS seq, *", "SELECT *")
    match = _COLUMNS.search(out)
    if match:
        table, columns = match.group(1), [c.strip() for c in match.group(2).split(",")]
        keys = _REPLACE_KEYS[table]
        updates = ", ".join(f"{c} = EXCLUDED.{c}" for c in columns if c not in keys.split(", "))
        out = out.replace("INSERT OR REPLACE INTO", "INSERT INTO") + f" ON CONFLICT ({keys}) DO UPDATE SET {updates}"
    if "INSERT OR IGNORE INTO" in out:
        out = out.replace("INSERT OR IGNORE INTO", "INSERT INTO") + " ON CONFLICT DO NOTHING"
    if out.startswith("INSERT INTO repos("):
        out += " RETURNING pk"  # SQLite's cursor.lastrowid
    return out.replace("?", "%s")


class Row(tuple):  # type: ignore[type-arg]
    """A result row read by position or by column name, like :class:`sqlite3.Row`."""

    _names: dict[str, int]

    def __new__(cls, values: Sequence[Any], names: dict[str, int]) -> Row:
        row = super().__new__(cls, values)
        row._names = names
        return row

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        """Column names, in order."""
        return list(self._names)


class Cursor:
    """The result of one statement: ``fetchone``, ``fetchall``, iteration, ``rowcount``, ``lastrowid``."""

    def __init__(self, cur: Any, *, returning: bool):
        self._cur = cur
        self.rowcount: int = cur.rowcount
        self.lastrowid: int | None = None
        self._names: dict[str, int] = {}
        if cur.description is not None:
            for i, col in enumerate(cur.description):
                self._names.setdefault(col.name, i)  # the first of duplicate names, as sqlite3 does
        if returning:
            self.lastrowid = cur.fetchone()[0]

    def fetchone(self) -> Row | None:
        """The next row, or None."""
        values = self._cur.fetchone()
        return None if values is None else Row(values, self._names)

    def fetchall(self) -> list[Row]:
        """Every remaining row."""
        return [Row(v, self._names) for v in self._cur.fetchall()]

    def __iter__(self) -> Iterator[Row]:
        return iter(self.fetchall())


class Connection:
    """A psycopg connection answering the sqlite3 calls the store makes (``execute``, ``executemany``)."""

    def __init__(self, raw: Any):
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        """Run one statement written in the store's SQLite dialect."""
        text = translate(sql)
        return Cursor(self.raw.execute(text, tuple(params)), returning=text.endswith("RETURNING pk"))

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run one statement for each parameter row."""
        rows = [tuple(r) for r in rows]
        if rows:
            with self.raw.cursor() as cur:
                cur.executemany(translate(sql), rows)

    def close(self) -> None:
        """Close the connection."""
        self.raw.close()


def _connect(url: str) -> Any:
    try:
        import psycopg
    except ImportError:
        raise ConfigError("a PostgreSQL store needs psycopg", hint="pip install 'zoolab[scale]'") from None
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=10)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot connect to the PostgreSQL database: {reason}",
                          hint="check the postgresql:// URL, that the server runs and accepts this user") from None


class PgDatabase:
    """Metadata in one PostgreSQL database, a connection per thread (as :class:`.db.Database`)."""

    dialect = "postgresql"

    def __init__(self, url: str):
        self.url = url
        self._local = threading.local()
        with self.write() as conn:
            conn.raw.execute(_SCHEMA)
            conn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    def conn(self) -> Connection:
        """This thread's connection (opened on first use; reopened if the server dropped it)."""
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.raw.closed or conn.raw.broken:
            conn = Connection(_connect(self.url))
            self._local.conn = conn
        return conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction holding the store's write lock: committed when the block ends,
        rolled back on any exception."""
        conn = self.conn()
        conn.raw.execute("BEGIN")
        try:
            conn.raw.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
            yield conn
        except BaseException:
            if not conn.raw.broken:
                conn.raw.execute("ROLLBACK")
            raise
        conn.raw.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction: one consistent snapshot for several queries."""
        conn = self.conn()
        conn.raw.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield conn
        finally:
            if not conn.raw.broken:
                conn.raw.execute("COMMIT")

    def close(self) -> None:
        """Close this thread's connection."""
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
