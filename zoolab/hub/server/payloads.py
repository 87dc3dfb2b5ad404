"""JSON shapes of the Hub API, built from store values (field names as huggingface_hub reads them)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from zoolab.hub.store import CommitInfo, FileEntry, RefInfo, RepoInfo

LFS_POINTER_SIZE = 134  # size of a git-lfs pointer file for a sha256 oid (approximately, as the Hub reports)


def iso(dt: datetime) -> str:
    """The Hub's timestamp format: ``2024-01-31T12:00:00.000Z``."""
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def sibling(entry: FileEntry, *, blobs: bool) -> dict[str, Any]:
    """One ``siblings`` item of ``model_info``."""
    item: dict[str, Any] = {"rfilename": entry.path}
    if blobs:
        item["size"] = entry.size
        item["blobId"] = entry.git_oid
        if entry.lfs:
            item["lfs"] = {"size": entry.size, "sha256": entry.sha256, "pointerSize": LFS_POINTER_SIZE}
    return item


def model_info(info: RepoInfo, files: list[FileEntry] | None, *, sha: str | None = None, blobs: bool = False,
               card: bool = True) -> dict[str, Any]:
    """The ``/api/models/{repo}`` answer (and a ``list_models`` item when ``files`` is None)."""
    data: dict[str, Any] = {
        "_id": hashlib.sha1(info.repo_id.encode()).hexdigest()[:24],
        "id": info.repo_id,
        "modelId": info.repo_id,
        "author": info.owner,
        "sha": sha if sha is not None else info.sha,
        "lastModified": iso(info.last_modified),
        "createdAt": iso(info.created_at),
        "private": info.private,
        "gated": info.gated,
        "disabled": False,
        "downloads": info.downloads,
        "likes": info.likes,
        "tags": list(info.tags),
        "library_name": info.library_name,
        "pipeline_tag": info.pipeline_tag,
    }
    if card:
        data["cardData"] = info.card_data or None
    if files is not None:
        data["siblings"] = [sibling(e, blobs=blobs) for e in files]
        data["spaces"] = []
        data["usedStorage"] = sum(e.size for e in files)
    if info.repo_type == "dataset":
        # A dataset_info answer has no model fields.
        for key in ("modelId", "library_name", "pipeline_tag", "spaces"):
            data.pop(key, None)
    return data


def expanded(data: dict[str, Any], expand: list[str]) -> dict[str, Any]:
    """Only the fields ``expand`` asks for (and the ids), as the Hub answers ``?expand=...``."""
    wanted = set(expand) | {"_id", "id"}
    return {key: value for key, value in data.items() if key in wanted}


def tree_file(entry: FileEntry) -> dict[str, Any]:
    """A file item of ``tree`` / ``paths-info``."""
    item: dict[str, Any] = {"type": "file", "oid": entry.git_oid, "size": entry.size, "path": entry.path}
    if entry.lfs:
        item["lfs"] = {"oid": entry.sha256, "size": entry.size, "pointerSize": LFS_POINTER_SIZE}
    return item


def refs(items: list[RefInfo]) -> dict[str, Any]:
    """The ``/refs`` answer."""
    def ref(r: RefInfo) -> dict[str, str]:
        prefix = "refs/heads/" if r.kind == "branch" else "refs/tags/"
        return {"name": r.name, "ref": prefix + r.name, "targetCommit": r.commit_id}

    return {
        "branches": [ref(r) for r in items if r.kind == "branch"],
        "tags": [ref(r) for r in items if r.kind == "tag"],
        "converts": [],
        "pullRequests": [],
    }


def commit(c: CommitInfo) -> dict[str, Any]:
    """One item of the ``/commits`` answer."""
    title, _, body = c.message.partition("\n")
    return {
        "id": c.commit_id,
        "title": title,
        "message": body.strip("\n"),
        "authors": [{"user": c.author}] if c.author else [],
        "date": iso(c.created_at),
        "parents": list(c.parent_ids),
    }
