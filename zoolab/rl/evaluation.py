"""Evaluation: play complete episodes with the agent's frozen-normalisation env and raw rewards."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from zoolab.errors import InvalidInputError

if TYPE_CHECKING:
    from zoolab.rl.agent import Agent, EvalResult


def evaluate_agent(agent: Agent, episodes: int, *, deterministic: bool, seed: int) -> EvalResult:
    """Run ``episodes`` episodes; the first reset is seeded with ``seed`` so results repeat."""
    from zoolab.rl.agent import EvalResult

    if episodes < 1:
        raise InvalidInputError(f"episodes must be >= 1, got {episodes}")
    env = agent.make_env()
    returns: list[float] = []
    lengths: list[int] = []
    try:
        for ep in range(episodes):
            obs, _ = env.reset(seed=seed if ep == 0 else None)
            total, length, done = 0.0, 0, False
            while not done:
                obs, reward, terminated, truncated, _ = env.step(agent.predict(obs, deterministic=deterministic))
                total += float(reward)
                length += 1
                done = terminated or truncated
            returns.append(total)
            lengths.append(length)
    finally:
        env.close()
    return EvalResult(mean_return=float(np.mean(returns)), std_return=float(np.std(returns)), episodes=episodes,
                      returns=returns, lengths=lengths, deterministic=deterministic)
