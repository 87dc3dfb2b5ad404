"""What a model folder holds: its format, library, task, frameworks, and whether it is safe to load.

A folder is read in this order:

1. ``zoolab.json`` (written by :func:`zoolab.zoo.save.save_model`) says task, labels and library;
2. otherwise the files tell: timm's hub format (``config.json`` with ``architecture``),
   transformers (``config.json`` with ``model_type``/``architectures``), a keras-hub preset
   (``metadata.json`` + ``config.json`` naming a keras class).

Safety rules applied here, before any library reads the folder: weights must be safetensors
(pickled ``.bin``/``.pt``/``.pth``/``.ckpt`` files are never loaded), and a config that needs code
from the repository (``auto_map``) is refused unless the caller trusts remote code.

This module imports no framework.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoolab.errors import InvalidInputError, PermissionDeniedError, UnsupportedError

ZOOLAB_JSON = "zoolab.json"
ZOOLAB_FORMAT_VERSION = 1
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")

# What keras-hub 0.32 converts from PyTorch checkpoints (its timm and transformers preset loaders);
# tests/zoo/test_metadata.py checks this table against the installed keras-hub source.
KERAS_HUB_TIMM_PREFIXES = (
    "resnet", "csp", "dark", "densenet", "mobilenet", "vgg", "efficientnet", "hgnetv2",
)  # fmt: skip
KERAS_HUB_TRANSFORMERS_TYPES = frozenset({
    "albert", "bart", "bert", "blip-2", "deit", "distilbert", "dinov2", "dinov2_with_registers",
    "dinov3_vit", "esm", "gemma", "gemma2", "gemma3", "gemma3_text", "gemma3n", "gemma4",
    "gemma4_text", "gpt2", "gpt_oss", "llama", "metaclip_2", "mistral", "paligemma", "vit",
    "qwen2", "mixtral", "qwen2_moe", "qwen3_moe", "qwen3", "qwen3_5_moe", "qwen3_5", "roberta",
    "xlm-roberta", "smollm3", "swin", "t5gemma", "t5gemma2",
})  # fmt: skip

# transformers architecture-class suffix -> task, for folders without zoolab.json.
_ARCH_TASKS = (
    ("ForSequenceClassification", "text-classification"),
    ("ForMaskedLM", "fill-mask"),
    ("ForCausalLM", "text-generation"),
    ("LMHeadModel", "text-generation"),
    ("ForImageClassification", "image-classification"),
)


@dataclass
class FolderInfo:
    """What :func:`inspect_folder` found in a model folder."""

    path: Path
    library: str
    """timm, transformers or keras-hub."""
    architecture: str
    """timm model name, transformers model_type, or keras-hub backbone class."""
    task: str
    frameworks: tuple[str, ...]
    """Frameworks that can load this folder: PyTorch for timm/transformers, plus TensorFlow/Keras
    where keras-hub converts the architecture; TensorFlow/Keras only for keras-hub presets."""
    config: dict[str, Any] = field(default_factory=dict)
    zoolab: dict[str, Any] = field(default_factory=dict)
    """The content of ``zoolab.json`` (empty if the folder has none)."""


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``; :class:`InvalidInputError` if it is not one."""
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read {path}: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidInputError(f"{path} must hold a JSON object")
    return value


def frameworks_for(library: str, architecture: str) -> tuple[str, ...]:
    """The frameworks that can load a checkpoint of ``library``/``architecture``."""
    if library == "keras-hub":
        return ("tf",)
    if library == "timm" and architecture.startswith(KERAS_HUB_TIMM_PREFIXES):
        return ("torch", "tf")
    if library == "transformers" and architecture in KERAS_HUB_TRANSFORMERS_TYPES:
        return ("torch", "tf")
    return ("torch",)


def _transformers_task(path: Path, config: dict[str, Any]) -> str:
    if (path / "modules.json").is_file():  # a sentence-transformers folder: embeddings
        return "feature-extraction"
    for arch in config.get("architectures") or []:
        for suffix, task in _ARCH_TASKS:
            if arch.endswith(suffix):
                return task
    return "feature-extraction"


def inspect_folder(path: Path) -> FolderInfo:
    """Detect the format of the model folder ``path``.

    Raises:
        InvalidInputError: the folder holds no recognisable model.
    """
    zoolab_meta = read_json(path / ZOOLAB_JSON) if (path / ZOOLAB_JSON).is_file() else {}
    config_file = path / "config.json"
    config = read_json(config_file) if config_file.is_file() else {}
    if (path / "metadata.json").is_file() and "class_name" in config:
        library, arch = "keras-hub", str(config.get("class_name"))
        task = "feature-extraction"
    elif "architecture" in config:
        library, arch = "timm", str(config["architecture"])
        task = "image-classification" if config.get("num_classes", 1) else "feature-extraction"
    elif "model_type" in config or "architectures" in config:
        library, arch = "transformers", str(config.get("model_type", ""))
        task = _transformers_task(path, config)
    else:
        raise InvalidInputError(
            f"{path} holds no model zoolab can read: expected timm's hub format "
            "(config.json with 'architecture'), a transformers folder (config.json with "
            "'model_type') or a keras-hub preset (metadata.json + config.json)",
            hint="save a model with LoadedModel.save(folder) or the library's own save function",
        )
    library = zoolab_meta.get("library", library)
    task = zoolab_meta.get("task") or task
    frameworks = frameworks_for(library, zoolab_meta.get("architecture") or arch)
    # A folder saved by zoolab from Keras may also carry PyTorch weights, and says so.
    if zoolab_meta.get("frameworks"):
        frameworks = tuple(zoolab_meta["frameworks"])
    return FolderInfo(path, library, arch, task, frameworks, config, zoolab_meta)


def check_safetensors(path: Path) -> list[Path]:
    """The ``*.safetensors`` weight files of ``path``; refuse folders with only pickled weights.

    Raises:
        UnsupportedError: there is no safetensors file (pickled checkpoints are never loaded).
    """
    weights = sorted(path.glob("*.safetensors"))
    if weights:
        return weights
    pickled = sorted(p.name for p in path.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickled:
        raise UnsupportedError(
            f"{path} has only pickled weights ({', '.join(pickled)}); zoolab loads safetensors "
            "only, because unpickling a file from a repository can run arbitrary code",
            hint="convert the checkpoint to model.safetensors with the safetensors library "
            "on a machine you trust, then publish that",
        )
    raise UnsupportedError(
        f"{path} has no weights (no .safetensors file; pickled .bin/.pt checkpoints are "
        "neither downloaded nor loaded)",
        hint="a model needs model.safetensors next to its config.json",
    )


def check_remote_code(info: FolderInfo, trust_remote_code: bool) -> None:
    """Refuse a config that needs the repository's own Python code unless it is trusted.

    Raises:
        PermissionDeniedError: the config has ``auto_map`` (custom code) and ``trust_remote_code``
            is false.
    """
    auto_map = info.config.get("auto_map")
    if auto_map and not trust_remote_code:
        raise PermissionDeniedError(
            f"the model in {info.path} needs Python code from its repository "
            f"({', '.join(sorted(set(map(str, auto_map.values()))))}); zoolab does not run it "
            "unless you trust the repository",
            hint="read that code, then pass trust_remote_code=True (CLI: --trust-remote-code)",
        )


def pooling_for(path: Path, zoolab_meta: dict[str, Any]) -> dict[str, Any]:
    """How a feature-extraction model turns token states into one vector per input.

    ``{"mode": "mean"|"cls"|"max", "normalize": bool}``: from ``zoolab.json``, else from a
    sentence-transformers folder (``modules.json`` + its Pooling config), else mean pooling over
    the attention mask without normalisation.
    """
    if isinstance(zoolab_meta.get("pooling"), dict):
        return dict(zoolab_meta["pooling"])
    pooling: dict[str, Any] = {"mode": "mean", "normalize": False}
    modules_file = path / "modules.json"
    if not modules_file.is_file():
        return pooling
    try:
        modules = json.loads(modules_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"cannot read {modules_file}: {exc}") from exc
    for module in modules if isinstance(modules, list) else []:
        kind = str(module.get("type", ""))
        if kind.endswith(".Normalize"):
            pooling["normalize"] = True
        elif kind.endswith(".Pooling"):
            cfg_file = path / str(module.get("path", "")) / "config.json"
            cfg = read_json(cfg_file) if cfg_file.is_file() else {}
            if cfg.get("pooling_mode_cls_token"):
                pooling["mode"] = "cls"
            elif cfg.get("pooling_mode_max_tokens"):
                pooling["mode"] = "max"
    return pooling
