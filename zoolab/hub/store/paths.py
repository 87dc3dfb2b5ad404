"""A set of file paths that finds everything below a folder without scanning every path.

Deleting a folder from a commit of thousands of files must not cost a scan of all of them per
deletion: a commit with thousands of ``deletedFolder`` lines would then cost their product, on the
server's event loop (the early commit checks) and inside the write transaction. Each path is filed
under its folders once; a folder's paths are filtered for removed ones lazily, each at most once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class PathSet:
    """A mutable set of ``a/b/c`` paths with :meth:`below` (every path under a folder)."""

    def __init__(self, paths: Iterable[str] = ()):
        self._paths: set[str] = set()
        self._below: dict[str, set[str]] = {}
        for path in paths:
            self.add(path)

    def add(self, path: str) -> None:
        """Add ``path`` (a no-op if present)."""
        if path in self._paths:
            return
        self._paths.add(path)
        end = path.find("/")
        while end >= 0:
            self._below.setdefault(path[:end], set()).add(path)
            end = path.find("/", end + 1)

    def discard(self, path: str) -> None:
        """Remove ``path`` if present."""
        self._paths.discard(path)

    def below(self, folder: str) -> set[str]:
        """The paths under ``folder`` ('' = every path)."""
        if not folder:
            return set(self._paths)
        candidates = self._below.get(folder)
        if not candidates:
            return set()
        live = {path for path in candidates if path in self._paths}
        self._below[folder] = live  # removed paths are dropped once, not scanned again
        return set(live)

    def __contains__(self, path: object) -> bool:
        return path in self._paths

    def __iter__(self) -> Iterator[str]:
        return iter(self._paths)

    def __len__(self) -> int:
        return len(self._paths)


__all__ = ["PathSet"]
