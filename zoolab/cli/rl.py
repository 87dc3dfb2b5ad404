"""``zoolab rl``: train, evaluate, watch and plot reinforcement-learning agents.

The commands parse arguments, call :mod:`zoolab.rl` and print; torch and gymnasium are imported
inside the commands so ``zoolab --help`` stays light.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path
from typing import Any, List, Optional

import typer
from rich.table import Table

from zoolab import settings
from zoolab.cli._common import command, console, err_console, print_json
from zoolab.errors import InvalidInputError, NotFoundError, UnsupportedError, ZoolabError

rl_app = typer.Typer(
    name="rl",
    help=(
        "Train, evaluate, watch and plot RL agents (PPO, A2C, DQN, SAC, TD3 on gymnasium).\n\n"
        "Example: zoolab rl train ppo CartPole-v1 && zoolab rl plot ~/.zoolab/runs/<run>"
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
)

DEVICE_RE = re.compile(r"auto|cpu|cuda(:\d+)?")  # fullmatch, as `$` also matches before "\n"


def register(app: typer.Typer) -> None:
    """Add the ``rl`` command group to the root app."""
    app.add_typer(rl_app, name="rl")


def rl_command(name: str) -> Any:
    """Register an rl command (zoolab errors become one stderr line, see ``_common.command``).

    TensorFlow stays out of these commands without help here: the run log's TensorBoard writer
    uses TensorBoard's TF-free path (``zoolab.rl.runlog``).
    """
    return command(rl_app, name)


# --- argument checks --------------------------------------------------------------------------
def check_algo(algo: str) -> str:
    """Lower-case ``algo`` and check it names an algorithm; suggest the closest on a typo."""
    from zoolab.rl import ALGORITHMS

    name = algo.strip().lower()
    if name not in ALGORITHMS:
        close = difflib.get_close_matches(name, list(ALGORITHMS), n=1, cutoff=0.4)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise InvalidInputError(
            f"unknown algorithm '{algo}'", hint=f"{hint}choose one of: {', '.join(sorted(ALGORITHMS))}"
        )
    return name


def check_device(device: str) -> str:
    """Accept auto, cpu, cuda, cuda:N; asking for CUDA without a usable GPU is an error."""
    device = device.strip().lower()
    if not DEVICE_RE.fullmatch(device):
        raise InvalidInputError(f"unknown device '{device}'", hint="use auto, cpu, cuda or cuda:N")
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            built = torch.version.cuda or "none"
            raise UnsupportedError(
                f"--device {device} was asked for but CUDA is not available "
                f"(torch {torch.__version__}, built for CUDA {built}, no GPU visible)",
                hint="use --device cpu, or --device auto to take a GPU only when there is one",
            )
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise UnsupportedError(
                f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) visible",
                hint="use cuda:0",
            )
    return device


def parse_sets(items: List[str]) -> dict[str, str]:
    """``["lr=3e-4", "env.n_envs=4"]`` -> ``{"lr": "3e-4", "env.n_envs": "4"}`` (the library types them)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise InvalidInputError(
                f"bad --set '{item}'", hint="write it as key=value, for example --set learning_rate=3e-4"
            )
        out[key.strip()] = value.strip()
    return out


def resolve_run(ref: str) -> tuple[Path, Path]:
    """Return ``(run_dir, agent_dir)`` for a run folder, an agent folder, a run name, ``latest``
    or ``SOURCE:org/name`` (downloaded; see :mod:`zoolab.rl.refs`)."""
    from zoolab.rl.refs import resolve

    found = resolve(ref)
    return found.run_dir, found.agent_dir


def _run_config(run_dir: Path) -> dict[str, Any]:
    """A run's config.yaml as a dict ({} when absent or unreadable)."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        return {}
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError:
        return {}
    return data if isinstance(data, dict) else {}


def _run_identity(run_dir: Path) -> tuple[str | None, str | None]:
    """(algo, env_id) from a run's config.yaml, or Nones when it cannot say."""
    data = _run_config(run_dir)
    return data.get("algorithm") or data.get("algo"), data.get("env_id")


def _target(algo: str | None, env_id: str | None) -> float | None:
    """The preset's target return for (algo, env), or None when there is no preset."""
    if not algo or not env_id:
        return None
    from zoolab.rl import get_preset

    try:
        return get_preset(str(algo).lower(), str(env_id)).target_return
    except ZoolabError:
        return None


def _run_target(run_dir: Path, algo: str | None, env_id: str | None) -> float | None:
    """The target return a run was trained for: its config.yaml's, else the preset's."""
    value = _run_config(run_dir).get("target_return")
    return float(value) if isinstance(value, (int, float)) else _target(algo, env_id)


def _train_seconds(run_dir: Path, agent: Any) -> float | None:
    """Wall-clock seconds spent training (across resumes), from results.json or the agent."""
    import json

    try:
        value = json.loads((run_dir / "results.json").read_text(encoding="utf-8")).get("train_wall_time_s")
    except (OSError, ValueError):
        value = None
    if not isinstance(value, (int, float)):
        value = getattr(agent, "_wall_time_s", None)
    return round(float(value), 3) if isinstance(value, (int, float)) else None


def _duration(seconds: float) -> str:
    """``42.1 s``, ``3 min 05 s`` or ``2 h 03 min``."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def eval_table(title: str, ev: Any, target: float | None, extra: dict[str, str] | None = None) -> Table:
    """A rich table of one evaluation result (and whether it reached ``target``)."""
    table = Table(title=title, show_header=True, header_style="bold", min_width=len(title) + 2)
    table.add_column("metric")
    table.add_column("value", justify="right")
    returns = list(getattr(ev, "returns", []) or [])
    lengths = list(getattr(ev, "lengths", []) or [])
    table.add_row("mean return", _fmt(ev.mean_return, 2))
    table.add_row("std return", _fmt(ev.std_return, 2))
    if returns:
        table.add_row("min / max", f"{min(returns):,.1f} / {max(returns):,.1f}")
    if lengths:
        table.add_row("mean length", _fmt(sum(lengths) / len(lengths)))
    table.add_row("episodes", str(ev.episodes))
    table.add_row("deterministic", "yes" if ev.deterministic else "no")
    if target is not None:
        reached = ev.mean_return >= target
        table.add_row("target", f"{target:,.1f} {'[green]reached[/]' if reached else '[red]not reached[/]'}")
    for key, value in (extra or {}).items():
        table.add_row(key, value)
    return table


def eval_json(ev: Any) -> dict[str, Any]:
    """An EvalResult as plain JSON values."""
    return {
        "mean_return": float(ev.mean_return),
        "std_return": float(ev.std_return),
        "episodes": int(ev.episodes),
        "deterministic": bool(ev.deterministic),
        "returns": [float(r) for r in (ev.returns or [])],
        "lengths": [int(n) for n in (ev.lengths or [])],
    }


# --- commands ---------------------------------------------------------------------------------
@rl_command("train")
def train_command(
    algo: Optional[str] = typer.Argument(None, help="Algorithm: ppo, a2c, dqn, sac or td3."),
    env: Optional[str] = typer.Argument(None, help="Gymnasium environment id, e.g. CartPole-v1."),
    steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Environment steps (default: the preset's)."),
    seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same machine, CPU: same run)."),
    n_envs: Optional[int] = typer.Option(None, "--n-envs", min=1, help="Parallel environments (default: preset)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or cuda:N."),
    sets: List[str] = typer.Option([], "--set", help="Override a hyperparameter: key=value (repeatable)."),
    run_dir: Optional[Path] = typer.Option(None, "--run-dir", help="Where to write the run (default: under ZOOLAB_HOME/runs)."),
    resume: Optional[str] = typer.Option(None, "--resume", help="Continue the run in this folder (or 'latest') from its last checkpoint."),
    init_from: Optional[str] = typer.Option(None, "--from", help="Start from a trained agent: a run, agent folder, 'latest' or SOURCE:org/name."),
    eval_episodes: int = typer.Option(10, "--eval-episodes", min=1, help="Episodes of the final evaluation."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON (no progress bar)."),
    nproc: Optional[int] = typer.Option(None, "--nproc", help="PPO/A2C data-parallel in N processes (--n-envs in all)."),
    precision: Optional[str] = typer.Option(None, "--precision", help="fp32 (default), bf16 or fp16: mixed precision of the updates (autocast; fp16 with loss scaling). It pays for image encoders on GPUs; small MLPs train fastest in fp32."),
    threads: Optional[int] = typer.Option(None, "--threads", min=0, help="CPU threads for torch and numpy's BLAS while training (default 1, fastest for small networks; 0: torch's own choice, which follows OMP_NUM_THREADS)."),
) -> None:
    """Train an agent, show progress, evaluate it and save the run folder.

    Example: [bold]zoolab rl train ppo CartPole-v1 --steps 50000 --seed 1 --set learning_rate=1e-3[/]

    Resume a killed run: [bold]zoolab rl train --resume ~/.zoolab/runs/ppo-CartPole-v1-...[/]
    """
    resume_dir: Path | None = None
    if resume is not None:
        if init_from is not None:
            raise InvalidInputError("--resume and --from do not go together",
                                    hint="--resume continues an interrupted run; --from starts a new run from an agent")
        from zoolab.rl.refs import latest_run

        resume_dir = latest_run() if resume == "latest" else Path(resume).expanduser()
        if not resume_dir.is_dir() and not resume_dir.is_absolute() and (settings.runs_dir() / resume_dir).is_dir():
            resume_dir = settings.runs_dir() / resume_dir
        if not resume_dir.is_dir():
            raise NotFoundError(f"no run folder '{resume}' to resume", hint="pass the folder of a run started before")
    elif init_from is None and (algo is None or env is None):
        raise InvalidInputError(
            "give the algorithm and the environment", hint="for example: zoolab rl train ppo CartPole-v1"
        )
    overrides = parse_sets(sets)
    if threads is not None:  # the same as --set torch_threads=N
        overrides["torch_threads"] = str(threads)
    if precision is not None:  # the same as --set precision=P
        overrides["precision"] = precision
    device = check_device(device)
    name = check_algo(algo) if algo is not None else None

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from zoolab.rl.training import TrainingInterrupted, train

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[sps]} steps/s"),
        TextColumn("return {task.fields[ret]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=as_json,
    )
    task = progress.add_task("training", total=steps, sps="-", ret="-")

    def on_start(plan: Any) -> None:
        progress.update(task, description=f"{plan.algo.upper()} {plan.env_id}", completed=plan.start_step,
                        total=plan.total_steps)
        for note in plan.notes:  # on stderr under --json: stdout holds the JSON only
            (err_console if as_json else console).print(f"[yellow]note:[/] {note}", soft_wrap=True, highlight=False)
        if not as_json:
            console.print(f"run folder: {plan.run_dir}  (Ctrl-C saves a checkpoint; resume with "
                          f"zoolab rl train --resume {plan.run_dir})", soft_wrap=True, highlight=False)

    def on_progress(p: Any) -> None:
        # Started at the first report, so a bad env or setting fails before any bar is drawn.
        if not progress.live.is_started:
            progress.start()
        ret = "-" if p.recent_return is None else f"{p.recent_return:,.1f}"
        progress.update(task, completed=p.step, total=p.total_steps, sps=f"{p.steps_per_sec:,.0f}", ret=ret)

    try:
        if nproc is not None and nproc != 1:
            if resume_dir is not None:
                raise InvalidInputError("--nproc starts new runs; --resume continues a run in one process")
            from zoolab.rl.distributed import train_parallel

            result = train_parallel(nproc, name, env, steps=steps, seed=seed, n_envs=n_envs, device=device,
                                    overrides=overrides, run_dir=run_dir, init_from=init_from,
                                    eval_episodes=eval_episodes)
        else:
            result = train(
                name,
                env,
                steps=steps,
                seed=seed,
                n_envs=n_envs,
                device=device,
                overrides=overrides,
                run_dir=run_dir,
                resume=resume_dir,
                init_from=init_from,
                callback=on_progress,
                on_start=on_start,
                eval_episodes=eval_episodes,
            )
    except TrainingInterrupted as exc:
        if progress.live.is_started:
            progress.stop()
        from zoolab.cli._common import fail, print_json_error

        if as_json:
            print_json_error("Interrupted", str(exc), f"continue with: {exc.resume_command}")
            raise typer.Exit(130) from None
        raise fail(str(exc), 130) from None
    finally:
        if progress.live.is_started:
            progress.stop()
    agent, ev = result.agent, result.eval
    name, env = agent.algo, agent.env_id
    target = _run_target(result.run_dir, name, env)
    seconds = _train_seconds(result.run_dir, agent)
    if as_json:
        print_json(
            {
                "run_dir": str(result.run_dir),
                "algo": name,
                "env_id": env,
                "steps": int(agent.num_timesteps),
                "device": str(agent.device),
                "train_time_s": seconds,
                "target_return": target,
                "target_reached": None if target is None else bool(ev.mean_return >= target),
                "eval": eval_json(ev),
            }
        )
        return
    extra = {"steps trained": f"{int(agent.num_timesteps):,}", "device": str(agent.device)}
    if seconds is not None:
        extra["training time"] = _duration(seconds)
    title = f"{name.upper()} {env}: deterministic evaluation"
    console.print(eval_table(title, ev, target, extra))
    console.print(f"run folder: [bold]{result.run_dir}[/]", soft_wrap=True)


@rl_command("eval")
def eval_command(
    run: str = typer.Argument(..., help="A run folder, an agent folder, a run name, 'latest' or SOURCE:org/name."),
    episodes: int = typer.Option(10, "--episodes", "-n", min=1, help="Episodes to play."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the first evaluation episode."),
    stochastic: bool = typer.Option(False, "--stochastic", help="Sample actions instead of the greedy action."),
    video: bool = typer.Option(False, "--video", help="Also record one episode to eval.mp4 in the run folder."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Evaluate a trained agent over N episodes (deterministic by default).

    Example: [bold]zoolab rl eval ~/.zoolab/runs/ppo-CartPole-v1-... --episodes 20 --video[/]
    """
    from zoolab.rl import load_agent
    from zoolab.rl.refs import resolve

    found = resolve(run)
    agent_dir = found.agent_dir
    # A downloaded agent lives in the cache, which is never written to: its video goes here.
    run_dir = Path.cwd() if found.repo else found.run_dir
    agent = load_agent(agent_dir)
    ev = agent.evaluate(episodes=episodes, deterministic=not stochastic, seed=seed)
    video_path = None
    if video:
        from zoolab.rl.media import record_video

        rec = record_video(agent, run_dir / "eval.mp4", episodes=1, deterministic=not stochastic,
                           seed=0 if seed is None else seed)
        video_path = rec.path
    if as_json:
        out = {"agent": str(agent_dir), "algo": agent.algo, "env_id": agent.env_id, **eval_json(ev)}
        if video_path is not None:
            out["video"] = str(video_path)
        print_json(out)
        return
    title = f"{str(agent.algo).upper()} {agent.env_id}: {'deterministic' if not stochastic else 'stochastic'} evaluation"
    console.print(eval_table(title, ev, _target(agent.algo, agent.env_id)))
    if video_path is not None:
        console.print(f"video: [bold]{video_path}[/]", soft_wrap=True)


@rl_command("enjoy")
def enjoy_command(
    run: str = typer.Argument(..., help="A run folder, an agent folder, a run name, 'latest' or SOURCE:org/name."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="mp4 to write (default: replay.mp4 in the agent folder; ./replay.mp4 for a repo)."),
    episodes: int = typer.Option(1, "--episodes", "-n", min=1, help="Episodes to record, one after the other."),
    seed: int = typer.Option(0, "--seed", help="Seed of the first episode."),
    stochastic: bool = typer.Option(False, "--stochastic", help="Sample actions instead of the greedy action."),
    fps: Optional[int] = typer.Option(None, "--fps", min=1, help="Frames per second (default: the env's)."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", min=1, help="Stop each episode after N steps."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Watch an agent: render episodes to an mp4 video.

    Example: [bold]zoolab rl enjoy ~/.zoolab/runs/ppo-CartPole-v1-... --out cartpole.mp4[/]
    """
    from zoolab.rl import load_agent
    from zoolab.rl.media import record_video
    from zoolab.rl.refs import resolve

    found = resolve(run)
    agent = load_agent(found.agent_dir)
    target = out or (Path("replay.mp4") if found.repo else found.agent_dir / "replay.mp4")
    if target.suffix.lower() != ".mp4":
        raise InvalidInputError(f"--out must end in .mp4, got '{target}'")
    rec = record_video(agent, target, episodes=episodes, deterministic=not stochastic, seed=seed,
                       fps=fps, max_steps=max_steps)
    if as_json:
        print_json({"path": str(rec.path), "agent": str(found.agent_dir), "algo": agent.algo, "env_id": agent.env_id,
                    "episodes": rec.episodes, "frames": rec.frames, "fps": rec.fps,
                    "returns": [float(r) for r in rec.returns], "deterministic": not stochastic})
        return
    returns = ", ".join(f"{r:,.1f}" for r in rec.returns)
    console.print(f"wrote [bold]{rec.path}[/] ({rec.frames} frames at {rec.fps} fps; return {returns})",
                  soft_wrap=True)


@rl_command("plot")
def plot_command(
    runs: List[Path] = typer.Argument(..., help="One or several run folders (their metrics.csv)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="PNG to write (default: learning_curve.png in the run, ./learning_curves.png for several; -METRIC added with --metric)."),
    smooth: int = typer.Option(10, "--smooth", min=1, help="Moving-average window over logged points (1 = raw)."),
    metric: Optional[str] = typer.Option(None, "--metric", help="Plot this metrics.csv column instead of the return."),
    target: Optional[float] = typer.Option(None, "--target", help="Draw a target line (default: the preset's, when all runs share one)."),
    title: Optional[str] = typer.Option(None, "--title", help="Figure title."),
    as_json: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Plot learning curves of one or several runs into a PNG (runs overlaid, labelled).

    Example: [bold]zoolab rl plot runs/ppo-seed0 runs/ppo-seed1 --smooth 20 --out ppo.png[/]
    """
    from zoolab.rl.media import plot_file_name, plot_learning_curves

    folders = []
    for run in runs:
        candidates = [run] + ([settings.runs_dir() / run] if not run.is_absolute() else [])
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            raise NotFoundError(f"no run folder '{run}'", hint="pass folders written by `zoolab rl train`")
        folders.append(found)
    if target is None and metric is None:
        # The target the runs were trained for (config.yaml), when they all share one.
        targets = {_run_config(f if f.is_dir() else f.parent).get("target_return") for f in folders}
        if len(targets) == 1:
            only = targets.pop()
            target = float(only) if isinstance(only, (int, float)) else None
    if out is None:
        one = len(folders) == 1 and folders[0].is_dir()
        out = folders[0] / plot_file_name(metric) if one else Path(plot_file_name(metric, several=True))
    if out.suffix.lower() != ".png":
        raise InvalidInputError(f"--out must end in .png, got '{out}'")
    path = plot_learning_curves(folders, out, smooth_window=smooth, metric=metric, target=target, title=title)
    if as_json:
        print_json({"path": str(path), "runs": [str(f) for f in folders], "metric": metric or "return",
                    "smooth": smooth, "target": target})
        return
    console.print(f"wrote [bold]{path}[/]", soft_wrap=True)


@rl_command("presets")
def presets_command(
    as_json: bool = typer.Option(False, "--json", help="Print the presets (with their configs) as JSON."),
) -> None:
    """List the tuned presets: algorithm, environment, step budget, target return.

    Example: [bold]zoolab rl presets[/]  then  [bold]zoolab rl train sac Pendulum-v1[/]
    """
    from zoolab.rl import list_presets

    presets = sorted(list_presets(), key=lambda p: (p.env_id, p.algo))
    if as_json:
        from zoolab.cli._common import to_jsonable

        print_json([to_jsonable(p) for p in presets])
        return
    table = Table(title="RL presets", header_style="bold")
    for name, justify in (("algo", "left"), ("env", "left"), ("steps", "right"), ("n_envs", "right"), ("target", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for p in presets:
        target = "-" if p.target_return is None else f"{p.target_return:,.0f}"
        table.add_row(p.algo, p.env_id, f"{p.total_steps:,}", str(p.n_envs), target)
    console.print(table)


__all__ = ["register", "rl_app", "check_algo", "check_device", "parse_sets", "resolve_run"]

# The other rl commands register themselves on rl_app (this module stays parse-and-print sized).
from zoolab.cli import rl_hub, rl_tools  # noqa: E402,F401
