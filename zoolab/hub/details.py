"""``zoolab.hub.info``: what one repository holds."""

from __future__ import annotations

from zoolab.hub.sources import resolve
from zoolab.hub.types import RepoDetails


def info(repo: str, *, source: str | None = None, revision: str | None = None) -> RepoDetails:
    """Card summary, files with sizes, branches and tags and frameworks of ``repo``.

    ``repo`` is ``org/name`` (default source) or ``SOURCE:org/name``. Raises
    :class:`RepoNotFoundError` when it does not exist or is not visible with the source's token,
    :class:`SourceUnavailableError` when the source cannot be reached.
    """
    src, repo_id = resolve(repo, source)
    return src.info(repo_id, revision=revision)
