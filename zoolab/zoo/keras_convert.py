"""What keras-hub can convert, and the pieces of a conversion keras-hub leaves out.

keras-hub reads a ``config.json`` and picks a loader: a keras-hub preset (``registered_name``), a
transformers checkpoint (``model_type``) or a timm checkpoint (``architecture``). This module

- says whether keras-hub converts a checkpoint, and raises :class:`UnsupportedError` naming the
  frameworks the model has when it does not;
- stages a checkpoint for the converter where transformers' current on-disk output differs from
  what keras-hub 0.32 expects (base-model weights without the ``distilbert.``/``roberta.``/``vit.``
  prefix, a tokenizer saved only as ``tokenizer.json``, timm's newer ``num_features``);
- ports the sequence-classification heads of BERT, DistilBERT and RoBERTa, which keras-hub's
  converters leave at random.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from pathlib import Path
from typing import Any, Iterator

from zoolab.errors import UnsupportedError

#: transformers ``model_type`` whose base-model weights keras-hub reads only under a prefix.
_PREFIXED_BASES = {"distilbert": "distilbert.", "roberta": "roberta.", "vit": "vit."}

#: Sequence-classification heads: keras-hub layer name -> transformers weight prefix.
TEXT_HEADS: dict[str, dict[str, str]] = {
    "bert": {"logits": "classifier"},
    "distilbert": {"pooled_dense": "pre_classifier", "logits": "classifier"},
    "roberta": {"pooled_dense": "classifier.dense", "logits": "classifier.out_proj"},
    "xlm-roberta": {"pooled_dense": "classifier.dense", "logits": "classifier.out_proj"},
}


def checkpoint_format(config: dict[str, Any]) -> str:
    """``keras`` (a keras-hub preset), ``transformers`` or ``timm``, read from ``config.json``."""
    if "registered_name" in config:
        return "keras"
    if "model_type" in config:
        return "transformers"
    if "architecture" in config:
        return "timm"
    raise UnsupportedError(
        "config.json is neither a keras-hub preset, a transformers checkpoint nor a timm checkpoint",
        hint="TensorFlow loads keras-hub presets and the transformers/timm checkpoints keras-hub converts",
    )


def describe(config: dict[str, Any]) -> str:
    """A short name of the checkpoint's architecture, for messages."""
    fmt = checkpoint_format(config)
    if fmt == "transformers":
        return f"transformers model_type {config.get('model_type')!r}"
    if fmt == "timm":
        return f"timm architecture {config.get('architecture')!r}"
    return f"keras-hub {config.get('class_name', config.get('registered_name'))}"


def check_convertible(path: Path, config: dict[str, Any]) -> None:
    """Raise :class:`UnsupportedError` unless keras-hub can build this checkpoint in Keras."""
    from keras_hub.src.utils.preset_utils import get_preset_loader

    fmt = checkpoint_format(config)
    if fmt == "keras":
        return
    try:
        loader = get_preset_loader(str(path))
        if fmt == "timm":
            # The timm converters know a fixed list of variants; ask before building anything.
            loader.converter.convert_backbone_config(config)
    except (ValueError, KeyError) as exc:
        library = "timm" if fmt == "timm" else "transformers"
        raise UnsupportedError(
            f"keras-hub cannot convert {describe(config)} to Keras ({short_reason(exc)}); this model "
            f"exists in PyTorch only ({library})",
            hint="load it with framework='torch' (zoolab: --framework torch)",
        ) from None
    if fmt == "timm":
        check_standard_timm(path, config)


#: First name segment of a timm classifier head, whose shape follows the number of labels.
_TIMM_HEADS = ("fc", "head", "classifier", "last_linear")


def check_standard_timm(path: Path, config: dict[str, Any]) -> None:
    """Refuse a timm checkpoint whose weights are not those of its named architecture.

    keras-hub's timm converters build the layers from the architecture name alone, so a variant
    saved with other widths or depths (``model_args`` in its config, or simply other weight shapes)
    would fail deep inside Keras with a tensor dump. The standard model is built on the meta device
    (shapes only) and compared with the safetensors headers before Keras is touched; the
    classifier head is left out, as a new number of labels is what fine-tuning changes.
    """
    import timm
    import torch

    from zoolab.zoo.safetensors_header import read_header

    arch = config.get("architecture")
    weights = path / "model.safetensors"
    if not isinstance(arch, str) or not timm.is_model(arch) or not weights.is_file():
        return  # the converter's own check (or the loader's weight checks) names what is missing
    with torch.device("meta"):
        standard = timm.create_model(arch, pretrained=False).state_dict()
    stored = read_header(weights, display=weights.name)
    head = {n for n in stored if n.split(".")[0] in _TIMM_HEADS}
    for name, info in stored.items():
        want = standard.get(name)
        if name in head or want is None:
            continue
        if tuple(want.shape) != tuple(info.shape):
            raise UnsupportedError(
                f"{describe(config)}: weight {name} has shape {tuple(info.shape)}, the standard {arch} has "
                f"{tuple(want.shape)} (a variant with other widths or depths); keras-hub builds only the "
                "standard architecture, so this model loads in PyTorch only",
                hint="load it with framework='torch' (CLI: --framework torch)",
            )
    missing = [n for n in standard if n not in stored and n.split(".")[0] not in _TIMM_HEADS]
    if missing:
        raise UnsupportedError(
            f"{describe(config)}: the checkpoint has no weight {missing[0]} of the standard {arch} "
            f"({len(missing)} missing: a variant with fewer layers); keras-hub builds only the standard "
            "architecture, so this model loads in PyTorch only",
            hint="load it with framework='torch' (CLI: --framework torch)",
        )


_SHAPES_RE = re.compile(r"variable\.shape=(\([^)]*\)).*?value\.shape=(\([^)]*\))", re.S)
_VARIABLE_RE = re.compile(r"<Variable path=([^,>\s]+)")
REASON_CHARS = 160
"""Longest library reason kept in a conversion error: keras-hub's texts embed whole tensors."""


def short_reason(exc: BaseException) -> str:
    """What went wrong in a keras-hub conversion, in a few words and without tensor values.

    Keras's shape mismatch (``variable.assign``) becomes ``weight PATH: Keras expects (..), the
    checkpoint has (..)``; any other text keeps its first line, cut before a ``value=`` dump.
    """
    text = str(exc.args[0]) if isinstance(exc, KeyError) and exc.args else str(exc)
    shapes = _SHAPES_RE.search(text)
    if shapes:
        variable = _VARIABLE_RE.search(text)
        where = f"weight {variable.group(1)}" if variable else "a weight"
        return f"{where}: Keras expects shape {shapes.group(1)}, the checkpoint has {shapes.group(2)}"
    first = (text.strip().splitlines() or [type(exc).__name__])[0]
    first = re.split(r"\bvalue=|<tf\.|tf\.Tensor\(|array\(", first)[0].rstrip(" ,:;(")
    return first if len(first) <= REASON_CHARS else first[: REASON_CHARS - 1].rstrip() + "…"


def conversion_failed(config: dict[str, Any], exc: BaseException) -> UnsupportedError:
    """The error for a checkpoint keras-hub accepted but could not build: most often a variant
    with other widths or depths than the architecture its name gives."""
    return UnsupportedError(
        f"keras-hub could not convert this {describe(config)} checkpoint to Keras ({short_reason(exc)}; "
        "a variant with other widths or depths than its name); the model loads in PyTorch only",
        hint="load it with framework='torch' (CLI: --framework torch)",
    )


@contextlib.contextmanager
def staged(path: Path, config: dict[str, Any]) -> Iterator[Path]:
    """Yield a folder keras-hub's converter reads correctly: ``path`` itself, or a temporary view.

    The view links every file of ``path`` and replaces only what needs fixing; it is removed on
    exit (keras-hub has read weights and vocabularies into memory by then).
    """
    fixes = _fixes(path, config)
    if not fixes:
        yield path
        return
    with tempfile.TemporaryDirectory(prefix="zoolab-keras-") as tmp:
        view = Path(tmp)
        for item in path.iterdir():
            if item.name not in fixes:
                os.symlink(item.resolve(), view / item.name)
        for name, write in fixes.items():
            write(view / name)
        yield view


def _fixes(path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """File name -> function writing its fixed version into the view."""
    fixes: dict[str, Any] = {}
    fmt = checkpoint_format(config)
    if fmt == "transformers":
        model_type = config.get("model_type", "")
        prefix = _PREFIXED_BASES.get(model_type)
        weights = path / "model.safetensors"
        add_prefix = bool(prefix) and weights.exists() and not _has_prefix(weights, prefix or "")
        fold = model_type in ("roberta", "xlm-roberta") and weights.exists() and _has_token_types(weights)
        if add_prefix or fold:
            fixes["model.safetensors"] = lambda dst: _write_fixed(
                weights, dst, prefix if add_prefix else "", fold
            )
        tokenizer_json = path / "tokenizer.json"
        if tokenizer_json.exists():
            model = json.loads(tokenizer_json.read_text(encoding="utf-8")).get("model", {})
            # transformers tokenises with tokenizer.json when present: the converter's vocabulary
            # files must say the same (transformers 5 no longer writes them at all).
            if model.get("type") == "WordPiece" and _vocab_txt(path / "vocab.txt") != _ordered(model["vocab"]):
                fixes["vocab.txt"] = lambda dst: _write_vocab_txt(model["vocab"], dst)
            if model.get("type") == "BPE" and _vocab_json(path / "vocab.json") != model.get("vocab"):
                fixes["vocab.json"] = lambda dst: dst.write_text(json.dumps(model["vocab"]), "utf-8")
                fixes["merges.txt"] = lambda dst: _write_merges(model["merges"], dst)
    elif fmt == "timm" and str(config.get("architecture", "")).startswith("mobilenetv3"):
        head = _tensor_shape(path / "model.safetensors", "conv_head.weight")
        if head and config.get("num_features") != head[0]:
            # timm >= 1.0 records the pre-head width; keras-hub reads num_features as the head's.
            fixed = {**config, "num_features": head[0]}
            fixes["config.json"] = lambda dst: dst.write_text(json.dumps(fixed), "utf-8")
    return fixes


def _has_prefix(weights: Path, prefix: str) -> bool:
    from safetensors import safe_open

    with safe_open(str(weights), framework="np") as fh:
        return any(key.startswith(prefix) for key in fh.keys())


def _tensor_shape(weights: Path, key: str) -> list[int] | None:
    from safetensors import safe_open

    if not weights.exists():
        return None
    with safe_open(str(weights), framework="np") as fh:
        return list(fh.get_slice(key).get_shape()) if key in fh.keys() else None


def _has_token_types(weights: Path) -> bool:
    """True when a RoBERTa checkpoint has a non-zero token-type embedding keras-hub would drop."""
    from safetensors import safe_open

    with safe_open(str(weights), framework="np") as fh:
        keys = [k for k in fh.keys() if k.endswith("embeddings.token_type_embeddings.weight")]
        return bool(keys) and bool((fh.get_tensor(keys[0]) != 0).any())


def _write_fixed(src: Path, dst: Path, prefix: str, fold_token_types: bool) -> None:
    """Copy the weights with ``prefix`` added, folding RoBERTa's token-type row into the words.

    RoBERTa adds token-type embedding 0 to every token; keras-hub's RoBERTa has no token-type
    table, so adding that row to every word embedding gives the same sums before LayerNorm.
    """
    from safetensors import safe_open
    from safetensors.numpy import save_file

    with safe_open(str(src), framework="np") as fh:
        tensors = {prefix + key: fh.get_tensor(key) for key in fh.keys()}
    if fold_token_types:
        words = next(k for k in tensors if k.endswith("embeddings.word_embeddings.weight"))
        types = next(k for k in tensors if k.endswith("embeddings.token_type_embeddings.weight"))
        tensors[words] = tensors[words] + tensors[types][0]
        tensors[types] = tensors[types] * 0
    save_file(tensors, str(dst))


def _ordered(vocab: dict[str, int]) -> list[str]:
    return sorted(vocab, key=vocab.__getitem__)


def _vocab_txt(path: Path) -> list[str] | None:
    return path.read_text(encoding="utf-8").splitlines() if path.is_file() else None


def _vocab_json(path: Path) -> dict[str, int] | None:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def _write_vocab_txt(vocab: dict[str, int], dst: Path) -> None:
    dst.write_text("\n".join(_ordered(vocab)) + "\n", encoding="utf-8")


def _write_merges(merges: list[Any], dst: Path) -> None:
    lines = [m if isinstance(m, str) else " ".join(m) for m in merges]
    dst.write_text("#version: 0.2\n" + "\n".join(lines) + "\n", encoding="utf-8")


def port_text_head(model: Any, path: Path, config: dict[str, Any]) -> bool:
    """Copy a transformers sequence-classification head into a keras-hub TextClassifier.

    Returns True when the checkpoint had a head of the classifier's size and it was copied.
    """
    head = TEXT_HEADS.get(config.get("model_type", ""))
    architectures = config.get("architectures") or [""]
    if not head or not architectures[0].endswith("ForSequenceClassification"):
        return False
    from safetensors import safe_open

    weights = path / "model.safetensors"
    if not weights.exists():
        return False
    with safe_open(str(weights), framework="np") as fh:
        keys = set(fh.keys())
        if any(f"{prefix}.weight" not in keys for prefix in head.values()):
            return False
        for layer_name, prefix in head.items():
            layer = model.get_layer(layer_name)
            kernel = fh.get_tensor(f"{prefix}.weight").T  # torch Linear is (out, in)
            if tuple(layer.kernel.shape) != kernel.shape:
                return False
            layer.kernel.assign(kernel)
            layer.bias.assign(fh.get_tensor(f"{prefix}.bias"))
    return True


#: Written into saved presets whose activations zoolab changed (keras-hub rebuilds its defaults).
OVERRIDES_FILE = "zoolab_keras.json"


def exact_gelu_needed(config: dict[str, Any]) -> bool:
    """True for a transformers BERT whose ``hidden_act`` is the exact (erf) GELU.

    keras-hub's BertBackbone always uses the tanh approximation (original BERT's), transformers'
    ``"gelu"`` is exact; on real weights the two differ by ~1e-3 in the hidden states.
    """
    return config.get("model_type") == "bert" and config.get("hidden_act", "gelu") == "gelu"


def use_exact_gelu(backbone: Any) -> None:
    """Switch every transformer layer of ``backbone`` to the exact GELU (in place)."""
    import keras

    def exact(x: Any) -> Any:
        return keras.activations.gelu(x, approximate=False)

    for layer in getattr(backbone, "transformer_layers", []):
        layer.activation = exact
        layer._feedforward_intermediate_dense.activation = exact
