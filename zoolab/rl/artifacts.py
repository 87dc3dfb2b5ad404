"""The saved-agent format: ``config.json``, ``model.safetensors``, ``results.json``, ``README.md``.

``config.json`` holds everything needed to rebuild the agent without zoolab's pickles: the
algorithm, env id, observation/action spaces, network, resolved hyperparameters and the
normalisation statistics. Weights are safetensors; nothing is unpickled on load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from zoolab.errors import InvalidInputError, ModelNotFoundError

if TYPE_CHECKING:
    from zoolab.rl.agent import Agent, EvalResult

FORMAT_VERSION = 1


def module_tensors(agent: Agent) -> dict[str, torch.Tensor]:
    """Every network's state as one flat ``{module.param: tensor}`` dict (CPU, contiguous)."""
    out: dict[str, torch.Tensor] = {}
    for name, module in agent.modules.items():
        for key, value in module.state_dict().items():
            out[f"{name}.{key}"] = value.detach().to("cpu").contiguous().clone()
    return out


def load_module_tensors(agent: Agent, tensors: dict[str, torch.Tensor]) -> None:
    """Inverse of :func:`module_tensors` (strict: every key must match)."""
    for name, module in agent.modules.items():
        prefix = f"{name}."
        state = {k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)}
        try:
            module.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise InvalidInputError(f"weights do not match the {agent.algo.upper()} network '{name}': {exc}") from None


def agent_config(agent: Agent) -> dict[str, Any]:
    """The ``config.json`` document."""
    from zoolab._version import __version__
    from zoolab.rl.agent import hparams
    from zoolab.rl.envs import space_to_json

    c = agent.config
    return {
        "library": "zoolab", "format_version": FORMAT_VERSION, "zoolab_version": __version__,
        "algorithm": agent.algo, "env_id": agent.env_id, "seed": agent.seed, "num_timesteps": agent.num_timesteps,
        "observation_space": space_to_json(agent.observation_space),
        "action_space": space_to_json(agent.action_space),
        "network": {"modules": {n: type(m).__name__ for n, m in agent.modules.items()},
                    "hidden_sizes": list(c.hidden_sizes), "activation": c.activation},
        "hyperparameters": hparams(agent),
        "normalization": agent.normalizer.state(),
    }


def card(agent: Agent, results: EvalResult | None, *, repo: str | None = None, video: bool = False) -> str:
    """The agent's README.md: Hub metadata (pipeline_tag, library_name, tags, model-index with
    ``mean_reward`` as "mean +/- std", as the Hub shows SB3 agents) and how to use it.

    ``repo`` (``SOURCE:org/name``) writes the usage for a published agent; ``video`` embeds replay.mp4.
    """
    algo, env = agent.algo.upper(), agent.env_id
    lines = ["---", "library_name: zoolab", "pipeline_tag: reinforcement-learning", "tags:",
             "- reinforcement-learning", "- gymnasium", f"- {agent.algo}", f"- {env}"]
    if results is not None:
        lines += ["model-index:", f"- name: {algo}-{env}", "  results:", "  - task:",
                  "      type: reinforcement-learning", "      name: reinforcement-learning",
                  "    dataset:", f"      name: {env}", f"      type: {env}", "    metrics:",
                  "    - type: mean_reward", f"      value: {results.mean_return:.2f} +/- {results.std_return:.2f}",
                  "      name: mean_reward", "      verified: false"]
    lines += ["---", "", f"# {algo} agent for {env}", "",
              f"Trained with zoolab for {agent.num_timesteps} environment steps (seed {agent.seed}).", ""]
    if results is not None:
        kind = "deterministic" if results.deterministic else "stochastic"
        lines += [f"Evaluation ({results.episodes} {kind} episodes): mean return "
                  f"{results.mean_return:.2f} ± {results.std_return:.2f}.", ""]
    if video:
        lines += ['<video controls src="replay.mp4"></video>', ""]
    where = repo or "path/to/this/folder"
    lines += ["## Use", ""]
    if repo is not None:
        lines += ["```bash", f"zoolab rl eval {repo}", f"zoolab rl enjoy {repo}",
                  f"zoolab rl train --from {repo} --steps 100000   # continue training", "```", ""]
    lines += ["```python", "from zoolab.rl import load", "", f'agent = load("{where}")', "env = agent.make_env()",
              "obs, _ = env.reset(seed=0)", "action = agent.predict(obs)", "```", "",
              "Hyperparameters and normalisation statistics are in `config.json`; weights in `model.safetensors` "
              "(nothing in this repository is pickled).", ""]
    return "\n".join(lines)


def save_agent(agent: Agent, folder: Path, *, results: EvalResult | None = None) -> Path:
    """Write the agent folder; returns it."""
    from safetensors.torch import save_file

    from zoolab.rl.agent import dumps

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(dumps(agent_config(agent)))
    save_file(module_tensors(agent), str(folder / "model.safetensors"), metadata={"format": "pt", "library": "zoolab"})
    from zoolab.filemodes import respect_umask

    respect_umask([folder / "model.safetensors"])  # safetensors writes 0600 whatever the umask
    if results is not None:
        (folder / "results.json").write_text(dumps({"env_id": agent.env_id, "algorithm": agent.algo,
                                                    "num_timesteps": agent.num_timesteps, **results.to_dict()}))
    (folder / "README.md").write_text(card(agent, results))
    return folder


def read_config(folder: Path) -> dict[str, Any]:
    """``config.json`` of a saved agent, with a clear error when the folder is not one."""
    path = Path(folder) / "config.json"
    if not path.is_file():
        raise ModelNotFoundError(f"{folder} is not a saved zoolab agent (no config.json)",
                                 hint="pass the agent/ folder of a run, or a folder written by agent.save()")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{path} is not valid JSON: {exc}") from None
    if data.get("library") != "zoolab" or "algorithm" not in data:
        raise InvalidInputError(f"{path} is not a zoolab RL agent config")
    return data


def load_agent(folder: str | Path, device: str = "auto") -> Agent:
    """Load any saved agent; the class comes from ``config.json``'s ``algorithm``."""
    from safetensors.torch import load_file

    from zoolab.rl import ALGORITHMS
    from zoolab.rl.config import from_dict

    folder = Path(folder)
    data = read_config(folder)
    algo = data["algorithm"]
    if algo not in ALGORITHMS:
        raise InvalidInputError(f"{folder} holds an agent of unknown algorithm '{algo}'", hint=f"known: {', '.join(ALGORITHMS)}")
    cls = ALGORITHMS[algo]
    config = from_dict(cls.config_class, data["hyperparameters"])
    agent = cls(data["env_id"], seed=int(data.get("seed", 0)), device=device, config=config)
    load_module_tensors(agent, load_file(str(folder / "model.safetensors"), device=str(agent.device)))
    agent.normalizer.load_state(data["normalization"])
    agent.num_timesteps = int(data.get("num_timesteps", 0))
    return agent
