"""Saving a :class:`~zoolab.zoo.loaded.LoadedModel`: the library's own format plus zoolab's metadata.

A saved folder holds

- what the model's library reads by itself (timm hub format, transformers ``save_pretrained``,
  keras-hub preset), written by the framework's backend;
- ``zoolab.json``: task, labels, framework(s), library, architecture, where the model came from,
  and a slot for a training summary (filled by fine-tuning);
- ``README.md``: a model card with YAML metadata (library_name, tags, pipeline_tag, license,
  base_model) that the Hub and ``zoolab publish`` understand.

So the folder loads with ``zoolab.zoo.load(folder)``, with the library alone, and publishes as is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from zoolab._version import __version__
from zoolab.errors import ConflictError, InvalidInputError
from zoolab.zoo import catalog
from zoolab.zoo.loaded import LoadedModel
from zoolab.zoo.metadata import ZOOLAB_FORMAT_VERSION, ZOOLAB_JSON

# Keys of LoadedModel.metadata that describe one local copy, not the model: never saved.
_LOCAL_KEYS = {"path", "trust_remote_code"}
_FRAMEWORK_TAGS = {"torch": "pytorch", "tf": "keras"}


def zoolab_metadata(loaded: LoadedModel, folder: Path | None = None) -> dict[str, Any]:
    """The ``zoolab.json`` content for ``loaded`` (saved in ``folder``, when given: its files tell
    which other framework may load it, see :func:`saved_frameworks`)."""
    meta = {k: v for k, v in loaded.metadata.items() if k not in _LOCAL_KEYS}
    architecture = str(meta.get("architecture") or "")
    classifier = loaded.task in ("image-classification", "text-classification")
    origin = {k: meta.pop(k) for k in ("ref", "source", "repo_id", "revision", "catalog", "preset")
              if meta.get(k) is not None}  # fmt: skip
    if origin.get("ref") and Path(str(origin["ref"])).expanduser().is_dir():
        origin.pop("ref")  # a local folder path means nothing once the model is published
    base = dict(meta.pop("base", None) or {}) or origin
    license_ = meta.pop("license", None)
    if license_ is None and base.get("catalog"):
        license_ = catalog.get(base["catalog"]).license
    data: dict[str, Any] = {
        **meta,
        "format_version": ZOOLAB_FORMAT_VERSION,
        "zoolab_version": __version__,
        "task": loaded.task,
        "labels": list(loaded.labels) if classifier and loaded.labels else None,
        "framework": loaded.framework,
        "frameworks": saved_frameworks(loaded, folder),
        "library": loaded.library,
        "architecture": architecture,
        "license": license_,
        "base": base,
        "training": meta.get("training"),
        "evaluation": meta.get("evaluation"),
    }
    return data


def saved_frameworks(loaded: LoadedModel, folder: Path | None) -> list[str]:
    """The frameworks a saved folder claims: the one ``loaded`` runs in, plus TensorFlow/Keras for a
    PyTorch model keras-hub converts.

    A fine-tuned PyTorch checkpoint must load with ``framework="tf"`` (and export to TF Lite) once
    published, so the claim is what the files alone would give an unannotated folder: the
    architecture keras-hub converts, and for timm the standard widths and depths (a variant is
    refused from the safetensors header, without importing Keras). peft adapter folders hold no
    whole model: PyTorch only.
    """
    frameworks = [loaded.framework]
    if loaded.framework != "torch" or folder is None or (folder / "adapter_config.json").is_file():
        return frameworks
    from zoolab.errors import UnsupportedError
    from zoolab.zoo.keras_convert import check_standard_timm
    from zoolab.zoo.metadata import frameworks_for, read_json

    config = read_json(folder / "config.json") if (folder / "config.json").is_file() else {}
    architecture = str(config.get("architecture") or config.get("model_type") or "")
    if "tf" not in frameworks_for(loaded.library, architecture):
        return frameworks
    if loaded.library == "timm":
        try:
            check_standard_timm(folder, config)
        except UnsupportedError:
            return frameworks  # other widths or depths: keras-hub cannot build it
    return [*frameworks, "tf"]


def _base_model_id(base: dict[str, Any]) -> str | None:
    """A Hub-style ``org/name`` for the card's ``base_model``, when the origin was a repository."""
    repo_id = base.get("repo_id")
    if not repo_id and base.get("catalog"):
        repo_id = catalog.get(base["catalog"]).torch_repo.split(":", 1)[-1]
    return repo_id if isinstance(repo_id, str) and "/" in repo_id else None


def _training_evaluation(training: Any) -> dict[str, Any] | None:
    """A fine-tuned model's final scores (``training.evaluation``) in ``card_entry`` form, with the
    training data's folder or repo as the dataset."""
    if not isinstance(training, dict) or not isinstance(training.get("evaluation"), dict):
        return None
    scores, origin = training["evaluation"], training.get("data") or {}
    where = str(origin.get("ref") or origin.get("path") or "")
    name = where if ":" in where and not Path(where).is_absolute() else Path(where).name
    metrics = {k: v for k, v in scores.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    return {"dataset": {"name": name or "custom", "type": str(origin.get("format") or "custom"),
                        "split": str(scores.get("split") or "validation")}, "metrics": metrics}  # fmt: skip


def card_text(loaded: LoadedModel, data: dict[str, Any], name: str) -> str:
    """A README.md model card: YAML front matter plus a short usage section."""
    tags = ["zoolab", loaded.library, _FRAMEWORK_TAGS[loaded.framework], loaded.task]
    front: dict[str, Any] = {
        "library_name": loaded.library,
        "pipeline_tag": loaded.task,
        "tags": list(dict.fromkeys(tags)),
    }
    if data.get("license"):
        front["license"] = data["license"]
    base_model = _base_model_id(data.get("base") or {})
    if base_model:
        front["base_model"] = base_model
    evaluation = data.get("evaluation") or _training_evaluation(data.get("training"))
    if isinstance(evaluation, dict) and evaluation.get("metrics"):
        from zoolab.zoo.tuning.report import model_index

        # The Hub and `zoolab info` read scores from this block (Hugging Face's model-index schema).
        front["model-index"] = model_index(name, {"task": loaded.task, **evaluation})
        dataset = (evaluation.get("dataset") or {}).get("name")
        if dataset:
            front["datasets"] = [str(dataset)]
    lines = [
        "---",
        yaml.safe_dump(front, sort_keys=False).rstrip(),
        "---",
        "",
        f"# {name}",
        "",
        f"A model for {loaded.task} ({loaded.library} `{data.get('architecture') or '?'}`), "
        f"saved with zoolab {__version__}.",
        "",
        "## Use",
        "",
        "```python",
        "import zoolab.zoo",
        f'model = zoolab.zoo.load("{name}")  # or the repository id once published',
        "```",
        "",
    ]
    if loaded.library == "timm":
        lines += ["With timm alone: `timm.create_model(\"local-dir:PATH\", pretrained=True)` or",
                  "`timm.create_model(\"hf-hub:ORG/NAME\", pretrained=True)`.", ""]  # fmt: skip
    elif loaded.library == "transformers":
        lines += ["With transformers alone: `AutoModel.from_pretrained(PATH_OR_REPO)`.", ""]
    if data.get("labels"):
        shown = ", ".join(data["labels"][:20]) + (" ..." if len(data["labels"]) > 20 else "")
        lines += ["## Labels", "", shown, ""]
    if data.get("training"):
        lines += ["## Training", "", "```json", json.dumps(data["training"], indent=2), "```", ""]
    return "\n".join(lines)


def save_model(loaded: LoadedModel, folder: Path) -> Path:
    """Write ``loaded`` to ``folder`` (see the module docstring) and return the folder.

    Raises:
        ConflictError: ``folder`` holds files that are not a zoolab-saved model (nothing is
            overwritten then).
    """
    folder = Path(folder).expanduser()
    if folder.exists() and not folder.is_dir():
        raise InvalidInputError(f"{folder} exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / ZOOLAB_JSON).is_file():
        raise ConflictError(
            f"{folder} is not empty and holds no saved model; refusing to write into it",
            hint="pick a new or empty folder",
        )
    folder.mkdir(parents=True, exist_ok=True)
    loaded.backend.save(loaded, folder)
    from zoolab.filemodes import respect_umask

    respect_umask(folder.rglob("*.safetensors"))  # safetensors writes 0600 whatever the umask
    write_card_files(loaded, folder)
    return folder


CARD_FILES = (ZOOLAB_JSON, "README.md")
"""What :func:`write_card_files` writes: the files of a saved folder that describe, not hold, the model."""


def write_card_files(loaded: LoadedModel, folder: Path) -> None:
    """Write ``zoolab.json`` and the model card ``README.md`` of ``loaded`` into ``folder``, which
    already holds the library's files of the model."""
    data = zoolab_metadata(loaded, folder)
    (folder / ZOOLAB_JSON).write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    (folder / "README.md").write_text(card_text(loaded, data, folder.name), encoding="utf-8")
