"""`zoolab rl export`: ONNX and TorchScript policies with the normalisation folded in, checked
against the agent on recorded observations; bad inputs get one line."""

from __future__ import annotations

import json
from pathlib import Path

import torch._dynamo  # noqa: F401 - load triton before any TensorFlow in this process
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from zoolab.cli.main import app
from zoolab.rl.artifacts import load_agent
from zoolab.rl.export import export_agent, record_observations
from zoolab.rl.training import train


@pytest.fixture(scope="module")
def ppo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run = tmp_path_factory.mktemp("export") / "run"
    train("ppo", "CartPole-v1", steps=512, run_dir=run, device="cpu", eval_episodes=1,
          overrides={"n_steps": 64, "env.n_envs": 2, "env.norm_obs": True, "n_epochs": 2})
    return run


def test_onnx_takes_raw_observations_and_picks_the_agents_actions(ppo_run: Path) -> None:
    import onnxruntime

    out = CliRunner().invoke(app, ["rl", "export", str(ppo_run), "--format", "onnx", "--json"])
    assert out.exit_code == 0, out.output
    res = json.loads(out.output)
    assert res["path"] == str(ppo_run / "agent" / "policy.onnx") and res["observations"] == 1000
    agent = load_agent(ppo_run / "agent", device="cpu")
    assert agent.config.env.norm_obs and float(np.abs(agent.normalizer.obs_rms.mean).max()) > 0
    raw = record_observations(agent, 300, seed=7)
    session = onnxruntime.InferenceSession(res["path"], providers=["CPUExecutionProvider"])
    got = session.run(None, {"obs": raw})[0]
    assert np.array_equal(got, agent.predict(agent.normalizer.obs(raw, update=False)))
    # Without the folded-in normalisation the raw observations would give other actions somewhere.
    assert not np.array_equal(agent.predict(raw), got) or np.allclose(agent.normalizer.obs_rms.var, 1.0)


def test_torchscript_of_a_continuous_agent(tmp_path: Path) -> None:
    res = train("sac", "Pendulum-v1", steps=200, run_dir=tmp_path / "sac", device="cpu", eval_episodes=1,
                overrides={"learning_starts": 50, "hidden_sizes": (16,), "env.norm_obs": True})
    out = CliRunner().invoke(app, ["rl", "export", str(res.run_dir), "-f", "torchscript", "-o", str(tmp_path / "p.pt")])
    assert out.exit_code == 0, out.output
    module = torch.jit.load(str(tmp_path / "p.pt"))
    raw = record_observations(res.agent, 100, seed=3)
    got = module(torch.as_tensor(raw)).numpy()
    np.testing.assert_allclose(got, res.agent.predict(res.agent.normalizer.obs(raw, update=False)), atol=1e-5)
    assert got.min() >= -2.0 and got.max() <= 2.0


def test_export_result_reports_the_check(ppo_run: Path, tmp_path: Path) -> None:
    agent = load_agent(ppo_run / "agent", device="cpu")
    res = export_agent(agent, "torchscript", tmp_path / "x.pt", observations=50)
    assert res.observations == 50 and res.max_abs_diff == 0.0 and res.size_bytes == (tmp_path / "x.pt").stat().st_size


@pytest.mark.parametrize(("args", "message"), [
    (["--format", "tflite"], "unknown export format"),
])
def test_bad_export_inputs(ppo_run: Path, args: list[str], message: str) -> None:
    out = CliRunner().invoke(app, ["rl", "export", str(ppo_run), *args])
    assert out.exit_code == 2 and message in out.output and "Traceback" not in out.output


def test_export_of_a_missing_run() -> None:
    out = CliRunner().invoke(app, ["rl", "export", "no-such-run"])
    assert out.exit_code != 0 and "no run folder" in out.output
