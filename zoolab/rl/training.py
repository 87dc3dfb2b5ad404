"""``train()``: one call that runs an agent in a run folder, with checkpoints, resume and results.

Run folder (default ``<ZOOLAB_HOME>/runs/<algo>-<env>-<timestamp>``)::

    config.yaml        algorithm, env id, seed, total steps, resolved hyperparameters
    metrics.csv        one row per progress report (step, wall time, returns, losses)
    tb/                TensorBoard event files
    checkpoints/       step-<N>/ folders (see zoolab.rl.checkpoint), newest two kept
    results.json       final deterministic evaluation
    agent/             the final agent (config.json, model.safetensors, results.json, README.md)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from zoolab.errors import ConflictError, InvalidInputError, TrainingError
from zoolab.rl.agent import Agent, EvalResult, Progress, dumps, hparams
from zoolab.runs import new_run_dir


@dataclass
class RunPlan:
    """What :func:`train` is about to do, passed to ``on_start`` before the first step."""

    run_dir: Path
    algo: str
    env_id: str
    start_step: int
    """The step training starts from (0, or the checkpoint a resume continues)."""
    total_steps: int
    """The step training ends at (a multiple of the number of environments)."""
    requested_steps: int
    notes: list[str]
    """Sentences the user should read before training starts (rounding, restarts)."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`train`: a checkpoint was written at ``step``; ``resume_command`` continues."""

    def __init__(self, run_dir: Path, step: int, checkpoint: Path | None) -> None:
        super().__init__(f"interrupted at step {step}")
        self.run_dir, self.step, self.checkpoint = run_dir, step, checkpoint
        self.resume_command = f"zoolab rl train --resume {run_dir}"

    def __str__(self) -> str:
        kept = f"a checkpoint at step {self.step:,} is in {self.checkpoint}" if self.checkpoint else "no checkpoint was written"
        return f"interrupted: {kept}; continue with: {self.resume_command}"


DIVERGED_FILE = "diverged.json"
"""Written in a run folder when training diverged, so ``--resume`` can say it would diverge again."""


@dataclass
class TrainResult:
    """What :func:`train` returns."""

    run_dir: Path
    agent: Agent
    eval: EvalResult


def _algo_class(algo: str) -> type[Agent]:
    from zoolab.rl import ALGORITHMS

    cls = ALGORITHMS.get(algo.lower())
    if cls is None:
        raise InvalidInputError(f"unknown algorithm '{algo}'", hint=f"choose one of {', '.join(ALGORITHMS)}")
    return cls


def _default_run_dir(algo: str, env_id: str) -> Path:
    safe_env = env_id.replace("/", "_").replace(":", "_")
    return new_run_dir(f"{algo}-{safe_env}")


def _read_run(run_dir: Path) -> dict[str, Any]:
    """config.yaml of a run to resume, with an honest error for folders that are not resumable runs."""
    cfg_path = run_dir / "config.yaml"
    if not cfg_path.is_file():
        if (run_dir / "config.json").is_file():
            raise InvalidInputError(
                f"{run_dir} is a saved agent, not a run folder: --resume continues an interrupted run",
                hint=f"to train this agent further into a new run: zoolab rl train --from {run_dir}")
        raise InvalidInputError(f"{run_dir} is not a run folder (no config.yaml)",
                                hint="pass the folder a previous `zoolab rl train` created")
    saved = yaml.safe_load(cfg_path.read_text())
    diverged = run_dir / DIVERGED_FILE
    if diverged.is_file():
        info = json.loads(diverged.read_text())
        raise TrainingError(
            f"run {run_dir} diverged at step {info.get('step', '?')} ({info.get('message', 'NaN')}); resuming it "
            "repeats the same computation from its last checkpoint and diverges again",
            hint=f"start a new run with other settings, e.g. zoolab rl train {saved['algorithm']} {saved['env_id']} "
                 "--set learning_rate=<lower>")
    if (run_dir / "results.json").is_file() and (run_dir / "agent" / "config.json").is_file():
        done = json.loads((run_dir / "results.json").read_text()).get("num_timesteps", saved["total_steps"])
        raise InvalidInputError(
            f"run {run_dir} is complete ({int(done):,} steps); there is nothing to resume",
            hint=f"to train its agent further into a new run: zoolab rl train --from {run_dir} --steps N")
    return saved


def planned_total(start: int, total: int, n_envs: int) -> int:
    """The step a run asked to reach ``total`` ends at: every env steps together, so a budget that
    is not a multiple of ``n_envs`` is rounded up (rollouts are cut short, never overshot further)."""
    return start + -(-(total - start) // n_envs) * n_envs


def train(
    algo: str | None,
    env_id: str | None,
    *,
    steps: int | None = None,
    seed: int = 0,
    n_envs: int | None = None,
    device: str = "auto",
    overrides: Mapping[str, Any] | Iterable[str] = (),
    run_dir: Path | None = None,
    resume: Path | None = None,
    init_from: str | Path | None = None,
    callback: Callable[[Progress], bool | None] | None = None,
    on_start: Callable[[RunPlan], None] | None = None,
    eval_episodes: int = 10,
    checkpoint_every: int | None = None,
) -> TrainResult:
    """Train ``algo`` on ``env_id`` in a run folder, or continue the run in ``resume``.

    ``steps`` defaults to the preset's budget; training stops at ``steps`` (rounded up to a multiple
    of the number of environments: the last rollout is cut short). ``overrides`` are
    ``{"key": value}`` or ``["key=value", ...]`` on top of the preset. On resume, the run's own
    ``config.yaml`` decides algorithm, env, seed, steps and hyperparameters; training continues
    from the newest checkpoint and ends at the same total step count as an uninterrupted run.

    ``init_from`` (a run, an agent folder, ``latest`` or ``SOURCE:org/name``) starts a new run from
    a trained agent: its weights, hyperparameters (``overrides`` on top) and normalisation
    statistics; the step count starts at 0 (as SB3's ``learn`` does) and ``algo``/``env_id`` may
    be None. ``on_start(plan)`` runs once before the first step.

    Ctrl-C writes a checkpoint at the next safe point and raises :class:`TrainingInterrupted`
    (a ``KeyboardInterrupt``) naming it and the resume command; a second Ctrl-C stops at once.

    Raises:
        InvalidInputError: unknown algorithm, bad override, or a resume folder that is not a run.
        EnvNotFoundError / UnsupportedError: bad env id, or an action space the algorithm cannot handle.
        TrainingError: the loss became NaN; the message names the last good checkpoint.
    """
    from zoolab.rl import config as cfgmod
    from zoolab.rl.checkpoint import list_checkpoints, load_checkpoint, save_checkpoint
    from zoolab.rl.presets import get_preset
    from zoolab.rl.runlog import RunLogger
    from zoolab.runs import DeferredInterrupt

    resume_step: int | None = None
    elapsed = 0.0
    notes: list[str] = []
    if resume is not None:
        run_dir = Path(resume)
        saved = _read_run(run_dir)
        if (algo is not None and algo.lower() != saved["algorithm"]) or (env_id is not None and env_id != saved["env_id"]):
            raise InvalidInputError(f"{run_dir} is a {saved['algorithm']} run on {saved['env_id']}, not {algo} on {env_id}")
        env_id = saved["env_id"]
        cls = _algo_class(saved["algorithm"])
        config = cfgmod.from_dict(cls.config_class, saved["hyperparameters"])
        total = int(saved["total_steps"])
        seed = int(saved["seed"])
        agent = cls(env_id, seed=seed, device=device, config=config)
        ckpts = list_checkpoints(run_dir / "checkpoints")
        if ckpts:
            resume_step, path = ckpts[-1]
            load_checkpoint(agent, path)
            elapsed = float(json.loads((path / "state.json").read_text()).get("wall_time_s", 0.0))
        else:
            resume_step = 0
            if (run_dir / "init" / "config.json").is_file():
                _load_weights(agent, run_dir / "init")
            notes.append(f"{run_dir} has no checkpoint (it stopped before the first one): "
                         "training starts again from step 0")
    else:
        source = None
        if init_from is not None:
            from zoolab.rl.refs import load

            source = load(init_from, device=device)
            if algo is not None and algo.lower() != source.algo:
                raise InvalidInputError(f"--from {init_from} is a {source.algo} agent, not {algo}")
            if env_id is not None and env_id != source.env_id:
                raise InvalidInputError(f"--from {init_from} was trained on {source.env_id}, not {env_id}",
                                        hint="continue on the same environment (its spaces and statistics belong to it)")
            algo, env_id = source.algo, source.env_id
        if algo is None or env_id is None:
            raise InvalidInputError("give the algorithm and the environment", hint="for example: zoolab rl train ppo CartPole-v1")
        cls = _algo_class(algo)
        preset = get_preset(cls.algo, env_id)
        total = int(steps) if steps is not None else preset.total_steps
        if total <= 0:
            raise InvalidInputError(f"steps must be positive, got {total}")
        if source is not None:
            config = cfgmod.apply_overrides(source.config, cfgmod.normalize_overrides(overrides))
            agent = cls(env_id, seed=seed, n_envs=n_envs, device=device, config=config)
            _copy_agent(source, agent)
        else:
            agent = cls(env_id, seed=seed, n_envs=n_envs, device=device, config=cfgmod.normalize_overrides(overrides))
        run_dir = Path(run_dir) if run_dir is not None else _default_run_dir(cls.algo, env_id)
        if (run_dir / "config.yaml").exists():
            raise ConflictError(f"{run_dir} already holds a run", hint=f"continue it with resume={run_dir} (--resume) or pick another folder")
        run_dir.mkdir(parents=True, exist_ok=True)
        doc = {"algorithm": cls.algo, "env_id": env_id, "seed": seed, "total_steps": total,
               "device": str(agent.device), "preset": preset.tuned, "target_return": preset.target_return,
               "hyperparameters": hparams(agent)}
        if source is not None:
            doc["from"] = {"ref": str(init_from), "num_timesteps": source.num_timesteps}
            agent.save(run_dir / "init")  # what a resume before the first checkpoint starts from
        (run_dir / "config.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))

    from zoolab.rl.distributed import synchronise

    synchronise(agent)  # data-parallel: every process starts from rank 0's weights
    end = planned_total(agent.num_timesteps, total, agent.n_envs)
    if end != total:
        notes.append(f"{total:,} steps is not a multiple of the {agent.n_envs} environments stepped together: "
                     f"training stops at {end:,}")
    if on_start is not None:
        on_start(RunPlan(run_dir, agent.algo, agent.env_id, agent.num_timesteps, end, total, notes))

    every = checkpoint_every or max(total // 10, 1)
    ckpt_dir = run_dir / "checkpoints"
    logger = RunLogger(run_dir, resume_step=resume_step, elapsed_s=elapsed)
    next_ckpt = [(agent.num_timesteps // every + 1) * every]
    interrupt = DeferredInterrupt()

    def on_progress(progress: Progress) -> bool | None:
        logger.log(progress)
        if interrupt.asked and progress.step < total:
            agent._wall_time_s = logger.elapsed  # type: ignore[attr-defined]
            raise TrainingInterrupted(run_dir, progress.step, save_checkpoint(agent, ckpt_dir))
        if progress.step >= next_ckpt[0] and progress.step < total:
            agent._wall_time_s = logger.elapsed  # type: ignore[attr-defined]
            save_checkpoint(agent, ckpt_dir)
            next_ckpt[0] = (progress.step // every + 1) * every
        return callback(progress) if callback is not None else None

    try:
        if agent.num_timesteps < total:
            agent.learn(total - agent.num_timesteps, callback=on_progress)
    except TrainingError as exc:
        kept = list_checkpoints(ckpt_dir)
        (run_dir / DIVERGED_FILE).write_text(dumps({"step": agent.num_timesteps, "message": exc.message}))
        where = (f"the last good checkpoint (step {kept[-1][0]}) is kept in {kept[-1][1]}" if kept
                 else "no checkpoint had been written yet")
        raise TrainingError(f"{exc.message}; training stopped and {where}",
                            hint="resuming would diverge again: start a new run with other settings "
                                 "(a lower learning_rate, or env.norm_obs=true / env.norm_reward=true)") from None
    except KeyboardInterrupt as exc:
        if isinstance(exc, TrainingInterrupted):
            raise
        kept = list_checkpoints(ckpt_dir)
        raise TrainingInterrupted(run_dir, kept[-1][0] if kept else 0, kept[-1][1] if kept else None) from None
    finally:
        interrupt.restore()
        logger.close()
        agent.close()
    agent._wall_time_s = logger.elapsed  # type: ignore[attr-defined]
    save_checkpoint(agent, ckpt_dir)
    result = agent.evaluate(eval_episodes, deterministic=True)
    (run_dir / "results.json").write_text(dumps({"algorithm": agent.algo, "env_id": env_id, "seed": seed,
                                                 "num_timesteps": agent.num_timesteps,
                                                 "train_wall_time_s": round(logger.elapsed, 3), **result.to_dict()}))
    agent.save(run_dir / "agent", results=result)
    return TrainResult(run_dir=run_dir, agent=agent, eval=result)


def _copy_agent(source: Agent, agent: Agent) -> None:
    """Weights and normalisation statistics of ``source`` into the freshly built ``agent``."""
    from zoolab.rl.artifacts import load_module_tensors, module_tensors

    load_module_tensors(agent, module_tensors(source))
    agent.normalizer.load_state(source.normalizer.state())


def _load_weights(agent: Agent, folder: Path) -> None:
    from zoolab.rl.artifacts import load_agent

    _copy_agent(load_agent(folder, device=str(agent.device)), agent)
