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
DATABASE_OPT = typer.Option(None, "--database", envvar="ZOOLAB_HUB_DATABASE", show_envvar=False,
                            help="Metadata in PostgreSQL (postgresql://USER@HOST/DB) instead of SQLite "
                                 "[env ZOOLAB_HUB_DATABASE].")
BLOBS_OPT = typer.Option(None, "--blobs", envvar="ZOOLAB_HUB_BLOBS", show_envvar=False,
                         help="Blobs in S3-compatible storage (s3://BUCKET/PREFIX) instead of the blob folder "
                              "[env ZOOLAB_HUB_BLOBS].")
CONFIG_OPT = typer.Option(None, "--config", envvar="ZOOLAB_HUB_CONFIG", show_envvar=False,
                          help="Server configuration file (TOML, a [store] table: database, blobs, "
                               "s3_endpoint_url) [env ZOOLAB_HUB_CONFIG].")


def _location(database: Optional[str], blobs: Optional[str], config: Optional[Path]):  # type: ignore[no-untyped-def]
    from zoolab.hub.store.backends import load_location

    return load_location(config, database=database, blobs=blobs)


def _store(home: Optional[Path], database: Optional[str] = None, blobs: Optional[str] = None,
           config: Optional[Path] = None):  # type: ignore[no-untyped-def]
    from zoolab.hub.store import Store

    return Store(home if home is not None else settings.zoolab_home(),
                 location=_location(database, blobs, config))


@command(hub_app, "serve")
def serve(
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
    database: Optional[str] = DATABASE_OPT,
    blobs: Optional[str] = BLOBS_OPT,
    config: Optional[Path] = CONFIG_OPT,
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
    presign_min_mb: float = typer.Option(
        10.0, "--presign-min-mb", min=0,
        help="With --blobs s3://: downloads from this size (MiB) on are redirected to a presigned URL.",
    ),
    workers: int = typer.Option(1, "--workers", min=1, help="Server processes sharing the port (up to the core count)."),
    behind_nginx: bool = typer.Option(
        False, "--behind-nginx", help="nginx from 'zoolab hub nginx-config' in front: it sends the downloads' bytes."
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
        location=_location(database, blobs, config),
        presign_min_bytes=int(presign_min_mb * 1024 * 1024),
        workers=workers,
        behind_nginx=behind_nginx,
    )


@command(hub_app, "nginx-config")
def nginx_config(
    listen: str = typer.Option("8000", "--listen", help="nginx's PORT or HOST:PORT."),
    upstream: list[str] = typer.Option(
        ["127.0.0.1:8080"], "--upstream", help="HOST:PORT of a 'zoolab hub serve --behind-nginx'; repeat for several."
    ),
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
    blob_root: Optional[Path] = typer.Option(None, "--blob-root", help="The store's blob folder (default: the home's)."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Folder for nginx's pid, error log and temp files."),
    user: Optional[str] = typer.Option(None, "--user", help="nginx's worker user (when nginx starts as root)."),
    snippet: bool = typer.Option(False, "--snippet", help="Only the upstream and server blocks (for conf.d/)."),
) -> None:
    """Print an nginx configuration: nginx in front of hub servers, sending the downloads' bytes.

    Example: zoolab hub nginx-config --listen 80 --upstream 127.0.0.1:8080 > /etc/nginx/nginx.conf
    """
    from zoolab.hub.server.accel import nginx_config as render

    if blob_root is None:
        blob_root = settings.registry_dir(home if home is not None else settings.zoolab_home()) / "blobs"
    typer.echo(render(listen=listen, upstreams=upstream, blob_root=blob_root, run_dir=run_dir, user=user,
                      snippet=snippet), nl=False)


@command(hub_app, "verify")
def verify(
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
    database: Optional[str] = DATABASE_OPT,
    blobs: Optional[str] = BLOBS_OPT,
    config: Optional[Path] = CONFIG_OPT,
    as_json: bool = typer.Option(False, "--json", help="Print the problems as JSON."),
) -> None:
    """Re-hash every blob and check every referenced blob exists; exit 1 if anything is wrong.

    Example: zoolab hub verify --home /srv/zoolab
    """
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    columns = ("verifying blobs", BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("verify", total=None)
        problems = _store(home, database, blobs, config).verify(progress=lambda done, total: bar.update(task, completed=done, total=total))
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
    database: Optional[str] = DATABASE_OPT,
    blobs: Optional[str] = BLOBS_OPT,
    config: Optional[Path] = CONFIG_OPT,
    grace_minutes: float = typer.Option(
        60.0, "--grace-minutes", min=0, help="Keep unreferenced blobs younger than this (uploads in flight)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Remove blobs no commit references, and stale temporary files.

    Example: zoolab hub gc --grace-minutes 0
    """
    removed, freed = _store(home, database, blobs, config).gc(grace_s=grace_minutes * 60)
    if as_json:
        print_json({"blobs_removed": removed, "bytes_freed": freed})
    else:
        console.print(f"removed {removed} unreferenced blob(s), freed {freed} bytes")


@command(hub_app, "migrate")
def migrate(
    to: str = typer.Option(..., "--to", help="Target PostgreSQL database (postgresql://USER@HOST/DB), empty."),
    blobs: Optional[str] = typer.Option(
        None, "--blobs", help="Target bucket (s3://BUCKET/PREFIX); without it the blob folder stays in use."
    ),
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
    config: Optional[Path] = typer.Option(None, "--config", help="Server configuration file (its s3_endpoint_url)."),
    as_json: bool = typer.Option(False, "--json", help="Print what was copied as JSON."),
) -> None:
    """Copy the embedded store to PostgreSQL (and S3), verifying every blob; the source is only read.

    Example: zoolab hub migrate --to postgresql://hub@db/zoolab --blobs s3://models/hub
    """
    import dataclasses
    import shutil
    import tempfile

    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from zoolab.hub.store import Store
    from zoolab.hub.store.backends import redact
    from zoolab.hub.store.migrate import migrate as run

    source = _store(home)
    location = dataclasses.replace(_location(to, blobs, config), database=to, blobs=blobs)
    # An S3 target needs local room only for temp files; a folder target keeps the source's blobs.
    scratch = None if blobs is None else Path(tempfile.mkdtemp(prefix="zoolab-migrate-"))
    target = Store(root=scratch or source.root, location=location)
    columns = ("copying blobs", BarColumn(), DownloadColumn(), TimeRemainingColumn())
    try:
        with Progress(*columns, console=err_console, transient=True) as bar:
            task = bar.add_task("migrate", total=None)
            report = run(source, target, progress=lambda done, total: bar.update(task, completed=done, total=total))
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    if as_json:
        print_json(dataclasses.asdict(report))
    else:
        console.print(f"copied {report.blobs} blob(s) ({report.blob_bytes} bytes, each verified) and "
                      f"{sum(report.rows.values())} metadata rows to {location.describe()}")
        console.print(f"serve it with: zoolab hub serve --database '{redact(to)}'" + (f" --blobs {blobs}" if blobs else ""))


@command(token_app, "create")
def token_create(
    user: str = typer.Option(..., "--user", help="User the token belongs to (created if new)."),
    write: bool = typer.Option(False, "--write", help="Allow writes (default: read-only)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
    database: Optional[str] = DATABASE_OPT,
    blobs: Optional[str] = BLOBS_OPT,
    config: Optional[Path] = CONFIG_OPT,
) -> None:
    """Create an access token and print it (only its hash is stored: keep it).

    Example: HF_TOKEN=$(zoolab hub token create --user alice --write)
    """
    token = _store(home, database, blobs, config).create_token(user, write=write)
    if as_json:
        print_json({"user": user, "write": write, "token": token})
        return
    typer.echo(token)


@command(token_app, "list")
def token_list(
    user: Optional[str] = typer.Option(None, "--user", help="Only this user's tokens."),
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
    database: Optional[str] = DATABASE_OPT,
    blobs: Optional[str] = BLOBS_OPT,
    config: Optional[Path] = CONFIG_OPT,
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List tokens by id (the token itself is never stored, so it cannot be shown).

    Example: zoolab hub token list --user alice
    """
    from datetime import datetime, timezone

    tokens = _store(home, database, blobs, config).list_tokens(user)
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
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
    database: Optional[str] = DATABASE_OPT,
    blobs: Optional[str] = BLOBS_OPT,
    config: Optional[Path] = CONFIG_OPT,
) -> None:
    """Revoke a token: requests with it are refused from now on.

    Example: zoolab hub token revoke 3f2a9c0d41be
    """
    from zoolab.errors import NotFoundError

    if not _store(home, database, blobs, config).revoke_token(token):
        raise NotFoundError("no such token", hint="see 'zoolab hub token list' for token ids")
    if as_json:
        print_json({"revoked": True})
        return
    console.print("token revoked")


@command(org_app, "create")
def org_create(
    name: str = typer.Argument(..., help="Organisation name."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
    database: Optional[str] = DATABASE_OPT,
    blobs: Optional[str] = BLOBS_OPT,
    config: Optional[Path] = CONFIG_OPT,
) -> None:
    """Create an organisation.

    Example: zoolab hub org create vision-lab
    """
    _store(home, database, blobs, config).create_org(name)
    if as_json:
        print_json({"org": name, "created": True})
        return
    console.print(f"created organisation '{name}'")


@command(org_app, "add-member")
def org_add_member(
    org: str = typer.Argument(..., help="Organisation name."),
    user: str = typer.Argument(..., help="User name (created if new)."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
    database: Optional[str] = DATABASE_OPT,
    blobs: Optional[str] = BLOBS_OPT,
    config: Optional[Path] = CONFIG_OPT,
) -> None:
    """Add a user to an organisation: the user's write tokens may then write to its repos.

    Example: zoolab hub org add-member vision-lab alice
    """
    _store(home, database, blobs, config).add_member(org, user)
    if as_json:
        print_json({"org": org, "user": user, "member": True})
        return
    console.print(f"'{user}' is now a member of '{org}'")


@command(org_app, "remove-member")
def org_remove_member(
    org: str = typer.Argument(..., help="Organisation name."),
    user: str = typer.Argument(..., help="User name."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
    database: Optional[str] = DATABASE_OPT,
    blobs: Optional[str] = BLOBS_OPT,
    config: Optional[Path] = CONFIG_OPT,
) -> None:
    """Remove a user from an organisation.

    Example: zoolab hub org remove-member vision-lab alice
    """
    _store(home, database, blobs, config).remove_member(org, user)
    if as_json:
        print_json({"org": org, "user": user, "member": False})
        return
    console.print(f"'{user}' is no longer a member of '{org}'")


@command(org_app, "list")
def org_list(
    home: Optional[Path] = typer.Option(None, "--home", help=HOME_HELP),
    database: Optional[str] = DATABASE_OPT,
    blobs: Optional[str] = BLOBS_OPT,
    config: Optional[Path] = CONFIG_OPT,
    as_json: bool = typer.Option(False, "--json", help="Print as JSON."),
) -> None:
    """List organisations and their members.

    Example: zoolab hub org list --json
    """
    orgs = _store(home, database, blobs, config).list_orgs()
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
