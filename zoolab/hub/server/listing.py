"""The files of one commit indexed by path and by folder, for ``tree`` and ``paths-info``.

Both answers name folders with an oid that hashes what is below them. Computing it by scanning
every file for every folder costs folders x files (seconds for repos with thousands of folders),
and looking up each asked path by scanning costs paths x files. Here each file is filed under its
folders once (cost: files x depth) and every lookup is a dict access.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from zoolab.hub.server import payloads
from zoolab.hub.store import FileEntry


class FileIndex:
    """Files of one commit (sorted by path, as the store lists them) by path and by folder."""

    def __init__(self, files: Iterable[FileEntry]):
        self.files = list(files)
        self.by_path = {entry.path: entry for entry in self.files}
        self._below: dict[str, list[FileEntry]] = {}
        for entry in self.files:
            end = entry.path.find("/")
            while end >= 0:
                self._below.setdefault(entry.path[:end], []).append(entry)
                end = entry.path.find("/", end + 1)
        self._oids: dict[str, str] = {}

    def files_below(self, path: str) -> list[FileEntry]:
        """The files under folder ``path``."""
        return self._below.get(path, [])

    def is_folder(self, path: str) -> bool:
        """True if some file lies below ``path``."""
        return path in self._below

    def folder_item(self, path: str) -> dict[str, Any]:
        """The ``tree`` / ``paths-info`` item of folder ``path`` (oid over what is below it)."""
        oid = self._oids.get(path)
        if oid is None:
            digest = hashlib.sha1()
            for entry in self._below[path]:
                digest.update(f"{entry.path}\0{entry.git_oid}\n".encode())
            oid = self._oids[path] = digest.hexdigest()
        return {"type": "directory", "oid": oid, "size": 0, "path": path}

    def item(self, path: str) -> dict[str, Any] | None:
        """The item of a file or folder at ``path``, None if neither exists."""
        entry = self.by_path.get(path)
        if entry is not None:
            return payloads.tree_file(entry)
        return self.folder_item(path) if path and self.is_folder(path) else None

    def tree(self, folder: str, recursive: bool) -> list[dict[str, Any]]:
        """The items of ``folder`` ('' = root), direct children or everything below, sorted by path."""
        prefix = folder + "/" if folder else ""
        entries = self._below.get(folder, []) if folder else self.files
        folders: dict[str, None] = {}
        items: list[dict[str, Any]] = []
        for entry in entries:
            rest = entry.path[len(prefix):]
            parts = rest.split("/")
            for depth in range(1, len(parts)):
                if depth > 1 and not recursive:
                    break
                folders.setdefault(prefix + "/".join(parts[:depth]), None)
            if recursive or len(parts) == 1:
                items.append(payloads.tree_file(entry))
        folder_items = [self.folder_item(path) for path in folders]
        return sorted(folder_items + items, key=lambda item: item["path"])


__all__ = ["FileIndex"]
