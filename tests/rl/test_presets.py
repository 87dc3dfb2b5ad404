"""Every preset is valid: known algorithm, buildable agent on a real env, a target return, a budget."""

from __future__ import annotations

import importlib.util

import pytest

from zoolab.rl import ALGORITHMS, get_preset, list_presets

REQUIRED_ENVS = {"CartPole-v1", "Acrobot-v1", "LunarLander-v3", "Pendulum-v1", "MountainCarContinuous-v0"}


def test_required_environments_have_presets():
    assert {p.env_id for p in list_presets()} >= REQUIRED_ENVS
    assert {p.algo for p in list_presets()} == set(ALGORITHMS)
    assert [p.algo for p in list_presets("dqn")] == ["dqn"] * len(list_presets("dqn"))


@pytest.mark.parametrize("preset", list_presets(), ids=lambda p: f"{p.algo}-{p.env_id}")
def test_preset_builds_an_agent(preset):
    if preset.env_id.startswith("LunarLander") and importlib.util.find_spec("Box2D") is None:
        pytest.skip("Box2D is not installed (pip install 'zoolab[box2d]')")
    assert preset.target_return is not None and preset.total_steps > 0 and preset.tuned
    agent = ALGORITHMS[preset.algo](preset.env_id, device="cpu")
    assert agent.n_envs == preset.n_envs
    for key, value in preset.config.items():
        if not isinstance(value, dict):
            got = getattr(agent.config, key)
            assert (list(got) if isinstance(got, tuple) else got) == pytest.approx(value), key
    assert get_preset(preset.algo, preset.env_id) == preset
