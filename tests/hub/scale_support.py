"""Real PostgreSQL and an S3 emulator for the tests of the scale-out store.

PostgreSQL comes from Debian's packages (``.ci/setup-scale.sh`` installs it): a fresh cluster is
initialised in a temporary folder, run as an unprivileged user (``nobody`` when the tests run as
root, since PostgreSQL refuses root) and stopped at the end of the session. S3 is moto's server
mode, an emulator speaking the S3 HTTP API, run as its own process.

A component that cannot start makes the tests that need it FAIL with the reason (never skip):
CI must not pass without having run them.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

SETUP_HINT = "run .ci/setup-scale.sh and .ci/setup-nginx.sh (as root), and pip install -e '.[dev]'"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, proc: subprocess.Popen[bytes], what: str, log: Path, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited at start ({proc.returncode}): {log.read_text(errors='replace')[-2000:]}",
                        pytrace=False)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"{what} did not listen on port {port} within {timeout_s:.0f} s", pytrace=False)


def stop_process(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout_s: float = 20.0) -> None:
    """Stop a component: ``sig``, then SIGKILL if it has not exited after ``timeout_s``."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def pg_bindir() -> Path:
    """The folder of Debian's PostgreSQL server binaries (the newest installed)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        pytest.fail(f"PostgreSQL is not installed: {SETUP_HINT}", pytrace=False)
    return Path(found[-1]).parent


@dataclass
class PostgresServer:
    """A PostgreSQL cluster of this test session."""

    port: int
    process: subprocess.Popen[bytes]
    folder: Path

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://zoolab@127.0.0.1:{self.port}/{dbname}"

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg

        name = "t" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        stop_process(self.process, signal.SIGINT)  # PostgreSQL's fast shutdown
        shutil.rmtree(self.folder, ignore_errors=True)


def start_postgres() -> PostgresServer:
    """initdb in a temporary folder and start the server on a free local port."""
    bindir = pg_bindir()
    folder = Path(tempfile.mkdtemp(prefix="zoolab-pg-"))
    user = None
    if os.geteuid() == 0:  # PostgreSQL never runs as root
        user = "nobody"
        nobody = pwd.getpwnam(user)
        os.chmod(folder, 0o700)
        os.chown(folder, nobody.pw_uid, nobody.pw_gid)
    data, log = folder / "data", folder / "log"
    init = subprocess.run([str(bindir / "initdb"), "-D", str(data), "-U", "zoolab", "-A", "trust", "-E", "UTF8",
                           "--locale=C.UTF-8", "--no-sync"], user=user, capture_output=True, cwd=folder)
    if init.returncode != 0:
        pytest.fail(f"initdb failed: {init.stderr.decode(errors='replace')[-2000:]}", pytrace=False)
    port = free_port()
    # Durability settings off: a test cluster is thrown away (fsync costs seconds on a shared disk).
    args = [str(bindir / "postgres"), "-D", str(data), "-p", str(port), "-h", "127.0.0.1", "-k", str(folder),
            "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
            "-c", "max_connections=400", "-c", "shared_buffers=32MB"]
    with open(log, "wb") as fh:
        if user is not None:
            os.chown(log, pwd.getpwnam(user).pw_uid, -1)
        proc = subprocess.Popen(args, user=user, stdout=fh, stderr=subprocess.STDOUT, cwd=folder)
    server = PostgresServer(port, proc, folder)
    try:
        _wait_port(port, proc, "PostgreSQL", log)
        deadline = time.monotonic() + 30
        import psycopg

        while True:  # the port opens before the server accepts logins
            try:
                psycopg.connect(server.url(), connect_timeout=2).close()
                break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    except BaseException:
        server.stop()
        raise
    return server


@dataclass
class S3Emulator:
    """moto's S3 server mode in its own process."""

    endpoint: str
    process: subprocess.Popen[bytes]

    def env(self) -> dict[str, str]:
        """The standard AWS variables pointing boto3 at the emulator."""
        return {"AWS_ENDPOINT_URL": self.endpoint, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}

    def client(self):  # type: ignore[no-untyped-def]
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, aws_access_key_id="testing",
                            aws_secret_access_key="testing", region_name="us-east-1",
                            config=Config(s3={"addressing_style": "path"}))

    def new_bucket(self) -> str:
        """A fresh bucket; its name."""
        name = "b" + uuid.uuid4().hex[:12]
        self.client().create_bucket(Bucket=name)
        return name

    def stop(self) -> None:
        stop_process(self.process)


def start_s3_emulator(folder: Path) -> S3Emulator:
    """moto's server on a free local port."""
    try:
        import moto.server  # noqa: F401
    except ImportError:
        pytest.fail(f"moto[server] is not installed: {SETUP_HINT} (pip install -e '.[dev]')", pytrace=False)
    port = free_port()
    log = folder / "moto.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=fh, stderr=subprocess.STDOUT)
    emulator = S3Emulator(f"http://127.0.0.1:{port}", proc)
    try:
        _wait_port(port, proc, "the S3 emulator", log)
    except BaseException:
        emulator.stop()
        raise
    return emulator


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """PostgreSQL for this test session (one per xdist worker)."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Emulator]:
    """The S3 emulator for this test session."""
    emulator = start_s3_emulator(tmp_path_factory.mktemp("s3"))
    saved = {k: os.environ.get(k) for k in emulator.env()}
    os.environ.update(emulator.env())  # boto3's standard configuration, as a deployment sets it
    try:
        yield emulator
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        emulator.stop()


@dataclass
class Nginx:
    """Debian's nginx balancing requests over several hub server processes (round robin)."""

    url: str
    process: subprocess.Popen[bytes]
    folder: Path

    def stop(self) -> None:
        stop_process(self.process)


def start_nginx(upstreams: list[str], folder: Path) -> Nginx:
    """nginx on a free port in front of ``upstreams`` (``http://127.0.0.1:PORT`` each); every
    response names the process that served it in ``X-Upstream``."""
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if binary is None:
        pytest.fail(f"nginx is not installed: {SETUP_HINT}", pytrace=False)
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    servers = "\n".join(f"        server {u.removeprefix('http://')} max_fails=1 fail_timeout=30s;" for u in upstreams)
    conf = folder / "nginx.conf"
    conf.write_text(f"""
{'user root;' if os.geteuid() == 0 else ''}
worker_processes 1;
daemon off;
pid {folder}/nginx.pid;
error_log {folder}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {folder}/body;
    proxy_temp_path {folder}/proxy;
    fastcgi_temp_path {folder}/fastcgi;
    uwsgi_temp_path {folder}/uwsgi;
    scgi_temp_path {folder}/scgi;
    upstream hub {{
{servers}
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        proxy_request_buffering off;
        proxy_buffering off;
        location / {{
            proxy_pass http://hub;
            proxy_http_version 1.1;
            proxy_set_header Host $http_host;
            proxy_set_header Connection "";
            add_header X-Upstream $upstream_addr always;
        }}
    }}
}}
""")
    log = folder / "stderr.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen([binary, "-p", str(folder), "-c", str(conf)], stdout=fh, stderr=subprocess.STDOUT)
    nginx = Nginx(f"http://127.0.0.1:{port}", proc, folder)
    try:
        _wait_port(port, proc, "nginx", log)
    except BaseException:
        nginx.stop()
        raise
    return nginx


@pytest.fixture(params=["embedded", "postgresql-s3emulator"])
def store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A fresh store, once embedded (SQLite + blob folder) and once on PostgreSQL with blobs in
    the S3 emulator: a test taking it runs against both implementations."""
    from zoolab.hub.store import Store
    from zoolab.hub.store.backends import StoreLocation

    if request.param == "embedded":
        return Store(tmp_path / "home")
    pg, s3 = request.getfixturevalue("pg_server"), request.getfixturevalue("s3_server")
    return Store(tmp_path / "home", location=StoreLocation(pg.new_database(), f"s3://{s3.new_bucket()}/hub"))
