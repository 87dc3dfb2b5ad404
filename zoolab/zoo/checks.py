"""Every check a model folder passes before a library reads it, in one place.

:func:`check_folder` is what :func:`zoolab.zoo.load` runs on every folder (local, downloaded,
saved by zoolab or not) and what ``zoolab scan`` reports, so the loader and the scan can never
disagree. The checks follow the files, never ``zoolab.json``'s claims about them:

1. code references: ``auto_map`` / ``custom_pipelines`` in any JSON file need ``trust_remote_code``;
   no JSON file names another file by path (``vocab_file``, ``tokenizer_file``);
2. weights: the files weights are read from are relative ``*.safetensors`` names inside the folder
   (timm, transformers) or a keras-hub preset's ``*.weights.h5``; pickles are never read;
3. keras-hub presets: only keras-hub's own preset classes, no path outside the preset
   (:mod:`zoolab.zoo.keras_allowlist`), declared layer counts and widths within the weights;
4. timm / transformers checkpoints: the config's implied model, built on the meta device, fits
   the safetensors headers (:mod:`zoolab.zoo.declared_size`);
5. image sizes and resize factors within bounds (:mod:`zoolab.zoo.image_bounds`);
6. ``zoolab.json`` labels match the classifier head the weights have.

Each check raises a :class:`~zoolab.errors.ZoolabError` with one line; ``collect=True`` gathers
them all (for the scan) instead of stopping at the first.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from zoolab.errors import InvalidInputError, ZoolabError
from zoolab.zoo import image_bounds, repo_files
from zoolab.zoo.repo_schema import MAX_LABELS


@dataclass
class Findings:
    """What a model folder would make zoolab do, and what zoolab refuses in it."""

    folder: Path
    checkpoint_format: str | None = None
    """``timm``, ``transformers`` or ``keras`` (a keras-hub preset), read from config.json."""
    weights: list[str] = field(default_factory=list)
    """Files weights would be read from, relative to the folder."""
    code_references: list[str] = field(default_factory=list)
    """Repository code the folder names (``auto_map``), and its Python files."""
    keras_classes: list[str] = field(default_factory=list)
    sizes: dict[str, Any] = field(default_factory=dict)
    """Declared and stored parameter counts, image sizes."""
    refusals: list[ZoolabError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when nothing was refused."""
        return not self.refusals


def checkpoint_format(config: dict[str, Any], folder: Path) -> str | None:
    """The format config.json is in: ``keras``, ``timm``, ``transformers`` or None.

    Raises:
        InvalidInputError: the config has the marks of two formats. The libraries would disagree
            about it (keras-hub reads ``model_type`` before ``architecture``, zoolab's PyTorch
            side the reverse), so a check made for one format would not cover what the other reads.
    """
    found = []
    if "registered_name" in config or ((folder / "metadata.json").is_file() and "class_name" in config):
        found.append("keras")
    if "architecture" in config:
        found.append("timm")
    if "model_type" in config or "architectures" in config:
        found.append("transformers")
    if len(found) > 1:
        raise InvalidInputError(
            f"config.json describes a {' and a '.join(found)} checkpoint at once; zoolab loads only one "
            "unambiguous format",
        )
    return found[0] if found else None


def _head_size(fmt: str | None, folder: Path, config: dict[str, Any]) -> int | None:
    if fmt == "timm":
        size = config.get("num_classes")
        if size is not None and (type(size) is not int or not 0 <= size <= MAX_LABELS):
            raise InvalidInputError(f"config.json field 'num_classes': expected 0 to {MAX_LABELS}, got {size!r}")
        return size
    if fmt == "transformers":
        id2label = config.get("id2label")
        if id2label is not None and not isinstance(id2label, dict):
            raise InvalidInputError(f"config.json field 'id2label': expected an object, got {type(id2label).__name__}")
        if id2label and not all(isinstance(k, str) and k.strip().lstrip("-").isdigit() for k in id2label):
            raise InvalidInputError("config.json field 'id2label': keys must be class indices (\"0\", \"1\", ...)")
        if id2label and len(id2label) > MAX_LABELS:
            raise InvalidInputError(f"config.json field 'id2label': {len(id2label)} labels, at most {MAX_LABELS}")
        return len(id2label) if id2label else None
    if fmt == "keras" and (folder / "task.json").is_file():
        task = repo_files.read_json_file(folder / "task.json", display="task.json")
        size = ((task or {}).get("config") or {}).get("num_classes") if isinstance(task, dict) else None
        return size if type(size) is int else None
    return None


def check_folder(
    folder: Path,
    *,
    framework: str,
    trust_remote_code: bool = False,
    labels: list[str] | None = None,
    num_labels: int | None = None,
    collect: bool = False,
    run_code: bool = True,
) -> Findings:
    """Run every check on ``folder`` for loading it with ``framework`` ("torch" or "tf").

    ``labels`` are the (validated) labels of ``zoolab.json``; ``num_labels`` the head size the
    caller asked for (a new head makes the saved labels irrelevant). ``run_code=False`` never
    imports a trusted repository's code (the scan), at the cost of its declared size.

    Raises:
        ZoolabError: the first refusal, unless ``collect`` (then they are in ``refusals``).
    """
    found = Findings(Path(folder))

    def run(check: Callable[[], Any]) -> Any:
        try:
            return check()
        except ZoolabError as exc:
            if not collect:
                raise
            found.refusals.append(exc)
            return None

    run(lambda: repo_files.check_links(folder))
    files = run(lambda: repo_files.json_files(folder)) or []
    found.code_references = run(lambda: repo_files.code_references(folder, files)) or []
    run(lambda: repo_files.check_remote_code(found.code_references, trust_remote_code, folder))
    run(lambda: repo_files.check_file_references(folder, files))
    if not collect and found.refusals:
        raise found.refusals[0]
    config: dict[str, Any] = {}
    if (folder / "config.json").is_file():
        value = run(lambda: repo_files.read_json_file(folder / "config.json", display="config.json"))
        config = value if isinstance(value, dict) else {}
    fmt = found.checkpoint_format = run(lambda: checkpoint_format(config, folder))
    if fmt is None and not collect and found.refusals:
        raise found.refusals[0]
    head = run(lambda: _head_size(fmt, folder, config))  # config fields first: libraries trust them
    if labels is not None and num_labels is None and head is not None and head > 0 and len(labels) != head:
        run(lambda: _refuse_labels(len(labels), head))
    if fmt == "keras":
        from zoolab.zoo import keras_allowlist

        found.weights = run(lambda: repo_files.keras_weight_files(folder)) or []
        found.keras_classes = run(lambda: keras_allowlist.check_preset(folder, trust_remote_code=trust_remote_code)) or []
        found.sizes.update(run(lambda: keras_allowlist.check_preset_sizes(folder, found.weights)) or {})
    elif fmt in ("timm", "transformers"):
        found.weights = run(lambda: repo_files.torch_weight_files(folder, config)) or []
        if found.weights and not found.refusals:
            from zoolab.zoo.declared_size import check_declared_size

            found.sizes.update(run(lambda: check_declared_size(
                folder, fmt, config, found.weights, framework=framework, trust_remote_code=trust_remote_code,
                run_code=run_code,
            )) or {})  # fmt: skip
    images = run(lambda: image_bounds.check_image_configs(folder, config))
    if images:
        found.sizes["images"] = images
    return found


def _refuse_labels(count: int, head: int) -> None:
    raise InvalidInputError(
        f"zoolab.json field 'labels' names {count} labels but the model's classifier head has {head} outputs",
        hint="fix the labels, or pass num_labels for a new head",
    )
