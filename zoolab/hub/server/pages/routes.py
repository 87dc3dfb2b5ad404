"""The hub's web pages: home/search, namespaces, a repo's card, files, file previews, commits,
raw downloads, sign-in and sign-out.

Every page asks the store exactly what the API asks it, with the same viewer rule: a repo is found
through ``repo_info(viewer=...)`` (a private repo answers "not found" to those not allowed, like a
missing one), lists through ``list_repos(viewer=...)``, and files go through the gating check of
the download route. The router is included after the API's, so no page shadows an API route.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import HTMLResponse, RedirectResponse, Response

from zoolab.errors import AuthenticationError, EntryNotFoundError, InvalidInputError, ZoolabError
from zoolab.hub.server.app import header_safe
from zoolab.hub.server.context import raw_segments, repo_id_from, state
from zoolab.hub.server.gating import check_file_access, may_read_files
from zoolab.hub.server.guards import download_path, download_revision
from zoolab.hub.server.listing import FileIndex
from zoolab.hub.server.pages import browse, render, session
from zoolab.hub.server.routes_files import content_disposition, send_blob
from zoolab.hub.store import RepoInfo, Store, User
from zoolab.hub.store.cards import MAX_CARD_BYTES
from zoolab.hub.store.validation import validate_folder, validate_revision

router = APIRouter(include_in_schema=False)
_HERE = Path(__file__).parent
_env = Environment(loader=FileSystemLoader(_HERE / "templates"), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)
_env.filters["size"] = render.human_size
_env.filters["q"] = lambda value: quote(str(value), safe="")
_env.filters["qpath"] = lambda value: quote(str(value), safe="/")
_env.globals.update(tasks=browse.TASKS, libraries=browse.LIBRARIES, frameworks=browse.FRAMEWORKS,
                    sorts=browse.SORTS, types=browse.TYPES, framework_names=render.FRAMEWORK_TAGS)
_INLINE_MEDIA = {".mp4": "video/mp4", ".webm": "video/webm", ".png": "image/png", ".jpg": "image/jpeg",
                 ".jpeg": "image/jpeg", ".gif": "image/gif"}
"""Files a page shows inline (video, images); everything else downloads as an attachment."""


# ---------------------------------------------------------------------------- helpers
def _page(request: Request, template: str, *, status: int = 200, viewer: User | None = None,
          **context: Any) -> Response:
    html = _env.get_template(template).render(
        viewer=viewer, csrf=session.csrf_token(request), here=_here(request), base_url=_base(request), **context)
    response = HTMLResponse(html, status_code=status)
    if status >= 400:  # the Hub's error headers, as every API error carries them (clients print them)
        response.headers["X-Error-Message"] = header_safe(str(context.get("message") or context.get("error") or ""))
        if context.get("error_code"):
            response.headers["X-Error-Code"] = str(context["error_code"])
    return session.finish(request, response)


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _here(request: Request) -> str:
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def _viewer(request: Request) -> User | None:
    viewer = session.page_viewer(request)
    if viewer is None and state(request).config.require_auth_for_reads:
        raise AuthenticationError("this server requires signing in")
    return viewer


def page(handler: Callable[..., Response]) -> Callable[..., Response]:
    """Turn the errors of a page handler into an HTML error page (or the sign-in page when the
    server needs a token), with the status the API gives the same error."""

    @functools.wraps(handler)
    def wrapped(*args: Any, **kwargs: Any) -> Response:
        request: Request = kwargs["request"]
        if request.url.path.split("/", 2)[1] == "api":
            # An API path no API route took ('/api/spaces'): the API's JSON 404, never a page.
            raise StarletteHTTPException(404)
        try:
            return handler(*args, **kwargs)
        except AuthenticationError:
            target = f"/-/login?next={quote(_here(request), safe='')}"
            return session.finish(request, RedirectResponse(target, status_code=303))
        except ZoolabError as exc:
            message = "Repository not found" if exc.error_code == "RepoNotFound" else str(exc)
            try:
                viewer = session.page_viewer(request)
            except ZoolabError:
                viewer = None
            return _page(request, "error.html", status=exc.http_status, viewer=viewer, message=message,
                         error_code=exc.error_code,
                         hint=getattr(exc, "hint", None) if exc.error_code != "RepoNotFound" else None)

    return wrapped


def _repo_prefix(info: RepoInfo) -> str:
    return f"/datasets/{info.repo_id}" if info.repo_type == "dataset" else f"/{info.repo_id}"


def _segments(request: Request, repo_type: str) -> list[str]:
    """Raw path segments from the namespace on (dataset URLs have one more in front)."""
    segments = raw_segments(request)
    return segments[1:] if repo_type == "dataset" else segments


def _open_repo(request: Request, repo_type: str, namespace: str, name: str) -> tuple[Store, RepoInfo, User | None]:
    viewer = _viewer(request)
    store = state(request).store.for_type(repo_type)
    info = store.repo_info(repo_id_from(namespace, name), viewer=viewer)
    return store, info, viewer


def _repo_context(request: Request, store: Store, info: RepoInfo, viewer: User | None, revision: str,
                  tab: str) -> dict[str, Any]:
    return {"info": info, "prefix": _repo_prefix(info), "revision": revision, "tab": tab, "viewer": viewer,
            "frameworks": render.frameworks(info), "may_read": may_read_files(info, viewer),
            "refs": store.list_refs(info.repo_id) if info.sha else []}


def _read_small(store: Store, sha256: str, size: int, limit: int) -> bytes | None:
    if size > limit:
        return None
    return store.blob_path(sha256).read_bytes()


# ---------------------------------------------------------------------------- static files
@functools.lru_cache(maxsize=4)
def _static(name: str) -> bytes:
    return (_HERE / "static" / name).read_bytes()


@router.get("/-/static/{name}")
def static_file(name: str) -> Response:
    """The stylesheet and the small script of the pages."""
    media = {"hub.css": "text/css; charset=utf-8", "hub.js": "text/javascript; charset=utf-8"}.get(name)
    if media is None:
        return session.secure_headers(Response("not found", status_code=404, media_type="text/plain"))
    response = Response(_static(name), media_type=media, headers={"Cache-Control": "public, max-age=3600"})
    return session.secure_headers(response)


# ---------------------------------------------------------------------------- sign-in
@router.get("/-/login")
def login_form(request: Request) -> Response:
    """The sign-in form: paste a token."""
    nxt = session.safe_next(request.query_params.get("next"))
    return _page(request, "login.html", viewer=session.page_viewer(request), next=nxt, error=None)


@router.post("/-/login")
async def login(request: Request) -> Response:
    """Check the pasted token and keep it in the session cookie; the answer is a redirect."""
    try:
        form = await session.read_form(request)
    except ZoolabError as exc:
        return _page(request, "login.html", status=exc.http_status, next="/", error=str(exc))
    nxt = session.safe_next(form.get("next"))
    token = form.get("token", "").strip()
    user = state(request).store.authenticate(token) if token and len(token) < 1000 else None
    if user is None:
        return _page(request, "login.html", status=401, next=nxt,
                     error="That token is not valid on this server (create one with 'zoolab hub token create').")
    response = RedirectResponse(nxt, status_code=303)
    session.sign_in(request, response, token)
    return session.finish(request, response)


@router.post("/-/logout")
async def logout(request: Request) -> Response:
    """Clear the session cookie."""
    try:
        await session.read_form(request)
    except ZoolabError as exc:
        return _page(request, "error.html", status=exc.http_status, message=str(exc), hint=None)
    response = RedirectResponse("/", status_code=303)
    session.sign_out(response)
    return session.finish(request, response)


# ---------------------------------------------------------------------------- lists
def _list_page(request: Request, author: str | None, template: str, **extra: Any) -> Response:
    viewer = _viewer(request)
    query = browse.parse_query(dict(request.query_params), author=author)
    listing = browse.list_page(state(request).store, query, viewer)
    path = request.url.path
    return _page(request, template, viewer=viewer, query=query, listing=listing, path=path,
                 prefix_of=_repo_prefix, **extra)


@router.get("/")
@page
def home(request: Request) -> Response:
    """Every repo the viewer may see: search, filters, sorting, pages."""
    return _list_page(request, None, "home.html")


@router.get("/{namespace}")
@page
def namespace_page(namespace: str, request: Request) -> Response:
    """The repos of one user or organisation."""
    if namespace.startswith("-"):
        raise EntryNotFoundError(f"no page at /{namespace}")
    return _list_page(request, namespace, "namespace.html", namespace=namespace)


def _type_of(request: Request) -> str:
    """``dataset`` for the pages under ``/datasets/``, else ``model`` (as the Hub's web addresses)."""
    return "dataset" if raw_segments(request)[:1] == ["datasets"] else "model"


# Each page answers for models at /ns/name/... and for datasets at /datasets/ns/name/...; no two
# patterns can match one path ('/datasets/ns' alone is the namespace-less model id the API refuses).
@router.get("/datasets/{namespace}/{name}")
@router.get("/{namespace}/{name}")
@page
def card_page(namespace: str, name: str, request: Request) -> Response:
    """A repo's card."""
    return _card(request, _type_of(request), namespace, name)


@router.get("/datasets/{namespace}/{name}/tree/{rest:path}")
@router.get("/{namespace}/{name}/tree/{rest:path}")
@page
def tree_page(namespace: str, name: str, rest: str, request: Request) -> Response:
    """A repo's files at a revision."""
    return _tree(request, _type_of(request), namespace, name)


@router.get("/datasets/{namespace}/{name}/blob/{rest:path}")
@router.get("/{namespace}/{name}/blob/{rest:path}")
@page
def blob_page(namespace: str, name: str, rest: str, request: Request) -> Response:
    """One file, previewed."""
    return _blob(request, _type_of(request), namespace, name)


@router.get("/datasets/{namespace}/{name}/raw/{rest:path}")
@router.get("/{namespace}/{name}/raw/{rest:path}")
@page
def raw_file(namespace: str, name: str, rest: str, request: Request) -> Response:
    """A file's bytes for the browser (the session cookie counts, unlike on /resolve)."""
    return _raw(request, _type_of(request), namespace, name)


@router.get("/datasets/{namespace}/{name}/commits/{rest:path}")
@router.get("/{namespace}/{name}/commits/{rest:path}")
@page
def commits_page(namespace: str, name: str, rest: str, request: Request) -> Response:
    """A repo's history."""
    return _commits(request, _type_of(request), namespace, name)


# ---------------------------------------------------------------------------- repo pages
def _card(request: Request, repo_type: str, namespace: str, name: str) -> Response:
    store, info, viewer = _open_repo(request, repo_type, namespace, name)
    card_html, video = None, None
    if info.sha and may_read_files(info, viewer):
        _, files = store.snapshot(info.repo_id, info.sha)
        by_path = {entry.path: entry for entry in files}
        readme = by_path.get("README.md")
        data = _read_small(store, readme.sha256, readme.size, MAX_CARD_BYTES) if readme else None
        if data is not None:
            card_html = Markup(render.render_markdown(render.card_body(data.decode("utf-8", "replace"))))
        if render.is_agent(info) or "replay.mp4" in by_path:
            video = next((p for p in ("replay.mp4", "videos/replay.mp4") if p in by_path), None)
    card = info.card_data
    meta = {key: card[key] for key in ("license", "language", "datasets", "base_model", "metrics")
            if key in card and card[key] not in (None, "", [])}
    context = _repo_context(request, store, info, viewer, info.default_branch, "card")
    return _page(request, "repo.html", card_html=card_html, video=video, meta=meta,
                 eval_rows=render.eval_rows(card), snippets=render.snippets(info, _base(request)), **context)


def _revision_and_rest(request: Request, repo_type: str, marker: str) -> tuple[str, str]:
    segments = _segments(request, repo_type)
    if len(segments) < 4 or segments[2] != marker:
        raise InvalidInputError(f"expected /<namespace>/<name>/{marker}/<revision>/<path>")
    return validate_revision(segments[3]), "/".join(segments[4:])


def _tree(request: Request, repo_type: str, namespace: str, name: str) -> Response:
    store, info, viewer = _open_repo(request, repo_type, namespace, name)
    revision, folder = _revision_and_rest(request, repo_type, "tree")
    folder = validate_folder(folder.strip("/"))
    commit_id, files = store.snapshot(info.repo_id, revision)
    index = FileIndex(files)
    if folder and not index.is_folder(folder):
        raise EntryNotFoundError(f"folder '{folder}' not found in '{info.repo_id}' at '{revision}'")
    items = index.tree(folder, recursive=False)
    crumbs = []
    parts = folder.split("/") if folder else []
    for depth in range(len(parts)):
        crumbs.append((parts[depth], "/".join(parts[:depth + 1])))
    context = _repo_context(request, store, info, viewer, revision, "files")
    return _page(request, "tree.html", items=items, folder=folder, crumbs=crumbs, commit_id=commit_id,
                 total=sum(e.size for e in files), count=len(files), **context)


def _blob(request: Request, repo_type: str, namespace: str, name: str) -> Response:
    store, info, viewer = _open_repo(request, repo_type, namespace, name)
    check_file_access(info, viewer, _base(request))
    revision, path = _revision_and_rest(request, repo_type, "blob")
    path = download_path(path)
    commit_id, entry = store.file_at(info.repo_id, path, revision)
    data = _read_small(store, entry.sha256, entry.size, render.PREVIEW_BYTES)
    kind, content = render.preview(path, data) if data is not None else ("large", "")
    media = _INLINE_MEDIA.get(Path(path).suffix.lower(), "")
    context = _repo_context(request, store, info, viewer, revision, "files")
    return _page(request, "blob.html", entry=entry, path=path, kind=kind, commit_id=commit_id,
                 content=Markup(content) if kind == "markdown" else content, media=media.split("/")[0], **context)


def _raw(request: Request, repo_type: str, namespace: str, name: str) -> Response:
    store, info, viewer = _open_repo(request, repo_type, namespace, name)
    check_file_access(info, viewer, _base(request))
    segments = _segments(request, repo_type)
    if len(segments) < 5:
        raise InvalidInputError("expected /<namespace>/<name>/raw/<revision>/<path>")
    revision = download_revision(segments[3])
    path = download_path("/".join(segments[4:]))
    commit_id, entry = store.file_at(info.repo_id, path, revision)
    media = _INLINE_MEDIA.get(Path(path).suffix.lower())
    disposition = content_disposition(path.rsplit("/", 1)[-1])
    headers = {"ETag": f'"{entry.etag}"', "X-Repo-Commit": commit_id, "Accept-Ranges": "bytes",
               # A file from a repo is never run as a page of this site, whatever it holds.
               "Content-Security-Policy": "default-src 'none'; sandbox", "X-Content-Type-Options": "nosniff",
               "Content-Disposition": disposition.replace("attachment", "inline", 1) if media else disposition,
               "Cache-Control": "private, no-cache"}
    return send_blob(request, store, entry, headers, media or "application/octet-stream", bare=False)


def _commits(request: Request, repo_type: str, namespace: str, name: str) -> Response:
    store, info, viewer = _open_repo(request, repo_type, namespace, name)
    segments = _segments(request, repo_type)
    revision = validate_revision(segments[3] if len(segments) > 3 and segments[3] else info.default_branch)
    commits = store.list_commits(info.repo_id, revision)
    context = _repo_context(request, store, info, viewer, revision, "commits")
    return _page(request, "commits.html", commits=commits, **context)


__all__ = ["router"]
