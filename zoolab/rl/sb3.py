"""Stable-Baselines3 / RL Zoo agents read without unpickling anything (``zoolab rl import``).

An SB3 ``.zip`` holds ``data`` (JSON; values SB3 could not write as JSON are cloudpickled under
``":serialized:"``, next to their plain first-level attributes), ``policy.pth`` (a torch state
dict) and optimiser files. zoolab reads the JSON, never decodes a ``":serialized:"`` field, and
loads ``policy.pth`` with ``torch.load(weights_only=True)`` (tensors only). The algorithm comes
from the hyperparameters, the network sizes from the weight shapes, the activation from the plain
``activation_fn`` name SB3 writes beside the pickled ``policy_kwargs``.

Mapped: MlpPolicy of PPO and A2C (Discrete, MultiDiscrete and Box actions, separate policy and
value MLPs of the same sizes), DQN, SAC and TD3. Anything else (CNN or Dict policies, gSDE,
shared layers, a ``vec_normalize.pkl`` pickle) is refused with an error naming what is missing.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from zoolab.errors import InvalidInputError, UnsupportedError

if TYPE_CHECKING:
    from zoolab.rl.agent import Agent

_ACTIVATIONS = {"Tanh": "tanh", "ReLU": "relu", "ELU": "elu", "GELU": "gelu"}
_DEFAULT_ACTIVATION = {"ppo": "tanh", "a2c": "tanh", "dqn": "relu", "sac": "relu", "td3": "relu"}
_HPARAMS = {
    "ppo": ("gamma", "n_steps", "batch_size", "n_epochs", "gae_lambda", "ent_coef", "vf_coef", "max_grad_norm",
            "normalize_advantage", "target_kl"),
    "a2c": ("gamma", "n_steps", "gae_lambda", "ent_coef", "vf_coef", "max_grad_norm", "normalize_advantage"),
    "dqn": ("gamma", "buffer_size", "learning_starts", "batch_size", "gradient_steps", "target_update_interval",
            "tau", "exploration_fraction", "exploration_initial_eps", "exploration_final_eps", "max_grad_norm"),
    "sac": ("gamma", "buffer_size", "learning_starts", "batch_size", "gradient_steps", "tau", "target_entropy"),
    "td3": ("gamma", "buffer_size", "learning_starts", "batch_size", "gradient_steps", "tau", "policy_delay",
            "target_policy_noise", "target_noise_clip"),
}


@dataclass
class SB3Zip:
    """What was read from an SB3 zip (JSON values and tensors only)."""

    algo: str
    data: dict[str, Any]
    policy: dict[str, torch.Tensor]
    variables: dict[str, torch.Tensor]
    version: str | None


def _plain(value: Any) -> Any:
    """A ``data`` value as JSON gave it, or None for a cloudpickled one (never decoded)."""
    return None if isinstance(value, dict) and ":serialized:" in value else value


def _algo(data: dict[str, Any], source: str) -> str:
    module = str((data.get("policy_class") or {}).get("__module__", ""))
    if "policy_delay" in data or module.startswith("stable_baselines3.td3"):
        return "td3"
    if "target_entropy" in data or module.startswith("stable_baselines3.sac"):
        return "sac"
    if "exploration_final_eps" in data or module.startswith("stable_baselines3.dqn"):
        return "dqn"
    if module == "stable_baselines3.common.policies":
        return "ppo" if "n_epochs" in data else "a2c"
    raise UnsupportedError(f"{source}: cannot tell the algorithm (policy from '{module or 'unknown'}')",
                           hint="zoolab imports SB3 PPO, A2C, DQN, SAC and TD3 agents")


def read_zip(path: Path) -> SB3Zip:
    """Read an SB3 zip: ``data`` JSON, ``policy.pth`` and ``pytorch_variables.pth`` as tensors only."""
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise InvalidInputError(f"{path} is not a Stable-Baselines3 zip: {exc}") from None
    with archive:
        names = set(archive.namelist())
        missing = [n for n in ("data", "policy.pth") if n not in names]
        if missing:
            raise InvalidInputError(f"{path} is not a Stable-Baselines3 zip: no {' and no '.join(missing)} inside",
                                    hint="pass the .zip that model.save() or RL Zoo wrote")
        try:
            data = json.loads(archive.read("data"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InvalidInputError(f"{path}: its 'data' entry is not JSON: {exc}") from None

        def tensors(name: str) -> dict[str, torch.Tensor]:
            if name not in names:
                return {}
            try:  # weights_only: tensors and plain containers; any other pickled object is refused
                loaded = torch.load(io.BytesIO(archive.read(name)), map_location="cpu", weights_only=True)
            except Exception as exc:  # noqa: BLE001 - torch raises UnpicklingError, RuntimeError...
                raise InvalidInputError(f"{path}: {name} holds more than tensors and is not loaded "
                                        f"({type(exc).__name__})") from None
            return {k: v for k, v in loaded.items() if isinstance(v, torch.Tensor)} if isinstance(loaded, dict) else {}

        policy, variables = tensors("policy.pth"), tensors("pytorch_variables.pth")
        version = archive.read("_stable_baselines3_version").decode().strip() if "_stable_baselines3_version" in names else None
    return SB3Zip(_algo(data, str(path)), data, policy, variables, version)


def _activation(data: dict[str, Any], algo: str) -> str:
    kwargs = data.get("policy_kwargs") or {}
    name = kwargs.get("activation_fn") if isinstance(kwargs, dict) else None
    if name is None:
        return _DEFAULT_ACTIVATION[algo]
    match = re.search(r"\.(\w+)'?>?$", str(name))
    short = match.group(1) if match else str(name)
    if short not in _ACTIVATIONS:
        raise UnsupportedError(f"activation {short} of this agent has no zoolab equivalent",
                               hint=f"zoolab has {', '.join(_ACTIVATIONS)}")
    return _ACTIVATIONS[short]


def _need(sd: dict[str, torch.Tensor], keys: list[str], what: str) -> None:
    missing = [k for k in keys if k not in sd]
    if missing:
        raise UnsupportedError(f"this {what} is not an MlpPolicy zoolab can map: missing {', '.join(missing[:4])}"
                               + (f" (and {len(missing) - 4} more)" if len(missing) > 4 else ""),
                               hint="zoolab maps MlpPolicy weights (no CNN, Dict, gSDE or custom extractors)")


def _mlp(sd: dict[str, torch.Tensor], prefix: str, what: str) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``[(weight, bias), ...]`` of ``prefix.0``, ``prefix.2``, ... (Linear/activation alternating)."""
    layers = []
    index = 0
    while f"{prefix}.{index}.weight" in sd:
        layers.append((sd[f"{prefix}.{index}.weight"], sd[f"{prefix}.{index}.bias"]))
        index += 2
    if not layers:
        _need(sd, [f"{prefix}.0.weight"], what)
    extra = [k for k in sd if k.startswith(f"{prefix}.") and not re.match(rf"^{re.escape(prefix)}\.\d+\.(weight|bias)$", k)]
    if extra:
        raise UnsupportedError(f"this {what} has layers zoolab's MLP does not: {', '.join(extra[:3])}")
    return layers


def _hidden(layers: list[tuple[torch.Tensor, torch.Tensor]], with_head: bool = True) -> tuple[int, ...]:
    outs = [int(w.shape[0]) for w, _ in layers]
    return tuple(outs[:-1] if with_head else outs)


def _ensemble(members: list[list[tuple[torch.Tensor, torch.Tensor]]], prefix: str) -> dict[str, torch.Tensor]:
    """Stack per-member Linear layers into zoolab's EnsembleLinear keys (weight (n, in, out), bias (n, 1, out))."""
    out = {}
    for i in range(len(members[0])):
        out[f"{prefix}.{2 * i}.weight"] = torch.stack([m[i][0].T for m in members])
        out[f"{prefix}.{2 * i}.bias"] = torch.stack([m[i][1].unsqueeze(0) for m in members])
    return out


def _linear(layers: list[tuple[torch.Tensor, torch.Tensor]], prefix: str) -> dict[str, torch.Tensor]:
    out = {}
    for i, (w, b) in enumerate(layers):
        out[f"{prefix}.{2 * i}.weight"], out[f"{prefix}.{2 * i}.bias"] = w, b
    return out


def _critics(sd: dict[str, torch.Tensor], prefix: str) -> list[list[tuple[torch.Tensor, torch.Tensor]]]:
    members = []
    while f"{prefix}.qf{len(members)}.0.weight" in sd:
        members.append(_mlp(sd, f"{prefix}.qf{len(members)}", "critic"))
    if len(members) != 2:
        raise UnsupportedError(f"{len(members)} critics in {prefix}; zoolab's SAC and TD3 have 2",
                               hint="import agents trained with n_critics=2 (the default)")
    return members


_MAPPED_PREFIXES = {
    "ppo": ("mlp_extractor.policy_net.", "mlp_extractor.value_net.", "action_net.", "value_net.", "log_std"),
    "dqn": ("q_net.q_net.", "q_net_target.q_net."),
    "sac": ("actor.latent_pi.", "actor.mu.", "actor.log_std.", "critic.qf", "critic_target.qf"),
    "td3": ("actor.mu.", "actor_target.mu.", "critic.qf", "critic_target.qf"),
}
_MAPPED_PREFIXES["a2c"] = _MAPPED_PREFIXES["ppo"]


def _map(z: SB3Zip) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """zoolab config overrides and ``module.param`` tensors for the SB3 weights."""
    sd, algo = z.policy, z.algo
    unmapped = [k for k in sd if not k.startswith(_MAPPED_PREFIXES[algo])]
    if unmapped:  # a CNN or custom features extractor, shared layers...: weights zoolab has no place for
        raise UnsupportedError(f"this {algo.upper()} agent has weights zoolab's MlpPolicy mapping does not cover: "
                               f"{', '.join(unmapped[:3])}" + (f" (and {len(unmapped) - 3} more)" if len(unmapped) > 3 else ""),
                               hint="zoolab maps MlpPolicy weights (no CNN, Dict or custom features extractors)")
    if z.data.get("use_sde"):
        raise UnsupportedError("this agent explores with gSDE (use_sde=True); zoolab does not map gSDE weights yet")
    cfg: dict[str, Any] = {"activation": _activation(z.data, algo), "env.n_envs": 1}
    for key in _HPARAMS[algo]:
        value = _plain(z.data.get(key))
        if isinstance(value, (int, float)) and not isinstance(value, bool) or (isinstance(value, bool) and key == "normalize_advantage"):
            cfg[key] = value
    lr = _plain(z.data.get("learning_rate"))
    if isinstance(lr, (int, float)):
        cfg["learning_rate"] = float(lr)
    tensors: dict[str, torch.Tensor] = {}
    if algo in ("ppo", "a2c"):
        _need(sd, ["action_net.weight", "value_net.weight"], f"{algo.upper()} policy")
        pi = _mlp(sd, "mlp_extractor.policy_net", "policy") + [(sd["action_net.weight"], sd["action_net.bias"])]
        vf = _mlp(sd, "mlp_extractor.value_net", "value network") + [(sd["value_net.weight"], sd["value_net.bias"])]
        if _hidden(pi) != _hidden(vf):
            raise UnsupportedError(f"policy layers {list(_hidden(pi))} and value layers {list(_hidden(vf))} differ; "
                                   "zoolab's actor-critic has the same sizes for both")
        n_out = int(pi[-1][0].shape[0])
        head_w = torch.zeros_like(pi[-1][0])
        head_b = torch.zeros_like(pi[-1][1])
        head_w[0], head_b[0] = vf[-1][0][0], vf[-1][1][0]  # the value is column 0 of member 1
        vf[-1] = (head_w, head_b)
        tensors.update(_ensemble([pi, vf], "policy.body"))
        if "log_std" in sd:
            tensors["policy.log_std"] = sd["log_std"].reshape(n_out)
        cfg["hidden_sizes"] = _hidden(pi)
    elif algo == "dqn":
        q, q_target = _mlp(sd, "q_net.q_net", "Q-network"), _mlp(sd, "q_net_target.q_net", "target Q-network")
        tensors.update(_linear(q, "q.net"))
        tensors.update(_linear(q_target, "q_target.net"))
        cfg.update({"hidden_sizes": _hidden(q), "dueling": False, "layer_norm": False, "double_q": False})
    elif algo == "sac":
        _need(sd, ["actor.mu.weight", "actor.log_std.weight"], "SAC actor")
        latent = _mlp(sd, "actor.latent_pi", "actor")
        head = (torch.cat([sd["actor.mu.weight"], sd["actor.log_std.weight"]]),
                torch.cat([sd["actor.mu.bias"], sd["actor.log_std.bias"]]))
        tensors.update(_linear(latent + [head], "actor.net"))
        tensors.update(_ensemble(_critics(sd, "critic"), "critic.net"))
        tensors.update(_ensemble(_critics(sd, "critic_target"), "critic_target.net"))
        cfg["hidden_sizes"] = _hidden(latent, with_head=False)
        cfg["use_sde"] = False
        if "log_ent_coef" in z.variables:
            cfg["ent_coef"] = float(z.variables["log_ent_coef"].detach().exp().reshape(-1)[0])
    else:  # td3
        actor, actor_target = _mlp(sd, "actor.mu", "actor"), _mlp(sd, "actor_target.mu", "target actor")
        tensors.update(_linear(actor, "actor.net"))
        tensors.update(_linear(actor_target, "actor_target.net"))
        tensors.update(_ensemble(_critics(sd, "critic"), "critic.net"))
        tensors.update(_ensemble(_critics(sd, "critic_target"), "critic_target.net"))
        cfg["hidden_sizes"] = _hidden(actor)
    return cfg, tensors


def _space_check(z: SB3Zip, agent: Agent, env_id: str) -> None:
    obs = _plain_attrs(z.data.get("observation_space"))
    act = _plain_attrs(z.data.get("action_space"))
    want_obs = [int(n) for n in obs.get("_shape") or []]
    if want_obs and tuple(want_obs) != tuple(agent.observation_space.shape):
        raise InvalidInputError(f"the agent observes shape {want_obs}, but {env_id} gives "
                                f"{list(agent.observation_space.shape)}", hint="pass the environment it was trained on with --env")
    if "n" in act and hasattr(agent.action_space, "n") and int(str(act["n"])) != int(agent.action_space.n):
        raise InvalidInputError(f"the agent has {act['n']} actions, but {env_id} has {agent.action_space.n}",
                                hint="pass the environment it was trained on with --env")


def _plain_attrs(value: Any) -> dict[str, Any]:
    return {k: v for k, v in value.items() if k != ":serialized:"} if isinstance(value, dict) else {}


def env_from_name(name: str) -> str | None:
    """``ppo-CartPole-v1.zip`` / ``sb3/ppo-CartPole-v1`` -> ``CartPole-v1`` (RL Zoo's naming)."""
    stem = Path(name.split(":")[-1]).name
    stem = stem[:-4] if stem.endswith(".zip") else stem
    match = re.match(r"^(?:ppo|a2c|dqn|qrdqn|sac|td3|tqc|ddpg|trpo|ars)[-_](.+-v\d+)$", stem, re.IGNORECASE)
    return match.group(1) if match else None


def to_agent(path: Path, env_id: str, device: str = "cpu") -> Agent:
    """Build the zoolab agent for the SB3 zip at ``path`` on ``env_id``."""
    from zoolab.rl import ALGORITHMS
    from zoolab.rl import config as cfgmod
    from zoolab.rl.artifacts import load_module_tensors, module_tensors

    z = read_zip(path)
    overrides, mapped = _map(z)
    cls = ALGORITHMS[z.algo]
    config = cfgmod.apply_overrides(cls.config_class(), overrides)
    agent = cls(env_id, seed=int(_plain(z.data.get("seed")) or 0), device=device, config=config)
    _space_check(z, agent, env_id)
    current = module_tensors(agent)
    unknown = sorted(set(mapped) - set(current))
    if unknown:
        raise UnsupportedError(f"{path}: weights {', '.join(unknown[:3])} have no place in zoolab's {z.algo.upper()}")
    for key, value in mapped.items():
        if tuple(value.shape) != tuple(current[key].shape):
            raise UnsupportedError(f"{path}: {key} has shape {list(value.shape)}, zoolab's network needs "
                                   f"{list(current[key].shape)}")
        current[key] = value.to(current[key].dtype)
    load_module_tensors(agent, current)
    steps = _plain(z.data.get("num_timesteps"))
    agent.num_timesteps = int(steps) if isinstance(steps, int) else 0
    return agent


def _find_zip(folder: Path, source: str) -> Path:
    zips = sorted(folder.glob("*.zip"))
    if not zips:
        raise InvalidInputError(f"{source} holds no .zip agent", hint="RL Zoo repos hold <algo>-<env>.zip")
    if len(zips) > 1:
        names = ", ".join(z.name for z in zips)
        raise InvalidInputError(f"{source} holds several zips ({names})", hint="pass the path of one of them")
    return zips[0]


def import_agent(ref: str | Path, *, env_id: str | None = None, out: str | Path | None = None,
                 device: str = "cpu") -> Path:
    """Convert an SB3 / RL Zoo agent (a .zip, a folder holding one, or ``SOURCE:org/name``) into a
    zoolab agent folder; returns the folder (default ``ZOOLAB_HOME/runs/sb3-<name>``).

    ``env_id`` defaults to the one in RL Zoo's file or repo name (``ppo-CartPole-v1``).

    Raises:
        InvalidInputError: not an SB3 zip, no env id, or spaces that do not match the env.
        UnsupportedError: an agent zoolab cannot map (the message names what is missing).
    """
    from zoolab import settings

    text = str(ref)
    path = Path(text).expanduser()
    if path.is_file():
        zip_path = path
    elif path.is_dir():
        zip_path = _find_zip(path, text)
    else:
        from zoolab.hub import download
        from zoolab.hub.refs import parse_ref

        parse_ref(text)
        snap = download(text, include=["*.zip", "*.pkl", "*.yml"], progress=False)
        zip_path = _find_zip(Path(snap.path), text)
    folder = zip_path.parent
    if (folder / "vec_normalize.pkl").exists():
        raise UnsupportedError(
            f"{text} keeps its observation normalisation in vec_normalize.pkl, a pickle zoolab does not load",
            hint="only agents without VecNormalize import for now; their actions would be wrong without it")
    env_id = env_id or env_from_name(zip_path.name) or env_from_name(text)
    if env_id is None:
        raise InvalidInputError(f"cannot tell the environment of {zip_path.name}",
                                hint="pass it with --env, e.g. --env CartPole-v1")
    agent = to_agent(zip_path, env_id, device=device)
    target = Path(out) if out is not None else settings.runs_dir() / f"sb3-{zip_path.stem}"
    agent.save(target)
    return target
