"""Bad input gets a clear zoolab error: unknown env, wrong action space, bad settings, NaN loss."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from zoolab.errors import EnvNotFoundError, InvalidInputError, ModelNotFoundError, TrainingError, UnsupportedError
from zoolab.rl import DQN, PPO, SAC, TD3, get_preset, load_agent, train
from zoolab.rl.checkpoint import list_checkpoints


def test_unknown_env_suggests_closest_ids():
    with pytest.raises(EnvNotFoundError) as exc:
        PPO("CartPole-v2")
    assert "CartPole-v1" in str(exc.value)
    with pytest.raises(EnvNotFoundError, match="Pendulum-v1"):
        train("sac", "Pendulm-v1", steps=10)


@pytest.mark.parametrize(("cls", "env_id", "able"), [
    (DQN, "Pendulum-v1", "ppo, a2c, sac, td3"),
    (SAC, "CartPole-v1", "ppo, a2c, dqn"),
    (TD3, "Acrobot-v1", "ppo, a2c, dqn"),
])
def test_unsupported_action_space_names_the_algorithms_that_work(cls, env_id, able):
    with pytest.raises(UnsupportedError) as exc:
        cls(env_id)
    assert able in str(exc.value) and cls.algo.upper() in str(exc.value)


def test_unknown_algorithm_and_bad_overrides():
    with pytest.raises(InvalidInputError, match="ppo, a2c, dqn, sac, td3"):
        train("trpo", "CartPole-v1")
    with pytest.raises(InvalidInputError, match="valid keys"):
        train("ppo", "CartPole-v1", overrides=["nsteps=8"])
    with pytest.raises(InvalidInputError, match="bad value"):
        PPO("CartPole-v1", config={"n_epochs": "many"})
    with pytest.raises(InvalidInputError):
        PPO("CartPole-v1", n_envs=0)
    with pytest.raises(InvalidInputError, match="unknown device"):
        PPO("CartPole-v1", device="tpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given on a machine without a GPU")
def test_cuda_requested_without_a_gpu():
    with pytest.raises(InvalidInputError, match="no CUDA GPU"):
        PPO("CartPole-v1", device="cuda")


def test_load_from_a_folder_that_is_not_an_agent(tmp_path):
    with pytest.raises(ModelNotFoundError, match="config.json"):
        load_agent(tmp_path)
    agent = DQN("CartPole-v1", device="cpu")
    folder = agent.save(tmp_path / "dqn")
    with pytest.raises(InvalidInputError, match="DQN agent, not PPO"):
        PPO.load(folder)


def test_resume_needs_a_run_folder(tmp_path):
    with pytest.raises(InvalidInputError, match="not a run folder"):
        train("ppo", "CartPole-v1", resume=tmp_path)


def test_nan_loss_stops_keeps_last_good_checkpoint(tmp_path):
    # Each env copy returns NaN rewards after its 500th step (1000 steps in all): the loss goes NaN.
    run = tmp_path / "run"
    with pytest.raises(TrainingError) as exc:
        train("ppo", "ZoolabTest/NaNReward-v0", steps=20_000, run_dir=run, device="cpu", checkpoint_every=256,
              overrides={"n_steps": 32, "env.n_envs": 2})
    msg = str(exc.value)
    assert "NaN" in msg and "last good checkpoint" in msg and "would diverge again" in msg
    kept = list_checkpoints(run / "checkpoints")
    assert kept and 512 <= kept[-1][0] <= 1000
    assert str(kept[-1][1]) in msg
    weights = load_file(str(kept[-1][1] / "model.safetensors"))
    assert all(bool(t.isfinite().all()) for t in weights.values())
    assert not (run / "results.json").exists()
    state = json.loads((kept[-1][1] / "state.json").read_text())
    assert state["num_timesteps"] == kept[-1][0]


def test_preset_fallback_for_unknown_pair():
    preset = get_preset("ppo", "Acrobot-v1")
    assert preset.env_id == "Acrobot-v1"
    fallback = get_preset("a2c", "MountainCar-v0")
    assert fallback.tuned is False and fallback.target_return is None and fallback.config == {}


def test_train_is_the_function_whatever_was_imported_first():
    # A module named like the function rebinds the package attribute when imported first.
    import subprocess
    import sys

    code = ("import zoolab.rl.training, zoolab.rl.distributed\n"
            "from zoolab.rl import train\n"
            "print(callable(train), type(train).__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.stdout.split() == ["True", "function"], out.stderr
