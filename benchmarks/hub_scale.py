"""The hub server on PostgreSQL + S3 against plain nginx on the same files, in one run.

The rows of ``benchmarks/hub_server.py`` (its store, its measurements) for the scale-out store: an
embedded store is built, moved with ``zoolab hub migrate`` to a PostgreSQL cluster (Debian's
package, started here) and a bucket of moto's S3 server mode (an emulator: real S3, MinIO or Ceph
will differ), then served by one ``zoolab hub serve --database --blobs`` process reached directly,
and by three behind nginx (round robin). The anchor is nginx serving the same bytes from disk.

Rows: small files (``--clients`` threads, keep-alive, each GETs every small file): requests/s,
p50/p99; ``HEAD .../resolve/...`` p50/p99 (sequential); the large file (curl, following the
presigned redirect to the bucket: that part is the emulator's speed, not zoolab's).

Run:
    .venv/bin/python benchmarks/hub_scale.py                  # 256 MiB large file, 32 x 100 small files
    .venv/bin/python benchmarks/hub_scale.py --large-mb 64 --clients 8
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests" / "hub"))  # the tests' PostgreSQL, S3 and nginx launchers
from _common import markdown_table, record  # noqa: E402
from hub_server import (  # noqa: E402
    REPO,
    Server,
    build_store,
    head_latency,
    small_files,
    start_static,
    start_zoolab,
    static_root,
)
from scale_support import start_nginx, start_postgres, start_s3_emulator  # noqa: E402


def large_via_redirect(server: Server, size: int, repeats: int) -> float:
    """Best MB/s of ``repeats`` curl downloads of the large file, redirects followed."""
    best = 0.0
    for _ in range(repeats):
        out = subprocess.run(["curl", "-sSL", "-o", "/dev/null", "-w", "%{size_download} %{time_total}",
                              server.url + server.large], capture_output=True, text=True, check=True)
        got, seconds = out.stdout.split()
        if int(float(got)) != size:
            raise RuntimeError(f"{server.name}: downloaded {got} bytes, expected {size}")
        best = max(best, size / float(seconds) / 1e6)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large-mb", type=int, default=256)
    parser.add_argument("--small-files", type=int, default=100)
    parser.add_argument("--small-kb", type=int, default=16)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--heads", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="zoolab-bench-scale-"))
    pg = start_postgres()
    s3 = start_s3_emulator(tmp)
    os.environ.update(s3.env())
    servers: list[Server] = []
    try:
        home, blobs = build_store(tmp / "home", args.large_mb, args.small_files, args.small_kb)
        small = sorted(p for p in blobs if p.startswith("small/"))
        database, bucket = pg.new_database(), s3.new_bucket()
        subprocess.run([sys.executable, "-m", "zoolab", "hub", "migrate", "--home", str(home), "--to", database,
                        "--blobs", f"s3://{bucket}/hub"], check=True, stdout=subprocess.DEVNULL)
        (tmp / "static").mkdir()
        anchor = start_static(static_root(tmp / "static" / "root", blobs), small, tmp / "static")
        servers.append(anchor)
        store_args = ("--database", database, "--blobs", f"s3://{bucket}/hub", "--presign-min-mb", "10")
        one = start_zoolab(tmp / "node0", small, tmp / "node0.log", *store_args, name="zoolab PG+S3, 1 process")
        servers.append(one)
        nodes = [start_zoolab(tmp / f"node{i}", small, tmp / f"node{i}.log", *store_args, name=f"node{i}")
                 for i in (1, 2, 3)]
        servers.extend(nodes)
        front = start_nginx([n.url for n in nodes], tmp / "front")
        three = Server("zoolab PG+S3, 3 processes behind nginx", front.url, one.large, one.small, front.process)
        servers.append(three)
        measured = [anchor, one, three]
        for server in measured[1:]:  # fill each process's read cache and connection pools (round robin: 3 rounds)
            for _ in range(3):
                small_files(server, 2, args.small_kb * 1024)
        size = args.large_mb * 1024 * 1024
        rows: dict[str, dict[str, float]] = {}
        for server in measured:
            rps, _, p50, p99 = small_files(server, args.clients, args.small_kb * 1024)
            head50, head99 = head_latency(server, server.small[0], args.heads)
            rows[server.name] = {"rps": rps, "p50": p50, "p99": p99, "head50": head50, "head99": head99,
                                 "large": large_via_redirect(server, size, args.repeats)}
    finally:
        for server in reversed(servers):
            server.stop()
        s3.stop()
        pg.stop()
    base = rows[anchor.name]
    table = markdown_table(
        ["server", f"small files req/s ({args.clients} clients)", "p50 ms", "p99 ms", "HEAD p50 ms", "HEAD p99 ms",
         f"large file MB/s ({args.large_mb} MiB)", "req/s vs nginx", "HEAD p50 vs nginx"],
        [[name, r["rps"], r["p50"], r["p99"], r["head50"], r["head99"], r["large"], f"{r['rps'] / base['rps']:.2f}x",
          f"{r['head50'] / base['head50']:.1f}x"] for name, r in rows.items()],
    )
    record(f"Hub server on PostgreSQL + S3 emulator vs {anchor.name}", table,
           notes=f"{args.small_files} files of {args.small_kb} KiB and one of {args.large_mb} MiB in repo {REPO}, "
                 "moved with zoolab hub migrate to PostgreSQL (Debian's package, fsync off: a throw-away "
                 "cluster) and moto's S3 server mode; the large file is answered with a presigned redirect, so "
                 "its row measures the emulator. Anchor: nginx serving the same bytes from disk.")


if __name__ == "__main__":
    main()
