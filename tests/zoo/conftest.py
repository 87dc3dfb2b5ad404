"""Tiny random-initialised model folders for the zoo tests, in the libraries' own formats.

Nothing is downloaded: each folder is made here with timm or transformers at a few thousand
parameters, with a tiny WordPiece or byte-level tokenizer written from a word list.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

from zoolab.zoo.keras_checkpoints import add_sentence_transformer_modules

os.environ.setdefault("OMP_NUM_THREADS", "1")

WORDS = (
    "the a cat dog sat on mat hello world paris is capital of france model zoo red green blue "
    "one two three and to in it"
).split()


def _torch():
    import torch

    torch.set_num_threads(1)
    torch.manual_seed(0)
    return torch


def make_timm(folder: Path, *, arch: str = "resnet18", num_classes: int = 3, **model_args) -> Path:
    """A timm hub-format folder (config.json + model.safetensors) of a tiny ``arch``."""
    _torch()
    import timm
    from timm.models import save_for_hf

    if arch.startswith("resnet") and not model_args:
        model_args = {"layers": (1, 1, 1, 1), "channels": (8, 8, 16, 16), "stem_width": 8}
    model = timm.create_model(arch, pretrained=False, num_classes=num_classes, **model_args)
    save_for_hf(model, str(folder), safe_serialization=True)
    return folder


def wordpiece_tokenizer(folder: Path):
    """A BertTokenizerFast over :data:`WORDS` (saved nowhere yet)."""
    from transformers import BertTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    # transformers 5 ignores `vocab_file=` for fast tokenizers (every word would be [UNK]):
    # pass the vocabulary itself.
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    tokenizer = BertTokenizerFast(vocab={tok: i for i, tok in enumerate(tokens)})
    assert tokenizer.unk_token_id not in tokenizer(WORDS[0])["input_ids"]
    return tokenizer


def word_tokenizer(folder: Path):
    """A word-level fast tokenizer over :data:`WORDS` with GPT-2's special token."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    folder.mkdir(parents=True, exist_ok=True)
    vocab = {tok: i for i, tok in enumerate(["<|endoftext|>", "<unk>", *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<|endoftext|>",
                                   bos_token="<|endoftext|>", unk_token="<unk>")  # fmt: skip


def make_transformers(folder: Path, kind: str = "bert-mlm") -> Path:
    """A transformers ``save_pretrained`` folder with its tokenizer.

    kinds: ``bert-mlm``, ``bert`` (plain encoder), ``distilbert-cls``, ``gpt2``.
    """
    _torch()
    import transformers as tf

    small = dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32)
    if kind in ("bert-mlm", "bert"):
        tok = wordpiece_tokenizer(folder)
        cfg = tf.BertConfig(vocab_size=len(tok), max_position_embeddings=64, **small)
        model = tf.BertForMaskedLM(cfg) if kind == "bert-mlm" else tf.BertModel(cfg)
    elif kind == "distilbert-cls":
        tok = wordpiece_tokenizer(folder)
        cfg = tf.DistilBertConfig(vocab_size=len(tok), dim=16, n_layers=1, n_heads=2, hidden_dim=32,
                                  max_position_embeddings=64, num_labels=2,
                                  id2label={0: "negative", 1: "positive"},
                                  label2id={"negative": 0, "positive": 1})  # fmt: skip
        model = tf.DistilBertForSequenceClassification(cfg)
    elif kind == "gpt2":
        tok = word_tokenizer(folder)
        cfg = tf.GPT2Config(vocab_size=len(tok), n_embd=16, n_layer=1, n_head=2, n_positions=64)
        model = tf.GPT2LMHeadModel(cfg)
    else:
        raise ValueError(kind)
    from zoolab.zoo.torch_backend import quiet_transformers

    with quiet_transformers():
        model.save_pretrained(str(folder))
        tok.save_pretrained(str(folder))
    return folder


def make_sentence_transformer(folder: Path) -> Path:
    """A sentence-transformers folder (BERT + mean pooling + Normalize), like all-MiniLM-L6-v2."""
    return add_sentence_transformer_modules(make_transformers(folder, "bert"))


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Read-only tiny model folders shared by the zoo tests (copy before changing one)."""
    root = tmp_path_factory.mktemp("tiny-models")
    return {
        "timm": make_timm(root / "timm-resnet"),
        "bert-mlm": make_transformers(root / "bert-mlm", "bert-mlm"),
        "distilbert-cls": make_transformers(root / "distilbert-cls", "distilbert-cls"),
        "gpt2": make_transformers(root / "gpt2", "gpt2"),
        "sentence": make_sentence_transformer(root / "sentence"),
    }


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Two small random RGB images of different sizes, as PNG files."""
    from PIL import Image

    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    paths = []
    for i, (h, w) in enumerate([(40, 50), (64, 32)]):
        path = root / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
        paths.append(path)
    return paths


@pytest.fixture
def copy_model(tmp_path: Path) -> Callable[[Path], Path]:
    """Copy a shared tiny model folder into this test's tmp_path (to change it safely)."""
    import shutil

    def _copy(src: Path) -> Path:
        dest = tmp_path / src.name
        shutil.copytree(src, dest)
        return dest

    return _copy


@pytest.fixture
def timm_folder_factory() -> Callable[..., Path]:
    """:func:`make_timm`, for tests that need a tiny timm folder of their own."""
    return make_timm


@pytest.fixture(scope="session")
def digits_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only: all 1,797 scikit-learn digits as ``DIGITS/<digit>/*.png`` (32x32 RGB), 10 labels."""
    from finetune_support import write_digits_folder

    return write_digits_folder(tmp_path_factory.mktemp("digits") / "digits")


@pytest.fixture(scope="session")
def kaomoji_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Read-only: 480 real kaomoji (60 in each of 8 categories) as a CSV with columns text,category."""
    from finetune_support import write_kaomoji_csv

    return write_kaomoji_csv(tmp_path_factory.mktemp("kaomoji") / "kaomoji.csv")
