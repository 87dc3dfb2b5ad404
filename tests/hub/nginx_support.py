"""Debian's nginx in front of hub server processes, configured by ``zoolab hub nginx-config``.

``.ci/setup-nginx.sh`` (run by ``.ci/run``) installs nginx. :func:`start_nginx` runs it in the
foreground with a temporary prefix (pid file, logs, temp folders under ``folder``) on a free 127.0.0.1 port, in
front of one or several ``zoolab hub serve --behind-nginx`` upstreams, with the configuration the
CLI prints (so the tests check the configuration users get). Started as root (CI), its workers run
as root too, since the stores of tests live in private temporary folders; as another user nginx
simply runs as that user.

nginx missing makes the tests that need it FAIL with the reason (never skip): CI must not pass
without having run them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

SETUP_HINT = "run .ci/setup-nginx.sh (as root) to install Debian's nginx"


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nginx_binary() -> str:
    """The nginx executable; fails the test with the setup hint if nginx is not installed."""
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        pytest.fail(f"nginx is not installed: {SETUP_HINT}", pytrace=False)
    return binary


@dataclass
class Nginx:
    """A running nginx: its base URL, process, prefix folder and the configuration it runs."""

    url: str
    process: subprocess.Popen[bytes]
    folder: Path
    config: str

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def error_log(self) -> str:
        path = self.folder / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        """Graceful stop (SIGQUIT), killed after 10 s."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def render_config(upstreams: Sequence[str], folder: Path, blob_root: Path, port: int,
                  *, worker_processes: int = 1, location_lines: Sequence[str] = (),
                  blob_location_lines: Sequence[str] = ()) -> str:
    """The configuration ``zoolab hub nginx-config`` prints for these upstreams (``HOST:PORT`` or
    ``http://HOST:PORT``); ``location_lines`` are added to the proxied location (a test may name
    the upstream that answered, for example ``add_header X-Upstream $upstream_addr always;``),
    ``blob_location_lines`` to the internal one that sends the blobs."""
    args = [sys.executable, "-m", "zoolab", "hub", "nginx-config", "--listen", f"127.0.0.1:{port}",
            "--blob-root", str(blob_root), "--run-dir", str(folder)]
    for upstream in upstreams:
        args += ["--upstream", upstream.removeprefix("http://").rstrip("/")]
    if os.geteuid() == 0:
        args += ["--user", "root"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        pytest.fail(f"zoolab hub nginx-config failed: {out.stderr[-2000:]}", pytrace=False)
    config = out.stdout.replace("worker_processes auto;", f"worker_processes {worker_processes};")
    if location_lines:
        anchor = "proxy_pass http://zoolab_hub;\n"
        assert anchor in config, config
        config = config.replace(anchor, anchor + "".join(f"            {line}\n" for line in location_lines))
    if blob_location_lines:
        anchor = "internal;"
        assert anchor in config, config
        config = config.replace(anchor, anchor + "".join(f"\n            {line}" for line in blob_location_lines), 1)
    return config


def start_nginx(upstreams: Sequence[str], folder: Path, blob_root: Path, *, worker_processes: int = 1,
                location_lines: Sequence[str] = (), blob_location_lines: Sequence[str] = (),
                timeout_s: float = 30.0) -> Nginx:
    """nginx on a free port in front of ``upstreams``, serving downloads from ``blob_root`` (the
    store's ``registry/blobs``); stop it with :meth:`Nginx.stop`."""
    binary = nginx_binary()
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = render_config(upstreams, folder, blob_root, port, worker_processes=worker_processes,
                           location_lines=location_lines, blob_location_lines=blob_location_lines)
    conf = folder / "nginx.conf"
    conf.write_text(config)
    log = folder / "stderr.log"
    with open(log, "wb") as fh:
        process = subprocess.Popen([binary, "-p", str(folder), "-e", str(folder / "error.log"), "-c", str(conf),
                                    "-g", "daemon off;"], stdout=fh, stderr=subprocess.STDOUT)
    nginx = Nginx(f"http://127.0.0.1:{port}", process, folder, config)
    deadline = time.monotonic() + timeout_s
    while True:
        if process.poll() is not None:
            pytest.fail(f"nginx exited at start ({process.returncode}): {log.read_text(errors='replace')[-2000:]}"
                        f"{nginx.error_log()[-2000:]}", pytrace=False)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return nginx
        except OSError:
            if time.monotonic() > deadline:
                nginx.stop()
                pytest.fail(f"nginx did not listen on port {port} within {timeout_s:.0f} s", pytrace=False)
            time.sleep(0.05)


__all__ = ["Nginx", "SETUP_HINT", "free_port", "nginx_binary", "render_config", "start_nginx"]
