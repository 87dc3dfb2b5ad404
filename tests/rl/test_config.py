"""Hyperparameter overrides: parsing against field types, and clear errors for bad keys/values."""

from __future__ import annotations

import pytest

from zoolab.errors import InvalidInputError
from zoolab.rl.config import apply_overrides, field_docs, field_types
from zoolab.rl.dqn import DQNConfig
from zoolab.rl.ppo import PPOConfig
from zoolab.rl.sac import SACConfig


def test_string_overrides_are_parsed_by_field_type():
    cfg = apply_overrides(PPOConfig(), ["learning_rate=3e-4", "n_steps=64", "anneal_lr=true",
                                        "hidden_sizes=32,32", "env.norm_obs=true", "target_kl=0.02", "clip_range_vf=none"])
    assert cfg.learning_rate == pytest.approx(3e-4) and isinstance(cfg.learning_rate, float)
    assert cfg.n_steps == 64 and cfg.anneal_lr is True
    assert cfg.hidden_sizes == (32, 32)
    assert cfg.env.norm_obs is True
    assert cfg.target_kl == pytest.approx(0.02) and cfg.clip_range_vf is None


def test_mapping_overrides_nested_and_dotted():
    cfg = apply_overrides(DQNConfig(), {"env": {"n_envs": 4}, "double_q": True, "env.frame_stack": 2})
    assert cfg.env.n_envs == 4 and cfg.env.frame_stack == 2 and cfg.double_q is True


def test_unknown_key_lists_valid_keys():
    with pytest.raises(InvalidInputError) as exc:
        apply_overrides(PPOConfig(), ["learning_rat=1e-3"])
    msg = str(exc.value)
    assert "learning_rat" in msg and "did you mean learning_rate" in msg and "n_epochs" in msg


@pytest.mark.parametrize("item", ["n_steps=abc", "n_steps=1.5", "anneal_lr=3", "learning_rate=fast",
                                  "env.vectorization=threads", "hidden_sizes=a,b"])
def test_wrong_type_is_rejected(item):
    with pytest.raises(InvalidInputError, match="bad value"):
        apply_overrides(PPOConfig(), [item])


def test_override_without_equals_sign():
    with pytest.raises(InvalidInputError, match="key=value"):
        apply_overrides(PPOConfig(), ["learning_rate"])


@pytest.mark.parametrize("cls", [PPOConfig, DQNConfig, SACConfig])
def test_every_field_has_a_docstring(cls):
    assert set(field_types(cls)) <= set(field_docs(cls))
