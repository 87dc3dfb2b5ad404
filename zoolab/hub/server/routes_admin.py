"""Administration routes the stock client calls: ``auth_check``, ``move_repo``,
``super_squash_history``, ``list_lfs_files`` / ``permanently_delete_lfs_files``, and the clear
refusal of discussions and pull requests (out of scope)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from zoolab.errors import InvalidInputError, PermissionDeniedError, UnsupportedError
from zoolab.hub.server.context import (
    field_str,
    raw_segments,
    read_json_object,
    reader,
    repo_id_from,
    repo_store,
    writer,
)
from zoolab.hub.server.gating import check_file_access
from zoolab.hub.server.payloads import iso
from zoolab.hub.server.routes_repos import body_repo_type
from zoolab.hub.store import admin
from zoolab.hub.store.validation import validate_ref_name

router = APIRouter()


@router.get("/api/models/{namespace}/{name}/auth-check")
@router.get("/api/datasets/{namespace}/{name}/auth-check")
@router.get("/api/models/{namespace}/{name}/auth-check/write")
@router.get("/api/datasets/{namespace}/{name}/auth-check/write")
def auth_check(namespace: str, name: str, request: Request) -> dict[str, Any]:
    """200 if the caller may read the repo's files (``/write``: and write to it); else the error a
    read or write would get (RepoNotFound, GatedRepo, 403)."""
    viewer = reader(request)
    info = repo_store(request).repo_info(repo_id_from(namespace, name), viewer=viewer)
    check_file_access(info, viewer, str(request.base_url))
    if raw_segments(request)[-1] == "write" and (viewer is None or not viewer.may_write_to(info.owner)):
        raise PermissionDeniedError(f"you may not write to '{info.repo_id}'",
                                    hint="use a write token of the owner or of a member of its organisation")
    return {"repoId": info.repo_id, "type": info.repo_type}


@router.post("/api/repos/move")
async def move_repo(request: Request) -> dict[str, Any]:
    """Rename a repo: ``{fromRepo, toRepo, type}``."""
    user = writer(request)
    body = await read_json_object(request)
    store = repo_store(request, body_repo_type(body.get("type")))
    new_id = await run_in_threadpool(admin.move_repo, store, field_str(body, "fromRepo") or "",
                                     field_str(body, "toRepo") or "", actor=user)
    return {"id": new_id}


@router.post("/api/models/{namespace}/{name}/super-squash/{branch:path}")
@router.post("/api/datasets/{namespace}/{name}/super-squash/{branch:path}")
async def super_squash(namespace: str, name: str, branch: str, request: Request) -> JSONResponse:
    """Squash a branch's history into one commit: ``{message}``."""
    user = writer(request)
    branch = validate_ref_name("/".join(raw_segments(request)[5:]), kind="branch")
    body = await read_json_object(request, allow_empty=True)
    message = field_str(body, "message", required=False) or f"Super-squash branch '{branch}'"
    info = await run_in_threadpool(lambda: admin.super_squash(repo_store(request), repo_id_from(namespace, name),
                                                              branch, message, author=user.name, actor=user))
    return JSONResponse({"commitOid": info.commit_id})


@router.get("/api/models/{namespace}/{name}/lfs-files")
@router.get("/api/datasets/{namespace}/{name}/lfs-files")
def list_lfs_files(namespace: str, name: str, request: Request) -> list[dict[str, Any]]:
    """Every LFS object the repo's commits reference (owners only, as on the Hub)."""
    user = writer(request)
    store = repo_store(request)
    info = store.repo_info(repo_id_from(namespace, name), viewer=user)
    if not user.may_write_to(info.owner):
        raise PermissionDeniedError(f"only writers of '{info.repo_id}' may list its LFS files")
    return [{"fileOid": f.sha256, "oid": f.pointer_oid, "filename": f.filename, "size": f.size,
             "pushedAt": iso(f.pushed_at), "ref": f.ref} for f in admin.list_lfs_files(store, info.repo_id, viewer=user)]


@router.post("/api/models/{namespace}/{name}/lfs-files/batch")
@router.post("/api/datasets/{namespace}/{name}/lfs-files/batch")
async def delete_lfs_files(namespace: str, name: str, request: Request) -> dict[str, Any]:
    """Permanently remove LFS objects from every commit: ``{deletions: {sha: [...], rewriteHistory}}``."""
    user = writer(request)
    body = await read_json_object(request)
    deletions = body.get("deletions")
    shas = deletions.get("sha") if isinstance(deletions, dict) else None
    if not isinstance(shas, list) or not all(isinstance(s, str) for s in shas) or len(shas) > 1000:
        raise InvalidInputError("expected {\"deletions\": {\"sha\": [at most 1000 sha256 strings]}}")
    if deletions.get("rewriteHistory") is False:
        raise UnsupportedError("deleting LFS files without rewriting history is not supported",
                               hint="pass rewrite_history=True")
    removed = await run_in_threadpool(admin.delete_lfs_files, repo_store(request), repo_id_from(namespace, name),
                                      shas, actor=user)
    return {"removed": removed}


@router.api_route("/api/models/{namespace}/{name}/discussions", methods=["GET", "POST"])
@router.api_route("/api/datasets/{namespace}/{name}/discussions", methods=["GET", "POST"])
@router.api_route("/api/models/{namespace}/{name}/discussions/{rest:path}", methods=["GET", "POST", "PATCH", "DELETE"])
@router.api_route("/api/datasets/{namespace}/{name}/discussions/{rest:path}",
                  methods=["GET", "POST", "PATCH", "DELETE"])
def discussions(namespace: str, name: str, request: Request) -> None:
    """Discussions and pull requests are out of scope: say so instead of 'no such endpoint'."""
    raise UnsupportedError("discussions and pull requests are not supported by this server",
                           hint="commit to a branch (create_branch, then revision=<branch>)")


__all__ = ["router"]
