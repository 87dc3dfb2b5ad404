"""What files of a repository zoolab reads, checked before any library opens one.

A repository is someone else's folder: every name it gives for a file (a weights shard in
``model.safetensors.index.json``, a tokenizer ``config_file``, a ``transformers_weights`` entry)
and every JSON file in it are checked here, by name and size, without following what they say:

- :func:`safe_name`: a name is a relative POSIX path inside the folder (no ``..``, no absolute
  path, no backslash or drive, no control character);
- :func:`read_json_file`: a JSON file is at most :data:`MAX_JSON_BYTES` and not nested beyond
  Python's recursion limit;
- :func:`torch_weight_files`: the weights a timm or transformers checkpoint is read from, all
  ``*.safetensors``; :func:`keras_weight_files`: a keras-hub preset's ``*.weights.h5``;
- :func:`remote_code_references`: every ``auto_map`` / ``custom_pipelines`` entry in any JSON file
  of the folder (the code transformers would import).

This module imports no framework.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Any, Iterator

from zoolab.errors import InvalidInputError, PermissionDeniedError, UnsupportedError

MAX_JSON_BYTES = 64 * 1024 * 1024
"""Largest JSON file read from a repository (big tokenizers' tokenizer.json are ~30 MB)."""
MAX_JSON_FILES = 2_000
"""Most JSON files looked at in one folder."""
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
#: Keys through which transformers finds repository code, at any depth of any JSON file.
CODE_KEYS = ("auto_map", "custom_pipelines")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_name(name: Any, *, what: str) -> str:
    """``name`` if it is a relative POSIX path that stays inside its folder, else an error.

    Raises:
        InvalidInputError: the name is not a string, is empty, absolute, has ``..``, a backslash,
            a drive letter or a control character (the message names ``what`` and the name).
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"{what} must name a file of the repository, got {name!r}")
    path = PurePosixPath(name)
    if (
        path.is_absolute() or name.startswith("~") or "\\" in name or _CONTROL.search(name)
        or ".." in path.parts or (len(name) > 1 and name[1] == ":")
    ):  # fmt: skip
        raise InvalidInputError(
            f"{what} names {name!r}, a path outside the repository; only files inside it are read",
        )
    return str(path)


def read_json_file(path: Path, *, display: str | None = None) -> Any:
    """The JSON value in ``path``, bounded in size and depth.

    Raises:
        InvalidInputError: too large, not UTF-8 JSON, or nested too deeply.
    """
    name = display or path.name
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BYTES:
            raise InvalidInputError(f"{name} is {size} bytes; JSON files over {MAX_JSON_BYTES} bytes are not read")
        text = path.read_bytes().decode("utf-8")
        return json.loads(text)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {name}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise InvalidInputError(f"{name} is not UTF-8 text") from None
    except RecursionError:
        raise InvalidInputError(f"{name} is nested too deeply to read") from None
    except ValueError as exc:
        raise InvalidInputError(f"{name} is not valid JSON: {exc}") from None


def check_links(folder: Path) -> None:
    """Refuse a symlink in ``folder`` that leads out of it (a cloned repository can plant one);
    a Hugging Face cache snapshot's links into its own ``blobs/`` are what a download makes.

    Raises:
        InvalidInputError: naming the link.
    """
    from zoolab.hub.layout import link_stays_inside

    for path in folder.rglob("*"):
        if path.is_symlink() and not link_stays_inside(folder, path):
            raise InvalidInputError(
                f"{path.relative_to(folder).as_posix()} is a symlink out of the repository; zoolab reads "
                "only files inside it",
            )


def json_files(folder: Path) -> list[str]:
    """Relative names of the JSON files of ``folder`` (hidden folders skipped), sorted."""
    found: list[str] = []
    for path in sorted(folder.rglob("*.json")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts[:-1]) or not path.is_file():
            continue
        found.append(rel.as_posix())
        if len(found) > MAX_JSON_FILES:
            raise InvalidInputError(f"{folder} holds more than {MAX_JSON_FILES} JSON files; not a model folder")
    return found


def _walk(value: Any, trail: str) -> Iterator[tuple[str, str, Any]]:
    """(key path, key, value) of every mapping entry in ``value``, depth first."""
    stack = [(value, trail)]
    while stack:
        node, where = stack.pop()
        if isinstance(node, dict):
            for key, item in node.items():
                path = f"{where}.{key}" if where else str(key)
                yield path, str(key), item
                stack.append((item, path))
        elif isinstance(node, list):
            stack.extend((item, f"{where}[{i}]") for i, item in enumerate(node))


def _code_names(file: str, key_path: str, value: Any) -> list[str]:
    """``key_path.Auto... -> module.Class`` for one ``auto_map`` value, checking its type."""
    if not isinstance(value, dict):
        # transformers reads auto_map as an object; a list would end in an AttributeError there.
        raise InvalidInputError(f"{file}: '{key_path}' must be an object of class references, got {type(value).__name__}")
    names: list[str] = []
    for auto, item in value.items():
        for ref in item if isinstance(item, (list, tuple)) else [item]:
            if ref is None:
                continue
            if isinstance(ref, dict):  # custom_pipelines: {"impl": "file.Class", "pt": [...]}
                ref = ref.get("impl")
            if not isinstance(ref, str):
                raise InvalidInputError(f"{file}: '{key_path}.{auto}' holds {ref!r}; expected 'module.Class' strings")
            names.append(f"{key_path}.{auto} -> {ref}")
    return names


def remote_code_references(folder: Path, files: list[str] | None = None) -> list[str]:
    """``file: key -> module.Class`` for every code reference in the folder's JSON files."""
    refs: list[str] = []
    for name in files if files is not None else json_files(folder):
        data = read_json_file(folder / name, display=name)
        for key_path, key, value in _walk(data, ""):
            if key in CODE_KEYS:
                refs += [f"{name}: {ref}" for ref in _code_names(name, key_path, value)]
    return refs


#: Keys through which a library opens a file a JSON file names (transformers' ``vocab_file``,
#: ``tokenizer_file``, ``merges_file`` in tokenizer_config.json override the folder's own files).
_FILE_KEY = re.compile(r"(^|_)files?$")
#: Files whose own keys are data (a tokenizers model, a keras-hub preset checked by keras_allowlist)
#: or are not followed (config.json: timm's pretrained_cfg ``file`` loses to the local folder, and
#: its one weights entry, ``transformers_weights``, is refused by :func:`torch_weight_files`).
_FILE_KEYS_EXEMPT = ("config.json", "tokenizer.json", "task.json", "preprocessor.json", "image_converter.json",
                     "audio_converter.json", "video_converter.json")  # fmt: skip


def check_file_references(folder: Path, files: list[str] | None = None) -> None:
    """Refuse a JSON file that names another file by path (``"vocab_file": "/etc/passwd"``).

    transformers and the tokenizers read the repository's files by their standard names; a name
    given in a config would be opened as is, relative to the current directory or absolute.

    Raises:
        InvalidInputError: naming the file, the key and the value.
    """
    for name in files if files is not None else json_files(folder):
        if name.rsplit("/", 1)[-1] in _FILE_KEYS_EXEMPT:
            continue
        data = read_json_file(folder / name, display=name)
        for key_path, key, value in _walk(data, ""):
            values = value if isinstance(value, list) else [value]
            if _FILE_KEY.search(key) and any(isinstance(v, str) for v in values):
                shown = next(v for v in values if isinstance(v, str))[:80]
                raise InvalidInputError(
                    f"{name}: '{key_path}' names a file ({shown!r}); zoolab lets libraries read only the "
                    "repository's own files by their standard names",
                    hint="remove the entry; the file belongs next to config.json under its usual name",
                )


def code_references(folder: Path, files: list[str] | None = None) -> list[str]:
    """What the folder would make transformers import: its ``auto_map`` entries and Python files."""
    refs = remote_code_references(folder, files)
    py_files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.py"))
    return refs + [f"{name}: Python file (run only through a code reference)" for name in py_files]


def check_remote_code(references: list[str], trust_remote_code: bool, folder: Path) -> None:
    """Refuse code ``references`` (from :func:`code_references`) unless ``trust_remote_code``.

    Raises:
        PermissionDeniedError: a JSON file names repository code and it is not trusted.
    """
    refs = [ref for ref in references if " -> " in ref]
    if refs and not trust_remote_code:
        raise PermissionDeniedError(
            f"the model in {folder} needs Python code from its repository ({'; '.join(refs[:3])}); "
            "zoolab does not run it unless you trust the repository",
            hint="read that code, then pass trust_remote_code=True to zoo.load (CLI: --trust-remote-code)",
        )


def _refuse_pickles(folder: Path, where: str) -> UnsupportedError:
    others = sorted(p.name for p in folder.glob("*.safetensors"))
    if others:
        return UnsupportedError(
            f"{where} has no model.safetensors, the file timm and transformers read weights from "
            f"(it has {', '.join(others[:3])}); other files, pickled ones above all, are never read",
            hint="name the weights model.safetensors, or list shards in model.safetensors.index.json",
        )
    pickled = sorted(p.name for p in folder.iterdir() if p.suffix in PICKLE_SUFFIXES)
    if pickled:
        return UnsupportedError(
            f"{where} has only pickled weights ({', '.join(pickled)}); zoolab loads safetensors "
            "only, because unpickling a file from a repository can run arbitrary code",
            hint="convert the checkpoint to model.safetensors with the safetensors library "
            "on a machine you trust, then publish that",
        )
    return UnsupportedError(
        f"{where} has no weights (no .safetensors file; pickled .bin/.pt checkpoints are "
        "neither downloaded nor loaded)",
        hint="a model needs model.safetensors next to its config.json",
    )


def _shards(folder: Path, index_name: str, suffix: str) -> list[str]:
    """The shard names of a weights index file, each checked with :func:`safe_name`."""
    index = read_json_file(folder / index_name, display=index_name)
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not weight_map:
        raise InvalidInputError(f"{index_name} has no 'weight_map' object of tensor -> shard file")
    shards: list[str] = []
    for tensor, shard in weight_map.items():
        for item in shard if isinstance(shard, list) else [shard]:
            name = safe_name(item, what=f"{index_name} (tensor {tensor!r})")
            if not name.endswith(suffix):
                raise UnsupportedError(
                    f"{index_name} reads tensor {tensor!r} from {name!r}, which is not a {suffix} "
                    "file; zoolab reads weights only from safetensors files, never pickles",
                )
            if not (folder / name).is_file():
                raise InvalidInputError(f"{index_name} names shard {name!r}, which the repository does not have")
            shards.append(name)
    return sorted(set(shards))


def torch_weight_files(folder: Path, config: dict[str, Any], *, where: str | None = None) -> list[str]:
    """The ``*.safetensors`` files a timm or transformers checkpoint in ``folder`` is read from.

    ``model.safetensors`` and the shards of ``model.safetensors.index.json`` (transformers reads
    the first, keras-hub's converter the second); a peft adapter's ``adapter_model.safetensors``.

    Raises:
        UnsupportedError: weights would be read from anything but a safetensors file
            (``transformers_weights`` in config.json, a shard that is no ``*.safetensors``, only
            pickled files).
        InvalidInputError: an index names a shard outside the folder or missing.
    """
    where = where or str(folder)
    if "transformers_weights" in config:
        raise UnsupportedError(
            f"config.json names its own weights file (transformers_weights: {config['transformers_weights']!r}); "
            "zoolab reads weights only from model.safetensors or its index, so it does not follow that entry",
            hint="remove 'transformers_weights' and store the weights as model.safetensors",
        )
    files: list[str] = []
    if (folder / "model.safetensors").is_file():
        files.append("model.safetensors")
    if (folder / "model.safetensors.index.json").is_file():
        # transformers prefers model.safetensors, keras-hub's converter the index: check both.
        files += [f for f in _shards(folder, "model.safetensors.index.json", ".safetensors") if f not in files]
    if not files:
        raise _refuse_pickles(folder, where)
    if (folder / "adapter_config.json").is_file():
        # peft reads adapter_model.safetensors when present, else adapter_model.bin (a pickle).
        if not (folder / "adapter_model.safetensors").is_file():
            raise UnsupportedError(
                f"{where} has a peft adapter (adapter_config.json) without adapter_model.safetensors; "
                "pickled adapter weights are never loaded",
                hint="save the adapter with safe_serialization=True",
            )
        files.append("adapter_model.safetensors")
    return files


def keras_weight_files(folder: Path) -> list[str]:
    """The ``*.weights.h5`` files a keras-hub preset in ``folder`` is read from (HDF5, no pickle)."""
    files: list[str] = []
    if (folder / "model.weights.h5").is_file():
        files.append("model.weights.h5")
    elif (folder / "model.weights.json").is_file():
        files += _shards(folder, "model.weights.json", ".weights.h5")
    if (folder / "task.weights.h5").is_file():
        files.append("task.weights.h5")
    return files
