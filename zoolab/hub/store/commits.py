"""Commits of the store: stage contents, apply operations atomically, and list the history.

Contents are staged (written, verified) before the transaction; a refused commit stores none.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from zoolab.errors import (
    EntryNotFoundError,
    InvalidCardError,
    InvalidInputError,
    RevisionNotFoundError,
    StaleParentError,
)
from zoolab.hub.store import uploads
from zoolab.hub.store.blobs import BlobDigest, BlobFiles, BlobWriter
from zoolab.hub.store.cards import card_of_file, is_lfs_file
from zoolab.hub.store.paths import PathSet
from zoolab.hub.store.search import index_card
from zoolab.hub.store.db import Database, utc_datetime
from zoolab.hub.store.types import AddFile, CommitInfo, CopyFile, DeleteFile, Operation, User
from zoolab.hub.store.validation import (
    is_commit_id,
    validate_folder,
    validate_path,
    validate_ref_name,
    validate_repo_id,
    validate_revision,
    validate_sha256,
    validate_text,
)


class CommitOps:
    """New commits and the history of a revision."""

    db: Database
    blobs: BlobFiles
    repo_type: str

    def commit(self, repo_id: str, operations: Sequence[Operation], *, message: str, branch: str = "main",
               parent_commit: str | None = None, author: str | None = None,
               actor: User | None = None, new_blobs: Sequence[BlobDigest | BlobWriter] = ()) -> CommitInfo:
        """Apply ``operations`` on top of ``branch`` as one new commit, atomically.

        Contents are stored first; then one transaction checks the branch head (``parent_commit``),
        writes the commit and its file list and moves the branch. Raises RevisionNotFoundError for
        an unknown branch, ConflictError if the head moved, EntryNotFoundError for deleting a file
        that does not exist.

        ``new_blobs``: contents the caller wrote for this commit (the inline files of a commit
        request): writers from :meth:`blob_writer` finished with ``publish=False``, or digests of
        blobs already stored. The writers are moved into ``blobs/`` and all are recorded at the end
        of the commit's own transaction, so a refused commit stores none of them, and
        ``AddFile(sha256=)`` may name them. With an ``actor``, any other ``AddFile(sha256=)`` must be
        reachable from the repo (:meth:`reachable_blob`). ``AddFile(content=)`` and ``source=`` are
        staged the same way: nothing of a refused commit is stored.
        """
        operations, created = self._stage_contents(operations)
        try:
            return self._commit(repo_id, operations, message=message, branch=branch, parent_commit=parent_commit,
                                author=author, actor=actor, new_blobs=[*new_blobs, *created])
        finally:
            for blob in created:  # published by a successful commit; removed from tmp/ otherwise
                if isinstance(blob, BlobWriter):
                    blob.abort()

    def _stage_contents(self, operations: Sequence[Operation]) -> tuple[list[Operation], list[BlobDigest | BlobWriter]]:
        """``AddFile(content=)`` / ``AddFile(source=)`` turned into ``AddFile(sha256=)`` of staged blobs."""
        ops: list[Operation] = []
        created: list[BlobDigest | BlobWriter] = []
        try:
            for op in operations:
                if not isinstance(op, AddFile) or op.sha256 is not None or (op.content is None) == (op.source is None):
                    ops.append(op)  # nothing to stage, or malformed: _commit says why
                    continue
                validate_path(op.path)
                if op.content is not None:
                    staged = self.blobs.stage(bytes(op.content))
                    created.append(staged)
                    digest = staged.digest if isinstance(staged, BlobWriter) else staged
                else:
                    writer = self.blobs.writer(expected_size=Path(op.source).stat().st_size)  # type: ignore[arg-type]
                    created.append(writer)  # removed again if anything below fails
                    with open(op.source, "rb") as fh:  # type: ignore[arg-type]
                        writer.write_from(fh)
                    digest = writer.finish(publish=False)
                assert digest is not None
                ops.append(AddFile(op.path, sha256=digest.sha256))
        except BaseException:
            for blob in created:
                if isinstance(blob, BlobWriter):
                    blob.abort()
            raise
        return ops, created

    def _commit(self, repo_id: str, operations: Sequence[Operation], *, message: str, branch: str,
                parent_commit: str | None, author: str | None, actor: User | None,
                new_blobs: Sequence[BlobDigest | BlobWriter]) -> CommitInfo:
        """:meth:`commit` once contents are staged (``new_blobs``)."""
        validate_repo_id(repo_id)
        validate_ref_name(branch, kind="branch")
        if not isinstance(message, str) or not message.strip():
            raise InvalidInputError("empty commit message", hint="give a short summary of the change")
        validate_text(message, what="commit message")
        if parent_commit is not None and not is_commit_id(parent_commit):
            raise InvalidInputError(f"invalid parent commit {parent_commit!r}", hint="give a 40-hex commit id")
        # Stage contents outside the transaction: blobs are immutable and harmless until referenced.
        staged: list[tuple[Operation, str | None]] = []
        pending = [b for b in new_blobs if isinstance(b, BlobWriter)]
        sources = [(b.digest, b.temp_path) if isinstance(b, BlobWriter) else (b, None) for b in new_blobs]
        if any(digest is None for digest, _ in sources):
            raise InvalidInputError("new_blobs holds a writer that was not finished")
        blob_rows = uploads.blob_rows(self.blobs, sources)  # type: ignore[arg-type]
        temp_paths = {b.digest.sha256: b.temp_path for b in pending if b.digest is not None}
        for op in operations:
            if isinstance(op, AddFile):
                validate_path(op.path)
                given = [x is not None for x in (op.sha256, op.content, op.source)]
                if sum(given) != 1:
                    raise InvalidInputError(f"AddFile('{op.path}') needs exactly one of sha256, content, source")
                staged.append((op, validate_sha256(op.sha256)))  # type: ignore[arg-type] (staged by commit)
            elif isinstance(op, DeleteFile):
                validate_folder(op.path) if op.is_folder else validate_path(op.path)
                staged.append((op, None))
            elif isinstance(op, CopyFile):
                validate_path(op.src_path)
                validate_path(op.dest_path)
                if op.src_revision is not None:
                    validate_revision(op.src_revision)
                staged.append((op, None))
            else:
                raise InvalidInputError(f"unknown commit operation {op!r}")
        # Parse a new card before taking the write lock (YAML parsing grows with the card); an
        # error is raised only if the card ends up indexed (the default branch).
        cards: dict[str, tuple[dict[str, Any], str] | InvalidCardError] = {}
        for op, sha in staged:
            if isinstance(op, AddFile) and op.path == "README.md" and sha is not None and sha not in cards:
                try:
                    cards[sha] = card_of_file(temp_paths.get(sha) or self.blobs.path(sha))
                except InvalidCardError as exc:
                    cards[sha] = exc
        now = time.time()
        with self.db.write() as conn:
            row = self._repo_row(conn, repo_id, actor, check_visible=actor is not None)
            self._check_write(actor, row["owner"])
            uploads.insert_blob_rows(conn, blob_rows)
            written = {row[0]: row for row in blob_rows}
            pk = row["pk"]
            head_row = conn.execute(
                "SELECT commit_id FROM refs WHERE repo_pk = ? AND kind = 'branch' AND name = ?", (pk, branch)
            ).fetchone()
            if head_row is None:
                raise RevisionNotFoundError(
                    f"branch '{branch}' not found in '{repo_id}'", hint="create it first with create_branch"
                )
            head = head_row["commit_id"]
            if parent_commit is not None and parent_commit != head:
                raise StaleParentError(branch, head, parent_commit)
            files = {e.path: (e.sha256, e.lfs) for e in self._files(conn, pk, head)}
            index = PathSet(files)  # folder deletions without a scan of every file per operation
            for op, sha in staged:
                if isinstance(op, AddFile):
                    assert sha is not None
                    if sha in written:
                        meta = {"size": written[sha][1], "lfs_hint": written[sha][3]}
                    else:
                        meta = uploads.reachable(conn, self.blobs, pk, sha, actor)
                        if meta is None:
                            # The same answer whether the blob is missing or only in another repo.
                            raise InvalidInputError(
                                f"blob {sha} of '{op.path}' was not uploaded to '{row['repo_id']}'",
                                hint="upload the file's content (LFS batch API) before committing it",
                            )
                    lfs = is_lfs_file(op.path, meta["size"], b"\x00" if meta["lfs_hint"] else b"")
                    files[op.path] = (sha, lfs)
                    index.add(op.path)
                elif isinstance(op, DeleteFile):
                    if op.is_folder:
                        doomed = list(index.below(validate_folder(op.path)))
                    else:
                        # A folder named without its trailing '/' is deleted whole, as on the Hub.
                        doomed = [op.path] if op.path in files else list(index.below(op.path))
                    if not doomed:
                        raise EntryNotFoundError(f"cannot delete '{op.path}': not found in '{repo_id}@{branch}'")
                    for p in doomed:
                        del files[p]
                        index.discard(p)
                elif isinstance(op, CopyFile):
                    src_commit = head if op.src_revision is None else self._resolve(conn, pk, repo_id,
                                                                                    op.src_revision)
                    src = conn.execute(  # one indexed row, not the source commit's whole file list
                        "SELECT sha256, lfs FROM commit_files WHERE repo_pk = ? AND commit_id = ? AND path = ?",
                        (pk, src_commit, op.src_path),
                    ).fetchone()
                    if src is None:
                        raise EntryNotFoundError(f"cannot copy '{op.src_path}': not found in '{repo_id}'")
                    files[op.dest_path] = (src["sha256"], bool(src["lfs"]))
                    index.add(op.dest_path)
            card_update = None
            # Re-read the card only when this commit touches it: an old card never blocks a commit.
            touched = {op.path for op, _ in staged if isinstance(op, (AddFile, DeleteFile))}
            touched |= {op.dest_path for op, _ in staged if isinstance(op, CopyFile)}
            if branch == row["default_branch"] and ("README.md" in touched or "README.md" not in files
                                                    or any(op.is_folder for op, _ in staged
                                                           if isinstance(op, DeleteFile))):
                card_update = self._card_from(files, cards)
            for writer in pending:  # the last step that touches files: only now are they stored
                writer.publish()
            commit_id = self._write_commit(conn, pk, row["repo_id"], files, (head,), message, author, now)
            conn.execute("UPDATE refs SET commit_id = ? WHERE repo_pk = ? AND kind = 'branch' AND name = ?",
                         (commit_id, pk, branch))
            conn.execute("UPDATE repos SET last_modified = ? WHERE pk = ?", (now, pk))
            if actor is not None:  # the uploads are referenced now: nothing left pending
                uploads.settle_uploads(conn, pk, actor, [sha for op, sha in staged if isinstance(op, AddFile)])
            if card_update is not None:
                index_card(conn, pk, repo_id, *card_update)
            return CommitInfo(commit_id, (head,), message, author, utc_datetime(now))

    def _card_from(self, files: dict[str, tuple[str, bool]],
                   parsed: dict[str, tuple[dict[str, Any], str] | InvalidCardError]) -> tuple[dict[str, Any], str]:
        """(YAML metadata, text) of the README at these files; InvalidCardError if malformed.
        ``parsed``: cards parsed already, by blob sha256."""
        entry = files.get("README.md")
        if entry is None:
            return {}, ""
        card = parsed.get(entry[0]) or card_of_file(self.blobs.path(entry[0]))
        if isinstance(card, InvalidCardError):
            raise card
        return card

    @staticmethod
    def _write_commit(conn: sqlite3.Connection, pk: int, repo_id: str, files: dict[str, tuple[str, bool]],
                      parents: tuple[str, ...], message: str, author: str | None, now: float) -> str:
        # The id covers content, history and metadata, like a git commit id.
        body = json.dumps(
            {"repo": repo_id, "parents": list(parents), "files": sorted(files.items()), "message": message,
             "author": author, "time": now},
            sort_keys=True,
        ).encode()
        commit_id = hashlib.sha1(body).hexdigest()
        conn.execute(
            "INSERT INTO commits(repo_pk, commit_id, parents_json, message, author, created_at) VALUES (?,?,?,?,?,?)",
            (pk, commit_id, json.dumps(list(parents)), message, author, now),
        )
        conn.executemany(
            "INSERT INTO commit_files(repo_pk, commit_id, path, sha256, lfs) VALUES (?,?,?,?,?)",
            [(pk, commit_id, path, sha, int(lfs)) for path, (sha, lfs) in files.items()],
        )
        return commit_id

    def list_commits(self, repo_id: str, revision: str = "main") -> list[CommitInfo]:
        """The history reachable from ``revision``, newest first."""
        with self.db.read() as conn:
            row = self._repo_row(conn, repo_id)
            start = self._resolve(conn, row["pk"], repo_id, revision)
            all_rows = {
                r["commit_id"]: r
                for r in conn.execute("SELECT rowid AS seq, * FROM commits WHERE repo_pk = ?", (row["pk"],))
            }
        seen: set[str] = set()
        stack = [start]
        while stack:
            cid = stack.pop()
            if cid in seen or cid not in all_rows:
                continue
            seen.add(cid)
            stack.extend(json.loads(all_rows[cid]["parents_json"]))
        ordered = sorted((all_rows[c] for c in seen), key=lambda r: r["seq"], reverse=True)
        return [
            CommitInfo(r["commit_id"], tuple(json.loads(r["parents_json"])), r["message"], r["author"],
                       utc_datetime(r["created_at"]))
            for r in ordered
        ]
