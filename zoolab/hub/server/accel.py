"""zoolab decides, nginx moves the bytes: ``X-Accel-Redirect`` downloads and the nginx configuration.

Behind nginx, a server started with ``--behind-nginx`` checks every download as usual (token,
visibility, gating, revision, path) and then, instead of sending the blob itself, answers with the
file's headers and ``X-Accel-Redirect: /_zoolab/blobs/ab/abcd...``. nginx serves that URI from an
``internal`` location over the store's blob folder: ``sendfile``, ranges and keep-alive in C, while
the Python process is free for the next request. Clients cannot request the internal location
themselves (nginx answers 404), so the access rules hold for every byte.

The nginx configuration sends ``X-Sendfile-Type: X-Accel-Redirect`` upstream (and overwrites any
such header a client sends). The server answers with a redirect only when both its flag and that
header are present: a request that reaches a server process directly still gets the bytes.

HEAD and every API call go to the server unchanged. :func:`nginx_config` writes the configuration
``zoolab hub nginx-config`` prints.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from zoolab.errors import InvalidInputError

ACCEL_LOCATION = "/_zoolab/blobs/"
"""The internal nginx location over the blob folder (``<store>/blobs``)."""
SENDFILE_TYPE_HEADER = b"x-sendfile-type"
ACCEL_VALUE = b"x-accel-redirect"

# Response headers of the server that nginx drops on an internal redirect, re-added from the
# upstream's answer ($upstream_http_*): the Hub protocol's own headers, the request id, and the
# headers that keep a file opened from a web page from running as a page of the site (an empty
# upstream value adds nothing).
_UPSTREAM_HEADERS = ("ETag", "X-Repo-Commit", "X-Linked-Size", "X-Linked-Etag", "X-Request-Id",
                     "Content-Security-Policy", "X-Content-Type-Options")


def accel_uri(sha256: str) -> str:
    """The internal URI of blob ``sha256`` (the blob folder's layout: ``ab/abcd...``)."""
    return f"{ACCEL_LOCATION}{sha256[:2]}/{sha256}"


def wants_accel(headers: Sequence[tuple[bytes, bytes]]) -> bool:
    """True if the request came through nginx configured by :func:`nginx_config`."""
    for name, value in headers:
        if name == SENDFILE_TYPE_HEADER:
            return value.lower() == ACCEL_VALUE
    return False


def _listen(value: str) -> str:
    text = value.strip()
    host, _, port = text.rpartition(":") if ":" in text else ("", "", text)
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise InvalidInputError(f"invalid listen address {value!r}", hint="give PORT or HOST:PORT, e.g. 8000")
    return text


def _upstream(value: str) -> str:
    host, sep, port = value.strip().rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536 or any(c in host for c in " ;{}#"):
        raise InvalidInputError(f"invalid upstream {value!r}", hint="give HOST:PORT of a 'zoolab hub serve', e.g. "
                                                                  "127.0.0.1:8080")
    return value.strip()


def _path(path: Path, what: str) -> str:
    text = str(path.resolve())
    if any(c in text for c in " ;{}#'\"\\\n"):
        raise InvalidInputError(f"the {what} path {text!r} has characters nginx's syntax cannot hold here",
                                hint="use a path without spaces, quotes, braces, ';' or '#'")
    return text


def nginx_config(
    *,
    listen: str,
    upstreams: Sequence[str],
    blob_root: Path,
    run_dir: Path | None = None,
    user: str | None = None,
    worker_processes: str = "auto",
    server_name: str = "_",
    snippet: bool = False,
) -> str:
    """An nginx configuration in front of ``upstreams`` (``zoolab hub serve --behind-nginx``).

    ``blob_root`` is the store's blob folder (``<home>/registry/blobs``); nginx's worker user must
    be able to read it. ``run_dir`` puts the pid file, error log and temp folders there (an nginx
    run as an ordinary user, or several side by side); ``user`` sets the worker user when nginx
    starts as root. ``snippet`` gives only the ``upstream`` and ``server`` blocks, for
    ``/etc/nginx/conf.d/``; otherwise a whole ``nginx.conf`` for ``nginx -c``.
    """
    if not upstreams:
        raise InvalidInputError("no upstream given", hint="give --upstream HOST:PORT (once per server process)")
    servers = "\n".join(f"        server {_upstream(u)};" for u in upstreams)
    blobs = _path(blob_root, "blob folder").rstrip("/") + "/"
    add = "\n".join(f"            add_header {h} $upstream_http_{h.lower().replace('-', '_')} always;"
                    for h in _UPSTREAM_HEADERS)
    body = f"""    # The zoolab hub: every request goes to a server process, which checks it; an authorised
    # download comes back as X-Accel-Redirect to the internal location below, served by nginx.
    upstream zoolab_hub {{
{servers}
        keepalive 64;
        keepalive_timeout 20s;             # under the server's 30 s, so nginx never reuses a closed one
    }}

    server {{
        listen {_listen(listen)};
        server_name {server_name};
        client_max_body_size 0;            # the server enforces its own --max-body-mb
        proxy_request_buffering off;       # uploads stream through to the server as they arrive
        proxy_buffering off;               # so do large API answers (trees, commit lists)
        proxy_read_timeout 3600s;
        proxy_send_timeout 3600s;

        location / {{
            proxy_pass http://zoolab_hub;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            # Overwrites whatever a client sends: only nginx asks for X-Accel-Redirect answers.
            proxy_set_header X-Sendfile-Type X-Accel-Redirect;
            proxy_next_upstream error timeout;
        }}

        location {ACCEL_LOCATION} {{
            internal;                      # reachable only through the server's X-Accel-Redirect
            alias {blobs};
            sendfile on;
            tcp_nopush on;
            types {{ }}
            default_type application/octet-stream;
            etag off;                      # the Hub's ETag is the server's, re-added below
            # nginx keeps Content-Disposition, Cache-Control and Accept-Ranges of the server's
            # answer; the Hub protocol's own headers are re-added from it.
{add}
        }}
    }}
"""
    if snippet:
        return body
    main = []
    if user:
        if any(c in user for c in " ;{}#'\"\n"):
            raise InvalidInputError(f"invalid user name {user!r}")
        main.append(f"user {user};")
    main.append(f"worker_processes {worker_processes};")
    temps = ""
    if run_dir is not None:
        run = _path(run_dir, "run folder")
        main += [f"pid {run}/nginx.pid;", f"error_log {run}/error.log warn;"]
        temps = "".join(f"    {kind}_temp_path {run}/{kind};\n"
                        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return ("# nginx in front of zoolab hub servers: written by 'zoolab hub nginx-config'.\n"
            + "\n".join(main) + "\n"
            "events { worker_connections 4096; }\n"
            "http {\n"
            "    access_log off;\n"
            "    keepalive_requests 100000;\n"
            + temps + body + "}\n")


__all__ = ["ACCEL_LOCATION", "accel_uri", "nginx_config", "wants_accel"]
