"""The zoolab hub server against a static file server serving the same bytes on loopback.

The anchor is nginx (Debian's package: ``apt-get install -y nginx``), run in the foreground with a
generated config on a free 127.0.0.1 port; without nginx, Python's ``http.server`` stands in (the
table says which one ran). Both serve the very same files: the static root holds hard links to the
zoolab store's blobs, so they also share the page cache.

Servers, in one run: the anchor (static nginx); ``zoolab hub serve`` with one, two (``--workers 2``)
and three (``--workers 3``) processes, reached directly; and the two-worker server behind nginx
configured by ``zoolab hub nginx-config`` (``--behind-nginx``: the server checks every download and
answers with ``X-Accel-Redirect``, nginx sends the bytes). Both nginx run one worker process.

What is measured, in one run:
- large file: one GET of a ``--large-mb`` file (default 1024 MiB) with ``curl`` (a C client, so
  the client is not the bottleneck), best of ``--large-repeats``
  with the two servers taking turns, in MB/s;
- small files: ``--clients`` concurrent clients (threads, one keep-alive connection each) each GET
  ``--small-files`` different files of ``--small-kb`` KiB: requests/s, MB/s, p50/p99 latency;
- HEAD: ``--heads`` sequential ``HEAD .../resolve/main/<file>`` (zoolab) / ``HEAD /<file>`` (static)
  on one keep-alive connection: p50/p99 latency.

- web pages (``benchmarks/hub_pages.py``): a store with ``--repos`` repos (default 1,000), then the
  home page, a sorted and a filtered list and a repo page, p50/p95 ms over ``--page-requests``
  sequential GETs, against the static server sending the same HTML bytes (target: home < 50 ms).

Run:
    .venv/bin/python benchmarks/hub_server.py                    # 1 GiB large file, 32 x 100 small files
    .venv/bin/python benchmarks/hub_server.py --pages-only       # only the web pages, 1,000 repos
    .venv/bin/python benchmarks/hub_server.py --large-mb 512 --no-pages   # the issue's serving-speed targets
"""

from __future__ import annotations

import argparse
import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, percentile, record  # noqa: E402
from hub_pages import add_catalog, page_latency, save_page  # noqa: E402

REPO = "bench/model"


@dataclass
class Server:
    """A running server: its name, base URL, the URL path of each benchmark file, its process."""

    name: str
    url: str
    large: str
    small: list[str]
    process: subprocess.Popen[bytes]
    behind: Server | None = None
    """The server process nginx sends requests to, if this is an nginx in front of one."""

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT if self.is_nginx else signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.behind is not None:
            self.behind.stop()

    @property
    def is_nginx(self) -> bool:
        return self.name == "nginx" or self.behind is not None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen[bytes], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port}")


# ---------------------------------------------------------------------------- data
def build_store(home: Path, large_mb: int, small_files: int, small_kb: int) -> tuple[Path, dict[str, Path]]:
    """A store with one repo holding ``large.bin`` and ``small/NNNN.bin``; returns the blob paths."""
    from zoolab.hub.store import AddFile, Store

    store = Store(home)
    store.create_repo(REPO)
    block = os.urandom(1024 * 1024)
    source = home / "large.src"
    with open(source, "wb") as fh:
        for i in range(large_mb):
            # Vary every block so the file does not compress or deduplicate anywhere.
            fh.write(i.to_bytes(8, "little") + block[8:])
    ops = [AddFile("large.bin", source=source)]
    ops += [AddFile(f"small/{i:04d}.bin", content=os.urandom(small_kb * 1024)) for i in range(small_files)]
    store.commit(REPO, ops, message="benchmark files")
    source.unlink()
    blobs = {e.path: store.blob_path(e.sha256) for e in store.list_files(REPO)}
    return home, blobs


def static_root(root: Path, blobs: dict[str, Path]) -> Path:
    """Hard links to the store's blobs under the same relative paths."""
    for path, blob in blobs.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(blob, target)
        except OSError:
            shutil.copyfile(blob, target)
        target.chmod(0o644)
    return root


# ---------------------------------------------------------------------------- servers
def start_zoolab(home: Path, small: list[str], log: Path, *args: str, name: str = "zoolab") -> Server:
    out = log.with_suffix(".out")
    process = subprocess.Popen([sys.executable, "-m", "zoolab", "hub", "serve", "--home", str(home), "--port", "0",
                                *args],
                               stdout=open(out, "wb"), stderr=open(log, "wb"), env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        match = re.search(r"listening on (http://\S+)", out.read_text(errors="replace"))
        if match:
            url = match.group(1)
            return Server(name, url, f"/{REPO}/resolve/main/large.bin",
                          [f"/{REPO}/resolve/main/{p}" for p in small], process)
        if process.poll() is not None:
            break
        time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"zoolab hub serve did not start: {log.read_text(errors='replace')[-2000:]}")


NGINX_CONF = """
worker_processes 1;
daemon off;
{user}
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    default_type application/octet-stream;
    client_body_temp_path {tmp}/body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


def nginx_binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)


def start_front(zoolab: Server, home: Path, tmp: Path, name: str) -> Server:
    """nginx with the configuration of ``zoolab hub nginx-config`` in front of ``zoolab``."""
    from zoolab.hub.server.accel import nginx_config

    nginx = nginx_binary()
    if nginx is None:
        raise RuntimeError("the behind-nginx rows need nginx (apt-get install -y nginx)")
    port = free_port()
    conf = tmp / "nginx.conf"
    conf.write_text(nginx_config(listen=f"127.0.0.1:{port}", upstreams=[zoolab.url.removeprefix("http://")],
                                 blob_root=home / "registry" / "blobs", run_dir=tmp,
                                 user="root" if os.geteuid() == 0 else None, worker_processes="1"))
    process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp), "-e", str(tmp / "error.log"), "-g", "daemon off;"],
                               stdout=subprocess.DEVNULL, stderr=open(tmp / "nginx.stderr", "wb"))
    wait_port(port, process, name)
    return Server(name, f"http://127.0.0.1:{port}", zoolab.large, zoolab.small, process, behind=zoolab)


def start_static(root: Path, small: list[str], tmp: Path) -> Server:
    """nginx if installed, else ``python -m http.server``."""
    port = free_port()
    nginx = nginx_binary()
    if nginx:
        conf = tmp / "nginx.conf"
        user = "user root;" if os.geteuid() == 0 else ""
        conf.write_text(NGINX_CONF.format(tmp=tmp, port=port, root=root, user=user))
        process = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp), "-e", str(tmp / "error.log")],
                                   stdout=subprocess.DEVNULL, stderr=open(tmp / "nginx.stderr", "wb"))
        name = "nginx"
    else:
        process = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                                    "--directory", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        name = "http.server"
    wait_port(port, process, name)
    return Server(name, f"http://127.0.0.1:{port}", "/large.bin", [f"/{p}" for p in small], process)


# ---------------------------------------------------------------------------- measurements
def large_throughput(servers: list[Server], size: int, repeats: int) -> dict[str, float]:
    """Best MB/s (10^6 bytes/s) of ``repeats`` curl downloads of the large file from each server.

    The servers take turns, download by download, so a burst of load from elsewhere on the
    machine hits both sides alike.
    """
    best = {server.name: 0.0 for server in servers}
    for _ in range(repeats):
        for server in servers:
            out = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download} %{time_total}",
                                  server.url + server.large], capture_output=True, text=True, check=True)
            got, seconds = out.stdout.split()
            if int(float(got)) != size:
                raise RuntimeError(f"{server.name}: downloaded {got} bytes, expected {size}")
            best[server.name] = max(best[server.name], size / float(seconds) / 1e6)
    return best


def small_files(server: Server, clients: int, size: int) -> tuple[float, float, float, float]:
    """(requests/s, MB/s, p50 ms, p99 ms) of ``clients`` threads each fetching every small file."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    barrier = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        conn.connect()
        barrier.wait()
        try:
            order = server.small[index % len(server.small):] + server.small[:index % len(server.small)]
            for path in order:
                t0 = time.perf_counter()
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
                latencies[index].append(time.perf_counter() - t0)
                if resp.status != 200 or len(body) != size:
                    errors.append(f"{path}: {resp.status}, {len(body)} bytes")
        finally:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    barrier.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - t0
    if errors:
        raise RuntimeError(f"{server.name}: {errors[:3]}")
    flat = [x for per in latencies for x in per]
    return len(flat) / wall, len(flat) * size / wall / 1e6, percentile(flat, 50) * 1e3, percentile(flat, 99) * 1e3


def head_latency(server: Server, path: str, count: int) -> tuple[float, float]:
    """(p50 ms, p99 ms) of ``count`` sequential HEAD requests on one keep-alive connection."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    times = []
    try:
        for _ in range(count):
            t0 = time.perf_counter()
            conn.request("HEAD", path)
            resp = conn.getresponse()
            resp.read()
            times.append(time.perf_counter() - t0)
            if resp.status != 200:
                raise RuntimeError(f"{server.name}: HEAD {path} answered {resp.status}")
    finally:
        conn.close()
    return percentile(times, 50) * 1e3, percentile(times, 99) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large-mb", type=int, default=1024, help="size of the large file in MiB")
    parser.add_argument("--large-repeats", type=int, default=5)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--small-files", type=int, default=100)
    parser.add_argument("--small-kb", type=int, default=16)
    parser.add_argument("--heads", type=int, default=1000)
    parser.add_argument("--no-record", action="store_true", help="print only, do not append to RESULTS.md")
    parser.add_argument("--note", default="", help="a sentence added to the notes (e.g. how loaded the machine was)")
    parser.add_argument("--repos", type=int, default=1000, help="repos in the store for the web-page figures")
    parser.add_argument("--page-requests", type=int, default=200)
    parser.add_argument("--pages-only", action="store_true", help="measure only the web pages")
    parser.add_argument("--no-pages", action="store_true", help="skip the web pages")
    args = parser.parse_args()
    if not args.no_pages:
        pages(args)
    if args.pages_only:
        return

    with tempfile.TemporaryDirectory(prefix="zoolab-bench-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)
        print(f"building a store with a {args.large_mb} MiB file and {args.small_files} small files...", flush=True)
        home, blobs = build_store(tmp / "home", args.large_mb, args.small_files, args.small_kb)
        small = sorted(p for p in blobs if p.startswith("small/"))
        root = static_root(tmp / "static", blobs)
        for sub in ("nginx", "front"):
            (tmp / sub).mkdir()
        servers = [start_static(root, small, tmp / "nginx")]
        try:
            servers.append(start_zoolab(home, small, tmp / "zoolab1.log", name="zoolab, 1 process"))
            for n in (2, 3):
                servers.append(start_zoolab(home, small, tmp / f"zoolab{n}.log", "--workers", str(n),
                                            name=f"zoolab, --workers {n}"))
            if servers[0].name == "nginx":
                behind = start_zoolab(home, small, tmp / "zoolab-front.log", "--workers", "2", "--behind-nginx",
                                      name="zoolab behind nginx")
                servers.append(start_front(behind, home, tmp / "front", "zoolab --workers 2 behind nginx"))
            results = measure(servers, args)
        finally:
            for server in servers:
                server.stop()
    report(servers, results, args)


def measure(servers: list[Server], args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Every figure of every server (large file with the servers taking turns; then, server by
    server, small files and HEAD)."""
    results: dict[str, dict[str, float]] = {}
    for server in servers:
        small_files(server, 4, args.small_kb * 1024)  # warm-up: connections, caches, every worker
    print("large file, servers taking turns...", flush=True)
    large = large_throughput(servers, args.large_mb * 1024 * 1024, args.large_repeats)
    for server in servers:
        print(f"small files and HEAD: {server.name} at {server.url}...", flush=True)
        rps, mbps, p50, p99 = small_files(server, args.clients, args.small_kb * 1024)
        h50, h99 = head_latency(server, server.small[0], args.heads)
        results[server.name] = {"large": large[server.name], "rps": rps, "mbps": mbps, "p50": p50,
                                "p99": p99, "h50": h50, "h99": h99}
    return results


def report(servers: list[Server], results: dict[str, dict[str, float]], args: argparse.Namespace) -> None:
    """The table (one row per server, each figure with its ratio to the static server) and targets."""
    anchor_name = servers[0].name
    anchor = results[anchor_name]

    def cell(value: float, base: float) -> str:
        shown = f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
        return f"{shown} ({value / base:.2f}x)"

    rows = [(server.name, cell(results[server.name]["large"], anchor["large"]),
             cell(results[server.name]["rps"], anchor["rps"]), cell(results[server.name]["p50"], anchor["p50"]),
             cell(results[server.name]["p99"], anchor["p99"]), cell(results[server.name]["h50"], anchor["h50"]),
             cell(results[server.name]["h99"], anchor["h99"])) for server in servers]
    table = markdown_table([f"server (ratio to {anchor_name})", f"large file ({args.large_mb} MiB) MB/s",
                            f"small files ({args.clients} clients x {args.small_files} x {args.small_kb} KiB) "
                            "requests/s", "small p50 ms", "small p99 ms", "HEAD resolve p50 ms",
                            "HEAD resolve p99 ms"], rows)
    one = results["zoolab, 1 process"]
    two = results["zoolab, --workers 2"]
    front = results.get("zoolab --workers 2 behind nginx")
    checks = [f"HEAD p50 of `zoolab hub serve` (1 process) under 0.3 ms: "
              f"{'met' if one['h50'] < 0.3 else 'NOT met'} ({one['h50']:.3f} ms)",
              f"small-file requests/s growing with --workers up to the {os.cpu_count()} cores: "
              f"{'met' if two['rps'] > one['rps'] else 'NOT met'} (1: {one['rps']:,.0f}, 2: {two['rps']:,.0f}, "
              f"3: {results['zoolab, --workers 3']['rps']:,.0f})"]
    if front is not None:
        checks[:0] = [f"large file behind nginx >= 0.95x nginx: {'met' if front['large'] >= 0.95 * anchor['large'] else 'NOT met'}"
                      f" ({front['large'] / anchor['large']:.2f}x)",
                      f"small files behind nginx >= 0.5x nginx: {'met' if front['rps'] >= 0.5 * anchor['rps'] else 'NOT met'}"
                      f" ({front['rps'] / anchor['rps']:.2f}x)"]
    notes = (f"Static server: {anchor_name} (1 worker process, sendfile), serving hard links to the store's blobs. "
             "zoolab: `zoolab hub serve` on the embedded store (SQLite in WAL mode, blob folder); behind nginx: "
             "`--workers 2 --behind-nginx` with the configuration of `zoolab hub nginx-config` (nginx 1 worker "
             "process): the server checks each download and answers X-Accel-Redirect, nginx sends the file; "
             "HEAD is answered by the server through nginx. All on 127.0.0.1. Large file: curl, servers taking "
             f"turns, best of {args.large_repeats}. Small files: Python threads with one keep-alive connection "
             "each; the client shares the machine's cores with the servers. HEAD: sequential on one keep-alive "
             "connection.\n\nTargets: " + "; ".join(checks) + "." + (f" {args.note}" if args.note else ""))
    if args.no_record:
        print(table)
        print(notes)
    else:
        record("Hub server vs static file server", table, notes)
        print(notes)


def pages(args: argparse.Namespace) -> None:
    """The web pages over a store of ``args.repos`` repos, against static copies of the same HTML."""
    paths = {"home page (/)": "/", "home page sorted by score": "/?sort=score",
             "filtered list (task + framework + search)": "/?task=text-classification&framework=pytorch&q=model-00",
             "repo page (card, snippets, model-index)": "/nlp/model-0001"}
    with tempfile.TemporaryDirectory(prefix="zoolab-bench-pages-") as tmp_name:
        tmp = Path(tmp_name)
        os.chmod(tmp, 0o755)
        print(f"building a store with {args.repos} repos...", flush=True)
        add_catalog(tmp / "home", args.repos)
        zoolab = start_zoolab(tmp / "home", [], tmp / "zoolab.log")
        root = tmp / "static"
        root.mkdir()
        try:
            for index, path in enumerate(paths.values()):
                save_page(zoolab.url, path, root / f"page{index}.html")
            (tmp / "nginx").mkdir()
            static = start_static(root, [], tmp / "nginx")
            try:
                rows = []
                for index, (label, path) in enumerate(paths.items()):
                    z50, z95, size = page_latency(zoolab.url, path, args.page_requests)
                    s50, s95, _ = page_latency(static.url, f"/page{index}.html", args.page_requests)
                    rows.append((f"{label}, p50 ms", z50, s50, f"{z50 / s50:.1f}x"))
                    rows.append((f"{label}, p95 ms ({size / 1000:.0f} kB)", z95, s95, f"{z95 / s95:.1f}x"))
            finally:
                static.stop()
        finally:
            zoolab.stop()
    home_p50 = rows[0][1]
    table = markdown_table(["page", "zoolab hub", static.name, "zoolab / static"], rows)
    notes = (f"{args.repos} public repos with cards in the store; {args.page_requests} sequential GETs per page on one "
             f"keep-alive connection (client time, request to last byte, an upper bound of server time); "
             f"{static.name} sends the same HTML bytes from files. Pages list 30 repos. Target (home page under "
             f"50 ms): {'met' if home_p50 < 50 else 'NOT met'} (p50 {home_p50:.1f} ms).")
    if args.no_record:
        print(table)
    else:
        record(f"Hub server web pages ({args.repos} repos) vs static HTML", table, notes)
    print(notes)


if __name__ == "__main__":
    main()
