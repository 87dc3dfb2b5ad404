"""Tests of huggingface_hub's suite that are not run against a zoolab server, and why.

Each group names features zoolab does not offer (or tests that need the real huggingface.co);
every other test of the five files must pass. Node ids are relative to the sdist's tests/ folder
and match by prefix (a class deselects all its tests).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Excluded:
    reason: str
    nodes: tuple[str, ...]


MARKERS = "not production and not vcr"
"""Tests marked ``production`` read repos of huggingface.co itself (``gpt2``, ``julien-c/...``), and
``vcr`` ones replay recorded huggingface.co answers: neither talks to the server under test."""

EXCLUDED: tuple[Excluded, ...] = (
    Excluded("Spaces (runtime, hardware, secrets, variables, duplication): zoolab hosts models and datasets only", (
        "test_hf_api.py::TestSpaceAPIMocked",
    )),
    Excluded("pull requests, discussions and their activity: out of scope (refused with a clear error)", (
        "test_hf_api.py::TestHfApiDiscussions",
        "test_hf_api.py::TestActivityApi",
    )),
    Excluded("collections, access requests (gated repos' request queue), webhooks, papers, inference catalog "
             "and endpoints: Hub services zoolab does not offer", (
        "test_hf_api.py::TestCollectionAPI",
        "test_hf_api.py::TestAccessRequestAPI",
        "test_hf_api.py::TestAccessRequestHiddenPII",
        "test_hf_api.py::TestWebhookApi",
        "test_hf_api.py::TestHfApiInferenceCatalog",
    )),
    Excluded("pull requests (create_pr=True, refs/pr/N revisions): out of scope, refused with a clear error", (
        "test_hf_api.py::TestCommitApi::test_upload_file_create_pr",
        "test_hf_api.py::TestCommitApi::test_upload_folder_create_pr",
        "test_hf_api.py::TestCommitApi::test_create_commit_create_pr",
        "test_hf_api.py::TestCommitApi::test_create_commit_create_pr_against_branch",
        "test_hf_api.py::TestCommitApi::test_create_commit_create_pr_on_foreign_repo",
        "test_hf_api.py::TestCommitApi::test_empty_commit_on_pr",
        "test_hf_api.py::TestHfApiTagEndpoint::test_create_tag_on_pr",
        "test_hf_api.py::TestSquashHistory::test_super_squash_history_on_special_ref",
        "test_hf_api.py::TestListGitCommits::test_list_commits_on_pr",
        # these read the file their fixture put on a pull request (see PATCHES)
        "test_hf_file_system.py::TestHfFileSystemRepositoryRO::test_glob_with_revision",
        "test_hf_file_system.py::TestHfFileSystemRepositoryRO::test_read_file_with_revision",
        "test_hf_file_system.py::TestHfFileSystemRepositoryRO::test_list_data_directory_with_revision",
        "test_hf_file_system.py::TestHfFileSystemRepositoryRW::test_remove_file_with_revision",
        "test_hf_file_system.py::TestHfFileSystemRepositoryRW::test_remove_directory_with_revision",
    )),
    Excluded("Xet transfers and buckets (Xet-only storage): zoolab does not speak Xet", (
        "test_hf_file_system.py::TestHfFileSystemBucket",
        "test_hf_file_system.py::TestHfFileSystemRepositoryRO::test_get_file_with_xet",
        "test_snapshot_download.py::TestSnapshotDownload::test_xet_file_skips_per_file_head_call",
    )),
    Excluded("Enterprise organisations that make new repos private by default: a Hub Enterprise plan feature", (
        "test_hf_api.py::TestCommitApi::test_create_repo_private_by_default",
    )),
    Excluded("needs the Hub CI's organisation 'valid_org_hub' with the full name 'Dummy Hub Org': zoolab "
             "organisation names follow the namespace rule (no '_') and organisations have no full names", (
        "test_hf_api.py::TestHfApiEndpoints::test_whoami_with_passing_token",
    )),
    Excluded("the class fixture stores 'folder/..\\..\\..\\file', which leaves the repo when Windows reads it: "
             "zoolab refuses it (422) instead of relying on each client to refuse the download", (
        "test_file_download.py::TestHfHubDownloadRelativePaths",
    )),
)


@dataclass(frozen=True)
class Patch:
    reason: str
    file: str
    pattern: str
    """A regular expression (DOTALL) removed from the file; it must match at least once."""


PATCHES: tuple[Patch, ...] = (
    Patch("the fixtures also put one file on a pull request (create_pr=True), which zoolab refuses; the "
          "tests that read it are excluded above",
          "test_hf_file_system.py",
          r"\n\s*(?:self\.)?api\.upload_file\(\s*path_or_fileobj=b\"dummy binary data on pr\",[^)]*?create_pr=True,\s*\)"),
    Patch("the class fixture also commits to a pull request (create_pr=True), which zoolab refuses; the test "
          "reading it is excluded above",
          "test_hf_api.py",
          r"\n\s*api\.upload_file\(repo_id=repo_id, path_or_fileobj=b\"on_pr\", path_in_repo=\"on_pr\.txt\", "
          r"create_pr=True\)"),
)

EXCLUDED_FILES_NOTE = (
    "deselected: tests of Spaces, PRs/discussions, collections, access requests, webhooks, inference, "
    "Xet/buckets, Enterprise plans and production-only tests (see tests/hub/hf_suite/exclusions.py)"
)
