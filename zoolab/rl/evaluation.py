"""Evaluation: play complete episodes with the agent's frozen-normalisation env and raw rewards."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from zoolab.errors import InvalidInputError

if TYPE_CHECKING:
    from zoolab.rl.agent import Agent, EvalResult


PARALLEL_EPISODES = 16
"""Episodes played side by side (one environment each), so one batched ``predict`` serves them all."""


def evaluate_agent(agent: Agent, episodes: int, *, deterministic: bool, seed: int) -> EvalResult:
    """Run ``episodes`` episodes; episode ``k`` starts from ``reset(seed=seed + k)`` so results repeat.

    Up to :data:`PARALLEL_EPISODES` episodes run at once, each in its own environment, and the
    policy is asked for all their actions in one call: the per-call cost of a small network is
    paid once per step instead of once per episode and step. An environment whose episode ends
    starts the next unplayed one, so the episodes and their seeds do not depend on that number.
    """
    from zoolab.rl.agent import EvalResult

    if episodes < 1:
        raise InvalidInputError(f"episodes must be >= 1, got {episodes}")
    envs = [agent.make_env() for _ in range(min(episodes, PARALLEL_EPISODES))]
    returns = [0.0] * episodes
    lengths = [0] * episodes
    playing: list[int] = []  # playing[i]: the episode env i plays
    obs: list[np.ndarray] = []
    try:
        for i, env in enumerate(envs):
            obs.append(np.asarray(env.reset(seed=seed + i)[0]))
            playing.append(i)
        started = len(envs)
        live = list(range(len(envs)))
        while live:
            actions = agent.predict(np.stack([obs[i] for i in live]), deterministic=deterministic)
            still = []
            for i, action in zip(live, actions):
                ep = playing[i]
                o, reward, terminated, truncated, _ = envs[i].step(action)
                returns[ep] += float(reward)
                lengths[ep] += 1
                if not (terminated or truncated):
                    obs[i] = np.asarray(o)
                    still.append(i)
                elif started < episodes:  # this env plays the next episode
                    obs[i] = np.asarray(envs[i].reset(seed=seed + started)[0])
                    playing[i] = started
                    started += 1
                    still.append(i)
            live = still
    finally:
        for env in envs:
            env.close()
    return EvalResult(mean_return=float(np.mean(returns)), std_return=float(np.std(returns)), episodes=episodes,
                      returns=returns, lengths=lengths, deterministic=deterministic)
