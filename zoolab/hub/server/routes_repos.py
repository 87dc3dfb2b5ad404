"""Repository routes: whoami, create/delete/settings, model info, listing, tree, refs, commits,
branches and tags."""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from zoolab.errors import EntryNotFoundError, InvalidInputError, RepoExistsError, UnsupportedError
from zoolab.hub.server import payloads
from zoolab.hub.server.app import header_safe
from zoolab.hub.server.listing import FileIndex
from zoolab.hub.server.context import (
    field_bool,
    field_str,
    raw_segments,
    read_form_or_json,
    read_json_object,
    reader,
    repo_id_from,
    repo_store,
    state,
    writer,
)
from zoolab.hub.store import FileEntry
from zoolab.hub.store.history import last_commits
from zoolab.hub.store.validation import validate_folder, validate_ref_name, validate_revision

router = APIRouter()

TREE_PAGE_SIZE = 1000
EXPANDED_PAGE_SIZE = 50
"""Tree pages with ``expand=true`` are smaller, as on the Hub: each item costs a history walk."""
LIST_PAGE_SIZE = 1000
SORTS = {
    "downloads": "downloads", "likes": "likes", "lastModified": "updated", "last_modified": "updated",
    "createdAt": "created", "created_at": "created", "trendingScore": "downloads", "trending_score": "downloads",
    "updated": "updated", "created": "created",
}  # fmt: skip


def body_repo_type(value: Any) -> str:
    """The ``type`` of a create/delete/move body: ``model`` (default) or ``dataset``."""
    if value in (None, "model", "dataset"):
        return value or "model"
    raise UnsupportedError(f"repo type {value!r} is not supported: this server hosts models and datasets",
                           hint="use repo_type='model' or repo_type='dataset'")


def repo_url(base: str, repo_type: str, repo_id: str) -> str:
    """The web address of a repo, as the Hub writes it (``/datasets/`` before dataset ids)."""
    return f"{base}/datasets/{repo_id}" if repo_type == "dataset" else f"{base}/{repo_id}"


@router.get("/api/whoami-v2")
def whoami(request: Request) -> dict[str, Any]:
    """Who the token belongs to."""
    user = writer(request)
    role = "write" if user.can_write else "read"
    return {
        "type": "user",
        "id": user.name,
        "name": user.name,
        "fullname": user.name,
        "email": None,
        "emailVerified": False,
        "isPro": False,
        "canPay": False,
        "orgs": [{"type": "org", "name": org, "fullname": org, "roleInOrg": "write"} for org in user.orgs],
        "auth": {"type": "access_token", "accessToken": {"displayName": "zoolab hub token", "role": role}},
    }


@router.post("/api/repos/create")
async def create_repo(request: Request) -> JSONResponse:
    """Create a repo: ``{name, organization, visibility | private, type}``; 409 if it exists."""
    user = writer(request)
    body = await read_json_object(request)
    repo_type = body_repo_type(body.get("type"))
    name = field_str(body, "name")
    organization = field_str(body, "organization", required=False) or user.name
    visibility = field_str(body, "visibility", required=False)
    if visibility is not None and visibility not in ("public", "private"):
        raise InvalidInputError(f"invalid visibility {visibility!r}", hint="use 'public' or 'private'")
    private = visibility == "private" if visibility is not None else field_bool(body, "private", False)
    repo_id = repo_id_from(organization, name or "")
    base = str(request.base_url).rstrip("/")
    try:
        info = await run_in_threadpool(repo_store(request, repo_type).create_repo, repo_id, private=private,
                                       actor=user)
    except RepoExistsError as exc:
        # The Hub's 409 carries the url too; stock clients with exist_ok=True read it.
        return JSONResponse({"error": str(exc), "url": repo_url(base, repo_type, repo_id)}, status_code=409,
                            headers={"X-Error-Message": header_safe(str(exc))})
    return JSONResponse({"url": repo_url(base, repo_type, info.repo_id), "name": info.repo_id, "id": info.repo_id})


@router.delete("/api/repos/delete")
async def delete_repo(request: Request) -> dict[str, Any]:
    """Delete a repo: ``{name, organization, type}``."""
    user = writer(request)
    body = await read_json_object(request)
    repo_type = body_repo_type(body.get("type"))
    repo_id = repo_id_from(field_str(body, "organization", required=False) or user.name, field_str(body, "name") or "")
    await run_in_threadpool(repo_store(request, repo_type).delete_repo, repo_id, actor=user)
    return {}


@router.put("/api/models/{namespace}/{name}/settings")
@router.put("/api/datasets/{namespace}/{name}/settings")
async def repo_settings(namespace: str, name: str, request: Request) -> dict[str, Any]:
    """Change visibility (``{private: bool}`` or ``{visibility: 'public'|'private'}``) and gating
    (``{gated: false|'auto'|'manual'}``)."""
    user = writer(request)
    body = await read_json_object(request)
    repo_id = repo_id_from(namespace, name)
    private = None
    if "visibility" in body:
        visibility = field_str(body, "visibility")
        if visibility not in ("public", "private"):
            raise InvalidInputError(f"invalid visibility {visibility!r}", hint="use 'public' or 'private'")
        private = visibility == "private"
    elif "private" in body:
        private = field_bool(body, "private")
    gated = body.get("gated")
    if "gated" in body and gated not in (False, "auto", "manual"):
        raise InvalidInputError(f"invalid gated value {gated!r}", hint="use false, 'auto' or 'manual'")
    info = await run_in_threadpool(lambda: repo_store(request).update_repo_settings(
        repo_id, private=private, gated=gated if "gated" in body else None, actor=user))
    return {"private": info.private, "gated": info.gated}


@router.get("/api/models")
@router.get("/api/datasets")
def list_models(request: Request) -> JSONResponse:
    """Search: ``search``, ``author``, ``filter`` (repeatable), ``sort``, ``limit``, ``full``, ``cardData``."""
    viewer = reader(request)
    params = request.query_params
    sort_key = params.get("sort") or "downloads"
    if sort_key not in SORTS:
        raise InvalidInputError(f"unknown sort {sort_key!r}", hint=f"use one of {', '.join(sorted(SORTS))}")
    limit = _int_param(params.get("limit"), "limit")
    offset = _int_param(params.get("offset"), "offset") or 0
    page = min(limit, LIST_PAGE_SIZE) if limit is not None else LIST_PAGE_SIZE
    tags = [t for t in params.getlist("filter") for t in t.split(",") if t]
    if params.get("pipeline_tag"):
        tags.append(params["pipeline_tag"])
    if params.get("library"):
        tags.append(params["library"])
    gated = params.get("gated")
    repos = repo_store(request).list_repos(
        search=params.get("search") or None, author=params.get("author") or None, tags=tags,
        sort=SORTS[sort_key], limit=page + 1, offset=offset, viewer=viewer,
        gated=None if gated is None else gated.lower() in ("1", "true"),
    )
    expand = params.getlist("expand")
    full = params.get("full", "").lower() in ("1", "true") or "siblings" in expand
    with_card = full or params.get("cardData", "").lower() in ("1", "true") or "cardData" in expand
    items = []
    for info in repos[:page]:
        files = repo_store(request).list_files(info.repo_id) if full and info.sha else None
        item = payloads.model_info(info, files, card=with_card)
        items.append(payloads.expanded(item, expand) if expand else item)
    headers = {}
    if len(repos) > page and (limit is None or limit > page):
        query = [(k, v) for k, v in params.multi_items() if k != "offset"] + [("offset", str(offset + page))]
        headers["Link"] = f'<{str(request.url.remove_query_params(list(params.keys())))}?{urlencode(query)}>; rel="next"'
    return JSONResponse(items, headers=headers)


def _int_param(value: str | None, name: str) -> int | None:
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise InvalidInputError(f"query parameter '{name}' must be an integer") from None
    if number < 0:
        raise InvalidInputError(f"query parameter '{name}' must not be negative")
    if number > 2**53:
        # SQLite integers are 64-bit: a larger value would fail deep in the query.
        raise InvalidInputError(f"query parameter '{name}' is too large")
    return number


def _visible_repo(request: Request, namespace: str, name: str):  # type: ignore[no-untyped-def]
    repo_id = repo_id_from(namespace, name)
    return repo_store(request).repo_info(repo_id, viewer=reader(request))


def _info_answer(request: Request, namespace: str, name: str, revision: str) -> dict[str, Any]:
    info = _visible_repo(request, namespace, name)
    commit_id, files = repo_store(request).snapshot(info.repo_id, validate_revision(revision))
    blobs = request.query_params.get("blobs", "").lower() in ("1", "true")
    answer = payloads.model_info(info, files, sha=commit_id, blobs=blobs)
    expand = request.query_params.getlist("expand")
    return payloads.expanded(answer, expand) if expand else answer


@router.get("/api/models/{namespace}/{name}")
@router.get("/api/datasets/{namespace}/{name}")
def model_info(namespace: str, name: str, request: Request) -> dict[str, Any]:
    """``model_info`` at the default branch."""
    info = _visible_repo(request, namespace, name)
    return _info_answer(request, namespace, name, info.default_branch)


@router.get("/api/models/{namespace}/{name}/revision/{revision:path}")
@router.get("/api/datasets/{namespace}/{name}/revision/{revision:path}")
def model_info_at(namespace: str, name: str, revision: str, request: Request) -> dict[str, Any]:
    """``model_info`` at a revision (what ``snapshot_download`` asks first)."""
    return _info_answer(request, namespace, name, _segment_after(request, "revision"))


def _segment_after(request: Request, marker: str) -> str:
    """The decoded raw path remainder after ``/api/models/ns/name/<marker>/`` (a quoted revision)."""
    segments = raw_segments(request)
    if len(segments) < 6 or segments[4] != marker:
        raise InvalidInputError(f"expected /api/models/<namespace>/<name>/{marker}/<value>")
    return "/".join(segments[5:])


@router.get("/api/models/{namespace}/{name}/refs")
@router.get("/api/datasets/{namespace}/{name}/refs")
def list_refs(namespace: str, name: str, request: Request) -> dict[str, Any]:
    """Branches and tags."""
    info = _visible_repo(request, namespace, name)
    return payloads.refs(repo_store(request).list_refs(info.repo_id))


@router.get("/api/models/{namespace}/{name}/commits/{revision:path}")
@router.get("/api/datasets/{namespace}/{name}/commits/{revision:path}")
def list_commits(namespace: str, name: str, revision: str, request: Request) -> list[dict[str, Any]]:
    """History reachable from a revision, newest first."""
    info = _visible_repo(request, namespace, name)
    commits = repo_store(request).list_commits(info.repo_id, validate_revision(_segment_after(request, "commits")))
    items = [payloads.commit(c) for c in commits]
    if "formatted" in request.query_params.getlist("expand[]") + request.query_params.getlist("expand"):
        for item in items:  # the Hub's HTML rendering; here plain text, escaped
            item["formatted"] = {"title": html.escape(item["title"]), "message": html.escape(item["message"])}
    return items


def tree_items(files: list[FileEntry], folder: str, recursive: bool) -> list[dict[str, Any]]:
    """The items of ``folder`` ('' = root): direct children, or everything below when ``recursive``."""
    return FileIndex(files).tree(folder, recursive)


@router.get("/api/models/{namespace}/{name}/tree/{rest:path}")
@router.get("/api/datasets/{namespace}/{name}/tree/{rest:path}")
def list_tree(namespace: str, name: str, rest: str, request: Request) -> JSONResponse:
    """Files and folders under a path at a revision; ``recursive``; paged with ``Link: rel="next"``."""
    info = _visible_repo(request, namespace, name)
    segments = raw_segments(request)
    revision = validate_revision(segments[5]) if len(segments) > 5 else "main"
    folder = validate_folder("/".join(segments[6:]))
    recursive = request.query_params.get("recursive", "").lower() in ("1", "true")
    cursor = _int_param(request.query_params.get("cursor"), "cursor") or 0
    expand = request.query_params.get("expand", "").lower() in ("1", "true")
    page_size = EXPANDED_PAGE_SIZE if expand else TREE_PAGE_SIZE
    store = repo_store(request)
    commit_id, files = store.snapshot(info.repo_id, revision)
    index = FileIndex(files)
    if folder and not index.is_folder(folder):
        raise EntryNotFoundError(f"folder '{folder}' not found in '{info.repo_id}' at '{revision}'")
    items = index.tree(folder, recursive)
    page = items[cursor:cursor + page_size]
    if expand:
        add_last_commits(store, info.repo_id, commit_id, index, page)
    headers = {}
    if cursor + page_size < len(items):
        next_url = request.url.include_query_params(cursor=cursor + page_size)
        headers["Link"] = f'<{next_url}>; rel="next"'
    return JSONResponse(page, headers=headers)


@router.post("/api/models/{namespace}/{name}/paths-info/{revision:path}")
@router.post("/api/datasets/{namespace}/{name}/paths-info/{revision:path}")
async def paths_info(namespace: str, name: str, revision: str, request: Request) -> list[dict[str, Any]]:
    """Information on given paths (missing paths are left out)."""
    info = await run_in_threadpool(_visible_repo, request, namespace, name)
    revision = validate_revision(_segment_after(request, "paths-info"))
    body = await read_form_or_json(request)
    paths = body.get("paths", [])
    if isinstance(paths, str):
        paths = [paths]
    if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths) or len(paths) > 10000:
        raise InvalidInputError("'paths' must be a list of strings")
    # Indexed lookups, in a worker thread: the cost grows with paths + files, never on the loop.
    expand = str(body.get("expand", "")).lower() in ("1", "true")
    return await run_in_threadpool(_paths_info_items, repo_store(request), info.repo_id, revision, paths, expand)


def _paths_info_items(store: Any, repo_id: str, revision: str, paths: list[str],
                      expand: bool = False) -> list[dict[str, Any]]:
    commit_id, files = store.snapshot(repo_id, revision)
    index = FileIndex(files)
    items = [item for item in (index.item(validate_folder(raw)) for raw in paths) if item is not None]
    if expand:
        add_last_commits(store, repo_id, commit_id, index, items)
    return items


def add_last_commits(store: Any, repo_id: str, commit_id: str, index: FileIndex, items: list[dict[str, Any]]) -> None:
    """``expand=true``: each item gets the ``lastCommit`` that changed it (a folder: the newest of
    the commits that changed a file below it)."""
    below = {item["path"]: [e.path for e in index.files_below(item["path"])] if item["type"] == "directory"
             else [item["path"]] for item in items}
    changed = last_commits(store, repo_id, commit_id, {path for paths in below.values() for path in paths})
    for item in items:
        commits = [changed[path] for path in below[item["path"]] if path in changed]
        if commits:
            newest = max(commits, key=lambda c: c.created_at)
            item["lastCommit"] = {"id": newest.commit_id, "title": newest.message.partition("\n")[0],
                                  "date": payloads.iso(newest.created_at)}


@router.post("/api/models/{namespace}/{name}/branch/{branch:path}")
@router.post("/api/datasets/{namespace}/{name}/branch/{branch:path}")
async def create_branch(namespace: str, name: str, branch: str, request: Request) -> dict[str, Any]:
    """Create a branch: ``{startingPoint}`` optional."""
    user = writer(request)
    branch = validate_ref_name(_segment_after(request, "branch"), kind="branch")
    body = await read_json_object(request, allow_empty=True)
    start = field_str(body, "startingPoint", required=False)
    repo_id = repo_id_from(namespace, name)
    await run_in_threadpool(repo_store(request).create_branch, repo_id, branch,
                            revision=validate_revision(start) if start else None, actor=user)
    return {}


@router.delete("/api/models/{namespace}/{name}/branch/{branch:path}")
@router.delete("/api/datasets/{namespace}/{name}/branch/{branch:path}")
def delete_branch(namespace: str, name: str, branch: str, request: Request) -> dict[str, Any]:
    """Delete a branch."""
    user = writer(request)
    branch = validate_ref_name(_segment_after(request, "branch"), kind="branch")
    repo_store(request).delete_branch(repo_id_from(namespace, name), branch, actor=user)
    return {}


@router.post("/api/models/{namespace}/{name}/tag/{revision:path}")
@router.post("/api/datasets/{namespace}/{name}/tag/{revision:path}")
async def create_tag(namespace: str, name: str, revision: str, request: Request) -> dict[str, Any]:
    """Tag a revision: ``{tag, message}``."""
    user = writer(request)
    revision = validate_revision(_segment_after(request, "tag"))
    body = await read_json_object(request)
    # The revision is judged first, as on the Hub: a missing one is RevisionNotFound whatever the tag.
    store = repo_store(request)
    info = await run_in_threadpool(store.repo_info, repo_id_from(namespace, name), viewer=user)
    await run_in_threadpool(store.resolve_revision, info.repo_id, revision, abbreviated=True)
    tag = validate_ref_name(field_str(body, "tag") or "", kind="tag")
    message = field_str(body, "message", required=False)
    await run_in_threadpool(repo_store(request).create_tag, repo_id_from(namespace, name), tag,
                            revision=revision, message=message, actor=user)
    return {}


@router.delete("/api/models/{namespace}/{name}/tag/{tag:path}")
@router.delete("/api/datasets/{namespace}/{name}/tag/{tag:path}")
def delete_tag(namespace: str, name: str, tag: str, request: Request) -> dict[str, Any]:
    """Delete a tag."""
    user = writer(request)
    tag = validate_ref_name(_segment_after(request, "tag"), kind="tag")
    repo_store(request).delete_tag(repo_id_from(namespace, name), tag, actor=user)
    return {}


__all__ = ["add_last_commits", "body_repo_type", "repo_url", "router", "tree_items"]
