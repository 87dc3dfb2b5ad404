"""The repo list behind the home and namespace pages: filters, sorting and pages over the store's
index, for one viewer (the store's own visibility rule decides what is listed, as for the API)."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from zoolab.errors import InvalidInputError
from zoolab.hub.server.pages.render import score
from zoolab.hub.store import RepoInfo, Store, User

PAGE_SIZE = 30
SORTS = {"modified": "Last modified", "downloads": "Most downloads", "score": "Best score"}
TYPES = {"all": "All", "model": "Models", "dataset": "Datasets"}
TASKS = ("image-classification", "text-classification", "token-classification", "question-answering",
         "text-generation", "fill-mask", "feature-extraction", "object-detection", "image-segmentation",
         "reinforcement-learning", "translation", "summarization", "automatic-speech-recognition")
LIBRARIES = ("timm", "transformers", "keras-hub", "keras", "stable-baselines3", "sentence-transformers", "peft")
FRAMEWORKS = ("pytorch", "tf", "keras", "jax", "safetensors", "onnx")
MAX_PAGE = 100_000


@dataclass
class Query:
    """What the visitor asked the list for (all fields already checked)."""

    search: str = ""
    repo_type: str = "all"
    task: str = ""
    library: str = ""
    framework: str = ""
    tag: str = ""
    sort: str = "modified"
    page: int = 1
    author: str | None = None

    @property
    def tags(self) -> list[str]:
        """Tags every listed repo must carry."""
        return [t for t in (self.task, self.library, self.framework, self.tag) if t]

    def url(self, path: str, **changes: object) -> str:
        """``path`` with this query, ``changes`` applied (defaults left out of the URL)."""
        values = {"q": self.search, "type": self.repo_type, "task": self.task, "library": self.library,
                  "framework": self.framework, "tag": self.tag, "sort": self.sort, "page": self.page}
        values.update(changes)
        defaults = {"type": "all", "sort": "modified", "page": 1}
        kept = [(k, str(v)) for k, v in values.items() if v not in ("", None) and defaults.get(k) != v]
        return f"{path}?{urlencode(kept)}" if kept else path


def parse_query(params: dict[str, str], author: str | None = None) -> Query:
    """The :class:`Query` of a page's query string; InvalidInputError for values it cannot take."""

    def text(key: str, limit: int = 200) -> str:
        value = (params.get(key) or "").strip()
        if len(value) > limit or any(ch < " " for ch in value):
            raise InvalidInputError(f"the '{key}' filter is too long or holds control characters")
        return value

    sort = params.get("sort") or "modified"
    if sort not in SORTS:
        raise InvalidInputError(f"unknown sort {sort!r}", hint=f"use one of {', '.join(SORTS)}")
    repo_type = params.get("type") or "all"
    if repo_type not in TYPES:
        raise InvalidInputError(f"unknown repo type {repo_type!r}", hint="use all, model or dataset")
    raw_page = params.get("page") or "1"
    if not raw_page.isdigit() or not 1 <= int(raw_page) <= MAX_PAGE:
        raise InvalidInputError(f"invalid page {raw_page!r}", hint=f"give a page number from 1 to {MAX_PAGE}")
    return Query(search=text("q"), repo_type=repo_type, task=text("task"), library=text("library"),
                 framework=text("framework"), tag=text("tag"), sort=sort, page=int(raw_page), author=author)


@dataclass
class Listing:
    """One page of repos and whether more follow."""

    repos: list[RepoInfo] = field(default_factory=list)
    has_next: bool = False
    scores: dict[tuple[str, str], float | None] = field(default_factory=dict)


def _key(info: RepoInfo, sort: str) -> tuple[object, ...]:
    if sort == "downloads":
        return (-info.downloads, info.repo_id)
    return (-info.last_modified.timestamp(), info.repo_id)


def list_page(store: Store, query: Query, viewer: User | None) -> Listing:
    """The repos of ``query``'s page that ``viewer`` may see."""
    types = ("model", "dataset") if query.repo_type == "all" else (query.repo_type,)
    offset = (query.page - 1) * PAGE_SIZE
    found: list[RepoInfo] = []
    for repo_type in types:
        typed = store.for_type(repo_type)
        kwargs = {"search": query.search or None, "author": query.author, "tags": query.tags, "viewer": viewer}
        if query.sort == "score":
            found += typed.list_repos(sort="updated", **kwargs)  # type: ignore[arg-type]
        elif len(types) == 1:
            found += typed.list_repos(sort="updated" if query.sort == "modified" else "downloads",
                                      limit=PAGE_SIZE + 1, offset=offset, **kwargs)  # type: ignore[arg-type]
        else:  # two sorted lists merged: each must reach past this page's end
            found += typed.list_repos(sort="updated" if query.sort == "modified" else "downloads",
                                      limit=offset + PAGE_SIZE + 1, **kwargs)  # type: ignore[arg-type]
    scores = {(r.repo_type, r.repo_id): score(r.card_data) for r in found} if query.sort == "score" else {}
    if query.sort == "score":
        found.sort(key=lambda r: (scores[(r.repo_type, r.repo_id)] is None,
                                  -(scores[(r.repo_type, r.repo_id)] or 0.0), r.repo_id))
    else:
        found.sort(key=lambda r: _key(r, query.sort))
    start = 0 if len(types) == 1 and query.sort != "score" else offset
    page = found[start:start + PAGE_SIZE + 1]
    listing = Listing(repos=page[:PAGE_SIZE], has_next=len(page) > PAGE_SIZE)
    listing.scores = {(r.repo_type, r.repo_id): scores.get((r.repo_type, r.repo_id), score(r.card_data))
                      for r in listing.repos}
    return listing


__all__ = ["FRAMEWORKS", "LIBRARIES", "Listing", "PAGE_SIZE", "Query", "SORTS", "TASKS", "TYPES", "list_page",
           "parse_query"]
