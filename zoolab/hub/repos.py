"""Repository management: create, delete, tag, branch, visibility, file removal; who you are; log out.

Every operation takes ``[SOURCE:]org/name`` like the rest of the client. Remote sources (``hf``
and zoolab hub servers) are driven through huggingface_hub's ``HfApi`` (``create_repo``,
``delete_repo``, ``create_tag``, ``create_branch``, ``update_repo_settings``, ``create_commit``
with ``CommitOperationDelete``, ``whoami``) with the errors of :func:`zoolab.hub.remote.translate_errors`;
the local registry runs the same operations on its store, which is the hub server's store
(docs/hub-client.md says why it is not driven through huggingface_hub). Both paths end in
:func:`_same_errors`, so a failure reads the same, with the same error class, on every source.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

from zoolab import settings
from zoolab.errors import InvalidInputError, SourceUnavailableError
from zoolab.hub import config
from zoolab.hub.sources import get_source, resolve


@dataclass
class RepoChange:
    """What a repository operation did, for the CLI to print (or ``--json``)."""

    source: str
    repo_id: str
    action: str
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        return f"{self.source}:{self.repo_id}"


@contextlib.contextmanager
def _same_errors(src: Any, repo_id: str, *, exists: str | None = None, name: str | None = None,
                 revision: str | None = None, deleting: bool = False) -> Iterator[None]:
    """Re-raise what the store or the server answered as one message per failure, whatever the source.

    ``exists`` says what a conflict means: ``"repo"`` (creating it) or ``"tag"``/``"branch"``
    (creating ``name``); with ``deleting`` a missing revision is that tag or branch; ``revision``
    is the revision the operation reads.
    """
    from zoolab.errors import ConflictError, RefExistsError, RepoExistsError, RepoNotFoundError, RevisionNotFoundError

    ref = f"{src.name}:{repo_id}"
    refs_hint = f"see its branches and tags with `zoolab info {ref}`"
    try:
        yield
    except RepoNotFoundError:
        raise RepoNotFoundError(f"{ref} not found", hint="check the id with `zoolab search`; a private "
                                "repository needs a token of its owner or of an organisation member") from None
    except RevisionNotFoundError:
        if deleting and exists:
            raise RevisionNotFoundError(f"{ref}: {exists} '{name}' not found", hint=refs_hint) from None
        raise RevisionNotFoundError(f"{ref}: revision '{revision or 'main'}' not found", hint=refs_hint) from None
    except ConflictError as exc:
        if exists == "repo" and not deleting:
            raise RepoExistsError(f"{ref} already exists", hint="pass --exist-ok to use it as it is") from None
        if exists in ("tag", "branch") and not deleting and type(exc) in (ConflictError, RefExistsError):
            raise RefExistsError(f"{ref}: {exists} '{name}' already exists",
                                 hint=f"pick another name, or delete it first: zoolab repo {exists} {ref} {name} "
                                      "--delete") from None
        raise


def _check_online(src: Any, what: str) -> None:
    if src.kind != "local" and settings.is_offline():
        raise SourceUnavailableError(f"cannot {what} on '{src.name}' in offline mode",
                                     hint="unset ZOOLAB_OFFLINE / HF_HUB_OFFLINE")


def _name(value: str, what: str) -> str:
    value = (value or "").strip()
    if not value or value.startswith(("-", "/")) or ".." in value or any(c.isspace() for c in value):
        raise InvalidInputError(f"invalid {what} name {value!r}", hint="use letters, digits, '.', '_', '-' and '/'")
    return value


def create(repo: str, *, source: str | None = None, private: bool = False, exist_ok: bool = False) -> RepoChange:
    """Create an empty model repository (``exist_ok``: no error when it exists)."""
    src, repo_id = resolve(repo, source)
    _check_online(src, "create a repository")
    with _same_errors(src, repo_id, exists="repo"):
        if src.kind == "local":
            src.store.create_repo(repo_id, private=private, exist_ok=exist_ok)
            url = f"local:{repo_id}"
        else:
            with src.errors(f"{src.name}:{repo_id}"):
                url = str(src.api().create_repo(repo_id, private=private, exist_ok=exist_ok))
    return RepoChange(src.name, repo_id, "created", {"private": private, "url": url})


def delete(repo: str, *, source: str | None = None, missing_ok: bool = False) -> RepoChange:
    """Delete a repository with all its revisions (irreversible)."""
    from zoolab.errors import RepoNotFoundError

    src, repo_id = resolve(repo, source)
    _check_online(src, "delete a repository")
    try:
        with _same_errors(src, repo_id, exists="repo", deleting=True):
            if src.kind == "local":
                src.store.delete_repo(repo_id)
            else:
                with src.errors(f"{src.name}:{repo_id}"):
                    src.api().delete_repo(repo_id)
    except RepoNotFoundError:
        if not missing_ok:
            raise
        return RepoChange(src.name, repo_id, "absent")
    return RepoChange(src.name, repo_id, "deleted")


def tag(repo: str, name: str, *, revision: str | None = None, message: str | None = None,
        source: str | None = None, delete: bool = False) -> RepoChange:
    """Create tag ``name`` at ``revision`` (default main), or delete it."""
    src, repo_id = resolve(repo, source)
    name = _name(name, "tag")
    _check_online(src, "change tags")
    with _same_errors(src, repo_id, exists="tag", name=name, revision=revision, deleting=delete):
        if delete:
            _require_ref(src, repo_id, "tag", name)
        if src.kind == "local":
            if delete:
                src.store.delete_tag(repo_id, name)
            else:
                src.store.create_tag(repo_id, name, revision=revision or "main", message=message)
        else:
            with src.errors(f"{src.name}:{repo_id}"):
                api = src.api()
                if delete:
                    api.delete_tag(repo_id, tag=name)
                else:
                    api.create_tag(repo_id, tag=name, revision=revision, tag_message=message)
    commit = None if delete else _resolve(src, repo_id, name)
    return RepoChange(src.name, repo_id, "tag deleted" if delete else "tagged", {"tag": name, "commit": commit})


def branch(repo: str, name: str, *, revision: str | None = None, source: str | None = None,
           delete: bool = False) -> RepoChange:
    """Create branch ``name`` from ``revision`` (default main), or delete it."""
    src, repo_id = resolve(repo, source)
    name = _name(name, "branch")
    if name == "main" and delete:
        raise InvalidInputError("the main branch cannot be deleted", hint="delete the repository instead")
    _check_online(src, "change branches")
    with _same_errors(src, repo_id, exists="branch", name=name, revision=revision, deleting=delete):
        if delete:
            _require_ref(src, repo_id, "branch", name)
        else:
            # A server creates a branch from a missing revision without a word (at main); check first.
            _require_revision(src, repo_id, revision or "main")
        if src.kind == "local":
            if delete:
                src.store.delete_branch(repo_id, name)
            else:
                src.store.create_branch(repo_id, name, revision=revision or "main")
        else:
            with src.errors(f"{src.name}:{repo_id}"):
                api = src.api()
                if delete:
                    api.delete_branch(repo_id, branch=name)
                else:
                    api.create_branch(repo_id, branch=name, revision=revision)
    commit = None if delete else _resolve(src, repo_id, name)
    return RepoChange(src.name, repo_id, "branch deleted" if delete else "branched", {"branch": name, "commit": commit})


def visibility(repo: str, *, private: bool, source: str | None = None) -> RepoChange:
    """Make a repository private or public."""
    src, repo_id = resolve(repo, source)
    _check_online(src, "change visibility")
    with _same_errors(src, repo_id):
        if src.kind == "local":
            src.store.update_repo_settings(repo_id, private=private)
        else:
            with src.errors(f"{src.name}:{repo_id}"):
                src.api().update_repo_settings(repo_id, private=private)
    return RepoChange(src.name, repo_id, "private" if private else "public", {"private": private})


def remove_files(repo: str, paths: Sequence[str], *, branch: str | None = None, message: str | None = None,
                 source: str | None = None) -> RepoChange:
    """Delete files (or folders, written ``dir/``) from a branch in one commit."""
    from zoolab.errors import EntryNotFoundError

    src, repo_id = resolve(repo, source)
    clean = [p.strip() for p in paths if p and p.strip()]
    if not clean:
        raise InvalidInputError("no file given", hint="name the files to remove, e.g. weights/old.bin")
    branch = branch or "main"
    message = message or f"Remove {', '.join(clean[:3])}{' ...' if len(clean) > 3 else ''} with zoolab"
    _check_online(src, "remove files")
    with _same_errors(src, repo_id, revision=branch):
        present = set(_files(src, repo_id, branch))
        folders = set()
        for p in clean:
            inside = any(f.startswith(p.rstrip("/") + "/") for f in present)
            if p.rstrip("/") not in present and not inside:
                raise EntryNotFoundError(f"{src.name}:{repo_id}@{branch}: {p} not found",
                                         hint="see the files with `zoolab info`")
            if p.endswith("/") or p.rstrip("/") not in present:
                folders.add(p)
        if src.kind == "local":
            from zoolab.hub.store import DeleteFile

            ops = [DeleteFile(path=p.rstrip("/"), is_folder=p in folders) for p in clean]
            commit = src.store.commit(repo_id, ops, message=message, branch=branch).commit_id
        else:
            from huggingface_hub import CommitOperationDelete

            with src.errors(f"{src.name}:{repo_id}@{branch}"):
                ops = [CommitOperationDelete(path_in_repo=p.rstrip("/") + ("/" if p in folders else ""),
                                             is_folder=p in folders) for p in clean]
                commit = src.api().create_commit(repo_id, operations=ops, commit_message=message, revision=branch).oid
    return RepoChange(src.name, repo_id, "removed", {"paths": clean, "branch": branch, "commit": commit})


def _files(src: Any, repo_id: str, revision: str) -> list[str]:
    """Paths of the files at ``revision`` (the same listing on every source)."""
    if src.kind == "local":
        return [e.path for e in src.store.list_files(repo_id, revision)]
    with src.errors(f"{src.name}:{repo_id}"):
        return list(src.api().list_repo_files(repo_id, revision=revision))


def _refs(src: Any, repo_id: str, kind: str) -> set[str]:
    """Names of the tags or branches of ``repo_id``."""
    if src.kind == "local":
        return {r.name for r in src.store.list_refs(repo_id) if r.kind == kind}
    with src.errors(f"{src.name}:{repo_id}"):
        refs = src.api().list_repo_refs(repo_id)
    return {r.name for r in (refs.tags if kind == "tag" else refs.branches)}


def _require_ref(src: Any, repo_id: str, kind: str, name: str) -> None:
    """Raise :class:`RevisionNotFoundError` unless tag/branch ``name`` exists (before deleting it)."""
    from zoolab.errors import RevisionNotFoundError

    if name not in _refs(src, repo_id, kind):
        raise RevisionNotFoundError(f"no {kind} {name!r}")


def _require_revision(src: Any, repo_id: str, revision: str) -> None:
    """Raise :class:`RevisionNotFoundError` unless ``revision`` resolves in ``repo_id``."""
    if src.kind == "local":
        src.store.resolve_revision(repo_id, revision)  # raises for an unknown revision
        return
    with src.errors(f"{src.name}:{repo_id}"):
        src.api().repo_info(repo_id, revision=revision)


def _resolve(src: Any, repo_id: str, revision: str) -> str | None:
    try:
        if src.kind == "local":
            return src.store.resolve_revision(repo_id, revision)
        with src.errors(f"{src.name}:{repo_id}"):
            return src.api().repo_info(repo_id, revision=revision).sha
    except Exception:  # noqa: BLE001 - the commit id only decorates the answer
        return None


def whoami(source: str | None = None) -> dict[str, Any]:
    """Who the source's token belongs to: ``{"source", "url", "name", "orgs", "token_from"}``.

    Raises :class:`AuthenticationError` when there is no token or the source refuses it.
    """
    import getpass

    from zoolab.errors import AuthenticationError

    src = get_source(source)
    if src.kind == "local":
        return {"source": "local", "url": src.url, "name": getpass.getuser(), "orgs": [],
                "token_from": None, "note": "the local registry is files on this machine: no login"}
    _check_online(src, "ask who you are")
    token = src.token
    if not token:
        raise AuthenticationError(f"not logged in to '{src.name}' ({src.url})",
                                  hint=f"run `zoolab login --source {src.name}`")
    configured = config.load().sources.get(src.name)
    origin = "config" if configured and configured.token else "HF_TOKEN"
    with src.errors(f"whoami on {src.name}"):
        who = src.api().whoami()
    orgs = [o.get("name") for o in who.get("orgs", []) if isinstance(o, dict) and o.get("name")]
    return {"source": src.name, "url": src.url, "name": who.get("name"), "orgs": orgs, "token_from": origin}


def logout(source: str | None = None) -> dict[str, Any]:
    """Forget the token stored for a source; says whether ``HF_TOKEN`` still authenticates ``hf``."""
    src = get_source(source)
    if src.kind == "local":
        raise InvalidInputError("the local registry needs no token, so there is nothing to log out of")
    cfg = config.load()
    entry = cfg.sources.get(src.name)
    had = bool(entry and entry.token)
    if had:
        entry.token = None
        config.save(cfg)
    still = src.kind == "hf" and bool(settings.hf_token())
    return {"source": src.name, "removed": had, "hf_token_env_still_set": still}
