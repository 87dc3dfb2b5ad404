"""The TensorFlow/Keras backend of ``zoolab.zoo``: keras-hub presets and converted checkpoints.

``load`` builds a keras-hub model from a folder holding a keras-hub preset, a transformers
checkpoint or a timm checkpoint (keras-hub's converters read the last two); ``run`` preprocesses
and runs it; ``save`` writes a keras-hub preset that ``keras_hub.models.*.from_preset(folder)``
and ``zoolab.zoo.load(folder, framework="tf")`` read back with identical outputs.

Tasks and what ``run`` returns (float32, batch first):

- ``image-classification`` / ``text-classification``: logits ``(batch, num_labels)``;
- ``feature-extraction``: the backbone's last hidden states ``(batch, tokens, hidden)`` for
  transformers, pooled features ``(batch, features)`` for convolutional vision backbones;
- ``text-generation``: next-token logits ``(batch, tokens, vocabulary)``.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from zoolab.errors import DependencyMissingError, InvalidInputError, ModelNotFoundError, UnsupportedError
from zoolab.zoo.keras_convert import (
    OVERRIDES_FILE,
    check_convertible,
    checkpoint_format,
    conversion_failed,
    exact_gelu_needed,
    port_text_head,
    staged,
    use_exact_gelu,
)
from zoolab.zoo.keras_preprocess import (
    IMAGE_PREPROCESSING_FILE,
    ImagePreprocessing,
    encode_texts,
    lowercases_like_keras_only,
    use_transformers_lowercase,
)
from zoolab.zoo.loaded import LoadedModel
from zoolab.zoo.repo_files import read_json_file

TASKS = ("image-classification", "text-classification", "feature-extraction", "text-generation")
_IMAGE_TYPES = {"vit", "deit", "dinov2", "swin"}


def import_keras() -> Any:
    """Import keras (and keras_hub) with the TensorFlow backend; returns the ``keras`` module.

    Triton (pulled in by ``torch._dynamo``) segfaults when its extension is loaded after
    TensorFlow's, so it is imported first where installed: a process may use both frameworks.
    Python's sqlite3 is loaded first too: TensorFlow carries its own SQLite, built without FTS5,
    and a ``_sqlite3`` loaded after it binds to that copy, which breaks the local registry's search.
    """
    import importlib.util
    import sqlite3  # noqa: F401

    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if importlib.util.find_spec("triton") is not None:
        import triton  # noqa: F401
    try:
        import keras
        import keras_hub  # noqa: F401
    except ImportError as exc:
        raise DependencyMissingError(
            f"TensorFlow/Keras support needs keras and keras-hub ({exc})",
            hint="pip install 'zoolab[tf]'",
        ) from None
    return keras


def read_config(path: Path) -> dict[str, Any]:
    """The folder's ``config.json``; a clear error when it is missing or not JSON."""
    config_path = Path(path) / "config.json"
    if not config_path.is_file():
        raise InvalidInputError(
            f"{path} has no config.json: not a keras-hub preset, transformers or timm checkpoint"
        )
    try:
        return json.loads(config_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"{config_path} is not valid JSON: {exc}") from None


def load(
    path: Path,
    *,
    task: str | None = None,
    num_labels: int | None = None,
    labels: list[str] | None = None,
    metadata: dict[str, Any] | None = None,
) -> LoadedModel:
    """Build the Keras model in ``path`` (keras-hub preset, transformers or timm checkpoint).

    ``task`` picks the keras-hub class (inferred from the checkpoint when None); ``num_labels``
    with a classification task replaces the head by a new, randomly initialised one.
    Raises UnsupportedError when keras-hub cannot convert the architecture.
    """
    import_keras()
    metadata = dict(metadata or {})
    if isinstance(path, str) and not Path(path).is_dir():
        return _load_named_preset(path, task=task, num_labels=num_labels, metadata=metadata)
    path = Path(path)
    config = read_config(path)
    fmt = checkpoint_format(config)
    check_convertible(path, config)
    task = task or metadata.get("task") or _infer_task(path, config, fmt)
    if task not in TASKS:
        raise UnsupportedError(
            f"task {task!r} is not available in Keras for this model",
            hint=f"Keras tasks: {', '.join(TASKS)}; or load it with framework='torch'",
        )
    if num_labels is not None and task not in ("image-classification", "text-classification"):
        raise InvalidInputError("num_labels needs task='image-classification' or 'text-classification'")
    if labels and num_labels is not None and len(labels) != num_labels:
        raise InvalidInputError(f"{len(labels)} labels given for num_labels={num_labels}")
    # keras-hub's timm MobileNet converter print()s a line per ported layer: on stdout that would
    # corrupt `--json` output and flood notebooks, and it tells the user nothing.
    with staged(path, config) as source, contextlib.redirect_stdout(io.StringIO()):
        try:
            model, preprocessor = _build(source, config, fmt, task, num_labels)
        except (ValueError, KeyError) as exc:
            if fmt == "keras":
                raise InvalidInputError(f"{path} is not a loadable keras-hub preset: {exc}") from None
            raise conversion_failed(config, exc) from None
    overrides = _overrides(path, config, fmt)
    if overrides.get("activation") == "gelu":
        use_exact_gelu(getattr(model, "backbone", model))
    tokenizer = getattr(preprocessor, "tokenizer", None)
    if fmt == "transformers" and lowercases_like_keras_only(tokenizer) and _strips_accents(path):
        overrides["lowercase"] = "transformers"  # recorded, so a Keras save of it tokenises the same
    if overrides.get("lowercase") == "transformers" and lowercases_like_keras_only(tokenizer):
        use_transformers_lowercase(tokenizer)
    image = _image_preprocessing(path, config, fmt, model) if _is_image(model) else None
    return LoadedModel(
        model=model,
        framework="tf",
        library="keras-hub",
        task=task,
        preprocessor=image or preprocessor,
        labels=labels or _labels(config, fmt, model, num_labels),
        metadata={**metadata, "source_format": fmt, "keras_overrides": overrides},
    )


def _strips_accents(path: Path) -> bool:
    """Whether the checkpoint's transformers tokenizer strips accents (BertNormalizer's default:
    when it lowercases); :func:`use_transformers_lowercase` does."""
    file = path / "tokenizer.json"
    if not file.is_file():
        return True
    normalizer = read_json_file(file, display="tokenizer.json").get("normalizer") or {}
    return not (isinstance(normalizer, dict) and normalizer.get("strip_accents") is False)


def _overrides(path: Path, config: dict[str, Any], fmt: str) -> dict[str, Any]:
    """Changes zoolab makes to the keras-hub model so it computes what the checkpoint's library does."""
    if fmt == "transformers":
        return {"activation": "gelu"} if exact_gelu_needed(config) else {}
    saved = path / OVERRIDES_FILE
    if not saved.is_file():
        return {}
    overrides = read_json_file(saved, display=OVERRIDES_FILE)
    # The only changes zoolab records; anything else in a repository's copy is refused.
    if (not isinstance(overrides, dict) or set(overrides) - {"activation", "lowercase"}
            or overrides.get("activation") not in (None, "gelu") or overrides.get("lowercase") not in (None, "transformers")):
        raise InvalidInputError(f"{OVERRIDES_FILE} may hold only \"activation\": \"gelu\" and "
                                f"\"lowercase\": \"transformers\", got {overrides!r:.100}")
    return overrides


def _load_named_preset(
    preset: str, *, task: str | None, num_labels: int | None, metadata: dict[str, Any]
) -> LoadedModel:
    """A keras-hub preset by name or handle (``resnet_50_imagenet``, ``hf://org/name``)."""
    import keras_hub

    task = task or metadata.get("task") or "feature-extraction"
    if task not in TASKS:
        raise UnsupportedError(f"task {task!r} is not available in Keras", hint=f"use one of {', '.join(TASKS)}")
    new_head = {"num_classes": num_labels} if num_labels is not None else {}
    try:
        if task == "image-classification":
            model: Any = keras_hub.models.ImageClassifier.from_preset(preset, **new_head)
        elif task == "text-classification":
            model = keras_hub.models.TextClassifier.from_preset(preset, **new_head)
        elif task == "text-generation":
            model = keras_hub.models.CausalLM.from_preset(preset)
        else:
            model = keras_hub.models.Backbone.from_preset(preset)
    except (ValueError, FileNotFoundError, OSError) as exc:
        raise ModelNotFoundError(f"keras-hub preset {preset!r} could not be loaded: {exc}") from None
    preprocessor: Any = getattr(model, "preprocessor", None)
    if _is_image(model):
        converter = getattr(preprocessor, "image_converter", None)
        size = tuple(getattr(converter, "image_size", None) or (224, 224))
        scale = _channels(getattr(converter, "scale", None), 1 / 255)
        offset = _channels(getattr(converter, "offset", None), 0.0)
        std = tuple(1 / (255 * x) for x in scale)
        preprocessor = ImagePreprocessing(
            size=size, mean=tuple(-o * d for o, d in zip(offset, std)), std=std,  # type: ignore[arg-type]
            interpolation=getattr(converter, "interpolation", "bilinear"),
        )
    elif preprocessor is None:
        preprocessor = keras_hub.models.TextClassifierPreprocessor.from_preset(preset)
    labels = [f"LABEL_{i}" for i in range(num_labels)] if num_labels else None
    return LoadedModel(model, "tf", "keras-hub", task, preprocessor, labels, metadata)


def _channels(value: Any, default: float) -> tuple[float, float, float]:
    if value is None:
        return (default,) * 3  # type: ignore[return-value]
    if isinstance(value, (int, float)):
        return (float(value),) * 3  # type: ignore[return-value]
    return tuple(float(v) for v in value)  # type: ignore[return-value]


def _infer_task(path: Path, config: dict[str, Any], fmt: str) -> str:
    if fmt == "timm":
        return "image-classification" if config.get("num_classes", 1000) else "feature-extraction"
    if fmt == "transformers":
        arch = (config.get("architectures") or [""])[0]
        if arch.endswith("ForSequenceClassification"):
            return "text-classification"
        if arch.endswith("ForImageClassification"):
            return "image-classification"
        if arch.endswith(("LMHeadModel", "ForCausalLM")):
            return "text-generation"
        return "feature-extraction"
    task_file = path / "task.json"
    if task_file.exists():
        return _task_of_class(_registered_class(json.loads(task_file.read_text(encoding="utf-8"))))
    return "feature-extraction"


def _registered_class(config: dict[str, Any]) -> type:
    from keras_hub.src.utils.preset_utils import check_config_class

    return check_config_class(config)


def _task_of_class(cls: type) -> str:
    import keras_hub

    for base, name in (
        (keras_hub.models.ImageClassifier, "image-classification"),
        (keras_hub.models.TextClassifier, "text-classification"),
        (keras_hub.models.CausalLM, "text-generation"),
    ):
        if issubclass(cls, base):
            return name
    return "feature-extraction"


def _build(source: Path, config: dict[str, Any], fmt: str, task: str, num_labels: int | None) -> tuple[Any, Any]:
    """The keras-hub model for ``task`` and its text preprocessor (None for images)."""
    import keras_hub

    preset = str(source)
    new_head = {"num_classes": num_labels} if num_labels is not None else {}
    if task == "image-classification":
        return keras_hub.models.ImageClassifier.from_preset(preset, **new_head), None
    if task == "text-classification":
        if fmt == "transformers" and not new_head:
            # keras-hub never converts the head itself: build one of the checkpoint's size, port it.
            size = len(config.get("id2label") or {}) or 2
            model = keras_hub.models.TextClassifier.from_preset(preset, num_classes=size)
            if not port_text_head(model, source, config):
                raise UnsupportedError(
                    f"the classification head of this {config.get('model_type')} checkpoint cannot be "
                    "converted to Keras",
                    hint="pass num_labels to start from a new head, or use framework='torch'",
                )
        else:
            model = keras_hub.models.TextClassifier.from_preset(preset, **new_head)
        _fit_sequence_length(model.preprocessor, model.backbone)
        return model, model.preprocessor
    if task == "text-generation":
        model = keras_hub.models.CausalLM.from_preset(preset)
        if fmt == "transformers":
            # transformers' GPT-2 tokenizer adds no start token; match it.
            model.preprocessor.add_start_token = False
        _fit_sequence_length(model.preprocessor, model.backbone)
        return model, model.preprocessor
    backbone = keras_hub.models.Backbone.from_preset(preset)
    preprocessor = None if _is_image(backbone) else _text_preprocessor(source, backbone)
    return backbone, preprocessor


def _text_preprocessor(source: Path, backbone: Any) -> Any:
    """A keras-hub text preprocessor for a bare backbone: the preset's own, or a classifier one."""
    import keras_hub

    preset_file = source / "preprocessor.json"
    if preset_file.exists():
        cls = _registered_class(json.loads(preset_file.read_text(encoding="utf-8")))
        preprocessor = cls.from_preset(str(source))
    else:
        try:
            preprocessor = keras_hub.models.TextClassifierPreprocessor.from_preset(str(source))
        except ValueError:
            preprocessor = keras_hub.models.CausalLMPreprocessor.from_preset(str(source))
            preprocessor.add_start_token = False
    _fit_sequence_length(preprocessor, backbone)
    return preprocessor


def _fit_sequence_length(preprocessor: Any, backbone: Any) -> None:
    """Truncate to what the backbone's position table holds (keras-hub's default is 512/1024)."""
    limit = getattr(backbone, "max_sequence_length", None)
    if preprocessor is not None and limit and getattr(preprocessor, "sequence_length", 0) > limit:
        preprocessor.sequence_length = int(limit)


def _is_image(model: Any) -> bool:
    import keras_hub

    backbone = getattr(model, "backbone", model)
    if isinstance(model, keras_hub.models.ImageClassifier):
        return True
    shape = getattr(backbone, "input_shape", None)
    # Image backbones take one (batch, height, width, channels) tensor; text ones take a dict.
    return isinstance(shape, tuple) and len(shape) == 4


def _image_preprocessing(path: Path, config: dict[str, Any], fmt: str, model: Any) -> ImagePreprocessing:
    saved = path / IMAGE_PREPROCESSING_FILE
    if saved.exists():
        return ImagePreprocessing.from_json(json.loads(saved.read_text(encoding="utf-8")))
    if fmt == "timm":
        return ImagePreprocessing.from_timm(config)
    if fmt == "transformers":
        return ImagePreprocessing.from_image_processor(path, config)
    converted = ImagePreprocessing.from_keras_converter(path)
    if converted is not None:
        return converted
    backbone = getattr(model, "backbone", model)
    height, width = (backbone.input_shape[1] or 224), (backbone.input_shape[2] or 224)
    return ImagePreprocessing(size=(height, width), mean=(0.0,) * 3, std=(1 / 255,) * 3)  # type: ignore[arg-type]


def _labels(config: dict[str, Any], fmt: str, model: Any, num_labels: int | None) -> list[str] | None:
    classes = num_labels or getattr(model, "num_classes", None)
    if num_labels is not None or not classes:
        return [f"LABEL_{i}" for i in range(classes)] if classes else None
    if fmt == "timm":
        names = config.get("label_names") or (config.get("pretrained_cfg") or {}).get("label_names")
        if names and len(names) == classes:
            return list(names)
    if fmt == "transformers" and config.get("id2label"):
        id2label = config["id2label"]
        names = [id2label[k] for k in sorted(id2label, key=int)]
        if len(names) == classes:
            return names
    return [f"LABEL_{i}" for i in range(classes)]


def run(loaded: LoadedModel, inputs: list[Any]) -> np.ndarray:
    """Preprocess ``inputs`` (images or strings) and return the task's float32 outputs."""
    if not inputs:
        raise InvalidInputError("no inputs given")
    batch = preprocess(loaded, inputs)
    outputs = model_outputs(loaded, batch)
    mask = batch.get("padding_mask") if isinstance(batch, dict) else None
    if loaded.task == "text-generation":
        # Next-token logits after the last real token (right padding).
        last = np.asarray(mask).astype(np.int64).sum(axis=1) - 1
        return outputs[np.arange(len(inputs)), last]
    if loaded.task == "feature-extraction":
        if outputs.ndim == 4:
            # Convolutional backbones give a feature map; pool it as timm's num_classes=0 models do.
            return outputs.mean(axis=(1, 2))
        if outputs.ndim == 3:
            return pool(outputs, mask, loaded.metadata.get("pooling") or {})
    return outputs


def preprocess(loaded: LoadedModel, inputs: list[Any]) -> Any:
    """The model's input batch for ``inputs``: an NHWC array or a dict of token arrays."""
    if isinstance(loaded.preprocessor, ImagePreprocessing):
        return loaded.preprocessor(inputs)
    if loaded.preprocessor is None:
        raise UnsupportedError("this model has no tokenizer, so it cannot read text")
    if not all(isinstance(x, str) for x in inputs):
        raise InvalidInputError("a text model needs strings as inputs")
    return encode_texts(loaded.preprocessor, inputs)


def model_outputs(loaded: LoadedModel, batch: Any) -> np.ndarray:
    """The model's raw output on a preprocessed batch, as float32 numpy."""
    outputs = loaded.model(batch, training=False)
    if isinstance(outputs, dict):
        outputs = outputs.get("sequence_output", next(iter(outputs.values())))
    return np.asarray(outputs, dtype=np.float32)


def pool(hidden: np.ndarray, mask: Any, pooling: dict[str, Any]) -> np.ndarray:
    """One vector per row of token states ``hidden`` (N, T, D): mean (default), cls or max."""
    weights = np.ones(hidden.shape[:2], np.float32) if mask is None else np.asarray(mask, np.float32)
    weights = weights[..., None]
    mode = pooling.get("mode", "mean")
    if mode == "cls":
        vectors = hidden[:, 0]
    elif mode == "max":
        vectors = np.where(weights > 0, hidden, -np.inf).max(axis=1)
    else:
        vectors = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
    if pooling.get("normalize"):
        vectors = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return vectors.astype(np.float32)


def label_names(loaded: LoadedModel, indices: list[int]) -> list[str]:
    """Names of output ``indices``: vocabulary tokens for text generation, else the labels."""
    tokenizer = getattr(loaded.preprocessor, "tokenizer", None)
    if loaded.task == "text-generation" and tokenizer is not None:
        return [_token_text(tokenizer, int(i)) for i in indices]
    labels = loaded.labels or []
    return [labels[i] if i < len(labels) else f"LABEL_{i}" for i in indices]


def _token_text(tokenizer: Any, index: int) -> str:
    """A token as text: detokenised (byte-level BPE reads "Ġcat" as " cat"), else its raw form."""
    try:
        text = tokenizer.detokenize(np.asarray([index], np.int32))
        text = text.numpy() if hasattr(text, "numpy") else text
        text = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    except Exception:  # noqa: BLE001 - special ids some tokenizers cannot detokenise
        text = ""
    return text.strip() or str(tokenizer.id_to_token(index))


def save(loaded: LoadedModel, folder: Path) -> None:
    """Write ``loaded`` as a keras-hub preset (plus the image preprocessing zoolab applies)."""
    import_keras()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = loaded.model
    model.save_to_preset(str(folder))
    preprocessor = loaded.preprocessor
    if isinstance(preprocessor, ImagePreprocessing):
        (folder / IMAGE_PREPROCESSING_FILE).write_text(json.dumps(preprocessor.to_json(), indent=2), "utf-8")
    elif preprocessor is not None and getattr(model, "preprocessor", None) is not preprocessor:
        preprocessor.save_to_preset(str(folder))
    overrides = loaded.metadata.get("keras_overrides") or {}
    if overrides:
        (folder / OVERRIDES_FILE).write_text(json.dumps(overrides, indent=2), "utf-8")
