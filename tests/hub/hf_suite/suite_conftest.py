"""conftest.py of the huggingface_hub test suite run against a zoolab hub server.

The source distribution of huggingface_hub ships its test files without their conftest.py; the
runner (``run.py``) copies this file next to them. It gives the fixtures those files use: ``api``
(an HfApi on the server with the main user's token) and ``repo_factory`` (creates a repo, deletes
it after the test). The runner points HF_HOME at a temporary folder.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from huggingface_hub import HfApi, RepoUrl

from .testing_constants import ENDPOINT_PRODUCTION, ENDPOINT_STAGING, TOKEN
from .testing_utils import repo_name


class RepoFactory:
    """``repo_factory(repo_type=None, *, repo_id=None, token=None, **create_repo_kwargs) -> RepoUrl``."""

    def __init__(self, api: HfApi):
        self._api = api
        self._created: list[tuple[str, str | None, str | None]] = []

    def __call__(self, repo_type: str | None = None, *, repo_id: str | None = None, token: str | None = None,
                 **kwargs: Any) -> RepoUrl:
        url = self._api.create_repo(repo_id or repo_name(), repo_type=repo_type, token=token, **kwargs)
        self._created.append((url.repo_id, repo_type, token))
        return url

    def cleanup(self) -> None:
        for repo_id, repo_type, token in reversed(self._created):
            try:
                self._api.delete_repo(repo_id, repo_type=repo_type, token=token, missing_ok=True)
            except Exception:  # a test may have moved or deleted it; cleanup must not fail the test
                pass


@pytest.fixture(scope="session")
def api() -> HfApi:
    return HfApi(endpoint=ENDPOINT_STAGING, token=TOKEN)


@pytest.fixture(scope="session")
def api_prod() -> HfApi:
    return HfApi(endpoint=ENDPOINT_PRODUCTION)


@pytest.fixture
def repo_factory(api: HfApi) -> Iterator[RepoFactory]:
    factory = RepoFactory(api)
    yield factory
    factory.cleanup()
