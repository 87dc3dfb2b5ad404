"""Train an agent until a deterministic evaluation reaches a target (shared by the return tests)."""

from __future__ import annotations

from typing import Any


def train_to_target(agent: Any, total_steps: int, target: float, every: int) -> list[tuple[int, float]]:
    """``agent.learn(total_steps)``, evaluating 10 deterministic episodes every ``every`` steps and
    stopping at the first evaluation at or above ``target``; returns every (step, mean return)."""
    evals: list[tuple[int, float]] = []
    next_eval = [every]

    def check(progress: Any) -> bool:
        if progress.step < next_eval[0]:
            return True
        next_eval[0] = (progress.step // every + 1) * every
        evals.append((progress.step, agent.evaluate(episodes=10, deterministic=True).mean_return))
        return evals[-1][1] < target  # stop once the target is reached

    agent.learn(total_steps, callback=check)
    agent.close()
    return evals
