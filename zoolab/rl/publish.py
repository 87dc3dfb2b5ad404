"""Agents to and from the registry: :func:`push` a run as a repo, :func:`pull` one back.

A pushed repository is an agent folder that loads as it is, plus what the Hub shows of it::

    config.json          algorithm, env id, spaces, hyperparameters, normalisation statistics
    model.safetensors    the networks
    results.json         the final deterministic evaluation
    metrics.csv          the training log
    learning_curves.png  return against steps
    replay.mp4           one deterministic episode (unless video=False)
    README.md            the card: pipeline_tag, library_name, tags and model-index (mean_reward)
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from zoolab.errors import InvalidInputError


@dataclass
class PushResult:
    """What :func:`push` published."""

    repo: str
    """``SOURCE:org/name``."""
    url: str
    commit_id: str
    files: list[str]
    changed: bool
    mean_return: float | None
    notes: list[str] = field(default_factory=list)


def stage(run: str | Path, folder: Path, *, repo: str | None = None, video: bool = True) -> list[str]:
    """Write the files of a pushed agent for ``run`` into ``folder``; returns notes for the user."""
    from zoolab.rl.agent import EvalResult
    from zoolab.rl.artifacts import card, load_agent
    from zoolab.rl.refs import resolve

    ref = resolve(run)
    if ref.repo is not None:
        raise InvalidInputError(f"{run} is a repository; push takes a local run or agent folder",
                                hint=f"download it first with: zoolab rl pull {run}")
    agent = load_agent(ref.agent_dir, device="cpu")
    notes: list[str] = []
    for name in ("config.json", "model.safetensors"):
        shutil.copy2(ref.agent_dir / name, folder / name)
    results_path = next((p for p in (ref.agent_dir / "results.json", ref.run_dir / "results.json") if p.is_file()), None)
    results = None
    if results_path is not None:
        data = json.loads(results_path.read_text())
        fields = {k: data[k] for k in ("mean_return", "std_return", "episodes", "returns", "lengths", "deterministic") if k in data}
        if len(fields) == 6:
            results = EvalResult(**fields)
        shutil.copy2(results_path, folder / "results.json")
    else:
        results = agent.evaluate(10, deterministic=True)
        (folder / "results.json").write_text(json.dumps({"env_id": agent.env_id, "algorithm": agent.algo,
                                                         "num_timesteps": agent.num_timesteps, **results.to_dict()}, indent=2) + "\n")
        notes.append("the agent had no results.json: evaluated it over 10 deterministic episodes")
    metrics = ref.run_dir / "metrics.csv"
    if metrics.is_file():
        from zoolab.rl.media import plot_learning_curves

        from zoolab.errors import ZoolabError

        shutil.copy2(metrics, folder / "metrics.csv")
        try:
            plot_learning_curves([ref.run_dir], folder / "learning_curves.png", title=f"{agent.algo.upper()} {agent.env_id}")
        except ZoolabError as exc:  # a run too short to have finished an episode still gets pushed
            notes.append(f"no learning curve: {exc.message}")
    else:
        notes.append("no metrics.csv next to the agent: the repo has no training log or learning curve")
    has_video = False
    if video:
        from zoolab.errors import ZoolabError
        from zoolab.rl.media import record_video

        try:
            record_video(agent, folder / "replay.mp4", episodes=1, deterministic=True, seed=0)
            has_video = True
        except ZoolabError as exc:  # an env without rgb_array frames still gets pushed
            notes.append(f"no replay.mp4: {exc.message}")
    (folder / "README.md").write_text(card(agent, results, repo=repo, video=has_video))
    return notes


def push(run: str | Path, repo: str, *, private: bool = False, video: bool = True, progress: bool = False) -> PushResult:
    """Publish the agent of ``run`` (a run, an agent folder or ``latest``) to ``repo`` (``SOURCE:org/name``).

    Raises:
        NotFoundError: no such run, or a run without a final agent.
        InvalidRepoIdError / AuthenticationError / PermissionDeniedError: from :func:`zoolab.hub.publish`.
    """
    from zoolab.hub import publish
    from zoolab.hub.refs import parse_ref

    source, repo_id = parse_ref(repo)
    shown = f"{source}:{repo_id}" if source else repo_id
    with tempfile.TemporaryDirectory(prefix="zoolab-push-") as tmp:
        folder = Path(tmp)
        notes = stage(run, folder, repo=shown, video=video)
        mean = json.loads((folder / "results.json").read_text()).get("mean_return")
        res = publish(folder, repo, private=private, message=f"Publish {folder_name(run)} with zoolab rl push",
                      progress=progress)
    return PushResult(repo=f"{res.source}:{res.repo_id}", url=res.url, commit_id=res.commit_id, files=list(res.files),
                      changed=res.changed, mean_return=mean, notes=notes)


def folder_name(run: str | Path) -> str:
    """The last part of a run reference, for commit messages."""
    return Path(str(run)).name or str(run)


def pull(ref: str, out: str | Path | None = None) -> Path:
    """Download every file of the agent repo ``ref``; returns the folder (``out``, or the cache's snapshot).

    Only ``config.json`` and ``model.safetensors`` are read when the agent is loaded, so nothing
    downloaded is unpickled.
    """
    from zoolab.rl.refs import resolve

    return resolve(ref, files=[], out=Path(out) if out is not None else None).agent_dir
