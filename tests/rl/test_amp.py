"""Mixed precision of the RL updates (``precision`` / ``--precision``): bf16 trains to the preset's
target, fp16's loss scaling skips a step whose gradients overflow and backs off, and the loss
scales survive a checkpoint. The CUDA runs are in the ``gpu``-marked tests at the end."""

from __future__ import annotations

import pytest
import torch
from returns_support import train_to_target

from zoolab.rl import PPO, SAC, get_preset
from zoolab.rl.amp import LossScale
from zoolab.rl.checkpoint import load_checkpoint, save_checkpoint

_GPU = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _reaches_target(agent, algo: str, env_id: str, every: int) -> None:
    """Train with the preset's budget, evaluating every ``every`` steps; stop at the target."""
    preset = get_preset(algo, env_id)
    evals = train_to_target(agent, preset.total_steps, preset.target_return, every)
    assert max(r for _, r in evals) >= preset.target_return, f"{algo} {agent.config.precision}: {evals}"


def test_bf16_ppo_reaches_the_cartpole_target_on_cpu():
    agent = PPO("CartPole-v1", seed=23_810, device="cpu", config={"precision": "bf16"})
    assert agent.fast is None  # the numpy fast path is fp32 only
    _reaches_target(agent, "ppo", "CartPole-v1", 5000)


def test_fp16_overflow_skips_the_step_and_backs_off():
    agent = PPO("CartPole-v1", seed=0, device="cpu", config={"precision": "fp16"})
    obs = torch.randn(8, 4)
    actions = torch.zeros(8, dtype=torch.long)

    def loss(factor: float) -> torch.Tensor:
        with agent.amp.autocast():
            _logp, _ent, values = agent.net.evaluate(obs, actions)
        assert values.dtype == torch.float16
        return values.float().sum() * factor

    before = agent.flat.param.detach().clone()
    # 1e30 times the scale overflows float16 in the backward pass: the step is skipped.
    assert agent.amp.optimize(loss(1e30), agent.flat, agent.optimizer, key="policy") is False
    assert torch.equal(agent.flat.param, before)
    scale = agent.amp.scales["policy"]
    assert (scale.scale, scale.skipped) == (2.0**15, 1)
    # An ordinary loss may still overflow at 2**15: the scale halves on every overflow until a step
    # goes through, and the gradient reaches the optimiser unscaled (Adam's first step moves each
    # weight by at most about the learning rate, whatever the gradient's size).
    for _ in range(30):
        if agent.amp.optimize(loss(1.0), agent.flat, agent.optimizer, key="policy"):
            break
        assert torch.equal(agent.flat.param, before)
    assert scale.clean_steps == 1 and scale.scale == 2.0**16 * 0.5**scale.skipped
    moved = (agent.flat.param - before).abs().max().item()
    assert 0 < moved <= 1.01 * agent.config.learning_rate


def test_loss_scale_grows_after_clean_steps():
    scale = LossScale(scale=8.0, growth_interval=3)
    for _ in range(3):
        scale.update(True)
    assert scale.scale == 16.0 and scale.clean_steps == 0
    scale.update(False)
    assert scale.scale == 8.0 and scale.skipped == 1


def test_loss_scales_survive_a_checkpoint(tmp_path):
    agent = SAC("Pendulum-v1", seed=0, device="cpu", config={"precision": "fp16", "learning_starts": 64})
    agent.learn(120)
    assert set(agent.amp.scales) == {"critic", "actor"}
    agent.amp.scales["critic"] = LossScale(scale=512.0, clean_steps=7, skipped=3)
    path = save_checkpoint(agent, tmp_path / "checkpoints")
    again = SAC("Pendulum-v1", seed=0, device="cpu", config={"precision": "fp16", "learning_starts": 64})
    load_checkpoint(again, path)
    assert again.amp.state() == agent.amp.state()
    assert torch.equal(again.actor_flat.param, agent.actor_flat.param)
    agent.close()
    again.close()


@pytest.mark.gpu
@_GPU
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_ppo_mixed_precision_on_cuda_reaches_target(precision):
    agent = PPO("CartPole-v1", seed=23_810, device="cuda", config={"precision": precision})
    _reaches_target(agent, "ppo", "CartPole-v1", 5000)


@pytest.mark.gpu
@_GPU
def test_sac_fp16_on_cuda_reaches_target():
    agent = SAC("Pendulum-v1", seed=23_810, device="cuda", config={"precision": "fp16"})
    _reaches_target(agent, "sac", "Pendulum-v1", 1000)
    assert agent.amp.scales["critic"].scale > 1
