"""``zoolab hub``: run the hub server and maintain its store (tokens, organisations, verify, gc).

Nothing heavy is imported at module level: the store and server are imported inside commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from zoolab import settings
from zoolab.cli._common import command, console, err_console, print_json

hub_app = typer.Typer(
    name="hub",
    help="Serve the zoolab hub (Hugging Face Hub API) and maintain its store.",
    no_args_is_help=True,
)
token_app = typer.Typer(name="token", help="Access tokens of the hub server.", no_args_is_help=True)
org_app = typer.Typer(name="org", help="Organisations and their members.", no_args_is_help=True)

HOME_HELP = "zoolab home holding the store (default: $ZOOLAB_HOME or ~/.zoolab)."


def _store(home: Optional[Path]):  # type: ignore[no-untyped-def]
    from zoolab.hub.store import Store

    return Store(home if home is not None else settings.zoolab_home())


@command(hub_app, "serve")
def serve(
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on."),
    port: int = typer.Option(8080, "--port", help="Port to listen on; 0 picks a free one."),
    require_auth: bool = typer.Option(False, "--require-auth", help="Require a token for reads too."),
    max_body_mb: int = typer.Option(65536, "--max-body-mb", min=1, help="Largest request body (MiB)."),
    upload_mode: str = typer.Option(
        "regular", "--upload-mode",
        help="'regular': every stock client uploads (Xet or not). 'lfs': split files like the Hub "
             "(LFS, multipart); clients must set HF_HUB_DISABLE_XET=1.",
    ),
    lfs_chunk_mb: int = typer.Option(64, "--lfs-chunk-mb", min=1, help="Part size of multipart LFS uploads (MiB)."),
    lfs_multipart_mb: int = typer.Option(
        64, "--lfs-multipart-mb", min=0, help="LFS uploads from this size (MiB) on use multipart."
    ),
    max_header_kb: int = typer.Option(
        64, "--max-header-kb", min=1, help="Largest request line plus headers (KiB); larger ones get 431."
    ),
) -> None:
    """Serve the store over the Hugging Face Hub HTTP API.

    Example: zoolab hub serve --port 8080, then HF_ENDPOINT=http://127.0.0.1:8080 python -c
    "import huggingface_hub as h; print(h.list_models())"
    """
    from zoolab.errors import InvalidInputError
    from zoolab.hub.server import serve as run

    if upload_mode not in ("regular", "lfs"):
        raise InvalidInputError(f"unknown upload mode {upload_mode!r}", hint="use 'regular' or 'lfs'")
    if not 0 <= port <= 65535:
        raise InvalidInputError(f"invalid port {port}", hint="use 0-65535 (0 picks a free port)")
    run(
        home if home is not None else settings.zoolab_home(),
        host=host,
        port=port,
        require_auth_for_reads=require_auth,
        max_body_bytes=max_body_mb * 1024 * 1024,
        upload_mode=upload_mode,
        lfs_chunk_size=lfs_chunk_mb * 1024 * 1024,
        lfs_multipart_threshold=lfs_multipart_mb * 1024 * 1024,
        max_header_bytes=max_header_kb * 1024,
    )


@command(hub_app, "verify")
def verify(
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the problems as JSON."),
) -> None:
    """Re-hash every blob and check every referenced blob exists; exit 1 if anything is wrong.

    Example: zoolab hub verify --home /srv/zoolab
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    columns = ("verifying blobs", BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("verify", total=None)
        problems = _store(home).verify(progress=lambda done, total: bar.update(task, completed=done, total=total))
    if as_json:
        print_json({"ok": not problems, "problems": problems})
    else:
        for line in problems:
            err_console.print(f"[red]problem:[/] {line}", highlight=False, soft_wrap=True)
        if not problems:
            console.print("store OK: every blob matches its sha256")
    if problems:
        raise typer.Exit(1)


@command(hub_app, "gc")
def gc(
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
    grace_minutes: float = typer.Option(
        60.0, "--grace-minutes", min=0, help="Keep unreferenced blobs younger than this (uploads in flight)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Remove blobs no commit references, and stale temporary files.

    Example: zoolab hub gc --grace-minutes 0
    """
    removed, freed = _store(home).gc(grace_s=grace_minutes * 60)
    if as_json:
        print_json({"blobs_removed": removed, "bytes_freed": freed})
    else:
        console.print(f"removed {removed} unreferenced blob(s), freed {freed} bytes")


@command(token_app, "create")
def token_create(
    user: str = typer.Option(..., "--user", help="User the token belongs to (created if new)."),
    write: bool = typer.Option(False, "--write", help="Allow writes (default: read-only)."),
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
) -> None:
    """Create an access token and print it (only its hash is stored: keep it).

    Example: HF_TOKEN=$(zoolab hub token create --user alice --write)
    """
    token = _store(home).create_token(user, write=write)
    typer.echo(token)


@command(token_app, "list")
def token_list(
    user: Optional[str] = typer.Option(None, "--user", help="Only this user's tokens."),
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List tokens by id (the token itself is never stored, so it cannot be shown).

    Example: zoolab hub token list --user alice
    """
    from datetime import datetime, timezone

    tokens = _store(home).list_tokens(user)
    for item in tokens:
        item["created_at"] = datetime.fromtimestamp(float(item["created_at"]), tz=timezone.utc)  # type: ignore[arg-type]
    if as_json:
        print_json(tokens)
        return
    from rich.table import Table

    table = Table("id", "user", "write", "created")
    for item in tokens:
        table.add_row(str(item["id"]), str(item["user"]), "yes" if item["write"] else "no",
                      f"{item['created_at']:%Y-%m-%d %H:%M}")
    console.print(table)


@command(token_app, "revoke")
def token_revoke(
    token: str = typer.Argument(..., help="The token, or its id from 'zoolab hub token list'."),
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
) -> None:
    """Revoke a token: requests with it are refused from now on.

    Example: zoolab hub token revoke 3f2a9c0d41be
    """
    from zoolab.errors import NotFoundError

    if not _store(home).revoke_token(token):
        raise NotFoundError("no such token", hint="see 'zoolab hub token list' for token ids")
    console.print("token revoked")


@command(org_app, "create")
def org_create(
    name: str = typer.Argument(..., help="Organisation name."),
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
) -> None:
    """Create an organisation.

    Example: zoolab hub org create vision-lab
    """
    _store(home).create_org(name)
    console.print(f"created organisation '{name}'")


@command(org_app, "add-member")
def org_add_member(
    org: str = typer.Argument(..., help="Organisation name."),
    user: str = typer.Argument(..., help="User name (created if new)."),
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
) -> None:
    """Add a user to an organisation: the user's write tokens may then write to its repos.

    Example: zoolab hub org add-member vision-lab alice
    """
    _store(home).add_member(org, user)
    console.print(f"'{user}' is now a member of '{org}'")


@command(org_app, "remove-member")
def org_remove_member(
    org: str = typer.Argument(..., help="Organisation name."),
    user: str = typer.Argument(..., help="User name."),
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
) -> None:
    """Remove a user from an organisation.

    Example: zoolab hub org remove-member vision-lab alice
    """
    _store(home).remove_member(org, user)
    console.print(f"'{user}' is no longer a member of '{org}'")


@command(org_app, "list")
def org_list(
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List organisations and their members.

    Example: zoolab hub org list --json
    """
    orgs = _store(home).list_orgs()
    if as_json:
        print_json(orgs)
        return
    from rich.table import Table

    table = Table("organisation", "members")
    for name, members in orgs.items():
        table.add_row(name, ", ".join(members) or "-")
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``zoolab hub ...`` to the root app."""
    hub_app.add_typer(token_app, name="token")
    hub_app.add_typer(org_app, name="org")
    app.add_typer(hub_app, name="hub")
