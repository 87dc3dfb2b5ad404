"""Search every source at once and merge the hits into one list."""

from __future__ import annotations

import queue
import threading
import time
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

from zoolab import settings
from zoolab.errors import InvalidInputError, ZoolabError
from zoolab.hub import config as _config
from zoolab.hub.frameworks import check_framework
from zoolab.hub.refs import check_repo_type
from zoolab.hub.sources import get_source, source_names
from zoolab.hub.types import SearchHit, SearchResult

SORTS = ("downloads", "likes", "updated")


def search(
    query: str = "",
    *,
    task: str | None = None,
    framework: str | None = None,
    library: str | None = None,
    author: str | None = None,
    source: str | Sequence[str] | None = None,
    sort: str = "downloads",
    limit: int = 20,
    timeout: float | None = None,
    repo_type: str = "model",
) -> SearchResult:
    """Search all sources (or only ``source``: a name, ``"a,b"`` or a list) concurrently and merge the hits.

    Each source gets ``timeout`` seconds (default ``search_timeout`` from the config, 10 s); one
    that fails or does not answer in time adds a warning naming it and is otherwise skipped. The
    zoo catalog joins as source ``catalog`` when installed. Hits are sorted by ``sort``
    (``downloads``, ``likes`` or ``updated``), at most ``limit`` of them.

    ``repo_type="dataset"`` searches dataset repos instead (no catalog; ``task`` and
    ``framework`` do not apply to them).

    Raises :class:`InvalidInputError` for a bad sort, limit or framework, and
    :class:`ConfigError` for an unknown ``source``.
    """
    repo_type = check_repo_type(repo_type)
    if repo_type == "dataset" and (task or framework):
        raise InvalidInputError("task and framework filters apply to models, not datasets",
                                hint="drop them; a library filter matches dataset tags")
    if sort not in SORTS:
        raise InvalidInputError(f"unknown sort {sort!r}", hint="use downloads, likes or updated")
    if not 1 <= limit <= 1000:
        raise InvalidInputError(f"limit must be between 1 and 1000, not {limit}")
    framework = check_framework(framework)
    timeout = timeout if timeout is not None else _config.load().search_timeout
    if isinstance(source, str):
        source = [s.strip() for s in source.split(",") if s.strip()]
    names = list(dict.fromkeys(source)) if source else [*source_names(), *(["catalog"] if repo_type == "model" else [])]
    # Ask for more than `limit` when filtering afterwards, so the filter still leaves enough.
    fetch = min(1000, limit * 4) if framework else limit

    jobs: dict[str, Callable[[], list[SearchHit]]] = {}
    warnings: list[str] = []
    for name in names:
        if name == "catalog" and repo_type == "dataset":
            warnings.append("source 'catalog' lists models only")
            continue
        if name == "catalog":
            job = _catalog_job(query, task, framework, library, author)
            if job is not None:
                jobs[name] = job
            elif source:
                warnings.append("source 'catalog' is not available (the zoo catalog is not installed)")
            continue
        src = get_source(name)  # unknown names fail here, before any thread starts
        if settings.is_offline() and src.kind != "local":
            warnings.append(f"source '{name}' skipped: offline mode is on")
            continue
        jobs[name] = (lambda s=src: s.search(query, task=task, library=library, author=author, sort=sort, limit=fetch,
                                             repo_type=repo_type))

    results, failed = _run_all(jobs, timeout)
    warnings += failed
    hits = [h for name in jobs for h in results.get(name, [])]
    if framework:
        hits = [h for h in hits if framework in h.frameworks]
    hits.sort(key=_sort_key(sort), reverse=True)
    return SearchResult(hits=hits[:limit], warnings=warnings, sources=list(jobs))


def _run_all(jobs: dict[str, Callable[[], list[SearchHit]]], timeout: float) -> tuple[dict[str, list[SearchHit]], list[str]]:
    """Run every job in its own daemon thread; collect what finishes within ``timeout``.

    Daemon threads, not an executor: a source that hangs must not keep the process alive after
    the answer was printed.
    """
    done: queue.Queue[tuple[str, Any, BaseException | None]] = queue.Queue()

    def run(name: str, job: Callable[[], list[SearchHit]]) -> None:
        try:
            done.put((name, job(), None))
        except BaseException as exc:  # noqa: BLE001 - reported as a warning naming the source
            done.put((name, None, exc))

    for name, job in jobs.items():
        threading.Thread(target=run, args=(name, job), daemon=True, name=f"search-{name}").start()
    results: dict[str, list[SearchHit]] = {}
    warnings: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    while len(results) + len(warnings) < len(jobs):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            name, hits, exc = done.get(timeout=left)
        except queue.Empty:
            break
        if exc is None:
            results[name] = hits
        else:
            msg = str(exc) if isinstance(exc, ZoolabError) else f"{type(exc).__name__}: {exc}"
            msg = " ".join(msg.split())[:300]
            warnings[name] = msg if f"source '{name}'" in msg else f"source '{name}' failed: {msg}"
    for name in jobs:
        if name not in results and name not in warnings:
            warnings[name] = f"source '{name}' did not answer within {timeout:g}s"
    return results, [warnings[n] for n in jobs if n in warnings]


def _sort_key(sort: str) -> Callable[[SearchHit], Any]:
    if sort == "updated":
        epoch = datetime.fromtimestamp(0, timezone.utc)

        def key(h: SearchHit) -> Any:
            t = h.last_updated
            if t is not None and t.tzinfo is None:
                t = t.replace(tzinfo=timezone.utc)
            return t or epoch

        return key
    return lambda h: getattr(h, sort) if getattr(h, sort) is not None else -1


def _catalog_job(
    query: str, task: str | None, framework: str | None, library: str | None, author: str | None
) -> Callable[[], list[SearchHit]] | None:
    """The zoo catalog as a search source, when it is installed."""
    try:
        from zoolab.zoo import catalog
    except ImportError:
        return None
    if not callable(getattr(catalog, "search", None)):
        return None

    def job() -> list[SearchHit]:
        if author:
            return []  # catalog entries have no author: an author filter excludes them
        if task and task not in catalog.TASKS:
            return []  # no catalog model has that task (reinforcement-learning, ...): nothing to find
        hits = []
        for e in catalog.search(query, task=task, framework=framework):
            if library and e.library != library:
                continue
            hits.append(SearchHit(repo_id=e.name, source="catalog", task=e.task, frameworks=tuple(e.frameworks),
                                  library=e.library))
        return hits

    return job
