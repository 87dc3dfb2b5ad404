"""Validation of everything a caller names: repo ids, revisions, file paths, hashes, sizes.

Every function raises a :mod:`zoolab.errors` input error with a message that says the fix, so the
store, the server and the CLI reject bad input the same way and never store anything for it.
"""

from __future__ import annotations

import json
import re
from typing import Any

from zoolab.errors import (
    IntegrityError,
    InvalidInputError,
    InvalidPathError,
    PathTraversalError,
    InvalidRepoIdError,
    InvalidRevisionError,
)

# Like the Hub: letters, digits, '-', '_', '.', not starting/ending with '-' or '.', max 96 chars.
_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,94}[A-Za-z0-9])?\Z")
_USER_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38}[A-Za-z0-9])?\Z")
_COMMIT_RE = re.compile(r"^[0-9a-f]{40}\Z")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}\Z")
# git check-ref-format, simplified: no control chars, space, ~^:?*[\ , no '..', no '@{', no '//'.
_REF_BAD_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]")
MAX_PATH_LENGTH = 1024
# Characters HFS+ ignores in file names (git's is_hfs_dotgit): ".g\u200cit" is ".git" there.
_HFS_IGNORED = re.compile("[\u200c-\u200f\u202a-\u202e\u206a-\u206f\ufeff]")


def has_surrogates(text: str) -> bool:
    """True if ``text`` holds a lone UTF-16 surrogate (from a ``\\ud800`` JSON escape, say): such a
    string cannot be stored in SQLite or sent as UTF-8."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def validate_text(value: str, *, what: str) -> str:
    """Return ``value`` if it is a string that can be stored (no lone surrogates), else raise
    InvalidInputError naming ``what`` (a commit message, a tag message, ...)."""
    if not isinstance(value, str):
        raise InvalidInputError(f"{what} must be a string")
    if has_surrogates(value):
        raise InvalidInputError(f"{what} holds an invalid character (a lone UTF-16 surrogate)",
                                hint="send valid UTF-8 text")
    return value


def load_json(raw: bytes | str, *, what: str = "request body") -> Any:
    """Parse untrusted JSON; InvalidInputError (never a crash) for malformed text, nesting too deep
    for the parser, or a ``\\ud800``-style escape that leaves a lone surrogate in a string."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise InvalidInputError(f"{what} is nested too deeply", hint="send flat JSON objects") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{what} is not valid JSON: {exc}") from None
    # Only a \u escape can produce a surrogate (raw bytes were valid UTF-8): skip the check otherwise.
    if (b"\\u" if isinstance(raw, bytes) else "\\u") in raw:
        try:
            json.dumps(data, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidInputError(f"{what} holds an invalid character (a lone UTF-16 surrogate escape)",
                                    hint="send valid UTF-8 text") from None
        except RecursionError:
            raise InvalidInputError(f"{what} is nested too deeply", hint="send flat JSON objects") from None
    return data


def is_git_dir_name(segment: str) -> bool:
    """True if a path segment names git's own folder on some file system, as git refuses them
    (verify_path): ``.git`` in any case, with trailing dots or spaces (NTFS), with characters HFS+
    ignores, or its NTFS short name ``git~1``. Checking out such a file would overwrite the
    checkout's git config on a case-insensitive disk."""
    folded = _HFS_IGNORED.sub("", segment).rstrip(" .").lower()
    return folded == ".git" or segment.lower() == "git~1"


def validate_namespace(name: str, *, what: str = "user or organisation name") -> str:
    """Return ``name`` if it is a valid user/organisation name, else raise InvalidInputError."""
    if not isinstance(name, str) or not _USER_RE.match(name):
        raise InvalidInputError(
            f"invalid {what} {name!r}",
            hint="use 1-40 letters, digits or '-', not starting or ending with '-'",
        )
    return name


def validate_repo_id(repo_id: str) -> tuple[str, str]:
    """Split ``namespace/name`` into its two parts, raising InvalidRepoIdError if malformed."""
    if not isinstance(repo_id, str) or repo_id.count("/") != 1:
        raise InvalidRepoIdError(
            f"invalid repo id {repo_id!r}", hint="write it as 'namespace/name', e.g. 'alice/tiny-bert'"
        )
    namespace, name = repo_id.split("/")
    if not _USER_RE.match(namespace):
        raise InvalidRepoIdError(
            f"invalid namespace in repo id {repo_id!r}",
            hint="a namespace is 1-40 letters, digits or '-'",
        )
    if not _NAME_RE.match(name) or ".." in name or "--" in name or name.endswith(".git"):
        raise InvalidRepoIdError(
            f"invalid repo name in repo id {repo_id!r}",
            hint="use letters, digits, '-', '_' or '.', at most 96 characters, no '--' or '..'",
        )
    return namespace, name


def is_commit_id(revision: str) -> bool:
    """True if ``revision`` looks like a full commit id (40 lowercase hex)."""
    return bool(_COMMIT_RE.match(revision))


def validate_ref_name(name: str, *, kind: str = "branch") -> str:
    """Return ``name`` if it is an acceptable branch or tag name, else raise InvalidRevisionError."""
    bad = (
        not isinstance(name, str)
        or not name
        or len(name) > 255
        or _REF_BAD_CHARS.search(name) is not None
        or has_surrogates(name)
        or ".." in name
        or "@{" in name
        or "//" in name
        or name.startswith(("/", "-", "."))
        or name.endswith(("/", ".", ".lock"))
        or name == "@"
        or is_commit_id(name)
    )
    if bad:
        raise InvalidRevisionError(
            f"invalid {kind} name {name!r}",
            hint="use letters, digits, '-', '_', '.' and '/', as git allows (no spaces, '..' or '~^:?*[\\')",
        )
    return name


def validate_revision(revision: str) -> str:
    """Return ``revision`` (a branch, tag or commit id) if well-formed, else raise InvalidRevisionError."""
    if isinstance(revision, str) and is_commit_id(revision):
        return revision
    return validate_ref_name(revision, kind="revision")


def validate_path(path: str) -> str:
    """Return ``path`` if it is a safe relative path inside a repository, else raise InvalidPathError.

    Rejected: empty paths, absolute paths, NUL and other control characters, lone surrogates,
    empty, ``.`` or ``..`` segments, and a ``.git`` segment at any depth in any case (see
    :func:`is_git_dir_name`). A backslash is an ordinary character, as on the Hub, unless the path
    read with backslashes as separators (as a Windows client writes it) leaves the repository or
    names a drive: that is refused with PathTraversalError (422, the Hub's answer).
    """
    if not isinstance(path, str) or not path:
        raise InvalidPathError("empty file path", hint="give a path such as 'config.json'")
    if len(path) > MAX_PATH_LENGTH:
        raise InvalidPathError(f"file path longer than {MAX_PATH_LENGTH} characters")
    if "\\" in path:
        _refuse_windows_traversal(path)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in path):
        raise InvalidPathError(f"file path {path!r} contains a control character (NUL, newline, ...)")
    if has_surrogates(path):
        raise InvalidPathError(f"file path {path!r} holds an invalid character (a lone UTF-16 surrogate)",
                               hint="send the path as valid UTF-8")
    if path.startswith("/"):
        raise InvalidPathError(f"file path {path!r} is absolute", hint="use a path relative to the repo root")
    for segment in path.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidPathError(
                f"file path {path!r} has an empty, '.' or '..' segment",
                hint="use a plain relative path such as 'weights/model.safetensors'",
            )
    if any(is_git_dir_name(segment) for segment in path.split("/")):
        raise InvalidPathError(f"file path {path!r} names a '.git' folder or file, which git reserves",
                               hint="rename it: no path segment may be '.git' (in any case)")
    return path


def _refuse_windows_traversal(path: str) -> None:
    windows = path.replace("\\", "/")
    drive = len(windows) > 1 and windows[1] == ":"
    if windows.startswith("/") or drive or any(segment in (".", "..") for segment in windows.split("/")):
        raise PathTraversalError(f"file path {path!r} leaves the repository when '\\' is read as a separator",
                                 hint="use '/' as separator and no '..' segments")
    if any(is_git_dir_name(segment) for segment in windows.split("/")):
        raise InvalidPathError(f"file path {path!r} names a '.git' folder when '\\' is read as a separator",
                               hint="rename it: no path segment may be '.git' (in any case)")


def validate_folder(path: str) -> str:
    """Like :func:`validate_path` for a folder prefix; '' (the root) and a trailing '/' are allowed."""
    stripped = path.strip("/") if isinstance(path, str) else path
    if stripped == "":
        return ""
    return validate_path(stripped)


def validate_sha256(value: str) -> str:
    """Return ``value`` lower-cased if it is 64 hex characters, else raise InvalidInputError."""
    if not isinstance(value, str) or not _SHA256_RE.match(value.lower()):
        raise InvalidInputError(f"invalid sha256 {value!r}", hint="give 64 hexadecimal characters")
    return value.lower()


def validate_size(value: object, *, what: str = "size") -> int:
    """Return ``value`` if it is a non-negative int (not a bool), else raise InvalidInputError."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInputError(f"invalid {what} {value!r}", hint="give a non-negative integer")
    return value


def check_integrity(actual_sha: str, actual_size: int, expected_sha: str | None, expected_size: int | None) -> None:
    """Raise IntegrityError if the bytes received differ from what was announced."""
    if expected_size is not None and actual_size != expected_size:
        raise IntegrityError(
            f"received {actual_size} bytes but {expected_size} were announced",
            hint="upload the file again; nothing was stored",
        )
    if expected_sha is not None and actual_sha != expected_sha:
        raise IntegrityError(
            f"content has sha256 {actual_sha} but {expected_sha} was announced",
            hint="upload the file again; nothing was stored",
        )
