"""``zoolab repo create|delete|tag|branch|visibility|rm``, ``zoolab whoami`` and ``zoolab logout``.

The commands parse and print; :mod:`zoolab.hub.repos` does the work for every source.
"""

from __future__ import annotations

from typing import List, Optional

import typer

from zoolab.cli._common import command, console, print_json

repo_app = typer.Typer(
    help="Manage repositories on any source: create, delete, tag, branch, visibility, remove files.\n\n"
    "Example: zoolab repo tag local:me/resnet-pets v1",
    no_args_is_help=True,
)

_REPO = "org/name or SOURCE:org/name."
_SOURCE = "Source of an unqualified repo id (default: the default source)."


def _done(change, json_out: bool, text: str) -> None:  # type: ignore[no-untyped-def]
    if json_out:
        print_json({"source": change.source, "repo_id": change.repo_id, "action": change.action, **change.detail})
    else:
        console.print(text, highlight=False)


@command(repo_app, "create")
def repo_create(
    repo: str = typer.Argument(..., help=_REPO),
    private: bool = typer.Option(False, "--private", help="Create it private (only you and your orgs see it)."),
    exist_ok: bool = typer.Option(False, "--exist-ok", help="No error when it exists already."),
    source: Optional[str] = typer.Option(None, "--source", "-s", help=_SOURCE),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create an empty model repository.

    Example: zoolab repo create team:vision/my-model --private
    """
    from zoolab.hub.repos import create

    c = create(repo, source=source, private=private, exist_ok=exist_ok)
    _done(c, json_out, f"created {'private ' if private else ''}repository [bold]{c.ref}[/]")


@command(repo_app, "delete")
def repo_delete(
    repo: str = typer.Argument(..., help=_REPO),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask for confirmation."),
    missing_ok: bool = typer.Option(False, "--missing-ok", help="No error when it does not exist."),
    source: Optional[str] = typer.Option(None, "--source", "-s", help=_SOURCE),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Delete a repository with all its branches, tags and files (cannot be undone).

    Example: zoolab repo delete local:me/old-model --yes
    """
    from zoolab.errors import InvalidInputError
    from zoolab.hub.repos import delete

    if not yes:
        if json_out:
            raise InvalidInputError("deleting a repository with --json needs --yes")
        typer.confirm(f"Delete {repo} and all its revisions? This cannot be undone", abort=True)
    c = delete(repo, source=source, missing_ok=missing_ok)
    _done(c, json_out, f"deleted [bold]{c.ref}[/]" if c.action == "deleted" else f"{c.ref} does not exist")


@command(repo_app, "tag")
def repo_tag(
    repo: str = typer.Argument(..., help=_REPO),
    tag: str = typer.Argument(..., help="Tag name, e.g. v1."),
    revision: Optional[str] = typer.Option(None, "--revision", "-r", help="Branch, tag or commit to tag (default main)."),
    message: Optional[str] = typer.Option(None, "--message", "-m", help="Tag message."),
    delete: bool = typer.Option(False, "--delete", "-d", help="Delete the tag instead."),
    source: Optional[str] = typer.Option(None, "--source", "-s", help=_SOURCE),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create (or --delete) a tag; then `--revision TAG` downloads exactly that commit.

    Example: zoolab repo tag team:vision/my-model v1
    """
    from zoolab.hub.repos import tag as run_tag

    c = run_tag(repo, tag, revision=revision, message=message, source=source, delete=delete)
    commit = c.detail.get("commit")
    _done(c, json_out, f"deleted tag {tag} of [bold]{c.ref}[/]" if delete else
          f"tagged [bold]{c.ref}[/] {tag}" + (f" → {commit[:12]}" if commit else ""))


@command(repo_app, "branch")
def repo_branch(
    repo: str = typer.Argument(..., help=_REPO),
    branch: str = typer.Argument(..., help="Branch name, e.g. dev."),
    revision: Optional[str] = typer.Option(None, "--revision", "-r", help="Start from this branch, tag or commit (default main)."),
    delete: bool = typer.Option(False, "--delete", "-d", help="Delete the branch instead."),
    source: Optional[str] = typer.Option(None, "--source", "-s", help=_SOURCE),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Create (or --delete) a branch; publish to it with `zoolab publish --branch`.

    Example: zoolab repo branch team:vision/my-model dev
    """
    from zoolab.hub.repos import branch as run_branch

    c = run_branch(repo, branch, revision=revision, source=source, delete=delete)
    commit = c.detail.get("commit")
    _done(c, json_out, f"deleted branch {branch} of [bold]{c.ref}[/]" if delete else
          f"created branch {branch} of [bold]{c.ref}[/]" + (f" at {commit[:12]}" if commit else ""))


@command(repo_app, "visibility")
def repo_visibility(
    repo: str = typer.Argument(..., help=_REPO),
    visibility: str = typer.Argument(..., metavar="private|public", help="private or public."),
    source: Optional[str] = typer.Option(None, "--source", "-s", help=_SOURCE),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Make a repository private or public.

    Example: zoolab repo visibility team:vision/my-model public
    """
    from zoolab.errors import InvalidInputError
    from zoolab.hub.repos import visibility as run_visibility

    value = visibility.strip().lower()
    if value not in ("private", "public"):
        raise InvalidInputError(f"unknown visibility {visibility!r}", hint="use private or public")
    c = run_visibility(repo, private=value == "private", source=source)
    _done(c, json_out, f"[bold]{c.ref}[/] is now {value}")


@command(repo_app, "rm")
def repo_rm(
    repo: str = typer.Argument(..., help=_REPO),
    paths: List[str] = typer.Argument(..., help="Files to remove; a folder ends with '/'."),
    branch: Optional[str] = typer.Option(None, "--branch", help="Branch to commit to (default main)."),
    message: Optional[str] = typer.Option(None, "--message", "-m", help="Commit message."),
    source: Optional[str] = typer.Option(None, "--source", "-s", help=_SOURCE),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Remove files from a branch in one commit (earlier revisions keep them).

    Example: zoolab repo rm team:vision/my-model weights/old.bin
    """
    from zoolab.hub.repos import remove_files

    c = remove_files(repo, paths, branch=branch, message=message, source=source)
    _done(c, json_out, f"removed {len(c.detail['paths'])} path(s) from [bold]{c.ref}[/] "
          f"({c.detail['branch']} @ {str(c.detail['commit'])[:12]})")


def whoami(
    source: Optional[str] = typer.Option(None, "--source", "-s", help="Source to ask (default: the default source)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show which user a source's token belongs to, and its organisations.

    Example: zoolab whoami --source team
    """
    from zoolab.hub.repos import whoami as run_whoami

    who = run_whoami(source)
    if json_out:
        print_json(who)
        return
    line = f"{who['name']} on [bold]{who['source']}[/] ({who['url']})"
    if who.get("orgs"):
        line += f", member of {', '.join(who['orgs'])}"
    if who.get("note"):
        line += f": {who['note']}"
    console.print(line, highlight=False)


def logout(
    source: Optional[str] = typer.Option(None, "--source", "-s", help="Source to log out of (default: the default source)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Forget the token stored for a source.

    Example: zoolab logout --source team
    """
    from zoolab.hub.repos import logout as run_logout

    out = run_logout(source)
    if json_out:
        print_json(out)
        return
    console.print(f"logged out of [bold]{out['source']}[/]" if out["removed"]
                  else f"no token was stored for [bold]{out['source']}[/]", highlight=False)
    if out["hf_token_env_still_set"]:
        console.print("HF_TOKEN is still set in the environment and is still sent to hf", highlight=False)


def register(app: typer.Typer) -> None:
    """Add ``repo``, ``whoami`` and ``logout`` to the root app."""
    app.add_typer(repo_app, name="repo")
    command(app, "whoami")(whoami)
    command(app, "logout")(logout)
