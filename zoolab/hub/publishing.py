"""``zoolab.hub.publish``: upload a model folder to a source, with a valid model card."""

from __future__ import annotations

import os
from pathlib import Path

from zoolab.errors import InvalidInputError
from zoolab.hub.cards import generate_card, validate_card_file
from zoolab.hub.layout import link_stays_inside
from zoolab.hub.refs import COMMIT_RE, check_repo_type
from zoolab.hub.sources import resolve
from zoolab.hub.types import PublishResult

_SKIP_DIRS = {".git", ".cache", "__pycache__", ".ipynb_checkpoints", ".hg", ".svn"}
_SKIP_FILES = {".DS_Store"}


def _check_link(folder: Path, path: Path) -> None:
    """Refuse a symlink whose target lies outside ``folder`` (a cloned repository can plant one
    pointing at ``~/.ssh/id_rsa``); a cache snapshot's links into its ``blobs/`` are followed."""
    if not link_stays_inside(folder, path):
        raise InvalidInputError(
            f"{path.relative_to(folder).as_posix()} is a symlink to {path.resolve()}, outside the folder; "
            "zoolab publishes only files inside it",
            hint="replace the link by the file itself if you mean to publish it",
        )


def folder_files(folder: Path) -> list[str]:
    """Files to upload from ``folder`` as repo paths, without VCS, cache and editor litter.

    Raises:
        InvalidInputError: a file is a symlink to something outside the folder.
    """
    out = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIP_DIRS)
        for name in sorted(names):
            if name in _SKIP_FILES or name.endswith((".lock", ".incomplete")):
                continue
            if Path(root, name).is_symlink():
                _check_link(folder, Path(root, name))
            out.append(Path(root, name).relative_to(folder).as_posix())
    return out


def publish(
    folder: str | Path,
    repo: str,
    *,
    source: str | None = None,
    private: bool = False,
    branch: str | None = None,
    message: str | None = None,
    progress: bool = True,
    repo_type: str = "model",
) -> PublishResult:
    """Create ``repo`` if needed and upload every file of ``folder`` to it in one commit.

    A README.md in the folder is validated first (library_name, tags, pipeline_tag, license,
    base_model, datasets, model-index); an invalid card raises :class:`InvalidCardError` naming
    the field before anything is uploaded. A folder without one gets a generated card (from
    ``zoolab.json`` and ``config.json``) in the commit; the folder itself is not changed.
    ``repo_type="dataset"`` publishes a dataset repo: its README.md is validated the same way,
    and none is generated when the folder has none (``datasets`` reads data files without a card).
    """
    repo_type = check_repo_type(repo_type)
    path = Path(folder).expanduser()
    if not path.is_dir():
        raise InvalidInputError(f"{folder} is not a folder", hint="pass the folder holding the model files")
    if not (path / "config.json").exists() and (path / "best" / "config.json").is_file():
        raise InvalidInputError(
            f"{folder} is a fine-tuning run (checkpoints, logs, best/ and final/), not a model folder",
            hint=f"publish its best model: zoolab publish {path / 'best'} {repo}",
        )
    files = folder_files(path)
    if not files:
        raise InvalidInputError(f"{folder} has no files to publish")
    branch = branch or "main"
    if COMMIT_RE.match(branch) or not branch.strip() or ".." in branch or branch.startswith(("/", "-")):
        raise InvalidInputError(f"invalid branch name {branch!r}")
    src, repo_id = resolve(repo, source)
    extra: dict[str, bytes] = {}
    generated = False
    if "README.md" in files:
        validate_card_file(path / "README.md")
    elif repo_type == "model":
        extra["README.md"] = generate_card(path, repo_id).encode("utf-8")
        generated = True
    result = src.publish(
        path, repo_id, files=files, extra=extra, private=private, branch=branch,
        message=message or f"Publish {path.name} with zoolab", progress=progress, repo_type=repo_type,
    )
    result.card_generated = generated
    return result
