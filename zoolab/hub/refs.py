"""Repository references as users type them: ``org/name`` or ``SOURCE:org/name``."""

from __future__ import annotations

import re

from zoolab.errors import InvalidRepoIdError

_PART = r"[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9_])?"
_REPO_ID = re.compile(rf"^(?:{_PART}/)?{_PART}\Z")
_SOURCE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}\Z")
COMMIT_RE = re.compile(r"^[0-9a-f]{40}\Z")


def validate_repo_id(repo_id: str) -> str:
    """Return ``repo_id`` if it is ``name`` or ``namespace/name`` with Hub-legal characters."""
    if not _REPO_ID.match(repo_id or "") or "--" in repo_id or ".." in repo_id:
        raise InvalidRepoIdError(
            f"invalid repository id {repo_id!r}",
            hint="use namespace/name (letters, digits, '-', '_', '.'), optionally prefixed by SOURCE:",
        )
    return repo_id


def parse_ref(ref: str) -> tuple[str | None, str]:
    """Split ``SOURCE:org/name`` into ``("SOURCE", "org/name")``; an unqualified id gives ``None``.

    Raises :class:`InvalidRepoIdError` when either part is malformed.
    """
    ref = (ref or "").strip()
    source: str | None = None
    if ":" in ref:
        source, _, ref = ref.partition(":")
        if not _SOURCE.match(source):
            raise InvalidRepoIdError(
                f"invalid source name {source!r} in repository reference", hint="write SOURCE:namespace/name"
            )
    return source, validate_repo_id(ref)


def is_commit(revision: str | None) -> bool:
    """True when ``revision`` is a full 40-hex commit id (immutable, so cacheable forever)."""
    return bool(revision) and bool(COMMIT_RE.match(revision))


REPO_TYPES = ("model", "dataset")
"""Repository types zoolab downloads, publishes and searches."""


def check_repo_type(repo_type: str | None) -> str:
    """``model`` (the default) or ``dataset``; InvalidInputError for anything else."""
    from zoolab.errors import InvalidInputError

    kind = repo_type or "model"
    if kind not in REPO_TYPES:
        raise InvalidInputError(f"unknown repo type {repo_type!r}", hint="use 'model' or 'dataset'")
    return kind


def cache_folder_name(repo_id: str, repo_type: str = "model") -> str:
    """The Hugging Face cache folder of a repo: ``models--org--name`` (``datasets--org--name``)."""
    return f"{repo_type}s--" + repo_id.replace("/", "--")
