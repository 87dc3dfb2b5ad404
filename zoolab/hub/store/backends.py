"""Where a store keeps its metadata and blobs: the embedded default (SQLite and a blob folder in
the zoolab home) or PostgreSQL and S3-compatible storage, named by URL.

``zoolab hub serve --database postgresql://... --blobs s3://bucket/prefix`` or the same keys in a
server configuration file (``--config FILE``)::

    [store]
    database = "postgresql://hub@db.internal/zoolab"   # default: SQLite in the zoolab home
    blobs = "s3://models/hub"                           # default: the blob folder there
    s3_endpoint_url = "http://minio.internal:9000"      # for MinIO, Ceph, R2 (or AWS_ENDPOINT_URL)

Credentials come from the standard places only (the URL's user and password, ``PGPASSWORD`` or
``~/.pgpass``; ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``, ``~/.aws``), never from this file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoolab.errors import ConfigError


@dataclass(frozen=True)
class StoreLocation:
    """The backends of a store; None fields are the embedded defaults."""

    database: str | None = None
    blobs: str | None = None
    s3_endpoint_url: str | None = None

    def describe(self) -> str:
        """One line naming the backends (passwords hidden)."""
        return f"metadata {redact(self.database) if self.database else 'SQLite'}, blobs {self.blobs or 'folder'}"


def redact(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    creds, at, host = rest.rpartition("@")
    if not at or ":" not in creds:
        return url
    return f"{scheme}{sep}{creds.split(':', 1)[0]}:***@{host}"


def check_database_url(url: str) -> str:
    """``url`` if it names a PostgreSQL database; ConfigError otherwise."""
    if not url.startswith(("postgresql://", "postgres://")):
        raise ConfigError(f"unsupported database URL {redact(url)!r}",
                          hint="use postgresql://USER@HOST[:PORT]/DBNAME (the default store needs no URL)")
    return url


def load_location(path: Path | None, *, database: str | None = None, blobs: str | None = None) -> StoreLocation:
    """The store location from a configuration file's ``[store]`` table, with ``database`` and
    ``blobs`` (command-line options) taking precedence."""
    table: dict[str, Any] = {}
    if path is not None:
        import tomllib

        try:
            raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"cannot read {path}: {exc}", hint="give a TOML file with a [store] table") from None
        table = raw.get("store", {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [store] must be a table", hint="see docs/hub-server.md")
        unknown = set(table) - {"database", "blobs", "s3_endpoint_url"}
        if unknown:
            raise ConfigError(f"{path}: unknown [store] key(s) {', '.join(sorted(unknown))}",
                              hint="known keys: database, blobs, s3_endpoint_url")
        for key, value in table.items():
            if not isinstance(value, str):
                raise ConfigError(f"{path}: [store] {key} must be a string", hint="quote the URL")
    location = StoreLocation(database=database or table.get("database"), blobs=blobs or table.get("blobs"),
                             s3_endpoint_url=table.get("s3_endpoint_url"))
    if location.database is not None:
        check_database_url(location.database)
    if location.blobs is not None:
        from zoolab.hub.store.s3 import parse_s3_url

        parse_s3_url(location.blobs)
    return location


def open_database(location: StoreLocation, root: Path) -> Any:
    """The metadata database of a store: PostgreSQL if named, else SQLite under ``root``."""
    if location.database is None:
        from zoolab.hub.store.db import Database

        return Database(root / "db.sqlite")
    from zoolab.hub.store.pg import PgDatabase

    return PgDatabase(check_database_url(location.database))


def open_blobs(location: StoreLocation, root: Path) -> Any:
    """The blob backend of a store: the S3 bucket if named (``root`` holds only temp files and a
    disposable read cache), else the blob folder under ``root``."""
    if location.blobs is None:
        from zoolab.hub.store.blobs import BlobFiles

        return BlobFiles(root)
    from zoolab.hub.store.s3 import S3Blobs

    return S3Blobs(location.blobs, root, endpoint_url=location.s3_endpoint_url)
