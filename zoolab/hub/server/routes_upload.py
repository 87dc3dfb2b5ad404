"""Uploads: ``validate-yaml``, ``preupload``, the ndjson ``commit``, and LFS (batch, basic and
multipart transfers at signed URLs).

Which upload mode the server answers (see docs/hub-server.md, "Xet"): stock clients with
``hf_xet`` installed upload every ``lfs``-mode file through Xet, with no fallback. This server does
not speak Xet, so by default it answers ``regular`` for every file (content inline in the commit);
with ``--upload-mode lfs`` (or the request header ``X-Zoolab-Upload-Mode: lfs``) it splits files
like the Hub and clients must set ``HF_HUB_DISABLE_XET=1``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import os
import time
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from zoolab.errors import (
    IntegrityError,
    InvalidCardError,
    InvalidInputError,
    PermissionDeniedError,
    UnsupportedError,
    UnsupportedMediaTypeError,
)
from zoolab.hub.server.context import (
    ServerState,
    field_str,
    iter_body,
    raw_segments,
    read_json_object,
    repo_id_from,
    state,
    writer,
)
from zoolab.hub.server.guards import CommitPrecheck
from zoolab.hub.server.ndjson import CommitPayloadReader
from zoolab.hub.store import AddFile, DeleteFile, Operation, User
from zoolab.hub.store.blobs import BlobWriter
from zoolab.hub.store.cards import is_lfs_file, parse_card_metadata
from zoolab.hub.store.validation import (
    validate_path,
    validate_ref_name,
    validate_repo_id,
    validate_sha256,
    validate_size,
)

router = APIRouter()

UPLOAD_URL_TTL_S = 24 * 3600
INLINE_CONTENT_BYTES = 256 * 1024
"""Inline files up to this size are kept in memory until the commit stores them all at once."""
MAX_PREUPLOAD_FILES = 1000
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


def _writable_repo(request: Request, namespace: str, name: str) -> tuple[str, User]:
    """The repo id if the caller may write to it: 401 without token, 404 if invisible, 403 otherwise."""
    user = writer(request)
    repo_id = repo_id_from(namespace, name)
    info = state(request).store.repo_info(repo_id, viewer=user)
    if not user.may_write_to(info.owner):
        why = "this token is read-only" if not user.can_write else f"'{user.name}' may not write to '{info.owner}'"
        raise PermissionDeniedError(why, hint="use a write token of the owner or of a member of its organisation")
    return repo_id, user


def _segment_after(request: Request, marker: str) -> str:
    segments = raw_segments(request)
    if len(segments) < 6 or segments[4] != marker:
        raise InvalidInputError(f"expected /api/models/<namespace>/<name>/{marker}/<revision>")
    return "/".join(segments[5:])


def _lfs_mode(request: Request) -> bool:
    header = (request.headers.get("x-zoolab-upload-mode") or "").lower()
    if header:
        if header not in ("lfs", "regular"):
            raise InvalidInputError("X-Zoolab-Upload-Mode must be 'lfs' or 'regular'")
        return header == "lfs"
    return state(request).config.upload_mode == "lfs"


# ---------------------------------------------------------------------------- card validation
@router.post("/api/validate-yaml")
async def validate_yaml(request: Request) -> JSONResponse:
    """Check a README's YAML metadata: ``{content, repoType}``."""
    body = await read_json_object(request)
    content = field_str(body, "content")
    try:
        parse_card_metadata(content or "")
    except InvalidCardError as exc:
        return JSONResponse({"error": str(exc), "errors": [{"message": str(exc)}], "warnings": []},
                            status_code=400, headers={"X-Error-Message": "Invalid metadata in README.md"})
    return JSONResponse({"errors": [], "warnings": []})


# ---------------------------------------------------------------------------- preupload
@router.post("/api/models/{namespace}/{name}/preupload/{revision:path}")
async def preupload(namespace: str, name: str, revision: str, request: Request) -> dict[str, Any]:
    """For each announced file (``path``, ``size``, base64 ``sample``): ``regular`` or ``lfs``."""
    repo_id, _ = await run_in_threadpool(_writable_repo, request, namespace, name)
    revision = validate_ref_name(_segment_after(request, "preupload"), kind="branch")
    if request.query_params.get("create_pr") in ("1", "true"):
        raise UnsupportedError("pull requests are not supported by this server", hint="commit to a branch")
    body = await read_json_object(request)
    files = body.get("files")
    if not isinstance(files, list) or len(files) > MAX_PREUPLOAD_FILES:
        raise InvalidInputError(f"'files' must be a list of at most {MAX_PREUPLOAD_FILES} objects")
    commit_id, existing = await run_in_threadpool(state(request).store.snapshot, repo_id, revision)
    by_path = {e.path: e for e in existing}
    lfs_mode = _lfs_mode(request)
    answer = []
    for item in files:
        if not isinstance(item, dict):
            raise InvalidInputError("each item of 'files' must be an object")
        path = validate_path(field_str(item, "path") or "")
        size = validate_size(item.get("size"), what=f"size of '{path}'")
        try:
            sample = base64.b64decode(field_str(item, "sample", required=False, default="") or "", validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInputError(f"sample of '{path}' is not valid base64") from None
        lfs = lfs_mode and size > 0 and is_lfs_file(path, size, sample)
        current = by_path.get(path)
        oid = None if current is None else (current.sha256 if lfs else current.git_oid)
        answer.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": False, "oid": oid})
    return {"files": answer, "commitOid": commit_id}


@router.get("/api/models/{namespace}/{name}/xet-{kind}-token/{rest:path}")
@router.get("/api/models/{namespace}/{name}/xet-{kind}-token")
def xet_token(namespace: str, name: str, kind: str, request: Request) -> None:
    """Xet is not spoken here: say what to set instead of failing obscurely."""
    raise UnsupportedError(
        "this zoolab hub server does not speak the Xet protocol",
        hint="set HF_HUB_DISABLE_XET=1 in the client, or run the server without '--upload-mode lfs'",
    )


# ---------------------------------------------------------------------------- commit
@router.post("/api/models/{namespace}/{name}/commit/{revision:path}")
async def commit(namespace: str, name: str, revision: str, request: Request) -> dict[str, Any]:
    """Apply an ndjson commit (header, file, lfsFile, deletedFile, deletedFolder lines) atomically."""
    repo_id, user = await run_in_threadpool(_writable_repo, request, namespace, name)
    branch = validate_ref_name(_segment_after(request, "commit"), kind="branch")
    if request.query_params.get("create_pr") in ("1", "true"):
        raise UnsupportedError("pull requests are not supported by this server", hint="commit to a branch")
    content_type = (request.headers.get("content-type") or "application/x-ndjson").split(";")[0].strip().lower()
    if content_type not in NDJSON_TYPES:
        raise UnsupportedMediaTypeError(f"unsupported content type {content_type!r}", hint="send application/x-ndjson")
    store = state(request).store
    # Refuse a missing branch, a stale parent or a missing deletion before storing any content.
    precheck = await run_in_threadpool(CommitPrecheck, store, repo_id, branch)
    max_body = state(request).config.max_body_bytes
    header: dict[str, Any] | None = None
    operations: list[Operation] = []
    reader = CommitPayloadReader(lambda: store.blob_writer(max_size=max_body))

    async def handle(item: dict[str, Any]) -> None:
        nonlocal header
        key, value = item.get("key"), item["value"]
        precheck.operation(key)
        if key == "header":
            precheck.header(value)
            header = value
        elif key == "file":
            operations.append(await _file_operation(store, value))
        elif key == "streamedFile":
            operations.append(await _streamed_file_operation(store, *reader.streamed[item["index"]]))
        elif key == "lfsFile":
            operations.append(await run_in_threadpool(_lfs_operation, store, value))
        elif key in ("deletedFile", "deletedFolder"):
            precheck.deleted(field_str(value, "path") or "", is_folder=key == "deletedFolder")
            operations.append(DeleteFile(field_str(value, "path") or "", is_folder=key == "deletedFolder"))
        else:
            raise InvalidInputError(f"unknown commit operation key {key!r}",
                                    hint="use header, file, lfsFile, deletedFile or deletedFolder")
        if key in ("file", "streamedFile", "lfsFile"):
            precheck.added(operations[-1].path)

    try:
        async for chunk in iter_body(request):
            for item in reader.feed(chunk):
                await handle(item)
        for item in reader.finish():
            await handle(item)
    finally:
        reader.abort()
    if header is None:
        raise InvalidInputError("commit payload has no header line", hint="start with {\"key\": \"header\", ...}")
    summary = field_str(header, "summary", required=False) or ""
    description = field_str(header, "description", required=False) or ""
    parent = field_str(header, "parentCommit", required=False)
    message = summary + (f"\n\n{description}" if description else "")
    info = await run_in_threadpool(
        lambda: store.commit(repo_id, operations, message=message or "update", branch=branch,
                             parent_commit=parent, author=user.name, actor=user)
    )
    base = str(request.base_url).rstrip("/")
    return {
        "success": True,
        "commitOid": info.commit_id,
        "commitUrl": f"{base}/{repo_id}/commit/{info.commit_id}",
        "commitMessage": message,
        "pullRequestUrl": None,
    }


async def _file_operation(store: Any, value: dict[str, Any]) -> AddFile:
    path = validate_path(field_str(value, "path") or "")
    encoding = (field_str(value, "encoding", required=False) or "base64").lower()
    content = field_str(value, "content", required=False) or ""
    if encoding == "base64":
        try:
            data = base64.b64decode(content, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInputError(f"content of '{path}' is not valid base64") from None
    elif encoding in ("utf-8", "utf8"):
        data = content.encode("utf-8", "surrogatepass")
    else:
        raise InvalidInputError(f"unknown encoding {encoding!r} for '{path}'", hint="use base64")
    if len(data) <= INLINE_CONTENT_BYTES:
        # Small files are stored by the commit itself: one transaction for all of them.
        return AddFile(path, content=data)
    sha, _ = await run_in_threadpool(store.put_blob, data)
    return AddFile(path, sha256=sha)


async def _streamed_file_operation(store: Any, value: dict[str, Any], blob: BlobWriter) -> AddFile:
    path = validate_path(field_str(value, "path") or "")
    encoding = (field_str(value, "encoding", required=False) or "base64").lower()
    if encoding != "base64":
        blob.abort()
        raise InvalidInputError(f"large file '{path}' must be base64-encoded")
    digest = await run_in_threadpool(blob.finish)
    sha, _ = await run_in_threadpool(store.register_blob, digest)
    return AddFile(path, sha256=sha)


def _lfs_operation(store: Any, value: dict[str, Any]) -> AddFile:
    path = validate_path(field_str(value, "path") or "")
    algo = field_str(value, "algo", required=False, default="sha256")
    if algo != "sha256":
        raise InvalidInputError(f"unsupported LFS hash algorithm {algo!r}", hint="use sha256")
    oid = validate_sha256(field_str(value, "oid") or "")
    if not store.has_blob(oid):
        raise InvalidInputError(f"LFS object {oid} of '{path}' was not uploaded",
                                hint="upload it through the LFS batch API before committing")
    if "size" in value:
        size = validate_size(value["size"])
        stored = store.blobs.path(oid).stat().st_size
        if size != stored:
            raise IntegrityError(f"LFS object {oid} has {stored} bytes, not {size}")
    return AddFile(path, sha256=oid)


# ---------------------------------------------------------------------------- LFS batch
def _sign(secret: bytes, *fields: str) -> str:
    return hmac.new(secret, "\n".join(fields).encode(), hashlib.sha256).hexdigest()


def _upload_query(hub: ServerState, repo_id: str, oid: str, size: int, chunk: int) -> str:
    expires = str(int(time.time()) + UPLOAD_URL_TTL_S)
    sig = _sign(hub.config.url_secret, repo_id, oid, str(size), str(chunk), expires)
    return f"repo={repo_id}&size={size}&chunk={chunk}&exp={expires}&sig={sig}"


@router.post("/{namespace}/{name_git}/info/lfs/objects/batch")
async def lfs_batch(namespace: str, name_git: str, request: Request) -> JSONResponse:
    """git-lfs batch API (upload): where to PUT each object, basic or multipart."""
    if not name_git.endswith(".git"):
        raise InvalidInputError("expected /<namespace>/<name>.git/info/lfs/objects/batch")
    repo_id, _ = await run_in_threadpool(_writable_repo, request, namespace, name_git[: -len(".git")])
    body = await read_json_object(request)
    if body.get("operation") != "upload":
        raise UnsupportedError("only the LFS 'upload' operation is supported",
                               hint="download files through /<repo>/resolve/<revision>/<path>")
    if body.get("hash_algo", "sha256") != "sha256":
        raise InvalidInputError("only sha256 LFS objects are supported")
    objects = body.get("objects")
    if not isinstance(objects, list) or len(objects) > MAX_PREUPLOAD_FILES:
        raise InvalidInputError(f"'objects' must be a list of at most {MAX_PREUPLOAD_FILES} objects")
    hub = state(request)
    cfg = hub.config
    base = str(request.base_url).rstrip("/")
    answer = []
    multipart_used = False
    for obj in objects:
        if not isinstance(obj, dict):
            raise InvalidInputError("each LFS object must be {\"oid\": ..., \"size\": ...}")
        oid = validate_sha256(field_str(obj, "oid") or "")
        size = validate_size(obj.get("size"), what=f"size of LFS object {oid}")
        if size > cfg.max_body_bytes:
            from zoolab.errors import PayloadTooLargeError

            raise PayloadTooLargeError(f"LFS object {oid} of {size} bytes exceeds the limit of {cfg.max_body_bytes}",
                                       hint="raise the server's --max-body-mb")
        item: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
        if await run_in_threadpool(hub.store.has_blob, oid):
            hub.store.blobs.touch(oid)  # gc's grace period now covers the commit to come
            answer.append(item)  # present already: no actions, the client skips the upload
            continue
        if size >= cfg.lfs_multipart_threshold and size > 0:
            multipart_used = True
            chunk = cfg.lfs_chunk_size
            query = _upload_query(hub, repo_id, oid, size, chunk)
            parts = {str(n): f"{base}/api/lfs-upload/{oid}/part/{n}?{query}"
                     for n in range(1, math.ceil(size / chunk) + 1)}
            item["actions"] = {"upload": {"href": f"{base}/api/lfs-upload/{oid}?{query}",
                                          "header": {"chunk_size": str(chunk), **parts}}}
        else:
            query = _upload_query(hub, repo_id, oid, size, 0)
            item["actions"] = {"upload": {"href": f"{base}/api/lfs-upload/{oid}?{query}"}}
        answer.append(item)
    return JSONResponse({"transfer": "multipart" if multipart_used else "basic", "objects": answer,
                         "hash_algo": "sha256"}, media_type="application/vnd.git-lfs+json")


# ---------------------------------------------------------------------------- LFS transfers
def _check_signed(request: Request, oid: str) -> tuple[str, str, int, int]:
    """(repo_id, oid, size, chunk) of a signed upload URL; 403 when forged or expired."""
    params = request.query_params
    try:
        repo_id = params["repo"]
        size = int(params["size"])
        chunk = int(params["chunk"])
        expires = int(params["exp"])
        sig = params["sig"]
    except (KeyError, ValueError):
        raise PermissionDeniedError("upload URL is incomplete", hint="ask the LFS batch API for a new one") from None
    validate_repo_id(repo_id)
    oid = validate_sha256(oid)
    expected = _sign(state(request).config.url_secret, repo_id, oid, str(size), str(chunk), str(expires))
    if not hmac.compare_digest(expected, sig) or expires < time.time():
        raise PermissionDeniedError("upload URL is invalid or expired", hint="ask the LFS batch API for a new one")
    return repo_id, oid, size, chunk


@router.put("/api/lfs-upload/{oid}")
async def lfs_put(oid: str, request: Request) -> JSONResponse:
    """Basic transfer: the whole object in one PUT, verified against its oid and size."""
    repo_id, oid, size, chunk = _check_signed(request, oid)
    if chunk:
        raise InvalidInputError("this object uses the multipart transfer", hint="PUT its parts")
    store = state(request).store
    writer_ = store.blob_writer(expected_size=size, max_size=state(request).config.max_body_bytes)
    try:
        async for data in iter_body(request):
            writer_.write(data)
        digest = await run_in_threadpool(writer_.finish, expected_sha256=oid)
        await run_in_threadpool(store.register_blob, digest)
    finally:
        writer_.abort()
    return JSONResponse({}, headers={"ETag": f'"{oid}"'})


def _assembly_path(hub: ServerState, oid: str, size: int, chunk: int) -> Path:
    return hub.uploads_dir / f"{oid}-{size}-{chunk}.part"


@router.put("/api/lfs-upload/{oid}/part/{number}")
async def lfs_put_part(oid: str, number: int, request: Request) -> JSONResponse:
    """Multipart transfer: one part, written at its offset of the object being assembled."""
    repo_id, oid, size, chunk = _check_signed(request, oid)
    if chunk <= 0:
        raise InvalidInputError("this object uses the basic transfer", hint="PUT the whole object")
    count = math.ceil(size / chunk)
    if not 1 <= number <= count:
        raise InvalidInputError(f"part number {number} out of range 1..{count}")
    expected = chunk if number < count else size - chunk * (count - 1)
    hub = state(request)
    target = _assembly_path(hub, oid, size, chunk)
    fd = os.open(target, os.O_RDWR | os.O_CREAT, 0o600)
    digest = hashlib.sha256()
    offset = chunk * (number - 1)
    written = 0
    try:
        async for data in iter_body(request, limit=expected):
            os.pwrite(fd, data, offset + written)
            written += len(data)
            digest.update(data)
    finally:
        os.close(fd)
    if written != expected:
        raise IntegrityError(f"part {number} has {written} bytes, expected {expected}",
                             hint="upload the part again")
    etag = digest.hexdigest()
    (hub.uploads_dir / f"{target.name}.{number}").write_text(etag)
    return JSONResponse({}, headers={"ETag": etag})


@router.post("/api/lfs-upload/{oid}")
async def lfs_complete(oid: str, request: Request) -> JSONResponse:
    """Multipart completion ``{oid, parts: [{partNumber, etag}]}``: verify the whole object and store it."""
    repo_id, oid, size, chunk = _check_signed(request, oid)
    if chunk <= 0:
        raise InvalidInputError("this object uses the basic transfer")
    body = await read_json_object(request)
    parts = body.get("parts")
    count = math.ceil(size / chunk)
    if body.get("oid") != oid or not isinstance(parts, list) or len(parts) != count:
        raise InvalidInputError(f"completion must name oid {oid} and its {count} parts")
    hub = state(request)
    target = _assembly_path(hub, oid, size, chunk)
    for number, part in enumerate(parts, start=1):
        marker = hub.uploads_dir / f"{target.name}.{number}"
        if not isinstance(part, dict) or part.get("partNumber") != number or not marker.exists():
            raise InvalidInputError(f"part {number} was not uploaded", hint="upload every part, then complete")
        if marker.read_text() != part.get("etag"):
            raise IntegrityError(f"part {number}'s etag does not match what was received")
    try:
        digest = await run_in_threadpool(hub.store.blobs.adopt, target, expected_sha256=oid, expected_size=size)
        await run_in_threadpool(hub.store.register_blob, digest)
    finally:
        target.unlink(missing_ok=True)
        for number in range(1, count + 1):
            (hub.uploads_dir / f"{target.name}.{number}").unlink(missing_ok=True)
    return JSONResponse({"oid": oid, "size": size})
