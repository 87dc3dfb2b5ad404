"""What a model folder holds: its format, library, task, frameworks, and whether it is safe to load.

A folder is read in this order:

1. the files tell the format: timm's hub format (``config.json`` with ``architecture``),
   transformers (``config.json`` with ``model_type``/``architectures``), a keras-hub preset
   (``metadata.json`` + ``config.json`` naming a keras class);
2. ``zoolab.json`` (written by :func:`zoolab.zoo.save.save_model`, validated by
   :mod:`zoolab.zoo.repo_schema`) adds task, labels and frameworks; it cannot change the format.

The safety checks (safetensors only, no untrusted remote code, declared sizes, Keras classes)
live in :mod:`zoolab.zoo.checks`, which the loader runs on every folder whatever it claims.

This module imports no framework.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoolab.errors import InvalidInputError
from zoolab.zoo import repo_files
from zoolab.zoo.checks import checkpoint_format
from zoolab.zoo.repo_files import PICKLE_SUFFIXES
from zoolab.zoo.repo_schema import FORMAT_VERSION, parse_zoolab_json

ZOOLAB_JSON = "zoolab.json"
ZOOLAB_FORMAT_VERSION = FORMAT_VERSION
__all__ = ["PICKLE_SUFFIXES", "FolderInfo", "inspect_folder", "check_safetensors", "pooling_for", "read_json"]

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
    """A JSON object from ``path`` (bounded in size and depth); :class:`InvalidInputError` if it is not one."""
    value = repo_files.read_json_file(path, display=str(path))
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
    architectures = config.get("architectures") or []
    if not isinstance(architectures, list):
        raise InvalidInputError(f"config.json field 'architectures': expected a list of class names, got {type(architectures).__name__}")
    for arch in architectures:
        for suffix, task in _ARCH_TASKS:
            if isinstance(arch, str) and arch.endswith(suffix):
                return task
    return "feature-extraction"


def inspect_folder(path: Path) -> FolderInfo:
    """Detect the format of the model folder ``path``.

    The format comes from the files; ``zoolab.json`` (validated by
    :func:`zoolab.zoo.repo_schema.parse_zoolab_json`) adds task, labels and frameworks, and may
    not claim another library than the files hold (a claim must never skip a check).

    Raises:
        InvalidInputError: the folder holds no recognisable model, or its ``zoolab.json`` is
            malformed or contradicts the files (the message names the field).
    """
    zoolab_file = path / ZOOLAB_JSON
    meta = parse_zoolab_json(repo_files.read_json_file(zoolab_file, display=ZOOLAB_JSON)) if zoolab_file.is_file() else None
    config_file = path / "config.json"
    config = read_json(config_file) if config_file.is_file() else {}
    fmt = checkpoint_format(config, path)  # the one reading of the format, shared with the checks
    if fmt == "keras":
        library, arch = "keras-hub", str(config.get("class_name"))
        task = "feature-extraction"
    elif fmt == "timm":
        library, arch = "timm", str(config["architecture"])
        task = "image-classification" if config.get("num_classes", 1) else "feature-extraction"
    elif fmt == "transformers":
        library, arch = "transformers", str(config.get("model_type", ""))
        task = _transformers_task(path, config)
    else:
        raise InvalidInputError(
            f"{path} holds no model zoolab can read: expected timm's hub format "
            "(config.json with 'architecture'), a transformers folder (config.json with "
            "'model_type') or a keras-hub preset (metadata.json + config.json)",
            hint="save a model with LoadedModel.save(folder) or the library's own save function",
        )
    if meta is not None and meta.library is not None and meta.library != library:
        raise InvalidInputError(
            f"zoolab.json field 'library' says {meta.library!r} but the folder holds a {library} model",
            hint="fix or remove the field; zoolab reads the format from the files",
        )
    task = (meta.task if meta else None) or task
    frameworks = frameworks_for(library, (meta.architecture if meta else None) or arch)
    # A folder saved by zoolab from Keras may also carry PyTorch weights, and says so.
    if meta is not None and meta.frameworks:
        frameworks = meta.frameworks
    return FolderInfo(path, library, arch, task, frameworks, config, meta.raw if meta else {})


def check_safetensors(path: Path) -> list[Path]:
    """The ``*.safetensors`` files weights of the checkpoint in ``path`` are read from.

    Raises:
        UnsupportedError: weights would come from anything but a safetensors file inside the
            folder (see :func:`zoolab.zoo.repo_files.torch_weight_files`).
    """
    config = read_json(path / "config.json") if (path / "config.json").is_file() else {}
    return [path / name for name in repo_files.torch_weight_files(path, config)]


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
    modules = repo_files.read_json_file(modules_file, display="modules.json")
    for module in modules if isinstance(modules, list) else []:
        if not isinstance(module, dict):
            raise InvalidInputError("modules.json must list objects {type, path}")
        kind = str(module.get("type", ""))
        if kind.endswith(".Normalize"):
            pooling["normalize"] = True
        elif kind.endswith(".Pooling"):
            sub = module.get("path") or ""
            sub = repo_files.safe_name(sub, what="modules.json path") if sub else ""
            cfg_file = path / sub / "config.json"
            cfg = read_json(cfg_file) if cfg_file.is_file() else {}
            if cfg.get("pooling_mode_cls_token"):
                pooling["mode"] = "cls"
            elif cfg.get("pooling_mode_max_tokens"):
                pooling["mode"] = "max"
    return pooling
