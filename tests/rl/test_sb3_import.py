"""`zoolab rl import`: SB3 agents trained here become zoolab agents with the same greedy actions and
returns; nothing in the zip is unpickled; zips zoolab cannot map get an error naming what is missing."""

from __future__ import annotations

import base64
import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import torch._dynamo  # noqa: F401 - load triton before TensorFlow (SB3 pulls in TensorBoard)
import gymnasium as gym
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from zoolab.cli.main import app
from zoolab.errors import InvalidInputError, UnsupportedError
from zoolab.rl.artifacts import load_agent
from zoolab.rl.sb3 import import_agent

sb3 = pytest.importorskip("stable_baselines3")

CASES = {
    "ppo": ("CartPole-v1", dict(n_steps=256, batch_size=64, n_epochs=2, policy_kwargs={"net_arch": [32, 32]}), 1024),
    "a2c": ("Pendulum-v1", dict(n_steps=8, policy_kwargs={"net_arch": [32, 32], "activation_fn": torch.nn.ReLU}), 512),
    "dqn": ("CartPole-v1", dict(learning_starts=100, policy_kwargs={"net_arch": [32, 32]}), 600),
    "sac": ("Pendulum-v1", dict(learning_starts=100, policy_kwargs={"net_arch": [32, 32]}), 300),
    "td3": ("Pendulum-v1", dict(learning_starts=100, policy_kwargs={"net_arch": [32, 32]}), 300),
}


@pytest.fixture(scope="module")
def zips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("sb3")
    out = {}
    for algo, (env, kwargs, steps) in CASES.items():
        model = getattr(sb3, algo.upper())("MlpPolicy", env, seed=0, device="cpu", **kwargs)
        model.learn(steps)
        path = base / f"{algo}-{env}.zip"  # RL Zoo's file name: the env comes from it
        model.save(path)
        out[algo] = path
    return out


def rollout_returns(act, env_id: str, seeds: range) -> list[float]:  # noqa: ANN001
    returns = []
    for seed in seeds:
        env = gym.make(env_id)
        obs, _ = env.reset(seed=seed)
        total, done = 0.0, False
        while not done:
            obs, reward, terminated, truncated, _ = env.step(act(obs))
            total += float(reward)
            done = terminated or truncated
        env.close()
        returns.append(total)
    return returns


@pytest.mark.parametrize("algo", list(CASES))
def test_imported_agent_acts_and_scores_like_sb3(algo: str, zips: dict[str, Path], tmp_path: Path) -> None:
    env_id = CASES[algo][0]
    model = getattr(sb3, algo.upper()).load(zips[algo], device="cpu")
    folder = import_agent(zips[algo], out=tmp_path / "agent")
    agent = load_agent(folder, device="cpu")
    assert agent.algo == algo and agent.env_id == env_id
    obs = np.stack([model.observation_space.sample() for _ in range(1000)]).astype(np.float32)
    theirs = np.asarray(model.predict(obs, deterministic=True)[0])
    ours = agent.predict(obs)
    if algo in ("ppo", "dqn"):
        assert np.array_equal(theirs.reshape(ours.shape), ours)
    else:
        np.testing.assert_allclose(ours, theirs.reshape(ours.shape), atol=1e-5)

    def sb3_act(o):  # noqa: ANN001, ANN202
        return model.predict(o, deterministic=True)[0]

    def zl_act(o):  # noqa: ANN001, ANN202
        a = agent.predict(o)
        return int(a) if algo in ("ppo", "dqn") else a

    np.testing.assert_allclose(rollout_returns(zl_act, env_id, range(3)), rollout_returns(sb3_act, env_id, range(3)),
                               rtol=1e-4)


def test_cli_import_then_eval(zips: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["rl", "import", str(zips["ppo"]), "--out", str(tmp_path / "ppo"), "--json"])
    assert out.exit_code == 0, out.output
    info = json.loads(out.output)
    assert info["algo"] == "ppo" and info["env_id"] == "CartPole-v1" and info["hidden_sizes"] == [32, 32]
    assert runner.invoke(app, ["rl", "eval", str(tmp_path / "ppo"), "-n", "2"]).exit_code == 0


def _rewrite(src: Path, dst: Path, *, data=None, drop=(), policy=None, extra=None) -> Path:  # noqa: ANN001
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for name in zin.namelist():
            if name in drop:
                continue
            blob = zin.read(name)
            if name == "data" and data is not None:
                blob = json.dumps(data(json.loads(blob))).encode()
            if name == "policy.pth" and policy is not None:
                buf = io.BytesIO()
                torch.save(policy(torch.load(io.BytesIO(blob), weights_only=True)), buf)
                blob = buf.getvalue()
            zout.writestr(name, blob)
        for name, blob in (extra or {}).items():
            zout.writestr(name, blob)
    return dst


class _Trap:
    def __reduce__(self):  # noqa: ANN204 - what a malicious zip would carry
        return (os.system, (f"touch {os.environ['ZOOLAB_TRAP']}",))


def test_serialized_fields_are_never_unpickled(zips: dict[str, Path], tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    trap = tmp_path / "unpickled"
    monkeypatch.setenv("ZOOLAB_TRAP", str(trap))
    payload = base64.b64encode(pickle.dumps(_Trap())).decode()

    def poison(data: dict) -> dict:
        data["lr_schedule"] = {":type:": "<class 'function'>", ":serialized:": payload}
        data["policy_kwargs"] = {":type:": "<class 'dict'>", ":serialized:": payload, "net_arch": [32, 32]}
        return data

    bad = _rewrite(zips["ppo"], tmp_path / "ppo-CartPole-v1.zip", data=poison)
    folder = import_agent(bad, out=tmp_path / "agent")
    assert load_agent(folder).algo == "ppo"
    assert not trap.exists()
    # A policy.pth carrying a pickled object instead of tensors is refused, not run.
    with zipfile.ZipFile(zips["ppo"]) as z:
        data = z.read("data")
    evil = tmp_path / "evil" / "ppo-CartPole-v1.zip"
    evil.parent.mkdir()
    with zipfile.ZipFile(evil, "w") as z:
        z.writestr("data", data)
        z.writestr("policy.pth", pickle.dumps({"w": _Trap()}))
    with pytest.raises(InvalidInputError, match="policy.pth holds more than tensors"):
        import_agent(evil, out=tmp_path / "evil-agent")
    assert not trap.exists()


def test_unmappable_zips_name_what_is_missing(zips: dict[str, Path], tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    no_head = _rewrite(zips["ppo"], tmp_path / "a" / "ppo-CartPole-v1.zip",
                       policy=lambda sd: {k: v for k, v in sd.items() if not k.startswith("action_net")})
    with pytest.raises(UnsupportedError, match="missing action_net.weight"):
        import_agent(no_head, out=tmp_path / "x")
    (tmp_path / "b").mkdir()
    no_policy = _rewrite(zips["dqn"], tmp_path / "b" / "dqn-CartPole-v1.zip", drop=("policy.pth",))
    with pytest.raises(InvalidInputError, match="no policy.pth inside"):
        import_agent(no_policy, out=tmp_path / "x")
    (tmp_path / "c").mkdir()
    sde = _rewrite(zips["sac"], tmp_path / "c" / "sac-Pendulum-v1.zip", data=lambda d: {**d, "use_sde": True})
    with pytest.raises(UnsupportedError, match="gSDE"):
        import_agent(sde, out=tmp_path / "x")
    (tmp_path / "d").mkdir()
    cnn = _rewrite(zips["dqn"], tmp_path / "d" / "dqn-CartPole-v1.zip",
                   policy=lambda sd: {**sd, "q_net.features_extractor.cnn.0.weight": torch.zeros(8, 4, 3, 3)})
    with pytest.raises(UnsupportedError, match="q_net.features_extractor.cnn.0.weight"):
        import_agent(cnn, out=tmp_path / "x")
    vecnorm = tmp_path / "e"
    vecnorm.mkdir()
    (vecnorm / "ppo-CartPole-v1.zip").write_bytes(zips["ppo"].read_bytes())
    (vecnorm / "vec_normalize.pkl").write_bytes(b"not read")
    with pytest.raises(UnsupportedError, match="vec_normalize.pkl"):
        import_agent(vecnorm, out=tmp_path / "x")
    wrong_env = CliRunner().invoke(app, ["rl", "import", str(zips["ppo"]), "--env", "Pendulum-v1", "--out", str(tmp_path / "x")])
    assert wrong_env.exit_code != 0 and "observes shape [4]" in wrong_env.output and "Traceback" not in wrong_env.output
    not_zip = tmp_path / "notes.zip"
    not_zip.write_text("hello")
    out = CliRunner().invoke(app, ["rl", "import", str(not_zip), "--env", "CartPole-v1"])
    assert out.exit_code == 2 and "not a Stable-Baselines3 zip" in out.output
