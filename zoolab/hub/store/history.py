"""The last commit that changed each path (``expand=true`` on ``tree`` and ``paths-info``, which
``HfFileSystem.modified()`` and ``get_paths_info(expand=True)`` read).

History is walked along first parents from the revision, comparing each commit's entry for the
pending paths with its parent's; a path is settled at the first commit where they differ. The walk
stops once every asked path is settled, so recently changed files cost a few steps.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from zoolab.hub.store.types import CommitInfo

if TYPE_CHECKING:
    from zoolab.hub.store.store import Store

_CHUNK = 500  # SQLite binds per IN (...) query


def last_commits(store: Store, repo_id: str, revision: str, paths: Iterable[str]) -> dict[str, CommitInfo]:
    """For each file of ``paths`` present at ``revision``: the newest commit that changed it."""
    wanted = sorted(set(paths))
    with store.db.read() as conn:
        row = store._repo_row(conn, repo_id)
        pk = row["pk"]
        head = store._resolve(conn, pk, repo_id, revision)

        def entries(commit_id: str, names: list[str]) -> dict[str, str]:
            found: dict[str, str] = {}
            for start in range(0, len(names), _CHUNK):
                chunk = names[start:start + _CHUNK]
                found.update(conn.execute(
                    f"SELECT path, sha256 FROM commit_files WHERE repo_pk = ? AND commit_id = ? "
                    f"AND path IN ({','.join('?' * len(chunk))})", (pk, commit_id, *chunk)).fetchall())
            return found

        pending = entries(head, wanted)
        settled: dict[str, str] = {}
        commit_id: str | None = head
        seen: set[str] = set()
        while pending and commit_id is not None and commit_id not in seen:
            seen.add(commit_id)
            parents = conn.execute("SELECT parents_json FROM commits WHERE repo_pk = ? AND commit_id = ?",
                                   (pk, commit_id)).fetchone()
            parent = json.loads(parents["parents_json"])[0] if parents and json.loads(parents["parents_json"]) \
                else None
            before = entries(parent, sorted(pending)) if parent else {}
            for path, sha in list(pending.items()):
                if before.get(path) != sha:
                    settled[path] = commit_id
                    del pending[path]
            commit_id = parent
        infos = {}
        for cid in set(settled.values()):
            c = conn.execute("SELECT * FROM commits WHERE repo_pk = ? AND commit_id = ?", (pk, cid)).fetchone()
            infos[cid] = CommitInfo(cid, tuple(json.loads(c["parents_json"])), c["message"], c["author"],
                                    datetime.fromtimestamp(c["created_at"], tz=timezone.utc))
    return {path: infos[cid] for path, cid in settled.items()}


__all__ = ["last_commits"]
