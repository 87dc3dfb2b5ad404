"""Random-initialised checkpoints in the timm and transformers formats, for every architecture
that both frameworks load.

They are what the cross-framework tests and the load benchmark publish: a real timm hub folder
(``config.json`` with ``architecture`` and ``pretrained_cfg``, ``model.safetensors``) or a real
transformers ``save_pretrained`` folder with the tokenizer files a Hub repository carries
(``tokenizer.json`` plus ``vocab.txt`` or ``vocab.json``/``merges.txt``). Nothing is downloaded.

Every weight, bias and normalisation statistic is random, so a converter that drops or transposes
one tensor shows up as a difference in the outputs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoolab.errors import InvalidInputError

#: Words of the tiny tokenizers' vocabularies (lower case; WordPiece adds ``##`` pieces).
_WORDS = (
    "the a cat dog sat on mat hello world model zoo keras torch tensor lab runs fast slow "
    "red green blue one two three is are was and of to in it"
).split()


@dataclass(frozen=True)
class TinyArch:
    """One architecture both frameworks load, with the settings of its tiny random checkpoint."""

    name: str
    """Key used in tests and on the command line (``bert``, ``resnet18``, ...)."""
    library: str
    """``timm`` or ``transformers``: the format the checkpoint is written in."""
    modality: str
    """``image`` or ``text``."""
    image_size: int = 0
    """Input side of image models (pretrained_cfg input_size / config image_size)."""


TINY_ARCHS: dict[str, TinyArch] = {
    a.name: a
    for a in (
        TinyArch("resnet18", "timm", "image", 64),
        TinyArch("resnet50", "timm", "image", 64),
        TinyArch("mobilenetv3_small_100", "timm", "image", 64),
        TinyArch("efficientnet_b0", "timm", "image", 64),
        TinyArch("vit", "transformers", "image", 32),
        TinyArch("bert", "transformers", "text"),
        TinyArch("distilbert", "transformers", "text"),
        TinyArch("roberta", "transformers", "text"),
        TinyArch("gpt2", "transformers", "text"),
    )
}


def make_checkpoint(
    name: str, folder: str | Path, *, num_labels: int | None = None, seed: int = 0, size: str = "tiny"
) -> Path:
    """Write a random-initialised checkpoint of architecture ``name`` into ``folder``.

    ``num_labels`` adds a classification head (image or sequence classification); without it a
    timm model keeps a 10-class head and a transformers model is written as its base model (GPT-2
    with its language-model head). ``size="base"`` writes a full-size transformer (for benchmarks).
    Returns ``folder``.
    """
    if name not in TINY_ARCHS:
        raise InvalidInputError(f"unknown architecture {name!r}; choose one of {', '.join(TINY_ARCHS)}")
    import torch

    torch.manual_seed(seed)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arch = TINY_ARCHS[name]
    if arch.library == "timm":
        model = _timm_model(arch, num_labels)
    else:
        model = _transformers_model(arch, num_labels, size)
    _randomise(model)
    if arch.library == "timm":
        from timm.models import save_for_hf

        names = {"label_names": [f"class_{i}" for i in range(num_labels)]} if num_labels else None
        save_for_hf(model, str(folder), model_config=names, safe_serialization=True)
    else:
        model.save_pretrained(folder, safe_serialization=True)
        if arch.modality == "text":
            _write_tokenizer(name, folder)
        else:
            _write_image_processor(arch, folder)
    return folder


def add_sentence_transformer_modules(folder: str | Path) -> Path:
    """Make a transformers BERT folder a sentence-transformers one: mean pooling, then Normalize.

    That is the layout of all-MiniLM-L6-v2: ``modules.json`` naming the Transformer, Pooling
    and Normalize modules, and ``1_Pooling/config.json``. Returns ``folder``.
    """
    folder = Path(folder)
    hidden = json.loads((folder / "config.json").read_text())["hidden_size"]
    (folder / "modules.json").write_text(json.dumps([
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]))  # fmt: skip
    (folder / "1_Pooling").mkdir(exist_ok=True)
    (folder / "1_Pooling" / "config.json").write_text(json.dumps(
        {"word_embedding_dimension": hidden, "pooling_mode_cls_token": False, "pooling_mode_mean_tokens": True}))
    return folder

def _timm_model(arch: TinyArch, num_labels: int | None) -> Any:
    import timm

    size = arch.image_size
    overlay = {"input_size": (3, size, size), "crop_pct": 0.875, "interpolation": "bicubic"}
    model = timm.create_model(
        arch.name, pretrained=False, num_classes=num_labels or 10, pretrained_cfg_overlay=overlay
    )
    return model.eval()


def _transformers_model(arch: TinyArch, num_labels: int | None, size: str) -> Any:
    import transformers as tr

    labels = {}
    if num_labels:
        labels = {"id2label": {i: f"class_{i}" for i in range(num_labels)}}
        labels["label2id"] = {v: k for k, v in labels["id2label"].items()}
    vocab = len(_vocabulary(arch.name))
    base = size == "base"
    dims = dict(hidden=768 if base else 32, layers=12 if base else 2, heads=12 if base else 4)
    inter = dims["hidden"] * 4 if base else 37
    positions = 512 if base else 64
    # Tiny models get large weights so activations leave the near-linear range around 0, where
    # an approximate GELU or a wrong epsilon would hide; base-size models keep the usual 0.02.
    init = {"initializer_range": 0.02 if base else 0.2}
    if arch.name == "vit":
        cfg = tr.ViTConfig(
            **init,
            image_size=arch.image_size, patch_size=8, hidden_size=dims["hidden"],
            num_hidden_layers=dims["layers"], num_attention_heads=dims["heads"],
            intermediate_size=inter, **labels,
        )
        if num_labels:
            return tr.ViTForImageClassification(cfg).eval()
        # keras-hub's ViT backbone has no pooler: write the base model without one.
        return tr.ViTModel(cfg, add_pooling_layer=False).eval()
    if arch.name == "bert":
        cfg = tr.BertConfig(
            **init,
            vocab_size=vocab, hidden_size=dims["hidden"], num_hidden_layers=dims["layers"],
            num_attention_heads=dims["heads"], intermediate_size=inter, max_position_embeddings=positions,
            **labels,
        )
        cls = tr.BertForSequenceClassification if num_labels else tr.BertModel
    elif arch.name == "distilbert":
        cfg = tr.DistilBertConfig(
            **init,
            vocab_size=vocab, dim=dims["hidden"], n_layers=dims["layers"], n_heads=dims["heads"],
            hidden_dim=inter, max_position_embeddings=positions, **labels,
        )
        cls = tr.DistilBertForSequenceClassification if num_labels else tr.DistilBertModel
    elif arch.name == "roberta":
        cfg = tr.RobertaConfig(
            **init,
            vocab_size=vocab, hidden_size=dims["hidden"], num_hidden_layers=dims["layers"],
            num_attention_heads=dims["heads"], intermediate_size=inter, max_position_embeddings=positions + 2,
            pad_token_id=1, bos_token_id=0, eos_token_id=2, layer_norm_eps=1e-5, **labels,
        )
        cls = tr.RobertaForSequenceClassification if num_labels else tr.RobertaModel
    else:  # gpt2
        if num_labels:
            raise InvalidInputError("gpt2 is written with its language-model head only; drop num_labels")
        cfg = tr.GPT2Config(
            **init,
            vocab_size=vocab, n_embd=dims["hidden"], n_layer=dims["layers"], n_head=dims["heads"],
            n_positions=positions, bos_token_id=vocab - 1, eos_token_id=vocab - 1,
        )
        cls = tr.GPT2LMHeadModel
    return cls(cfg).eval()


def _randomise(model: Any) -> None:
    """Move every bias, norm scale and normalisation statistic off its 0/1 default.

    Weight matrices keep the library's own random initialisation, which keeps activations in a
    sane range (a float32 comparison at 1e-4 means little on exploding activations).
    """
    import torch

    with torch.no_grad():
        for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
            if not tensor.is_floating_point() or tensor.dim() > 1:
                continue
            if name.endswith("running_var"):
                tensor.uniform_(0.5, 1.5)
            elif name.endswith("running_mean"):
                tensor.normal_(0.0, 0.1)
            else:
                tensor.add_(torch.randn_like(tensor) * 0.1)


def _vocabulary(name: str) -> dict[str, int]:
    if name in ("bert", "distilbert"):
        tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", ".", ",", "!", "?"]
        tokens += list("abcdefghijklmnopqrstuvwxyz") + [f"##{c}" for c in "abcdefghijklmnopqrstuvwxyz"]
        tokens += _WORDS
        return {t: i for i, t in enumerate(dict.fromkeys(tokens))}
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    specials = ["<s>", "<pad>", "</s>", "<unk>"] if name == "roberta" else []
    tokens = specials + list(bytes_to_unicode().values())
    tokens += [m.replace(" ", "") for m in _merges()]
    tokens += ["<mask>"] if name == "roberta" else ["<|endoftext|>"]
    return {t: i for i, t in enumerate(dict.fromkeys(tokens))}


def _merges() -> list[str]:
    """Byte-level BPE merges that build a few whole words (``Ġ`` marks a leading space)."""
    merges: list[str] = []
    for word in ("the", "cat", "dog", "sat", "on", "mat", "hello", "world"):
        for prefix in ("", "Ġ"):
            pieces = ([prefix + word[0]] if prefix else [word[0]]) + list(word[1:])
            if prefix:
                merges.append(f"Ġ {word[0]}")
            while len(pieces) > 1:
                merges.append(f"{pieces[0]} {pieces[1]}")
                pieces = [pieces[0] + pieces[1]] + pieces[2:]
    return list(dict.fromkeys(merges))


def _write_tokenizer(name: str, folder: Path) -> None:
    """Save the tokenizer as transformers does, plus the slow-tokenizer files Hub repos carry."""
    import transformers as tr

    vocab = _vocabulary(name)
    if name in ("bert", "distilbert"):
        cls = tr.BertTokenizer if name == "bert" else tr.DistilBertTokenizer
        tokenizer = cls(vocab=vocab, do_lower_case=True)
        tokenizer.save_pretrained(folder)
        ordered = sorted(vocab, key=vocab.__getitem__)
        (folder / "vocab.txt").write_text("\n".join(ordered) + "\n", encoding="utf-8")
        return
    merges = _merges()
    pairs = [tuple(m.split(" ")) for m in merges]
    if name == "roberta":
        tokenizer = tr.RobertaTokenizer(vocab=vocab, merges=pairs)
    else:
        tokenizer = tr.GPT2Tokenizer(vocab=vocab, merges=pairs)
    tokenizer.save_pretrained(folder)
    (folder / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\n" + "\n".join(merges) + "\n", encoding="utf-8")


def _write_image_processor(arch: TinyArch, folder: Path) -> None:
    config = {
        "image_processor_type": "ViTImageProcessor",
        "do_resize": True,
        "size": {"height": arch.image_size, "width": arch.image_size},
        "resample": 2,
        "do_rescale": True,
        "rescale_factor": 1 / 255,
        "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5],
        "image_std": [0.5, 0.5, 0.5],
    }
    (folder / "preprocessor_config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
