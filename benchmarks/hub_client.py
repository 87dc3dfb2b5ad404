"""zoolab's hub client against plain huggingface_hub, side by side, against one zoolab hub server.

(a) warm cache: ``zoolab.hub.download`` of a pinned commit that is already cached versus
    ``huggingface_hub.snapshot_download`` of the same repo with a warm cache of its own (pinned to
    the same commit, and the usual call on ``main``). zoolab answers from the cache without any
    network round trip. Median of ``--warm-runs`` calls.
(b) cold download of a repo of 200 small files and one large file (``--big-mb``, default 500 MB)
    into an empty cache: ``zoolab.hub.download`` versus ``snapshot_download``. Best of ``--repeats``.
(c) search latency over two sources (the server and the local registry, queried concurrently)
    versus the two listings done one after the other with huggingface_hub and the store.

The server is a ``zoolab hub serve`` subprocess on 127.0.0.1 with a temporary home; everything is
deleted afterwards.

Run:
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/hub_client.py
    .venv/bin/python benchmarks/hub_client.py --big-mb 100 --repeats 1     # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, percentile, record  # noqa: E402

os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(home: Path) -> tuple[subprocess.Popen, str]:
    import httpx

    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoolab", "hub", "serve", "--home", str(home), "--port", str(port)],
        env={**os.environ, "ZOOLAB_HOME": str(home)}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/api/models", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the hub server did not start")


def _small_model(folder: Path, n_files: int) -> Path:
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"architecture": "resnet18", "num_classes": 10, "pretrained_cfg": {}}))
    (folder / "model.safetensors").write_bytes(os.urandom(2 * 2**20))
    (folder / "extra").mkdir()
    for i in range(n_files):
        (folder / "extra" / f"part-{i:03d}.json").write_text(json.dumps({"i": i, "pad": "x" * (500 + 10 * i)}))
    return folder


def _big_model(folder: Path, big_mb: int) -> Path:
    _small_model(folder, 198)
    with (folder / "weights.safetensors").open("wb") as fh:
        for _ in range(big_mb):
            fh.write(os.urandom(2**20))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--big-mb", type=int, default=500, help="size of the large file of (b), in MB")
    parser.add_argument("--repeats", type=int, default=2, help="cold downloads per client in (b)")
    parser.add_argument("--warm-runs", type=int, default=30, help="calls per client in (a)")
    parser.add_argument("--search-runs", type=int, default=20, help="searches per client in (c)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="zoolab-bench-hub-"))
    os.environ["ZOOLAB_HOME"] = str(work / "client-home")
    os.environ["HF_HOME"] = str(work / "hf-home")
    proc, url = _start_server(work / "server-home")
    try:
        rows, notes = run(work, url, args)
    finally:
        proc.terminate()
        proc.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    record("Hub client: zoolab vs huggingface_hub", markdown_table(
        ["case", "zoolab", "huggingface_hub", "speed-up (x)"], rows), notes)


def run(work: Path, url: str, args: argparse.Namespace) -> tuple[list[list[object]], str]:
    import huggingface_hub as hfh

    import zoolab.hub as hub
    from zoolab.hub import config
    from zoolab.hub.store import Store

    token = Store(work / "server-home").create_token("bench", write=True)
    config.add_source("bench", url, token=token)
    rows: list[list[object]] = []

    # (a) warm cache, pinned commit ---------------------------------------------------------
    small = hub.publish(_small_model(work / "small", 30), "bench:bench/small", progress=False)
    hub.download("bench:bench/small", revision=small.commit_id, progress=False)
    anchor_cache = work / "anchor-cache"
    kw = dict(cache_dir=anchor_cache, endpoint=url, token=token)
    hfh.snapshot_download("bench/small", revision=small.commit_id, **kw)

    def timed(fn, n: int) -> list[float]:
        out = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
        return out

    z = timed(lambda: hub.download("bench:bench/small", revision=small.commit_id, progress=False), args.warm_runs)
    a_pin = timed(lambda: hfh.snapshot_download("bench/small", revision=small.commit_id, **kw), args.warm_runs)
    a_main = timed(lambda: hfh.snapshot_download("bench/small", **kw), args.warm_runs)
    zm, am, amain = (statistics.median(x) * 1000 for x in (z, a_pin, a_main))
    rows.append(["(a) warm cache, pinned commit, 33 files: median ms", zm, am, am / zm])
    rows.append(["(a') same, huggingface_hub on `main` (1 request): median ms", zm, amain, amain / zm])

    # (b) cold download: 200 small files + one large file ------------------------------------
    hub.publish(_big_model(work / "big", args.big_mb), "bench:bench/big", progress=False)
    shutil.rmtree(work / "big")
    zt, at = [], []
    for i in range(args.repeats):
        # alternate who goes first so neither always profits from a warmer page cache
        order = ("zoolab", "hf") if i % 2 == 0 else ("hf", "zoolab")
        for who in order:
            os.environ["HF_HOME"] = str(work / f"cold-{who}-{i}")
            t = time.perf_counter()
            if who == "zoolab":
                snap = hub.download("bench:bench/big", progress=False)
                assert len(snap.files) == 203, len(snap.files)  # 201 files + .gitattributes + README.md
                zt.append(time.perf_counter() - t)
            else:
                hfh.snapshot_download("bench/big", cache_dir=work / f"cold-{who}-{i}" / "hub", endpoint=url, token=token)
                at.append(time.perf_counter() - t)
            shutil.rmtree(work / f"cold-{who}-{i}")
    size_mb = args.big_mb + 2 + 0.2
    rows.append([f"(b) cold, 200 small + 1 x {args.big_mb} MB: best s", min(zt), min(at), min(at) / min(zt)])
    rows.append(["(b) cold throughput: MB/s", size_mb / min(zt), size_mb / min(at), (size_mb / min(zt)) / (size_mb / min(at))])

    # (c) search over two sources ------------------------------------------------------------
    os.environ["HF_HOME"] = str(work / "hf-home")
    for i in range(10):
        hub.publish(_small_model(work / f"l{i}", 2), f"local:me/resnet-{i}", progress=False)
    api = hfh.HfApi(endpoint=url, token=token)
    store = Store()

    def anchor_search() -> None:
        list(api.list_models(search="e", sort="downloads", limit=20, full=True))
        store.list_repos(search="e", sort="downloads", limit=20)

    zs = timed(lambda: hub.search("e", source="bench,local", limit=20), args.search_runs)
    an = timed(anchor_search, args.search_runs)
    rows.append(["(c) search over 2 sources: p50 ms", percentile(zs, 50) * 1000, percentile(an, 50) * 1000,
                 percentile(an, 50) / percentile(zs, 50)])
    rows.append(["(c) search over 2 sources: p95 ms", percentile(zs, 95) * 1000, percentile(an, 95) * 1000,
                 percentile(an, 95) / percentile(zs, 95)])
    notes = (
        f"huggingface_hub {hfh.__version__}; server: `zoolab hub serve` on 127.0.0.1 (same machine). "
        "(a) zoolab checks refs/trees in the cache and returns; huggingface_hub pinned still starts its "
        "thread pool and checks every file, on `main` it also asks the server for the commit. "
        "(b) zoolab drives huggingface_hub's own snapshot machinery (8 workers, like the anchor) but "
        "starts files of 8 MiB or more at once as their own group instead of after the small files in "
        f"name order; {args.repeats} run(s) each, alternating order, best kept. (c) zoolab queries both sources concurrently "
        "(and computes frameworks per hit); the anchor makes the two calls one after the other."
    )
    return rows, notes


if __name__ == "__main__":
    main()
