"""Gated repositories: who may read a gated repo's files, and the Hub's answer to everyone else.

On the Hub a gated repo's metadata is public while its files need an approved access request.
zoolab has no access requests, so a gated repo's files are readable by its owner and, for an
organisation's repo, by the organisation's members; everyone else gets the Hub's
``403`` with ``X-Error-Code: GatedRepo`` (stock clients raise ``GatedRepoError``).
"""

from __future__ import annotations

from typing import Protocol

from zoolab.errors import PermissionDeniedError
from zoolab.hub.store import User


class GatedRepo(Protocol):
    """What gating looks at: a :class:`~zoolab.hub.store.RepoInfo`, or the lighter
    :class:`~zoolab.hub.store.refs.RepoAccess` of a download."""

    repo_id: str
    repo_type: str
    owner: str
    gated: str | bool


def may_read_files(info: GatedRepo, viewer: User | None) -> bool:
    """True if ``viewer`` may read the files of ``info`` (always, unless the repo is gated)."""
    if not info.gated:
        return True
    return viewer is not None and (viewer.name == info.owner or info.owner in viewer.orgs)


def check_file_access(info: GatedRepo, viewer: User | None, base_url: str) -> None:
    """Raise the Hub's GatedRepo error if ``viewer`` may not read the files of ``info``."""
    if may_read_files(info, viewer):
        return
    prefix = "datasets/" if info.repo_type == "dataset" else ""
    error = PermissionDeniedError(
        f"Access to {info.repo_type} {info.repo_id} is restricted and you are not in the authorized list. "
        f"Visit {base_url.rstrip('/')}/{prefix}{info.repo_id} to ask for access.",
        hint=f"zoolab has no access requests: ask an owner of '{info.owner}' to add you to the organisation",
    )
    error.error_code = "GatedRepo"
    raise error


__all__ = ["check_file_access", "may_read_files"]
