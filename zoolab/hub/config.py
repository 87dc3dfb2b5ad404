"""The hub client's configuration file: named sources, their tokens and the default source.

It lives at :func:`zoolab.settings.config_path` (``$ZOOLAB_HOME/config.toml``) and may hold
tokens, so it is always written with mode 0600, atomically (a crash never leaves half a file)::

    default = "team"
    search_timeout = 10.0

    [sources.team]
    url = "http://hub.internal:8080"
    token = "zl_..."

    [sources.hf]            # only a token: the hf source's URL is HF_ENDPOINT
    token = "hf_..."
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from zoolab import settings
from zoolab.errors import ConfigError, InvalidInputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

BUILTIN_SOURCES = ("hf", "local")
"""Sources that always exist: the Hugging Face Hub and the embedded local registry."""
RESERVED_NAMES = BUILTIN_SOURCES + ("catalog",)
"""Names a user cannot give a server (``catalog`` names the zoo catalog in search results)."""
DEFAULT_SEARCH_TIMEOUT = 10.0
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}\Z")


@dataclass
class SourceConfig:
    """One configured source: a zoolab hub server (or, for ``hf``, only its token)."""

    name: str
    url: str | None = None
    token: str | None = None


@dataclass
class Config:
    """The whole configuration file."""

    default: str = "hf"
    search_timeout: float = DEFAULT_SEARCH_TIMEOUT
    sources: dict[str, SourceConfig] = field(default_factory=dict)


def validate_source_name(name: str) -> str:
    """Return ``name`` if it can name a source, else raise :class:`InvalidInputError`."""
    if not _NAME.match(name or ""):
        raise InvalidInputError(
            f"invalid source name {name!r}",
            hint="use 1-32 lowercase letters, digits, '-' or '_', starting with a letter or digit",
        )
    return name


def validate_url(url: str) -> str:
    """Return ``url`` without a trailing slash if it is an http(s) URL with a host."""
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInputError(
            f"invalid source URL {url!r}", hint="give the server's base URL, e.g. http://hub.example.com:8080"
        )
    return url.rstrip("/")


def load(path: Path | None = None) -> Config:
    """Read the configuration; a missing file is an empty configuration.

    Raises :class:`ConfigError` naming the file when it is not valid TOML or has wrong types.
    """
    path = path or settings.config_path()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read {path}: {exc}", hint="fix or delete the file") from None
    try:
        cfg = Config(
            default=str(raw.get("default", "hf")),
            search_timeout=float(raw.get("search_timeout", DEFAULT_SEARCH_TIMEOUT)),
        )
        for name, table in dict(raw.get("sources", {})).items():
            if not isinstance(table, dict):
                raise TypeError(f"[sources.{name}] must be a table")
            url = table.get("url")
            token = table.get("token")
            if (url is not None and not isinstance(url, str)) or (token is not None and not isinstance(token, str)):
                raise TypeError(f"[sources.{name}] url and token must be strings")
            cfg.sources[name] = SourceConfig(name=name, url=url, token=token)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid configuration in {path}: {exc}", hint="fix or delete the file") from None
    return cfg


def save(cfg: Config, path: Path | None = None) -> Path:
    """Write ``cfg`` atomically with mode 0600 (it may hold tokens); return the path."""
    import tomli_w

    path = path or settings.config_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data: dict = {"default": cfg.default, "search_timeout": cfg.search_timeout, "sources": {}}
    for name, src in sorted(cfg.sources.items()):
        table = {k: v for k, v in (("url", src.url), ("token", src.token)) if v is not None}
        if table:
            data["sources"][name] = table
    # mkstemp creates the file 0600 before any token is written into it.
    fd, tmp = tempfile.mkstemp(prefix=".config-", suffix=".toml", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            tomli_w.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def add_source(name: str, url: str, *, token: str | None = None, replace: bool = False) -> SourceConfig:
    """Add (or with ``replace`` update) a zoolab server source and save the configuration."""
    validate_source_name(name)
    if name in RESERVED_NAMES:
        raise InvalidInputError(
            f"'{name}' is a built-in source name", hint="pick another name; the hf source's URL is HF_ENDPOINT"
        )
    url = validate_url(url)
    cfg = load()
    if name in cfg.sources and cfg.sources[name].url and not replace:
        raise ConfigError(f"source '{name}' exists already", hint="pass --replace to change it, or remove it first")
    old = cfg.sources.get(name)
    src = SourceConfig(name=name, url=url, token=token if token is not None else (old.token if old else None))
    cfg.sources[name] = src
    save(cfg)
    return src


def remove_source(name: str) -> None:
    """Remove a configured server; the default falls back to ``hf`` if it was that server."""
    if name in BUILTIN_SOURCES:
        raise InvalidInputError(f"'{name}' is a built-in source and cannot be removed")
    cfg = load()
    if name not in cfg.sources:
        raise ConfigError(f"no source named '{name}'", hint="see `zoolab source list`")
    del cfg.sources[name]
    if cfg.default == name:
        cfg.default = "hf"
    save(cfg)


def set_default(name: str) -> None:
    """Make ``name`` the source unqualified repo ids go to."""
    cfg = load()
    if name not in BUILTIN_SOURCES and not (name in cfg.sources and cfg.sources[name].url):
        raise ConfigError(f"no source named '{name}'", hint="see `zoolab source list`")
    cfg.default = name
    save(cfg)


def set_token(name: str, token: str) -> None:
    """Store ``token`` for source ``name`` (``hf`` or a configured server)."""
    if name == "local":
        raise InvalidInputError("the local registry needs no token")
    cfg = load()
    if name != "hf" and name not in cfg.sources:
        raise ConfigError(f"no source named '{name}'", hint="add it first with `zoolab source add NAME URL`")
    cfg.sources.setdefault(name, SourceConfig(name=name)).token = token
    save(cfg)
