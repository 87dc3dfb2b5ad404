"""Uploads: ``validate-yaml``, ``preupload``, the ndjson ``commit``, and LFS (batch, basic and
multipart transfers at signed URLs).

Which upload mode the server answers (see docs/hub-server.md, "Xet"): stock clients with
``hf_xet`` installed upload every ``lfs``-mode file through Xet, with no fallback. This server does
not speak Xet, so by default it answers ``regular`` for every file (content inline in the commit);
with ``--upload-mode lfs`` (or the request header ``X-Zoolab-Upload-Mode: lfs``) it splits files
like the Hub and clients must set ``HF_HUB_DISABLE_XET=1``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import math
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import anyio
import anyio.to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from zoolab.errors import (
    IntegrityError,
    InvalidCardError,
    InvalidInputError,
    PayloadTooLargeError,
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
    repo_store,
    state,
    writer,
)
from zoolab.hub.server.card_check import card_problems
from zoolab.hub.server.gitignore import MAX_GITIGNORE_BYTES, GitIgnore
from zoolab.hub.server.guards import CommitPrecheck
from zoolab.hub.server.multipart import assembly_for, new_upload_id
from zoolab.hub.server.ndjson import CommitPayloadReader
from zoolab.hub.store import AddFile, DeleteFile, Operation, Store, User
from zoolab.hub.store.blobs import BlobDigest, BlobWriter
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
MAX_PREUPLOAD_FILES = 1000
PARSE_ON_LOOP_BYTES = 1024 * 1024
"""Commit payload chunks that complete a line longer than this are parsed in a worker thread."""
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")


def _writable_repo(request: Request, namespace: str, name: str, repo_type: str | None = None) -> tuple[str, User]:
    """The repo id if the caller may write to it: 401 without token, 404 if invisible, 403 otherwise."""
    user = writer(request)
    repo_id = repo_id_from(namespace, name)
    info = repo_store(request, repo_type).repo_info(repo_id, viewer=user)
    if not user.may_write_to(info.owner):
        why = "this token is read-only" if not user.can_write else f"'{user.name}' may not write to '{info.owner}'"
        raise PermissionDeniedError(why, hint="use a write token of the owner or of a member of its organisation")
    return info.repo_id, user  # the stored spelling: ids are case-insensitive


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
_YAML_THREADS: dict[int, anyio.CapacityLimiter] = {}


def _yaml_limiter() -> anyio.CapacityLimiter:
    # One per event loop (a limiter belongs to the loop that first uses it).
    loop = id(asyncio.get_running_loop())
    if loop not in _YAML_THREADS:
        _YAML_THREADS[loop] = anyio.CapacityLimiter(4)
    return _YAML_THREADS[loop]


@router.post("/api/validate-yaml")
async def validate_yaml(request: Request) -> JSONResponse:
    """Check a README's YAML metadata: ``{content, repoType}``."""
    body = await read_json_object(request)
    content = field_str(body, "content")
    try:
        # Parsing grows with the card: never on the event loop, and anonymous callers get a few
        # threads of their own, so a burst of big cards cannot take the threads other routes use.
        metadata = await anyio.to_thread.run_sync(parse_card_metadata, content or "", limiter=_yaml_limiter())
    except InvalidCardError as exc:
        return JSONResponse({"error": str(exc), "errors": [{"message": str(exc)}], "warnings": []},
                            status_code=400, headers={"X-Error-Message": "Invalid metadata in README.md"})
    errors, warnings = card_problems(metadata)
    answer = {"errors": [{"message": e} for e in errors], "warnings": [{"message": w} for w in warnings]}
    if errors:
        return JSONResponse({"error": "Invalid metadata in README.md", **answer}, status_code=400,
                            headers={"X-Error-Message": "Invalid metadata in README.md"})
    return JSONResponse(answer)


# ---------------------------------------------------------------------------- preupload
@router.post("/api/models/{namespace}/{name}/preupload/{revision:path}")
@router.post("/api/datasets/{namespace}/{name}/preupload/{revision:path}")
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
    store = repo_store(request)
    commit_id, existing = await run_in_threadpool(store.snapshot, repo_id, revision)
    by_path = {e.path: e for e in existing}
    lfs_mode = _lfs_mode(request)
    sent_gitignore = body.get("gitIgnore")
    # The .gitignore sent with the commit, else the repo's: matching grows with rules x files, so
    # the whole answer is computed in a worker thread.
    return await run_in_threadpool(_preupload_answer, store, files, by_path, commit_id, lfs_mode,
                                   sent_gitignore if isinstance(sent_gitignore, str) else None)


def _gitignore_of(store: Store, entry: Any) -> str:
    if entry is None or entry.size > MAX_GITIGNORE_BYTES:
        return ""
    return store.blob_path(entry.sha256).read_bytes().decode("utf-8", "replace")


def _preupload_answer(store: Store, files: list[Any], by_path: dict[str, Any], commit_id: str, lfs_mode: bool,
                      gitignore_text: str | None) -> dict[str, Any]:
    text = gitignore_text if gitignore_text is not None else _gitignore_of(store, by_path.get(".gitignore"))
    ignore = GitIgnore(text[:MAX_GITIGNORE_BYTES]) if text else None
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
        ignored = ignore is not None and path != ".gitignore" and ignore.ignores(path)
        answer.append({"path": path, "uploadMode": "lfs" if lfs else "regular", "shouldIgnore": ignored, "oid": oid})
    return {"files": answer, "commitOid": commit_id}


@router.get("/api/models/{namespace}/{name}/xet-{kind}-token/{rest:path}")
@router.get("/api/datasets/{namespace}/{name}/xet-{kind}-token/{rest:path}")
@router.get("/api/models/{namespace}/{name}/xet-{kind}-token")
@router.get("/api/datasets/{namespace}/{name}/xet-{kind}-token")
def xet_token(namespace: str, name: str, kind: str, request: Request) -> None:
    """Xet is not spoken here: say what to set instead of failing obscurely."""
    raise UnsupportedError(
        "this zoolab hub server does not speak the Xet protocol",
        hint="set HF_HUB_DISABLE_XET=1 in the client, or run the server without '--upload-mode lfs'",
    )


# ---------------------------------------------------------------------------- commit
@router.post("/api/models/{namespace}/{name}/commit/{revision:path}")
@router.post("/api/datasets/{namespace}/{name}/commit/{revision:path}")
async def commit(namespace: str, name: str, revision: str, request: Request) -> dict[str, Any]:
    """Apply an ndjson commit (header, file, lfsFile, deletedFile, deletedFolder lines) atomically."""
    repo_id, user = await run_in_threadpool(_writable_repo, request, namespace, name)
    branch = validate_ref_name(_segment_after(request, "commit"), kind="branch")
    if request.query_params.get("create_pr") in ("1", "true"):
        raise UnsupportedError("pull requests are not supported by this server", hint="commit to a branch")
    content_type = (request.headers.get("content-type") or "application/x-ndjson").split(";")[0].strip().lower()
    if content_type not in NDJSON_TYPES:
        raise UnsupportedMediaTypeError(f"unsupported content type {content_type!r}", hint="send application/x-ndjson")
    store = repo_store(request)
    # Refuse a missing branch, a stale parent or a missing deletion before storing any content.
    precheck = await run_in_threadpool(CommitPrecheck, store, repo_id, branch)
    max_body = state(request).config.max_body_bytes
    header: dict[str, Any] | None = None
    operations: list[Operation] = []
    # Every inline file goes to disk (tmp/) as its line arrives, so memory stays bounded by one line;
    # the commit's own transaction moves them into blobs/ at its end: a refused commit stores none.
    written: list[BlobDigest | BlobWriter] = []
    reader = CommitPayloadReader(lambda: store.blob_writer(max_size=max_body))

    async def handle(item: dict[str, Any]) -> None:
        nonlocal header
        key, value = item.get("key"), item["value"]
        precheck.operation(key)
        if key == "header":
            precheck.header(value)
            header = value
        elif key == "file":
            operations.append(await _file_operation(store, value, written))
        elif key == "streamedFile":
            operations.append(await _streamed_file_operation(*reader.streamed[item["index"]], written))
        elif key == "lfsFile":
            operations.append(await run_in_threadpool(_lfs_operation, store, repo_id, user, value))
        elif key in ("deletedFile", "deletedFolder"):
            precheck.deleted(field_str(value, "path") or "", is_folder=key == "deletedFolder")
            operations.append(DeleteFile(field_str(value, "path") or "", is_folder=key == "deletedFolder"))
        else:
            raise InvalidInputError(f"unknown commit operation key {key!r}",
                                    hint="use header, file, lfsFile, deletedFile or deletedFolder")
        if key in ("file", "streamedFile", "lfsFile"):
            precheck.added(operations[-1].path)

    try:
        try:
            async for chunk in iter_body(request):
                # A long line (up to 64 MiB of JSON) is parsed in a worker thread, not on the loop.
                big = reader.buffered + len(chunk) > PARSE_ON_LOOP_BYTES
                for item in (await run_in_threadpool(reader.feed, chunk)) if big else reader.feed(chunk):
                    await handle(item)
            for item in await run_in_threadpool(reader.finish):
                await handle(item)
        except BaseException:
            reader.abort()  # streamed files whose line was never handled
            raise
        if header is None:
            raise InvalidInputError("commit payload has no header line", hint="start with {\"key\": \"header\", ...}")
        summary = field_str(header, "summary", required=False) or ""
        description = field_str(header, "description", required=False) or ""
        parent = field_str(header, "parentCommit", required=False)
        message = summary + (f"\n\n{description}" if description else "")
        info = await run_in_threadpool(
            lambda: store.commit(repo_id, operations, message=message or "update", branch=branch,
                                 parent_commit=parent, author=user.name, actor=user, new_blobs=written)
        )
    finally:
        for blob in written:  # a refused commit: its staged files go (published ones are left alone)
            if isinstance(blob, BlobWriter):
                blob.abort()
    base = str(request.base_url).rstrip("/")
    return {
        "success": True,
        "commitOid": info.commit_id,
        "commitUrl": f"{base}/{repo_id}/commit/{info.commit_id}",
        "commitMessage": message,
        "pullRequestUrl": None,
    }


async def _file_operation(store: Any, value: dict[str, Any], written: list[BlobDigest | BlobWriter]) -> AddFile:
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
    # To tmp/ now (known content is not written again); the commit stores it.
    staged = await run_in_threadpool(store.blobs.stage, data)
    written.append(staged)
    digest = staged.digest if isinstance(staged, BlobWriter) else staged
    assert digest is not None
    return AddFile(path, sha256=digest.sha256)


async def _streamed_file_operation(value: dict[str, Any], blob: BlobWriter,
                                   written: list[BlobDigest | BlobWriter]) -> AddFile:
    path = validate_path(field_str(value, "path") or "")
    encoding = (field_str(value, "encoding", required=False) or "base64").lower()
    if encoding != "base64":
        blob.abort()
        raise InvalidInputError(f"large file '{path}' must be base64-encoded")
    digest = await run_in_threadpool(lambda: blob.finish(publish=False))
    written.append(blob)
    return AddFile(path, sha256=digest.sha256)


def _lfs_operation(store: Any, repo_id: str, user: User, value: dict[str, Any]) -> AddFile:
    path = validate_path(field_str(value, "path") or "")
    algo = field_str(value, "algo", required=False, default="sha256")
    if algo != "sha256":
        raise InvalidInputError(f"unsupported LFS hash algorithm {algo!r}", hint="use sha256")
    oid = validate_sha256(field_str(value, "oid") or "")
    # Only what this repo holds or this caller uploaded to it: the same answer for an oid stored in
    # someone else's repo as for one stored nowhere, and no size of it.
    stored = store.reachable_blob(repo_id, oid, user)
    if stored is None:
        raise InvalidInputError(f"LFS object {oid} of '{path}' was not uploaded to '{repo_id}'",
                                hint="upload it through the LFS batch API before committing")
    if "size" in value:
        size = validate_size(value["size"])
        if size != stored:
            raise IntegrityError(f"LFS object {oid} has {stored} bytes, not {size}")
    return AddFile(path, sha256=oid)


# ---------------------------------------------------------------------------- LFS batch
def _sign(secret: bytes, *fields: str) -> str:
    return hmac.new(secret, "\n".join(fields).encode(), hashlib.sha256).hexdigest()


_SIGNED = ("repo", "user", "upload", "size", "chunk", "exp")


def _upload_query(hub: ServerState, repo_id: str, user: User, oid: str, size: int, chunk: int) -> str:
    # The URL names the repo and the uploader (it carries no Authorization header) and, for
    # multipart, a fresh upload id: each upload assembles in its own file.
    values = {"repo": repo_id, "user": user.name, "upload": new_upload_id() if chunk else "",
              "size": str(size), "chunk": str(chunk), "exp": str(int(time.time()) + UPLOAD_URL_TTL_S)}
    sig = _sign(hub.config.url_secret, oid, *(values[k] for k in _SIGNED))
    return urlencode({**values, "sig": sig})


@router.post("/datasets/{namespace}/{name_git}/info/lfs/objects/batch")
@router.post("/{namespace}/{name_git}/info/lfs/objects/batch")
async def lfs_batch(namespace: str, name_git: str, request: Request) -> JSONResponse:
    """git-lfs batch API (upload): where to PUT each object, basic or multipart."""
    if not name_git.endswith(".git"):
        raise InvalidInputError("expected /<namespace>/<name>.git/info/lfs/objects/batch")
    # /datasets/<namespace>/<name>.git/info/lfs/objects/batch has one segment more than a model's.
    repo_type = "dataset" if len(raw_segments(request)) == 7 else "model"
    repo_id, user = await run_in_threadpool(_writable_repo, request, namespace, name_git[: -len(".git")], repo_type)
    signed_repo = f"datasets/{repo_id}" if repo_type == "dataset" else repo_id
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
    wanted: list[tuple[str, int]] = []
    for obj in objects:
        if not isinstance(obj, dict):
            raise InvalidInputError("each LFS object must be {\"oid\": ..., \"size\": ...}")
        oid = validate_sha256(field_str(obj, "oid") or "")
        size = validate_size(obj.get("size"), what=f"size of LFS object {oid}")
        if size > cfg.max_body_bytes:
            raise PayloadTooLargeError(f"LFS object {oid} of {size} bytes exceeds the limit of {cfg.max_body_bytes}",
                                       hint="raise the server's --max-body-mb")
        wanted.append((oid, size))
    # "Already stored" only for what this repo holds or this caller uploaded to it: an oid stored in
    # another (private) repo must be uploaded again, which proves the caller has the bytes.
    present = await run_in_threadpool(_reachable_sizes, hub.store.for_type(repo_type), repo_id, user, wanted)
    base = str(request.base_url).rstrip("/")
    answer = []
    multipart_used = False
    for oid, size in wanted:
        item: dict[str, Any] = {"oid": oid, "size": size, "authenticated": True}
        if present.get(oid) == size:
            answer.append(item)  # present already: no actions, the client skips the upload
            continue
        if size >= cfg.lfs_multipart_threshold and size > 0:
            multipart_used = True
            chunk = cfg.lfs_chunk_size
            query = _upload_query(hub, signed_repo, user, oid, size, chunk)
            parts = {str(n): f"{base}/api/lfs-upload/{oid}/part/{n}?{query}"
                     for n in range(1, math.ceil(size / chunk) + 1)}
            item["actions"] = {"upload": {"href": f"{base}/api/lfs-upload/{oid}?{query}",
                                          "header": {"chunk_size": str(chunk), **parts}}}
        else:
            query = _upload_query(hub, signed_repo, user, oid, size, 0)
            item["actions"] = {"upload": {"href": f"{base}/api/lfs-upload/{oid}?{query}"}}
        answer.append(item)
    return JSONResponse({"transfer": "multipart" if multipart_used else "basic", "objects": answer,
                         "hash_algo": "sha256"}, media_type="application/vnd.git-lfs+json")


def _reachable_sizes(store: Store, repo_id: str, user: User, wanted: list[tuple[str, int]]) -> dict[str, int]:
    found = {}
    for oid, _ in wanted:
        size = store.reachable_blob(repo_id, oid, user)
        if size is not None:
            store.blobs.touch(oid)  # gc's grace period now covers the commit to come
            found[oid] = size
    return found


# ---------------------------------------------------------------------------- LFS transfers
@dataclass(frozen=True)
class _SignedUpload:
    repo_id: str
    user: User
    oid: str
    size: int
    chunk: int
    upload_id: str
    repo_type: str = "model"


def _check_signed(request: Request, oid: str) -> _SignedUpload:
    """What a signed upload URL allows; 403 when forged, incomplete or expired."""
    oid = validate_sha256(oid)
    params = request.query_params
    try:
        values = {key: params[key] for key in _SIGNED}
        size, chunk, expires = int(values["size"]), int(values["chunk"]), int(values["exp"])
        sig = params["sig"]
    except (KeyError, ValueError):
        raise PermissionDeniedError("upload URL is incomplete", hint="ask the LFS batch API for a new one") from None
    expected = _sign(state(request).config.url_secret, oid, *(values[k] for k in _SIGNED))
    if not hmac.compare_digest(expected, sig) or expires < time.time():
        raise PermissionDeniedError("upload URL is invalid or expired", hint="ask the LFS batch API for a new one")
    # Dataset repos are signed as 'datasets/<namespace>/<name>'.
    repo_type, repo_id = ("dataset", values["repo"][len("datasets/"):]) if values["repo"].startswith("datasets/") \
        else ("model", values["repo"])
    validate_repo_id(repo_id)
    # The signer's write access is re-checked on commit; the upload only stores verified bytes.
    return _SignedUpload(repo_id, User(values["user"]), oid, size, chunk, values["upload"], repo_type)


def _store_upload(hub: ServerState, upload: _SignedUpload, digest: BlobDigest) -> None:
    hub.store.register_blob(digest)
    hub.store.for_type(upload.repo_type).record_upload(upload.repo_id, digest.sha256, upload.user)


@router.put("/api/lfs-upload/{oid}")
async def lfs_put(oid: str, request: Request) -> JSONResponse:
    """Basic transfer: the whole object in one PUT, verified against its oid and size."""
    upload = _check_signed(request, oid)
    if upload.chunk:
        raise InvalidInputError("this object uses the multipart transfer", hint="PUT its parts")
    hub = state(request)
    # A private temp file per request; stored only if verified, and never over an existing blob.
    writer_ = hub.store.blob_writer(expected_size=upload.size, max_size=hub.config.max_body_bytes)
    try:
        async for data in iter_body(request):
            writer_.write(data)
        digest = await run_in_threadpool(writer_.finish, expected_sha256=upload.oid)
        await run_in_threadpool(_store_upload, hub, upload, digest)
    finally:
        writer_.abort()
    return JSONResponse({}, headers={"ETag": f'"{upload.oid}"'})


@router.put("/api/lfs-upload/{oid}/part/{number}")
async def lfs_put_part(oid: str, number: int, request: Request) -> JSONResponse:
    """Multipart transfer: one part, written at its offset of this upload's own assembly file."""
    upload = _check_signed(request, oid)
    if upload.chunk <= 0:
        raise InvalidInputError("this object uses the basic transfer", hint="PUT the whole object")
    count = math.ceil(upload.size / upload.chunk)
    if not 1 <= number <= count:
        raise InvalidInputError(f"part number {number} out of range 1..{count}")
    expected = upload.chunk if number < count else upload.size - upload.chunk * (count - 1)
    assembly = assembly_for(state(request).store.blobs, state(request).uploads_dir, upload.upload_id)
    written, etag = await assembly.write_part(number, upload.chunk * (number - 1), iter_body(request, limit=expected))
    if written != expected:
        raise IntegrityError(f"part {number} has {written} bytes, expected {expected}",
                             hint="upload the part again")
    return JSONResponse({}, headers={"ETag": etag})


@router.post("/api/lfs-upload/{oid}")
async def lfs_complete(oid: str, request: Request) -> JSONResponse:
    """Multipart completion ``{oid, parts: [{partNumber, etag}]}``: verify the whole object and store it."""
    upload = _check_signed(request, oid)
    if upload.chunk <= 0:
        raise InvalidInputError("this object uses the basic transfer")
    body = await read_json_object(request)
    parts = body.get("parts")
    count = math.ceil(upload.size / upload.chunk)
    if body.get("oid") != upload.oid or not isinstance(parts, list):
        raise InvalidInputError(f"completion must name oid {upload.oid} and its {count} parts")
    hub = state(request)
    assembly = assembly_for(hub.store.blobs, hub.uploads_dir, upload.upload_id)

    def verify_and_store() -> BlobDigest:  # reads one marker per part and the whole object: a thread's work
        assembly.check_parts(parts, count)
        return assembly.seal_and_store(hub.store.blobs, upload.oid, upload.size, count)

    digest = await run_in_threadpool(verify_and_store)
    await run_in_threadpool(_store_upload, hub, upload, digest)
    return JSONResponse({"oid": upload.oid, "size": upload.size})
