"""The numpy paths of PPO and SAC compute torch's gradients; FlatAdam is torch's Adam; the event
writer's files read back in TensorBoard; batched evaluation plays the same episodes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from zoolab.rl import ALGORITHMS, evaluation
from zoolab.rl.buffers import ReplayBatch
from zoolab.rl.optim import FlatAdam, FlatRMSprop
from zoolab.rl.rollout import collect_rollout_numpy


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).norm() / b.norm())


@pytest.mark.parametrize(("env_id", "config"), [
    ("CartPole-v1", {"n_steps": 32}),
    ("CartPole-v1", {"n_steps": 32, "ent_coef": 0.01, "clip_range_vf": 0.2, "activation": "relu"}),
    ("Pendulum-v1", {"n_steps": 64, "n_envs": 4, "ent_coef": 0.01, "use_sde": False}),
], ids=["discrete", "discrete-relu-vfclip", "box"])
def test_numpy_ppo_gradient_equals_autograd(env_id, config):
    n_envs = config.pop("n_envs", None)
    agent = ALGORITHMS["ppo"](env_id, seed=3, device="cpu", n_envs=n_envs, config=config)
    assert agent.fast is not None
    agent._ensure_env()
    buf = agent.buffer
    batch = buf.compute(collect_rollout_numpy(agent, agent.fast, buf), agent.config.gamma, agent.config.gae_lambda)
    with torch.no_grad():  # move the policy away from the one that acted, so ratios and clipping matter
        agent.flat.param.add_(torch.randn_like(agent.flat.param) * 0.05)
    c, clip = agent.config, 0.2
    logp, entropy, values = agent.net.evaluate(batch.obs, batch.actions)
    ratio = (logp - batch.logprobs).exp()
    adv = (batch.advantages - batch.advantages.mean()) / (batch.advantages.std() + 1e-8)
    pg = torch.max(-adv * ratio, -adv * torch.clamp(ratio, 1 - clip, 1 + clip)).mean()
    if c.clip_range_vf is None:
        v_loss = 0.5 * (values - batch.returns).pow(2).mean()
    else:
        v_clipped = batch.values + torch.clamp(values - batch.values, -c.clip_range_vf, c.clip_range_vf)
        v_loss = 0.5 * torch.max((values - batch.returns).pow(2), (v_clipped - batch.returns).pow(2)).mean()
    agent.flat.zero_grad()
    (pg + c.vf_coef * v_loss - c.ent_coef * entropy.mean()).backward()
    expected = agent.flat.param.grad.clone()
    agent.flat.zero_grad()
    losses = agent.fast.ppo_gradient(*(x.numpy() for x in (batch.obs, batch.actions, batch.logprobs, batch.advantages,
                                                          batch.returns, batch.values)),
                                     clip=clip, clip_vf=c.clip_range_vf, ent_coef=c.ent_coef, vf_coef=c.vf_coef,
                                     normalize_advantage=True)
    assert _rel(agent.flat.param.grad, expected) < 1e-5
    assert losses.policy == pytest.approx(pg.item(), rel=1e-4, abs=1e-6)
    assert losses.value == pytest.approx(v_loss.item(), rel=1e-5)
    assert losses.entropy == pytest.approx(entropy.mean().item(), rel=1e-5)
    agent.close()


@pytest.mark.parametrize("config", [{}, {"activation": "tanh", "autotune": False}], ids=["relu-autotune", "tanh"])
def test_numpy_sac_step_equals_autograd(config, monkeypatch):
    agent = ALGORITHMS["sac"]("Pendulum-v1", seed=1, device="cpu",
                              config={"learning_starts": 100, "hidden_sizes": [32, 32], **config})
    agent.learn(300)
    flats = [agent.actor_flat, agent.critic_flat, agent.critic_target_flat, agent.alpha_flat]
    saved = [f.param.detach().clone() for f in flats]
    opts = [agent.actor_opt, agent.critic_opt, agent.alpha_opt]
    opt_states = [{k: (v.clone() if isinstance(v, torch.Tensor) else v) for k, v in o.state_dict()["state"].get(0, {}).items()}
                  for o in opts]
    rng = np.random.default_rng(0)
    batch = agent.replay.sample_arrays(rng, 64, 1)[0]
    noises = [rng.standard_normal((64, 1), dtype=np.float32) for _ in range(2)]

    class Replay:  # hands out the same two noise draws to both implementations
        def __init__(self) -> None:
            self.queue = list(noises)

        def standard_normal(self, shape, dtype=None):  # noqa: ANN001, ANN201
            return self.queue.pop(0)

    grads: dict[str, torch.Tensor] = {}

    def critic_step(tag: str) -> None:
        grads[f"critic-{tag}"] = agent.critic_flat.param.grad.clone()
        FlatAdam.step(agent.critic_opt)

    alpha = float(agent.alpha.log_alpha.detach().exp())
    c_loss, a_loss, _ = agent.fast.step(*batch, alpha=alpha, gamma=agent.config.gamma, rng=Replay(),
                                        critic_done=lambda: critic_step("numpy"))
    grads["actor-numpy"] = agent.actor_flat.param.grad.clone()

    with torch.no_grad():
        for f, s in zip(flats, saved):
            f.param.copy_(s)
    for o, st in zip(opts, opt_states):
        o.load_state_dict({"state": {0: st} if st else {}, "param_groups": o.param_groups})
    queue = [torch.from_numpy(n) for n in noises]
    monkeypatch.setattr(torch, "randn_like", lambda x: queue.pop(0))
    monkeypatch.setattr(agent.critic_opt, "step", lambda: critic_step("torch"))
    t_c, t_a, _ = agent._update(ReplayBatch(*(torch.from_numpy(x) for x in batch)))
    assert _rel(grads["critic-numpy"], grads["critic-torch"]) < 1e-4
    assert _rel(grads["actor-numpy"], agent.actor_flat.param.grad) < 1e-4
    assert c_loss == pytest.approx(float(t_c), rel=1e-4) and a_loss == pytest.approx(float(t_a), rel=1e-4)
    agent.close()


def _step_beside_torch(make_ours, make_torch, steps: int, numpy_path: bool = True):
    """Two copies of one parameter, one stepped by ours and one by torch's optimiser on the same gradients."""
    torch.manual_seed(0)
    ours, ref = torch.nn.Parameter(torch.randn(50)), torch.nn.Parameter(torch.randn(50))
    with torch.no_grad():
        ref.copy_(ours)
    ours.grad, ref.grad = torch.zeros(50), torch.zeros(50)
    opt, torch_opt = make_ours(ours), make_torch([ref])
    if not numpy_path:
        opt._np = None  # the torch-op update (what GPU tensors take)
    for _ in range(steps):
        g = torch.randn(50)
        ours.grad.copy_(g)
        ref.grad.copy_(g)
        opt.step()
        torch_opt.step()
    return ours, ref, opt, torch_opt


def test_flat_adam_is_torch_adam_and_loads_its_state():
    ours, ref, _, torch_opt = _step_beside_torch(lambda p: FlatAdam(p, lr=1e-2, eps=1e-5),
                                                 lambda ps: torch.optim.Adam(ps, lr=1e-2, eps=1e-5), 20)
    assert torch.allclose(ours, ref, atol=1e-6)
    fresh = FlatAdam(torch.nn.Parameter(ref.detach().clone()), lr=1.0)
    fresh.param.grad = torch.zeros(50)
    fresh.load_state_dict(torch_opt.state_dict())  # a checkpoint written with torch.optim.Adam
    assert fresh.steps == 20 and fresh.param_groups[0]["lr"] == 1e-2
    assert torch.equal(fresh.exp_avg, torch_opt.state[ref]["exp_avg"])


@pytest.mark.parametrize("numpy_path", [True, False], ids=["numpy", "torch-ops"])
def test_flat_rmsprop_is_torch_rmsprop_and_loads_its_state(numpy_path):
    ours, ref, opt, torch_opt = _step_beside_torch(lambda p: FlatRMSprop(p, lr=7e-3, alpha=0.99, eps=1e-5),
                                                   lambda ps: torch.optim.RMSprop(ps, lr=7e-3, alpha=0.99, eps=1e-5),
                                                   30, numpy_path)
    assert torch.allclose(ours, ref, atol=1e-6, rtol=1e-6)
    assert torch.allclose(opt.square_avg, torch_opt.state[ref]["square_avg"], rtol=1e-6)
    fresh = FlatRMSprop(torch.nn.Parameter(ref.detach().clone()), lr=1.0)
    fresh.param.grad = torch.zeros(50)
    fresh.load_state_dict(torch_opt.state_dict())  # a checkpoint written with torch.optim.RMSprop
    assert fresh.steps == 30 and fresh.param_groups[0]["lr"] == 7e-3 and fresh.param_groups[0]["eps"] == 1e-5
    assert torch.equal(fresh.square_avg, torch_opt.state[ref]["square_avg"])
    back = torch.optim.RMSprop([torch.nn.Parameter(ref.detach().clone())], lr=1.0)
    back.load_state_dict(opt.state_dict())  # and the other way round
    assert back.param_groups[0]["lr"] == 7e-3 and torch.equal(next(iter(back.state.values()))["square_avg"], opt.square_avg)


def test_event_files_read_back_in_tensorboard(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from zoolab.tbevents import ScalarWriter

    first = ScalarWriter(tmp_path, purge_step=None)
    for step, value in [(10, 1.5), (20, 2.5), (30, 3.5)]:
        first.add_scalar("train/loss", value, step)
    first.close()
    resumed = ScalarWriter(tmp_path, purge_step=20)  # a run resumed from its step-20 checkpoint
    resumed.add_scalar("train/loss", -0.25, 25)
    resumed.close()
    acc = EventAccumulator(str(tmp_path))
    acc.Reload()
    assert [(e.step, e.value) for e in acc.Scalars("train/loss")] == [(10, 1.5), (25, -0.25)]


def test_batched_evaluation_plays_the_same_episodes(monkeypatch):
    agent = ALGORITHMS["ppo"]("CartPole-v1", seed=0, device="cpu", config={"n_steps": 32})
    agent.learn(2048)  # a policy whose episode lengths depend on the start state
    together = agent.evaluate(6, seed=7)
    monkeypatch.setattr(evaluation, "PARALLEL_EPISODES", 1)
    assert agent.evaluate(6, seed=7).returns == together.returns  # one at a time: the same episodes
    assert agent.evaluate(5, seed=8).returns == together.returns[1:]  # episode k resets with seed + k
    assert together.lengths == [int(r) for r in together.returns]
    agent.close()


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_the_train_command_imports_neither_dynamo_nor_tensorboard(tmp_path, algo):
    code = (f"import sys; from zoolab.cli.main import main; sys.argv = ['zoolab', 'rl', 'train', '{algo}', 'CartPole-v1', "
            f"'--steps', '512', '--eval-episodes', '1', '--run-dir', {str(tmp_path / 'run')!r}, '--json']\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            "print('LOADED', sorted(m for m in ('torch._dynamo', 'tensorboard', 'boto3') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert "LOADED []" in out.stdout, out.stdout[-500:] + out.stderr[-500:]
    assert list((tmp_path / "run" / "tb").glob("events.out.tfevents.*"))
