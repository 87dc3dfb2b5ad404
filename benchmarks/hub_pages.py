"""Web-page figures for ``benchmarks/hub_server.py``: a store with N repos, and the time a page takes.

Server time is read on the client as the full request time of ``GET`` on one keep-alive loopback
connection (request sent to last body byte), so it includes the loopback hop and is an upper bound
of what the server spends. The anchor serves the very same HTML bytes as a static file.
"""

from __future__ import annotations

import http.client
import time
from pathlib import Path
from urllib.parse import urlsplit

from _common import percentile

TASKS = [("image-classification", "timm"), ("text-classification", "transformers"),
         ("reinforcement-learning", "stable-baselines3"), ("feature-extraction", "keras-hub")]


def add_catalog(home: Path, count: int) -> None:
    """Add ``count`` public repos with cards (tasks, libraries, tags, some with a model-index) to
    the store of ``home``, under a few organisations."""
    from zoolab.hub.store import AddFile, Store

    store = Store(home)
    store.create_user("bench")
    for org in ("vision", "nlp", "agents", "keras"):
        store.create_org(org, exist_ok=True)
        store.add_member(org, "bench")
    actor = store.authenticate(store.create_token("bench", write=True))
    orgs = ["vision", "nlp", "agents", "keras"]
    for index in range(count):
        task, library = TASKS[index % len(TASKS)]
        repo_id = f"{orgs[index % len(TASKS)]}/model-{index:04d}"
        card = (f"---\nlibrary_name: {library}\npipeline_tag: {task}\ntags: [pytorch, bench-{index % 10}]\n"
                f"license: mit\nmodel-index:\n- name: m\n  results:\n  - task: {{type: {task}}}\n"
                f"    dataset: {{name: d, type: d}}\n    metrics: [{{type: accuracy, value: {index / count:.4f}}}]\n"
                f"---\n# Model {index}\n\nA benchmark model.\n")
        store.create_repo(repo_id, actor=actor)
        store.commit(repo_id, [AddFile("README.md", content=card.encode())], message="card", actor=actor)


def page_latency(base_url: str, path: str, count: int) -> tuple[float, float, int]:
    """(p50 ms, p95 ms, body bytes) of ``count`` sequential GETs of ``path`` on one connection."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    times, size = [], 0
    try:
        for _ in range(count + 5):
            start = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            body = response.read()
            times.append(time.perf_counter() - start)
            if response.status != 200:
                raise RuntimeError(f"GET {path}: {response.status} {body[:200]!r}")
            size = len(body)
    finally:
        conn.close()
    times = times[5:]  # the first requests compile templates and warm caches
    return percentile(times, 50) * 1e3, percentile(times, 95) * 1e3, size


def save_page(base_url: str, path: str, target: Path) -> None:
    """Write the HTML of ``path`` to ``target`` (the static anchor serves these bytes)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.request("GET", path)
        target.write_bytes(conn.getresponse().read())
    finally:
        conn.close()


__all__ = ["add_catalog", "page_latency", "save_page"]
