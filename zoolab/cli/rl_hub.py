"""``zoolab rl push|pull|runs``: agents to and from the registry, and the local runs.

Registered on ``rl_app`` when :mod:`zoolab.cli.rl` is imported; logic lives in
:mod:`zoolab.rl.publish` and :mod:`zoolab.rl.refs`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from zoolab.cli._common import console, print_json, whole_column
from zoolab.cli.rl import rl_command


@rl_command("push")
def push_command(
    run: str = typer.Argument(..., help="A run folder, an agent folder, a run name or 'latest'."),
    repo: str = typer.Argument(..., help="Where to publish: SOURCE:org/name (e.g. local:me/ppo-CartPole-v1)."),
    private: bool = typer.Option(False, "--private", help="Create the repository private."),
    no_video: bool = typer.Option(False, "--no-video", help="Do not render replay.mp4."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Publish an agent with its card, results, training log, learning curve and a replay video.

    Example: [bold]zoolab rl push latest local:me/ppo-CartPole-v1[/]  then  [bold]zoolab rl eval local:me/ppo-CartPole-v1[/]
    """
    from zoolab.rl.publish import push

    res = push(run, repo, private=private, video=not no_video, progress=not as_json)
    if as_json:
        print_json({"repo": res.repo, "url": res.url, "commit": res.commit_id, "files": res.files,
                    "changed": res.changed, "mean_return": res.mean_return, "notes": res.notes})
        return
    for note in res.notes:
        console.print(f"[yellow]note:[/] {note}", soft_wrap=True, highlight=False)
    if not res.changed:
        console.print(f"nothing changed: {res.repo} already holds this agent", soft_wrap=True, highlight=False)
        return
    console.print(f"pushed [bold]{res.repo}[/] ({len(res.files)} files, commit {res.commit_id[:8]}): {res.url}",
                  soft_wrap=True, highlight=False)


@rl_command("pull")
def pull_command(
    repo: str = typer.Argument(..., help="An agent repository: SOURCE:org/name."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Copy into this folder (default: the cache)."),
    as_json: bool = typer.Option(False, "--json", help="Print the folder as JSON."),
) -> None:
    """Download an agent repository (every file) and print where it is.

    Example: [bold]zoolab rl pull local:me/ppo-CartPole-v1 --out ppo-cartpole[/]
    """
    from zoolab.rl.publish import pull

    folder = pull(repo, out)
    if as_json:
        print_json({"repo": repo, "path": str(folder)})
        return
    console.print(f"{repo} is in [bold]{folder}[/]", soft_wrap=True, highlight=False)


@rl_command("runs")
def runs_command(
    as_json: bool = typer.Option(False, "--json", help="Print the runs as JSON."),
) -> None:
    """List the local runs, newest first ('latest' names the first one).

    Example: [bold]zoolab rl runs[/]  then  [bold]zoolab rl eval latest[/]
    """
    from zoolab import settings
    from zoolab.rl.refs import list_runs

    runs = list_runs()
    if as_json:
        print_json([{"run": r.path.name, "path": str(r.path), "algo": r.algo, "env_id": r.env_id, "steps": r.steps,
                     "total_steps": r.total_steps, "final_return": r.final_return, "status": r.status,
                     "started": r.started} for r in runs])
        return
    if not runs:
        console.print(f"no runs under {settings.runs_dir()} yet; start one with: zoolab rl train ppo CartPole-v1",
                      soft_wrap=True, highlight=False)
        return
    table = Table(whole_column("run", [r.path.name for r in runs]), title=f"runs in {settings.runs_dir()}",
                  header_style="bold")
    for name, justify in (("algo", "left"), ("env", "left"), ("steps", "right"),
                          ("final return", "right"), ("status", "left")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    table.add_column("started", no_wrap=True)  # a date and a time: cut in two it reads as two values
    for r in runs:
        ret = "-" if r.final_return is None else f"{r.final_return:,.1f}"
        table.add_row(r.path.name, r.algo, r.env_id, f"{r.steps:,} / {r.total_steps:,}", ret, r.status, r.started)
    console.print(table)


def print_leaderboard(query: str, env: str | None, *, source: str | None, limit: int, timeout: float | None,
                      json_out: bool) -> None:
    """``zoolab search --task reinforcement-learning [--env ID]``: agents ranked by reported mean return."""
    from zoolab.cli._common import err_console
    from zoolab.rl.leaderboard import leaderboard

    board = leaderboard(env, query=query, source=source, limit=limit, timeout=timeout)
    for warning in board.warnings:
        err_console.print(f"warning: {warning}", highlight=False, soft_wrap=True)
    if json_out:
        print_json({"hits": board.entries, "warnings": board.warnings})
        return
    if not board.entries:
        err_console.print("no agents found" + (f" for {env}" if env else ""), highlight=False)
        return
    from rich.table import Column

    table = Table(Column("#", justify="right"), whole_column("repo", [e.repo for e in board.entries]),
                  header_style="bold", title="agents by mean return" + (f" on {env}" if env else ""))
    for name, justify in (("env", "left"), ("algo", "left"),
                          ("mean return", "right"), ("library", "left"), ("downloads", "right")):
        table.add_column(name, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for i, e in enumerate(board.entries, 1):
        ret = "-" if e.mean_reward is None else f"{e.mean_reward:,.2f}" + ("" if e.std_reward is None else f" ± {e.std_reward:,.2f}")
        table.add_row(str(i), e.repo, e.env_id or "-", e.algo or "-", ret, e.library or "-",
                      "-" if e.downloads is None else f"{e.downloads:,}")
    console.print(table)
