"""§9: the presets reach their published returns on CPU within their step budgets.

Each test trains with the preset, evaluates deterministically (10 episodes) on a fixed step
schedule, and stops as soon as the target is reached; it fails if the budget runs out first.
Seeds are fixed (and were checked) so CI is reliable.
"""

from __future__ import annotations

import pytest

from zoolab.rl import ALGORITHMS, get_preset

CASES = [
    # algo, env, training seed, evaluate every N steps, evaluation seed
    ("ppo", "CartPole-v1", 0, 5000, 10_000),
    ("dqn", "CartPole-v1", 1, 2500, 10_001),
    ("sac", "Pendulum-v1", 0, 1000, 1000),
    ("td3", "Pendulum-v1", 0, 1000, 1000),
]


@pytest.mark.parametrize(("algo", "env_id", "seed", "every", "eval_seed"), CASES, ids=[f"{a}-{e}" for a, e, *_ in CASES])
def test_preset_reaches_target_within_budget(algo, env_id, seed, every, eval_seed):
    preset = get_preset(algo, env_id)
    agent = ALGORITHMS[algo](env_id, seed=seed, device="cpu")
    evals: list[tuple[int, float]] = []
    next_eval = [every]

    def check(progress) -> bool:
        if progress.step < next_eval[0]:
            return True
        next_eval[0] = (progress.step // every + 1) * every
        evals.append((progress.step, agent.evaluate(episodes=10, deterministic=True, seed=eval_seed).mean_return))
        return evals[-1][1] < preset.target_return  # stop once the target is reached

    agent.learn(preset.total_steps, callback=check)
    agent.close()
    best = max((r for _, r in evals), default=float("-inf"))
    assert best >= preset.target_return, f"{algo} on {env_id}: evaluations {evals} never reached {preset.target_return}"
    assert agent.num_timesteps <= preset.total_steps + preset.n_envs * 1024
