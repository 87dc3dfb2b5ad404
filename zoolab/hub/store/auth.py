"""Users, organisations and access tokens.

A token is ``zl_`` + 40 random url-safe characters. Only its sha256 is stored, so a copy of the
database does not leak usable tokens; the token itself is shown once, when created.
"""

from __future__ import annotations

import hashlib
import secrets
import time

from zoolab.errors import ConflictError, InvalidInputError, NotFoundError
from zoolab.hub.store.db import Database
from zoolab.hub.store.types import User
from zoolab.hub.store.validation import validate_namespace

TOKEN_PREFIX = "zl_"


def hash_token(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def namespace_taken(db: Database, name: str) -> str | None:
    """'user' or 'organisation' if ``name`` is taken by one, else None."""
    conn = db.conn()
    if conn.execute("SELECT 1 FROM users WHERE name = ?", (name,)).fetchone():
        return "user"
    if conn.execute("SELECT 1 FROM orgs WHERE name = ?", (name,)).fetchone():
        return "organisation"
    return None


def namespace_spelling(db: Database, name: str) -> str:
    """The stored spelling of user or organisation ``name`` (names are case-insensitive, as on the
    Hub), or ``name`` itself if nobody has it."""
    conn = db.conn()
    for table in ("users", "orgs"):
        row = conn.execute(f"SELECT name FROM {table} WHERE name = ? COLLATE NOCASE ORDER BY name = ? DESC",
                           (name, name)).fetchone()
        if row is not None:
            return str(row["name"])
    return name


def create_user(db: Database, name: str, *, exist_ok: bool = True) -> str:
    """Create user ``name`` (no-op if it exists and ``exist_ok``); return its stored spelling.

    Names are case-insensitive: with ``exist_ok``, ``Alice`` names an existing ``alice``."""
    validate_namespace(name, what="user name")
    with db.write() as conn:
        if conn.execute("SELECT 1 FROM orgs WHERE name = ? COLLATE NOCASE", (name,)).fetchone():
            raise ConflictError(f"'{name}' is an organisation", hint="pick another user name")
        row = conn.execute("SELECT name FROM users WHERE name = ? COLLATE NOCASE ORDER BY name = ? DESC",
                           (name, name)).fetchone()
        if row is not None:
            if exist_ok:
                return str(row["name"])
            raise ConflictError(f"user '{row['name']}' exists already", hint="names are case-insensitive")
        conn.execute("INSERT INTO users(name, created_at) VALUES (?, ?)", (name, time.time()))
        return name


def create_token(db: Database, user: str, *, write: bool = False) -> str:
    """Create a new token for ``user`` (created if missing) and return it; only its hash is kept."""
    user = create_user(db, user, exist_ok=True)
    token = TOKEN_PREFIX + secrets.token_urlsafe(30)
    with db.write() as conn:
        conn.execute(
            "INSERT INTO tokens(token_hash, user, can_write, created_at) VALUES (?, ?, ?, ?)",
            (hash_token(token), user, int(write), time.time()),
        )
    return token


def revoke_token(db: Database, token: str) -> bool:
    """Forget ``token`` (given whole, or as the 12-character id ``list_tokens`` shows); True if found."""
    with db.write() as conn:
        if len(token) == 12 and not token.startswith(TOKEN_PREFIX):
            rows = conn.execute("SELECT token_hash FROM tokens WHERE substr(token_hash, 1, 12) = ?",
                                (token,)).fetchall()
            if len(rows) != 1:
                return False
            cur = conn.execute("DELETE FROM tokens WHERE token_hash = ?", (rows[0]["token_hash"],))
        else:
            cur = conn.execute("DELETE FROM tokens WHERE token_hash = ?", (hash_token(token),))
        return cur.rowcount > 0


def list_tokens(db: Database, user: str | None = None) -> list[dict[str, object]]:
    """Tokens as ``{id, user, write, created_at}``; ``id`` is the start of the stored hash."""
    sql = "SELECT token_hash, user, can_write, created_at FROM tokens"
    rows = db.conn().execute(sql + (" WHERE user = ? COLLATE NOCASE" if user else "") + " ORDER BY created_at",
                             (user,) if user else ()).fetchall()
    return [{"id": r["token_hash"][:12], "user": r["user"], "write": bool(r["can_write"]),
             "created_at": r["created_at"]} for r in rows]


def authenticate(db: Database, token: str | None) -> User | None:
    """The user a token belongs to, or None if the token is unknown."""
    if not token or not isinstance(token, str) or len(token) > 512:
        return None
    conn = db.conn()
    row = conn.execute(
        "SELECT user, can_write FROM tokens WHERE token_hash = ?", (hash_token(token),)
    ).fetchone()
    if row is None:
        return None
    return User(name=row["user"], orgs=tuple(user_orgs(db, row["user"])), can_write=bool(row["can_write"]))


def user_orgs(db: Database, user: str) -> list[str]:
    """Organisations ``user`` is a member of, sorted."""
    rows = db.conn().execute("SELECT org FROM members WHERE user = ? ORDER BY org", (user,)).fetchall()
    return [r["org"] for r in rows]


def create_org(db: Database, name: str, *, exist_ok: bool = False) -> None:
    """Create organisation ``name``."""
    validate_namespace(name, what="organisation name")
    with db.write() as conn:
        if conn.execute("SELECT 1 FROM users WHERE name = ? COLLATE NOCASE", (name,)).fetchone():
            raise ConflictError(f"'{name}' is a user name", hint="pick another organisation name")
        if conn.execute("SELECT 1 FROM orgs WHERE name = ? COLLATE NOCASE", (name,)).fetchone():
            if exist_ok:
                return
            raise ConflictError(f"organisation '{name}' exists already")
        conn.execute("INSERT INTO orgs(name, created_at) VALUES (?, ?)", (name, time.time()))


def add_member(db: Database, org: str, user: str) -> None:
    """Make ``user`` (created if missing) a member of ``org``."""
    validate_namespace(org, what="organisation name")
    user = create_user(db, user, exist_ok=True)
    org = namespace_spelling(db, org)
    with db.write() as conn:
        if not conn.execute("SELECT 1 FROM orgs WHERE name = ?", (org,)).fetchone():
            raise NotFoundError(f"no organisation '{org}'", hint=f"create it: zoolab hub org create {org}")
        conn.execute("INSERT OR IGNORE INTO members(org, user) VALUES (?, ?)", (org, user))


def remove_member(db: Database, org: str, user: str) -> None:
    """Remove ``user`` from ``org``."""
    org, user = namespace_spelling(db, org), namespace_spelling(db, user)
    with db.write() as conn:
        cur = conn.execute("DELETE FROM members WHERE org = ? AND user = ?", (org, user))
        if cur.rowcount == 0:
            raise NotFoundError(f"'{user}' is not a member of organisation '{org}'")


def list_orgs(db: Database) -> dict[str, list[str]]:
    """Every organisation with its members."""
    conn = db.conn()
    result: dict[str, list[str]] = {r["name"]: [] for r in conn.execute("SELECT name FROM orgs ORDER BY name")}
    for row in conn.execute("SELECT org, user FROM members ORDER BY org, user"):
        result.setdefault(row["org"], []).append(row["user"])
    return result


def check_token_format(token: str) -> None:
    """Raise InvalidInputError for a token that cannot be one of ours (used by the CLI)."""
    if not token.startswith(TOKEN_PREFIX):
        raise InvalidInputError("this is not a zoolab hub token", hint="create one: zoolab hub token create")
