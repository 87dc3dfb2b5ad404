"""Search indexing: a repo's card metadata and the FTS5 index over id, tags and card text."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from zoolab.hub.store.cards import card_tags


def index_card(conn: sqlite3.Connection, pk: int, repo_id: str, metadata: dict[str, Any], text: str) -> None:
    """Store a repo's card metadata (tags, library, pipeline tag) and re-index it for search."""
    tags, library, pipeline = card_tags(metadata)
    conn.execute(
        "UPDATE repos SET card_json = ?, tags_json = ?, library_name = ?, pipeline_tag = ? WHERE pk = ?",
        (json.dumps(metadata), json.dumps(tags), library, pipeline, pk),
    )
    conn.execute("DELETE FROM repos_fts WHERE rowid = ?", (pk,))
    # Full-text search covers the id, the tags and the whole card (metadata and prose).
    conn.execute(
        "INSERT INTO repos_fts(rowid, repo_id, tags, card) VALUES (?, ?, ?, ?)",
        (pk, repo_id.replace("/", " ") + " " + repo_id, " ".join(tags), text[:65536]),
    )


def fts_query(search: str, dialect: str = "sqlite") -> str:
    """A safe full-text query for free text: every word quoted and required; the last one may be
    a prefix (search as you type). FTS5's syntax, or PostgreSQL's ``tsquery`` for ``postgresql``."""
    words = [w for w in "".join(ch if ch.isalnum() else " " for ch in search).split() if w][:16]
    if dialect == "postgresql":
        # Only letters and digits are left, so no word can carry tsquery syntax.
        terms = [w.lower() for w in words]
        if terms:
            terms[-1] += ":*"
        return " & ".join(terms)
    terms = ['"' + w.replace('"', '""') + '"' for w in words]
    if terms:
        terms[-1] += "*"
    return " ".join(terms)
