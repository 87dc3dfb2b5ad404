"""Request guards: early refusal of commits bound to fail, and coded errors on download URLs.

**Commits.**
The ndjson commit payload is streamed: each inline file is written as a blob while the payload is
read, and the store re-checks everything in the transaction that writes the commit. Without these
checks a commit to a missing branch, on a stale parent or deleting a missing file would be refused
only after its files were written, leaving unreferenced blobs behind (harmless, and removed by
``zoolab hub gc``, but a bad request should store nothing). The transaction stays the authority:
these checks only move the common refusals before the first byte is stored.

**Downloads.** A malformed revision or file path in a ``resolve`` URL is refused with the Hub's
``X-Error-Code`` (``RevisionNotFound`` / ``EntryNotFound``), so stock clients raise their typed
error with the server's message instead of suggesting a connection problem.
"""

from __future__ import annotations

from typing import Any

from zoolab.errors import (
    EntryNotFoundError,
    InvalidInputError,
    InvalidPathError,
    InvalidRevisionError,
    RevisionNotFoundError,
    StaleParentError,
)
from zoolab.hub.store import Store
from zoolab.hub.store.paths import PathSet
from zoolab.hub.store.validation import is_commit_id, validate_folder, validate_path, validate_revision


class CommitPrecheck:
    """What a commit to ``branch`` of ``repo_id`` may do, judged against the branch's current head."""

    def __init__(self, store: Store, repo_id: str, branch: str):
        heads = {ref.name: ref.commit_id for ref in store.list_refs(repo_id) if ref.kind == "branch"}
        if branch not in heads:
            raise RevisionNotFoundError(f"branch '{branch}' not found in '{repo_id}'",
                                        hint="create it first with create_branch")
        self.repo_id = repo_id
        self.branch = branch
        self.head = heads[branch]
        self._paths = PathSet(entry.path for entry in store.list_files(repo_id, self.head))
        self._seen_header = False

    def operation(self, key: object) -> None:
        """Refuse any line before the header: its checks must run before content is stored."""
        if key == "header":
            if self._seen_header:
                raise InvalidInputError("commit payload has two header lines")
            self._seen_header = True
        elif not self._seen_header:
            raise InvalidInputError("commit payload must start with its header line",
                                    hint='send {"key": "header", "value": {"summary": ...}} first')

    def header(self, value: dict[str, Any]) -> None:
        """Refuse a ``parentCommit`` that is not the branch head (the client must fetch and retry)."""
        parent = value.get("parentCommit")
        if isinstance(parent, str) and is_commit_id(parent) and parent != self.head:
            raise StaleParentError(self.branch, self.head, parent)

    def added(self, path: str) -> None:
        """Note a file the commit adds (a later line may delete it again)."""
        self._paths.add(path)

    def deleted(self, path: str, *, is_folder: bool) -> None:
        """Refuse deleting what is not there; note what the commit deletes."""
        if is_folder:
            doomed = self._paths.below(validate_folder(path))  # indexed: no scan of every path
        else:
            # A folder named without its trailing '/' is deleted whole, as on the Hub.
            doomed = {validate_path(path)} if validate_path(path) in self._paths else self._paths.below(path)
        if not doomed:
            raise EntryNotFoundError(f"cannot delete '{path}': not found in '{self.repo_id}@{self.branch}'")
        for doomed_path in doomed:
            self._paths.discard(doomed_path)




def download_revision(revision: str) -> str:
    """A revision named in a download URL; refused with ``X-Error-Code: RevisionNotFound``.

    Stock clients turn only coded errors of a download into a typed exception with the server's
    message; a bare 400 there reads as "check your connection". No such revision can exist.
    """
    try:
        return validate_revision(revision)
    except InvalidRevisionError as exc:
        exc.error_code = "RevisionNotFound"
        raise


def download_path(path: str) -> str:
    """A file path named in a download URL; refused with ``X-Error-Code: EntryNotFound``."""
    try:
        return validate_path(path)
    except InvalidPathError as exc:
        exc.error_code = "EntryNotFound"
        raise


__all__ = ["CommitPrecheck", "download_path", "download_revision"]
