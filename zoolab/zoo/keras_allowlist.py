"""What a keras-hub preset may make Keras build: checked before Keras deserialises anything.

Keras' safe mode refuses Python lambdas, but a serialised ``Lambda`` layer may also call any
public Keras function with arguments of the preset's choosing (one that writes a file, say), and a
``Functional`` config is an arbitrary graph of such layers. So without ``trust_remote_code`` every
object in a preset's JSON files (``config.json``, ``task.json``, ``preprocessor.json``,
``tokenizer.json``, the converters) must be

- a class keras-hub registers for its presets: a backbone, task, preprocessor, tokenizer or
  image/audio/video converter (``keras_hub>BertBackbone``, ...), named by its own module; or
- one of Keras' dtype policies (the only Keras core objects keras-hub's presets hold).

``Lambda``, ``TFSMLayer``, functions, ``Functional``/``Sequential`` graphs and any other class are
refused with one line naming the class and the file. Every file name a preset gives
(``config_file``) is a plain file name inside the preset, and file-valued arguments
(``vocabulary``, ``merges``, ``proto``) must not be paths: keras-hub reads those from the preset's
own ``assets/``. Trusting the repository lifts the class allow-list, never the path rules.

Declared sizes are compared with the HDF5 weights' structure (no tensor data is read): a config
asking for more layers than the weights hold, or widths no weight has, is refused before Keras
allocates anything.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any, Iterator

from zoolab.errors import InvalidInputError, PermissionDeniedError
from zoolab.zoo.image_bounds import check_image_size
from zoolab.zoo.repo_files import read_json_file

#: The JSON files keras-hub deserialises from a preset.
PRESET_CONFIG_FILES = (
    "config.json", "task.json", "preprocessor.json", "tokenizer.json",
    "image_converter.json", "audio_converter.json", "video_converter.json",
)  # fmt: skip
#: Keras core objects keras-hub presets hold, all inert data.
_CORE_CLASSES = frozenset({"DTypePolicy", "FloatDTypePolicy", "QuantizedDTypePolicy",
                           "QuantizedFloat8DTypePolicy", "DTypePolicyMap", "__tuple__"})  # fmt: skip
_CODE_CLASSES = {
    "Lambda": "a Lambda layer calls a function with arguments of the preset's choosing",
    "TFSMLayer": "a TFSMLayer loads a TensorFlow SavedModel from a path",
    "function": "a serialised function is called when the model runs",
    "__lambda__": "a serialised Python lambda is code",
    "Functional": "a functional graph may hold any layer",
    "Sequential": "a Sequential model may hold any layer",
    "Model": "a bare Model config may hold any layer",
}
#: Arguments keras-hub classes read files through; presets keep them null (files live in assets/).
_FILE_ARGS = frozenset({"vocabulary", "merges", "proto", "spm_proto", "vocabulary_file", "merges_file",
                        "filepath", "file_path", "path", "model_file", "assets_dir", "tokenizer_file"})  # fmt: skip
_CONFIG_FILE = re.compile(r"[A-Za-z0-9_-]+\.json")  # fullmatch: no "x.json\n"
_LAYER_KEYS = re.compile(r"(^|_)(layers|blocks|depth)$|^num_.*(layers|blocks)$")
#: Backbone sizes that are a dimension of some weight in every keras-hub architecture having them.
_WIDTH_KEYS = ("hidden_dim", "intermediate_dim", "vocabulary_size", "embedding_dim", "max_sequence_length",
               "mlp_dim", "stackwise_num_filters")  # fmt: skip
_TRUST_HINT = "read the preset's JSON files, then pass trust_remote_code=True (CLI: --trust-remote-code)"


def _objects(value: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(key path, mapping) for every mapping in ``value``."""
    stack = [(value, where)]
    while stack:
        node, path = stack.pop()
        if isinstance(node, dict):
            yield path, node
            stack.extend((v, f"{path}.{k}") for k, v in node.items())
        elif isinstance(node, list):
            stack.extend((v, f"{path}[{i}]") for i, v in enumerate(node))


@functools.lru_cache(maxsize=1)
def _allowed_bases() -> tuple[type, ...]:
    from zoolab.zoo.keras_backend import import_keras

    import_keras()
    import keras_hub

    names = [("models", "Backbone"), ("models", "Task"), ("models", "Preprocessor"), ("tokenizers", "Tokenizer"),
             ("layers", "ImageConverter"), ("layers", "AudioConverter"), ("layers", "VideoConverter")]  # fmt: skip
    return tuple(cls for mod, name in names if (cls := getattr(getattr(keras_hub, mod), name, None)) is not None)


def _registered_class(node: dict[str, Any]) -> type | None:
    bases = _allowed_bases()  # imports keras-hub, whose import registers its classes
    import keras

    name = node.get("registered_name")
    if not isinstance(name, str) or not name.startswith("keras_hub>"):
        return None
    cls = keras.saving.get_registered_object(name)
    if not isinstance(cls, type) or not issubclass(cls, bases):
        return None
    # The module Keras would import must be the class's own: nothing else gets imported.
    return cls if node.get("module") == cls.__module__ else None


def _check_paths(file: str, path: str, node: dict[str, Any]) -> None:
    config_file = node.get("config_file")
    if config_file is not None and (not isinstance(config_file, str) or not _CONFIG_FILE.fullmatch(config_file)):
        raise InvalidInputError(
            f"{file}: {path}.config_file is {config_file!r}; a preset names its own files by plain "
            "name (tokenizer.json), and nothing outside the preset is read",
        )
    for key in _FILE_ARGS & node.keys():
        if isinstance(node[key], str):
            raise InvalidInputError(
                f"{file}: {path}.{key} names a file ({node[key][:80]!r}); keras-hub presets keep it "
                "in their assets/ folder, and zoolab reads no other file",
            )


def check_preset(folder: Path, *, trust_remote_code: bool) -> list[str]:
    """Check every object of the preset's JSON files; return the Keras classes it builds.

    Raises:
        PermissionDeniedError: an object is not on the allow-list (without ``trust_remote_code``).
        InvalidInputError: a file name or file argument points outside the preset, or a file is
            not JSON.
    """
    classes: list[str] = []
    for file in PRESET_CONFIG_FILES:
        if not (folder / file).is_file():
            continue
        data = read_json_file(folder / file, display=file)
        if not isinstance(data, dict) or not isinstance(data.get("config"), dict) or not data.get("class_name") \
                or not isinstance(data.get("registered_name"), str):  # fmt: skip
            raise InvalidInputError(
                f"{file} is not a serialised keras-hub object (class_name, config, registered_name)"
            )
        for path, node in _objects(data, file.removesuffix(".json")):
            if "class_name" in node and "config" in node:
                _check_class(file, path, node, classes, trust_remote_code)
            _check_paths(file, path, node)  # every mapping, so each class's "config" too
    return sorted(set(classes))


def _check_class(file: str, path: str, node: dict[str, Any], classes: list[str], trusted: bool) -> None:
    name = str(node.get("class_name"))
    module = node.get("module")
    label = f"{module}.{name}" if isinstance(module, str) and module else name
    if name in _CORE_CLASSES and (module is None or module == "builtins" or str(module).split(".")[0] == "keras"):
        return
    if not trusted and name in _CODE_CLASSES:
        raise PermissionDeniedError(
            f"{file}: {path} is a Keras {name} ({_CODE_CLASSES[name]}); zoolab builds only keras-hub's "
            "own preset classes unless you trust the repository",
            hint=_TRUST_HINT,
        )
    cls = _registered_class(node)
    if cls is None and not trusted:
        raise PermissionDeniedError(
            f"{file}: {path} is {label}, not a keras-hub backbone, task, preprocessor, tokenizer or "
            "converter class; zoolab builds only those unless you trust the repository",
            hint=_TRUST_HINT,
        )
    classes.append(f"keras_hub>{cls.__name__}" if cls is not None else label)


def _h5_structure(weights: Path) -> tuple[int, int, set[int]]:
    """(most layers of one kind under one parent, number of layers, every dimension size).

    Layers are the groups of a Keras weights file, at any depth (ViT nests its transformer
    layers inside an encoder layer); ``name``, ``name_1``, ``name_2`` are layers of one kind.
    """
    import h5py

    dims: set[int] = set()
    kinds: dict[tuple[str, str], int] = {}
    count = 0

    def visit(name: str, obj: Any) -> None:
        nonlocal count
        if isinstance(obj, h5py.Dataset):
            dims.update(int(d) for d in obj.shape)
            return
        parent, _, leaf = name.rpartition("/")
        if leaf == "vars" or not parent:
            return
        count += 1
        key = (parent, re.sub(r"_\d+\Z", "", leaf))
        kinds[key] = kinds.get(key, 0) + 1

    with h5py.File(weights, "r") as fh:
        fh.visititems(visit)
    return max(kinds.values(), default=0), count, dims


def check_preset_sizes(folder: Path, weights: list[str]) -> dict[str, Any]:
    """Compare the backbone's declared layer counts and widths with ``model.weights.h5``.

    Raises:
        InvalidInputError: the config declares more layers than the weights hold, or a width that
            no weight has (the model would be built at that size, then fail or run random layers).
    """
    if "model.weights.h5" not in weights or not (folder / "config.json").is_file():
        return {}
    config = read_json_file(folder / "config.json", display="config.json").get("config") or {}
    try:
        repeated, layer_count, dims = _h5_structure(folder / "model.weights.h5")
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"model.weights.h5 is not a readable Keras weights file: {exc}") from None
    for key, value in config.items():
        values = value if isinstance(value, list) else [value]
        if _LAYER_KEYS.search(key) and all(type(v) is int for v in values) and values:
            declared = sum(values)
            limit = repeated if key.endswith("layers") else layer_count
            if declared > max(limit, 1):
                raise InvalidInputError(
                    f"config.json declares {key}={value} but model.weights.h5 holds at most {limit} layers of one kind; "
                    "zoolab does not build a model its weights do not fill",
                )
        for item in values if key in _WIDTH_KEYS else []:
            if type(item) is int and item > 1 and item not in dims:
                raise InvalidInputError(
                    f"config.json declares {key}={value}, a size no tensor of model.weights.h5 has; "
                    "the config does not match its weights",
                )
        if key == "image_shape" and isinstance(value, list) and len(value) == 3:
            check_image_size(value[0] or 1, value[1] or 1, where="config.json image_shape")
    return {"weight_layers": layer_count, "declared": {k: config[k] for k in _WIDTH_KEYS if k in config}}
