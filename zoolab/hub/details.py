"""``zoolab.hub.info``: what one repository holds."""

from __future__ import annotations

from zoolab.hub.refs import check_repo_type
from zoolab.hub.sources import resolve
from zoolab.hub.types import RepoDetails


def info(repo: str, *, source: str | None = None, revision: str | None = None,
         repo_type: str = "model") -> RepoDetails:
    """Card summary, files with sizes, branches and tags and frameworks of ``repo``.

    ``repo`` is ``org/name`` (default source) or ``SOURCE:org/name``; ``repo_type="dataset"``
    describes a dataset repo (no frameworks, library or task). Raises
    :class:`RepoNotFoundError` when it does not exist or is not visible with the source's token,
    :class:`SourceUnavailableError` when the source cannot be reached.
    """
    kind = check_repo_type(repo_type)
    src, repo_id = resolve(repo, source)
    return src.info(repo_id, revision=revision, repo_type=kind)
