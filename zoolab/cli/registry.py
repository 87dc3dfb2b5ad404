"""CLI of the registry client: sources, login, search, info, download, cache and publish.

Commands parse arguments, call :mod:`zoolab.hub` and print; the library does the work.
Nothing heavy is imported at module level (``zoolab --help`` must stay light).
"""

from __future__ import annotations

import sys
from typing import Any, List, Optional

import typer

from zoolab.cli._common import command, console, err_console, print_json, print_table, whole_column

source_app = typer.Typer(
    help="Manage sources: the Hugging Face Hub (hf), the local registry (local) and zoolab servers.\n\n"
    "Example: zoolab source add team http://hub.internal:8080",
    no_args_is_help=True,
)
cache_app = typer.Typer(
    help="Inspect and clean the download caches.\n\nExample: zoolab cache ls",
    no_args_is_help=True,
)


def _human(size: int | None) -> str:
    if size is None:
        return "-"
    value = float(size)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


def _date(value: Any) -> str:
    return value.strftime("%Y-%m-%d") if value is not None else "-"


def _warn(message: str) -> None:
    err_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)


def _print_path(path: Any) -> None:
    # Plain write, no rich wrapping: scripts take the last stdout line as the path.
    sys.stdout.write(f"{path}\n")
    sys.stdout.flush()


# --- sources -----------------------------------------------------------------------------------
@command(source_app, "add")
def source_add(
    name: str = typer.Argument(..., help="Short name used as SOURCE: in repo ids."),
    url: str = typer.Argument(..., help="Base URL of the zoolab hub server."),
    token: Optional[str] = typer.Option(None, "--token", help="Access token for this server."),
    replace: bool = typer.Option(False, "--replace", help="Change an existing source."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Add a zoolab hub server as a source.

    Example: zoolab source add team http://hub.internal:8080 --token zl_...
    """
    from zoolab.hub import config

    src = config.add_source(name, url, token=token, replace=replace)
    if json_out:
        print_json({"name": src.name, "url": src.url, "token": bool(src.token)})
        return
    console.print(f"added source [bold]{src.name}[/] → {src.url}", highlight=False)


@command(source_app, "list")
def source_list(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List sources, their URLs, which is the default and which have a token.

    Example: zoolab source list --json
    """
    from rich.table import Table

    from zoolab.hub.sources import describe_sources

    rows = describe_sources()
    if json_out:
        print_json(rows)
        return
    table = Table("name", "kind", "url", "default", "token")
    for r in rows:
        table.add_row(str(r["name"]), str(r["kind"]), str(r["url"]), "*" if r["default"] else "",
                      "yes" if r["token"] else "")
    print_table(table)


@command(source_app, "remove")
def source_remove(
    name: str = typer.Argument(..., help="Source to remove."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Remove a configured server (its download cache stays until `zoolab cache rm`).

    Example: zoolab source remove team
    """
    from zoolab.hub import config

    config.remove_source(name)
    if json_out:
        print_json({"removed": name, "default": config.load().default})
        return
    console.print(f"removed source [bold]{name}[/]", highlight=False)


@command(source_app, "default")
def source_default(
    name: str = typer.Argument(..., help="Source for unqualified repo ids."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Set the source that unqualified repo ids (org/name) go to.

    Example: zoolab source default local
    """
    from zoolab.hub import config

    config.set_default(name)
    if json_out:
        print_json({"default": name})
        return
    console.print(f"default source: [bold]{name}[/]", highlight=False)


def login(
    source: Optional[str] = typer.Option(None, "--source", "-s", help="Source to log in to (default source)."),
    token: Optional[str] = typer.Option(None, "--token", help="Token (for scripts); prompted for when omitted."),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="Check the token with the source first."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (give --token: there is no prompt)."),
) -> None:
    """Store an access token for a source (in config.toml, mode 0600).

    Example: zoolab login --source team
    """
    from zoolab.errors import InvalidInputError
    from zoolab.hub import config
    from zoolab.hub.sources import get_source

    src = get_source(source)
    if src.kind == "local":
        raise InvalidInputError("the local registry needs no token")
    if token is None:
        if json_out:
            raise InvalidInputError("login with --json needs --token", hint="a prompt would mix with the JSON output")
        token = typer.prompt(f"Token for {src.name} ({src.url})", hide_input=True)
    token = (token or "").strip()
    if not token:
        raise InvalidInputError("the token is empty")
    who = None
    if verify:
        from zoolab.hub.remote import RemoteSource

        from zoolab import settings
        from zoolab.errors import AuthenticationError, SourceUnavailableError

        probe = RemoteSource(src.name, src.url, token=token, kind=src.kind)
        try:
            with probe.errors(f"login to {src.name}"):
                who = probe.api().whoami().get("name")
        except SourceUnavailableError as exc:
            if not settings.is_offline():
                raise
            raise SourceUnavailableError(f"cannot check the token with {src.name}: offline mode is on",
                                         hint="unset ZOOLAB_OFFLINE / HF_HUB_OFFLINE, or store it unchecked "
                                              "with --no-verify") from exc
        except AuthenticationError:
            where = ("create one at https://huggingface.co/settings/tokens" if src.kind == "hf" else
                     "the server's admin creates them with `zoolab hub token create --user NAME --write`")
            raise AuthenticationError(f"{src.name} ({src.url}) refused this token: it is unknown, revoked or "
                                      "mistyped; nothing was stored", hint=f"tokens: {where}") from None
    config.set_token(src.name, token)
    if json_out:
        print_json({"source": src.name, "url": src.url, "name": who, "verified": verify})
        return
    if not verify:
        console.print(f"stored a token for [bold]{src.name}[/] without checking it (--no-verify); "
                      f"`zoolab whoami --source {src.name}` checks it", highlight=False, soft_wrap=True)
        return
    console.print(f"logged in to [bold]{src.name}[/]" + (f" as {who}" if who else ""), highlight=False)


# --- search / info -----------------------------------------------------------------------------
def search(
    query: str = typer.Argument("", help="Words to look for in repo ids (empty: everything)."),
    task: Optional[str] = typer.Option(None, "--task", help="Pipeline tag, e.g. image-classification."),
    framework: Optional[str] = typer.Option(None, "--framework", help="torch or tf."),
    library: Optional[str] = typer.Option(None, "--library", help="e.g. timm, transformers, keras-hub."),
    author: Optional[str] = typer.Option(None, "--author", help="User or organisation."),
    source: Optional[str] = typer.Option(None, "--source", "-s", help="Only these sources (comma-separated)."),
    sort: str = typer.Option("downloads", "--sort", help="downloads, likes or updated."),
    limit: int = typer.Option(20, "--limit", help="At most this many hits."),
    timeout: Optional[float] = typer.Option(None, "--timeout", help="Seconds to wait for each source."),
    repo_type: str = typer.Option("model", "--type", help="Repository type: model or dataset."),
    env: Optional[str] = typer.Option(None, "--env", help="RL agents evaluated on this environment (implies --task reinforcement-learning)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Search every source at once; a source that fails is named in a warning.

    Example: zoolab search bert --framework tf --sort likes --limit 5
    Example: zoolab search reviews --type dataset --source team
    Example: zoolab search --task reinforcement-learning --env CartPole-v1   (agents, best mean return first)
    """
    import logging

    if env is not None or task == "reinforcement-learning":
        from zoolab.cli.rl_hub import print_leaderboard

        print_leaderboard(query, env, source=source, limit=limit, timeout=timeout, json_out=json_out)
        return

    from rich import box
    from rich.table import Column, Table

    from zoolab.hub.finder import search as run_search

    # huggingface_hub logs every retry of an unreachable source; the warning below says it once.
    logging.getLogger("huggingface_hub.utils._http").setLevel(logging.ERROR)
    result = run_search(query, task=task, framework=framework, library=library, author=author, source=source,
                        sort=sort, limit=limit, timeout=timeout, repo_type=repo_type)
    for w in result.warnings:
        _warn(w)
    if json_out:
        print_json({"hits": result.hits, "warnings": result.warnings, "sources": result.sources})
        return
    if not result.hits:
        err_console.print("no datasets found" if repo_type == "dataset" else "no models found", highlight=False)
        return
    table = Table(
        whole_column("id", [h.repo_id for h in result.hits]), Column("source", overflow="fold", min_width=7),
        Column("task", overflow="fold"), Column("framework", no_wrap=True),
        Column("library", overflow="fold"),
        Column("downloads", justify="right", no_wrap=True), Column("updated", no_wrap=True),
        box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True, show_edge=False,
    )
    for h in result.hits:
        table.add_row(h.repo_id, h.source, h.task or "-", ",".join(h.frameworks) or "-", h.library or "-",
                      "-" if h.downloads is None else f"{h.downloads:,}", _date(h.last_updated))
    print_table(table)


def info(
    repo: str = typer.Argument(..., help="Catalog name, org/name or SOURCE:org/name."),
    revision: Optional[str] = typer.Option(None, "--revision", "-r", help="Branch, tag or commit."),
    source: Optional[str] = typer.Option(None, "--source", "-s", help="Source (default: the default source)."),
    repo_type: str = typer.Option("model", "--type", help="Repository type: model or dataset."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show a repository: card summary, files with sizes, branches and tags, frameworks.

    Example: zoolab info local:me/tiny-resnet
    Example: zoolab info team:lab/reviews --type dataset
    """
    from rich.table import Table

    from zoolab.hub.details import info as run_info
    from zoolab.zoo.names import repo_ref

    # Catalog names are models; a dataset id is taken as given.
    ref = repo_ref(repo, source=source) if repo_type == "model" else repo
    d = run_info(ref, source=source, revision=revision, repo_type=repo_type)
    if json_out:
        print_json(d)
        return
    kind = " (dataset)" if d.repo_type == "dataset" else ""
    console.print(f"[bold]{d.source}:{d.repo_id}[/]{kind}" + (" (private)" if d.private else ""), highlight=False)
    if d.summary:
        console.print(d.summary, highlight=False)
    for label, value in (
        ("commit", d.sha), ("frameworks", ", ".join(d.frameworks) or "-"), ("library", d.library),
        ("task", d.task), ("license", d.license), ("downloads", d.downloads), ("updated", _date(d.last_updated)),
        ("branches", ", ".join(f"{k} ({v[:8]})" for k, v in d.branches.items()) or "-"),
        ("tags", ", ".join(f"{k} ({v[:8]})" for k, v in d.tags_refs.items()) or "-"),
    ):
        console.print(f"  {label:<11}{value if value is not None else '-'}", highlight=False)
    from zoolab.hub.cards import card_scores

    for line in card_scores(d.card):  # the card's model-index, as the Hub shows it
        console.print(f"  {'score':<11}{line}", highlight=False)
    table = Table(whole_column("file", [f.path for f in d.files]), "size", "lfs")
    for f in d.files:
        table.add_row(f.path, _human(f.size), "yes" if f.lfs else "")
    print_table(table)
    console.print(f"{len(d.files)} files, {_human(d.total_size)}", highlight=False)


# --- download ----------------------------------------------------------------------------------
def download(
    repo: str = typer.Argument(..., help="Catalog name, org/name or SOURCE:org/name."),
    revision: Optional[str] = typer.Option(None, "--revision", "-r", help="Branch, tag or commit (default main)."),
    include: Optional[List[str]] = typer.Option(None, "--include", help="Glob of files to fetch (repeatable)."),
    exclude: Optional[List[str]] = typer.Option(None, "--exclude", help="Glob of files to skip (repeatable)."),
    framework: Optional[str] = typer.Option(None, "--framework", help="Fetch only what torch or tf needs."),
    source: Optional[str] = typer.Option(None, "--source", "-s", help="Source (default: the default source)."),
    local_dir: Optional[str] = typer.Option(None, "--local-dir", help="Copy into this folder instead of the cache."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
    repo_type: str = typer.Option("model", "--type", help="Repository type: model or dataset."),
    json_out: bool = typer.Option(False, "--json", help="Print the snapshot as JSON instead of the path."),
) -> None:
    """Download a repository revision; prints the local path last on stdout.

    Files land in the Hugging Face cache layout, so transformers and timm reuse them.

    Example: zoolab download hf:timm/resnet18.a1_in1k --framework torch
    Example: zoolab download team:lab/reviews --type dataset --include "data/*"
    """
    from zoolab.hub.fetch import download as run_download
    from zoolab.zoo.names import repo_ref

    snap = run_download(repo_ref(repo, source=source), revision=revision, source=source, include=include, exclude=exclude,
                        framework=framework, local_dir=local_dir, progress=not quiet, repo_type=repo_type)
    if json_out:
        print_json(snap)
        return
    if not snap.files:
        _warn("no files matched the --include/--exclude/--framework filters")
    if snap.from_cache and not quiet:
        err_console.print(f"served from cache ({snap.source}:{snap.repo_id}@{snap.commit[:12]})", highlight=False)
    _print_path(snap.path)


# --- cache -------------------------------------------------------------------------------------
@command(cache_app, "ls")
def cache_ls(
    source: Optional[str] = typer.Option(None, "--source", "-s", help="Only this source's cache."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List cached repositories with their revisions and sizes.

    Example: zoolab cache ls --source local
    """
    from rich.table import Table

    from zoolab.hub import kaggle_cache
    from zoolab.hub.cache import scan

    repos = scan(source) if source != "kaggle" else []
    if source in (None, "kaggle"):
        repos += kaggle_cache.scan()  # keras-hub presets fetched from Kaggle
    if json_out:
        print_json(repos)
        return
    table = Table(whole_column("repo", [r.repo_id for r in repos]), "type", "source", "size", "revisions", "refs",
                  "last accessed")
    for r in repos:
        refs = sorted({ref for rev in r.revisions for ref in rev.refs})
        table.add_row(r.repo_id, r.repo_type, r.source, _human(r.size), ", ".join(v.commit[:8] for v in r.revisions) or "-",
                      ", ".join(refs) or "-", _date(r.last_accessed))
    print_table(table)
    console.print(f"{len(repos)} repos, {_human(sum(r.size for r in repos))}", highlight=False)


@command(cache_app, "rm")
def cache_rm(
    repo: str = typer.Argument(..., help="org/name (every cache) or SOURCE:org/name."),
    revision: Optional[str] = typer.Option(None, "--revision", "-r", help="Only this commit, branch or tag."),
    repo_type: Optional[str] = typer.Option(None, "--type", help="Only the model or the dataset of that id (default: both)."),
    json_out: bool = typer.Option(False, "--json", help="Print what was removed as JSON."),
) -> None:
    """Remove a repository (or one revision) from the download caches.

    Example: zoolab cache rm hf:timm/resnet18.a1_in1k --revision main
    Example: zoolab cache rm team:lab/reviews --type dataset
    """
    from zoolab.hub.cache import check_revision_arg, remove

    check_revision_arg(revision)
    lines = remove(repo, revision=revision, repo_type=repo_type)
    if json_out:
        print_json({"removed": lines})
        return
    for line in lines:
        console.print(line, highlight=False)


@command(cache_app, "prune")
def cache_prune(json_out: bool = typer.Option(False, "--json", help="Print what was removed as JSON.")) -> None:
    """Remove detached revisions, unreferenced blobs and abandoned partial downloads.

    Example: zoolab cache prune
    """
    from zoolab.hub.cache import prune

    lines = prune()
    if json_out:
        print_json({"removed": lines})
        return
    for line in lines:
        console.print(line, highlight=False)
    if not lines:
        console.print("nothing to prune")


@command(cache_app, "verify")
def cache_verify(
    repo: Optional[str] = typer.Argument(None, help="Only this repo ([SOURCE:]org/name)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Recompute every cached file's hash and report files that do not match.

    Exits with status 1 when a problem is found.

    Example: zoolab cache verify
    """
    from zoolab.hub.cache import verify

    checked, problems = verify(repo)
    if json_out:
        print_json({"checked": checked, "problems": problems})
    else:
        for p in problems:
            err_console.print(f"[red]mismatch:[/] {p}", highlight=False, soft_wrap=True)
        console.print(f"checked {checked} files, {len(problems)} problems", highlight=False)
    if problems:
        raise typer.Exit(1)


# --- publish -----------------------------------------------------------------------------------
def publish(
    folder: str = typer.Argument(..., help="Folder holding the model files."),
    repo: str = typer.Argument(..., help="org/name or SOURCE:org/name to publish to."),
    source: Optional[str] = typer.Option(None, "--source", "-s", help="Source (default: the default source)."),
    private: bool = typer.Option(False, "--private", help="Create the repository as private."),
    branch: Optional[str] = typer.Option(None, "--branch", help="Branch to commit to (default main)."),
    message: Optional[str] = typer.Option(None, "--message", "-m", help="Commit message."),
    repo_type: str = typer.Option("model", "--type", help="Repository type: model or dataset."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Upload a folder as a model repo (or, with --type dataset, a dataset repo); validates (or,
    for a model, writes) the README.md card first.

    Example: zoolab publish runs/finetune-1 team:me/resnet-pets --message "first version"
    Example: zoolab publish data/reviews team:lab/reviews --type dataset
    """
    from zoolab.hub.publishing import publish as run_publish

    result = run_publish(folder, repo, source=source, private=private, branch=branch, message=message,
                         repo_type=repo_type)
    if json_out:
        print_json(result)
        return
    if not result.changed:
        console.print(f"nothing changed: {result.source}:{result.repo_id} ({result.branch} @ "
                      f"{result.commit_id[:12]}) already holds these files; no commit made", highlight=False)
        _print_path(result.url)
        return
    if result.card_generated:
        err_console.print("the folder had no README.md: published a generated model card", highlight=False)
    console.print(f"published {len(result.files)} files to [bold]{result.source}:{result.repo_id}[/] "
                  f"({result.branch} @ {result.commit_id[:12]})", highlight=False)
    _print_path(result.url)


def register(app: typer.Typer) -> None:
    """Add this group's commands to the root app."""
    app.add_typer(source_app, name="source")
    app.add_typer(cache_app, name="cache")
    command(app, "login")(login)
    command(app, "search")(search)
    command(app, "info")(info)
    command(app, "download")(download)
    command(app, "publish")(publish)
