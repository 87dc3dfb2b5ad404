"""Videos of an agent playing and learning-curve plots of run folders.

- :func:`record_video` renders episodes of a trained agent (``render_mode="rgb_array"``) and
  encodes them to mp4 with imageio's ffmpeg plugin (H.264, yuv420p: plays in browsers and on the
  Hugging Face Hub).
- :func:`plot_learning_curves` reads the ``metrics.csv`` of one or several run folders and draws
  their learning curves, overlaid and labelled, into one PNG with matplotlib's Agg backend.

Neither imports torch: they talk to an agent only through ``make_env`` and ``predict``.
"""

from __future__ import annotations

import csv
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from zoolab.errors import DependencyMissingError, InvalidInputError, NotFoundError

# Column names, first match wins: the library writes the first; the others keep older or
# hand-made CSVs readable.
STEP_COLUMNS = ("step", "global_step", "timesteps", "num_timesteps", "time/total_timesteps")
RETURN_COLUMNS = (
    "episode_return_mean",
    "recent_return",
    "episode_return",
    "ep_return",
    "return",
    "rollout/ep_rew_mean",
    "charts/episodic_return",
)
EVAL_COLUMNS = ("eval_return", "eval/mean_return", "eval_mean_return", "eval/mean_reward")


@dataclass(frozen=True)
class VideoResult:
    """What :func:`record_video` wrote."""

    path: Path
    frames: int
    episodes: int
    returns: list[float] = field(default_factory=list)
    fps: int = 30


def _headless_pygame() -> None:
    # gymnasium's classic-control renderer uses pygame; without a display SDL must be told to draw
    # off-screen, and without these it prints a warning per process.
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    os.environ.setdefault("SDL_AUDIODRIVER", "dummy")
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")


def _single_action(action: Any, space: Any) -> Any:
    """Strip the batch dimension ``predict`` adds, so a single env gets one action."""
    action = np.asarray(action)
    shape = getattr(space, "shape", None) or ()
    if action.ndim == len(shape) + 1 and action.shape[0] == 1:
        action = action[0]
    if action.ndim == 0 and np.issubdtype(action.dtype, np.integer):
        return int(action)
    return action


def _render(env: Any) -> np.ndarray:
    frame = env.render()
    if isinstance(frame, list):  # some envs return every frame since the last call
        frame = frame[-1]
    if frame is None:
        raise InvalidInputError(
            "the environment returned no frame to record",
            hint="it must support render_mode='rgb_array'",
        )
    return np.asarray(frame, dtype=np.uint8)


def record_video(
    agent: Any,
    path: str | Path,
    *,
    episodes: int = 1,
    deterministic: bool = True,
    seed: int | None = 0,
    fps: int | None = None,
    max_steps: int | None = None,
) -> VideoResult:
    """Play ``episodes`` episodes with ``agent`` and write them as one mp4 at ``path``.

    The agent's own env (its wrappers, frozen normalisation) is made with
    ``render_mode="rgb_array"``; actions come from ``agent.predict``. ``fps`` defaults to the
    env's ``render_fps``. ``max_steps`` caps the frames per episode (None: until the episode
    ends). Returns the path, the frame count and the episode returns.

    Raises :class:`DependencyMissingError` when the env's renderer needs a package that is not
    installed, :class:`InvalidInputError` when ``episodes < 1`` or the env cannot render.
    """
    if episodes < 1:
        raise InvalidInputError(f"episodes must be at least 1, got {episodes}")
    _headless_pygame()
    import gymnasium as gym
    import imageio.v2 as imageio

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        env = agent.make_env(render_mode="rgb_array")
    except gym.error.DependencyNotInstalled as exc:
        raise DependencyMissingError(f"cannot render {agent.env_id}: {exc}") from None
    rate = int(fps or env.metadata.get("render_fps") or 30)
    frames = 0
    returns: list[float] = []
    # Written under a temporary name (ffmpeg picks the container from the suffix) and moved into
    # place at the end, so an interrupted recording never leaves a truncated video at ``path``.
    tmp = path.with_name(f"{path.stem}.part{path.suffix}")
    try:
        # macro_block_size=2: keep the env's frame size (600x400 for CartPole) instead of
        # rescaling to a multiple of 16; yuv420p only needs even sides.
        with imageio.get_writer(
            tmp, format="FFMPEG", fps=rate, codec="libx264", pixelformat="yuv420p",
            macro_block_size=2, quality=7,
        ) as writer:
            for episode in range(episodes):
                obs, _ = env.reset(seed=None if seed is None else seed + episode)
                writer.append_data(_render(env))
                frames += 1
                total, steps, done = 0.0, 0, False
                while not done and (max_steps is None or steps < max_steps):
                    batch = np.asarray(obs)[None]
                    action = _single_action(agent.predict(batch, deterministic=deterministic), env.action_space)
                    obs, reward, terminated, truncated, _ = env.step(action)
                    total += float(reward)
                    steps += 1
                    done = bool(terminated or truncated)
                    writer.append_data(_render(env))
                    frames += 1
                returns.append(total)
        tmp.replace(path)
    except gym.error.DependencyNotInstalled as exc:
        raise DependencyMissingError(f"cannot render {agent.env_id}: {exc}") from None
    finally:
        env.close()
        tmp.unlink(missing_ok=True)
    return VideoResult(path=path, frames=frames, episodes=episodes, returns=returns, fps=rate)


# --- learning curves ----------------------------------------------------------------------------
@dataclass
class Curve:
    """One run's learning curve, read from its metrics.csv."""

    label: str
    steps: np.ndarray
    returns: np.ndarray
    eval_steps: np.ndarray
    eval_returns: np.ndarray


def _pick(columns: Iterable[str], wanted: Sequence[str]) -> str | None:
    present = set(columns)
    return next((name for name in wanted if name in present), None)


def _floats(rows: list[dict[str, str]], step_col: str, col: str) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for row in rows:
        try:
            x, y = float(row[step_col]), float(row[col])
        except (TypeError, ValueError, KeyError):
            continue  # rows logged before the first episode ended leave the cell empty
        if math.isfinite(x) and math.isfinite(y):
            xs.append(x)
            ys.append(y)
    return np.asarray(xs), np.asarray(ys)


def metrics_file(run: str | Path) -> Path:
    """The metrics.csv of a run folder (or the file itself); raises NotFoundError if absent."""
    run = Path(run)
    candidates = [run] if run.is_file() else [run / "metrics.csv", run.parent / "metrics.csv"]
    for candidate in candidates:
        if candidate.is_file():
            return candidate
    raise NotFoundError(
        f"no metrics.csv in {run}",
        hint="pass a run folder written by `zoolab rl train`",
    )


def read_curve(run: str | Path, *, label: str | None = None, metric: str | None = None) -> Curve:
    """Read the training (and, when logged, evaluation) returns of one run.

    ``metric`` names the CSV column to plot instead of the episode return. Raises
    :class:`NotFoundError` when the run has no metrics.csv and :class:`InvalidInputError` when it
    has no step column or no return column.
    """
    path = metrics_file(run)
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        columns = reader.fieldnames or []
    step_col = _pick(columns, STEP_COLUMNS)
    if step_col is None:
        raise InvalidInputError(f"{path} has no step column (looked for {', '.join(STEP_COLUMNS)})")
    if metric is not None and metric not in columns:
        raise InvalidInputError(
            f"{path} has no column {metric!r}", hint=f"columns: {', '.join(columns)}"
        )
    y_col = metric or _pick(columns, RETURN_COLUMNS)
    eval_col = None if metric else _pick(columns, EVAL_COLUMNS)
    if y_col is None and eval_col is None:
        raise InvalidInputError(
            f"{path} has no return column", hint=f"pass --metric, one of: {', '.join(columns)}"
        )
    steps, returns = _floats(rows, step_col, y_col) if y_col else (np.empty(0), np.empty(0))
    eval_steps, eval_returns = _floats(rows, step_col, eval_col) if eval_col else (np.empty(0), np.empty(0))
    return Curve(label or _default_label(path.parent), steps, returns, eval_steps, eval_returns)


def _default_label(run_dir: Path) -> str:
    """``algo env (folder)`` from the run's config.yaml when it names them, else the folder."""
    config = run_dir / "config.yaml"
    if config.is_file():
        try:
            import yaml

            data = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        except Exception:  # noqa: BLE001 - a label is cosmetic; a broken config must not stop a plot
            data = {}
        algo, env_id = data.get("algorithm") or data.get("algo"), data.get("env_id")
        if algo and env_id:
            return f"{str(algo).upper()} {env_id} ({run_dir.name})"
    return run_dir.name


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over ``window`` points (the first points average what exists)."""
    if window <= 1 or values.size == 0:
        return values
    cumsum = np.cumsum(np.insert(values.astype(float), 0, 0.0))
    idx = np.arange(1, values.size + 1)
    lo = np.maximum(idx - window, 0)
    return (cumsum[idx] - cumsum[lo]) / (idx - lo)


def plot_file_name(metric: str | None = None, *, several: bool = False) -> str:
    """Default PNG name: ``learning_curve.png`` for the return, ``learning_curve-loss_value.png`` for
    ``--metric loss/value`` (so plotting a metric never overwrites the return plot)."""
    base = "learning_curves" if several else "learning_curve"
    if not metric:
        return f"{base}.png"
    slug = re.sub(r"[^A-Za-z0-9._-]+", "_", metric).strip("_") or "metric"
    return f"{base}-{slug}.png"


def plot_learning_curves(
    runs: Sequence[str | Path],
    out: str | Path,
    *,
    smooth_window: int = 10,
    labels: Sequence[str] | None = None,
    metric: str | None = None,
    target: float | None = None,
    title: str | None = None,
) -> Path:
    """Draw the learning curves of ``runs`` into the PNG ``out`` and return its path.

    Each run is one colour; the smoothed training return is a solid line over the raw values
    (faint), evaluation returns (when logged) are markers of the same colour. ``target`` draws a
    dashed horizontal line. Raises :class:`InvalidInputError` when no run has any point to plot.
    """
    if not runs:
        raise InvalidInputError("give at least one run folder to plot")
    if smooth_window < 1:
        raise InvalidInputError(f"--smooth must be at least 1, got {smooth_window}")
    curves = [
        read_curve(run, label=labels[i] if labels else None, metric=metric) for i, run in enumerate(runs)
    ]
    if all(c.steps.size == 0 and c.eval_steps.size == 0 for c in curves):
        raise InvalidInputError(
            "the runs have no finished episode to plot yet", hint="train longer or pass --metric"
        )
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure
    from matplotlib.ticker import EngFormatter

    fig = Figure(figsize=(8, 4.8), dpi=120, layout="constrained")
    ax = fig.add_subplot()
    colours = matplotlib.colormaps["tab10"].colors
    for i, curve in enumerate(curves):
        colour = colours[i % len(colours)]
        if curve.steps.size:
            if smooth_window > 1 and curve.steps.size > 1:
                ax.plot(curve.steps, curve.returns, color=colour, alpha=0.2, linewidth=0.8)
            ax.plot(curve.steps, smooth(curve.returns, smooth_window), color=colour, linewidth=1.8,
                    label=curve.label)
        if curve.eval_steps.size:
            ax.plot(curve.eval_steps, curve.eval_returns, color=colour, marker="o", markersize=4,
                    linestyle="--", linewidth=1,
                    label=f"{curve.label}, evaluation" if curve.steps.size else curve.label)
    if target is not None:
        ax.axhline(target, color="0.3", linestyle=":", linewidth=1.2, label=f"target {target:g}")
    ax.set_xlabel("environment steps")
    ax.xaxis.set_major_formatter(EngFormatter(sep=""))
    ax.set_ylabel(metric or "episode return")
    smoothing = f" (moving average of {smooth_window})" if smooth_window > 1 else ""
    ax.set_title(title or (f"{metric}{smoothing}" if metric else f"Learning curves{smoothing}"))
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best", fontsize="small", frameon=False)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out
