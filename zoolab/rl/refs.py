"""Where an agent comes from: a run folder, an agent folder, a run name, ``latest``, or a repo.

Every ``zoolab rl`` command that takes a run and :func:`load` accept the same references:

- a path to a run folder (with ``agent/``) or to an agent folder (with ``config.json``);
- a run name under ``ZOOLAB_HOME/runs``;
- ``latest``: the newest run under ``ZOOLAB_HOME/runs``;
- ``SOURCE:org/name`` (or ``org/name`` that is not a local folder): an agent published with
  ``zoolab rl push``, downloaded through :func:`zoolab.hub.download`. Only JSON and safetensors
  files are read from it, so nothing downloaded is unpickled.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoolab import settings
from zoolab.errors import InvalidRepoIdError, NotFoundError

if TYPE_CHECKING:
    from zoolab.rl.agent import Agent

AGENT_FILES = ["config.json", "model.safetensors", "results.json", "README.md"]
"""The files of an agent folder that loading reads (a pushed repo also holds plots and a video)."""


@dataclass
class AgentRef:
    """A resolved reference: ``agent_dir`` holds config.json; ``run_dir`` is its run (or the same folder)."""

    run_dir: Path
    agent_dir: Path
    repo: str | None = None
    """``SOURCE:org/name`` when the agent was downloaded."""


@dataclass
class RunSummary:
    """One line of ``zoolab rl runs``."""

    path: Path
    algo: str
    env_id: str
    steps: int
    """Steps trained so far (the final count, or the newest checkpoint's)."""
    total_steps: int
    final_return: float | None
    """Mean return of the final deterministic evaluation (None until the run finished)."""
    status: str
    """``done``, ``stopped`` (interrupted or killed; resumable), ``diverged`` or ``new``."""
    started: str
    """Local time the run was created, ``YYYY-MM-DD HH:MM``."""


def _run_folders() -> list[Path]:
    base = settings.runs_dir()
    if not base.is_dir():
        return []
    return [p for p in base.iterdir() if (p / "config.yaml").is_file()]


def _created(run: Path) -> float:
    return (run / "config.yaml").stat().st_mtime


def latest_run() -> Path:
    """The most recently started run under ``ZOOLAB_HOME/runs``."""
    runs = _run_folders()
    if not runs:
        raise NotFoundError(f"there is no run under {settings.runs_dir()} yet",
                            hint="train one first: zoolab rl train ppo CartPole-v1")
    return max(runs, key=lambda p: (_created(p), p.name))


def _local_folder(ref: str) -> Path | None:
    if ref == "latest":
        return latest_run()
    path = Path(ref).expanduser()
    candidates = [path] + ([settings.runs_dir() / path] if not path.is_absolute() else [])
    return next((c for c in candidates if c.is_dir()), None)


def _local_agent(folder: Path) -> AgentRef:
    if (folder / "agent" / "config.json").is_file():
        return AgentRef(folder, folder / "agent")
    if (folder / "config.json").is_file():
        parent = folder.parent
        run_dir = parent if folder.name == "agent" and (parent / "config.yaml").is_file() else folder
        return AgentRef(run_dir, folder)
    if (folder / "checkpoints").is_dir() or (folder / "config.yaml").is_file():
        raise NotFoundError(f"run '{folder}' has no final agent yet (it stopped before the end)",
                            hint=f"finish it with: zoolab rl train --resume {folder}")
    raise NotFoundError(f"'{folder}' holds no trained agent",
                        hint="expected a run folder (with agent/config.json) or an agent folder (with config.json)")


def resolve(ref: str | Path, *, files: list[str] | None = None, out: Path | None = None,
            progress: bool = False) -> AgentRef:
    """Find (or download) the agent ``ref`` names; see the module docstring for the forms.

    ``files`` limits what a repo download fetches (default: :data:`AGENT_FILES`; ``[]`` for all);
    ``out`` downloads into that plain folder instead of the cache.

    Raises:
        NotFoundError: no such folder or run, or a run without a final agent.
        RepoNotFoundError / OfflineError: the repo does not exist or cannot be reached.
    """
    text = str(ref)
    folder = _local_folder(text)
    if folder is not None:
        return _local_agent(folder)
    from zoolab.hub.refs import parse_ref

    try:
        source, repo_id = parse_ref(text)
    except InvalidRepoIdError:
        if ":" in text:  # meant as SOURCE:org/name: say what is wrong with it
            raise
        repo_id = ""
    if not repo_id or "/" not in repo_id:
        raise NotFoundError(f"no run folder '{text}'",
                            hint=f"pass a run folder, a run name under {settings.runs_dir()}, latest, or SOURCE:org/name")
    from zoolab.hub import download

    snap = download(text, include=AGENT_FILES if files is None else (files or None), local_dir=out, progress=progress)
    agent_dir = Path(snap.path)
    if not (agent_dir / "config.json").is_file():
        raise NotFoundError(f"{text} holds no zoolab agent (no config.json)",
                            hint="an RL Zoo / SB3 agent can be converted with: zoolab rl import " + text)
    return AgentRef(agent_dir, agent_dir, repo=f"{snap.source}:{snap.repo_id}")


def load(ref: str | Path, device: str = "auto") -> Agent:
    """Load the agent ``ref`` names (a run, an agent folder, ``latest`` or ``SOURCE:org/name``).

    >>> agent = load("local:me/ppo-CartPole-v1")   # doctest: +SKIP
    >>> agent.evaluate(episodes=5).mean_return     # doctest: +SKIP
    """
    from zoolab.rl.artifacts import load_agent

    return load_agent(resolve(ref).agent_dir, device=device)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def summarize(run: Path) -> RunSummary:
    """What ``zoolab rl runs`` shows of one run folder."""
    import yaml

    from zoolab.runs import list_step_dirs

    try:
        cfg = yaml.safe_load((run / "config.yaml").read_text()) or {}
    except (OSError, yaml.YAMLError):
        cfg = {}
    results = _read_json(run / "results.json")
    ckpts = list_step_dirs(run / "checkpoints")
    if results:
        status, steps = "done", int(results.get("num_timesteps", 0))
    else:
        status = "diverged" if (run / "diverged.json").is_file() else ("stopped" if ckpts else "new")
        steps = ckpts[-1][0] if ckpts else 0
    ret = results.get("mean_return")
    return RunSummary(path=run, algo=str(cfg.get("algorithm", "?")), env_id=str(cfg.get("env_id", "?")),
                      steps=steps, total_steps=int(cfg.get("total_steps", 0) or 0),
                      final_return=float(ret) if isinstance(ret, (int, float)) else None, status=status,
                      started=time.strftime("%Y-%m-%d %H:%M", time.localtime(_created(run))))


def list_runs() -> list[RunSummary]:
    """Every run under ``ZOOLAB_HOME/runs``, newest first."""
    return [summarize(p) for p in sorted(_run_folders(), key=lambda p: (_created(p), p.name), reverse=True)]
