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
    Excluded("buckets (Xet-only storage): zoolab does not speak Xet", (
        "test_hf_file_system.py::TestHfFileSystemBucket",
    )),
)

EXCLUDED_FILES_NOTE = (
    "deselected: tests of Spaces, PRs/discussions, collections, access requests, webhooks, inference, "
    "buckets/Xet and production-only tests (see tests/hub/hf_suite/exclusions.py)"
)
