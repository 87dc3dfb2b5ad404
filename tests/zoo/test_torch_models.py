"""PyTorch side of the zoo: load tiny timm/transformers folders, run, replace heads, save, reload."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

import zoolab.zoo as zoo
from zoolab.errors import ConflictError, InvalidInputError, UnsupportedError

TEXTS = ["hello world", "the cat sat on the mat"]


def _card(folder: Path) -> dict:
    text = (folder / "README.md").read_text()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n")[1])


def test_timm_load_run_predict(tiny_models: dict[str, Path], images: list[Path]) -> None:
    model = zoo.load(tiny_models["timm"])
    assert (model.framework, model.library, model.task) == ("torch", "timm", "image-classification")
    assert model.labels == ["LABEL_0", "LABEL_1", "LABEL_2"]
    logits = model(images)
    assert logits.shape == (2, 3) and logits.dtype == np.float32
    # The same numbers as timm's own transform + forward on the same file.
    import timm.data
    import torch
    from PIL import Image

    ref = timm.create_model(f"local-dir:{tiny_models['timm']}", pretrained=True).eval()
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=ref))
    with torch.inference_mode():
        expected = ref(transform(Image.open(images[0]).convert("RGB")).unsqueeze(0)).numpy()
    np.testing.assert_array_equal(logits[:1], expected)
    preds = zoo.predict(model, images, top_k=2)
    probs = np.exp(logits[0]) / np.exp(logits[0]).sum()
    assert [p.label for p in preds[0]] == [f"LABEL_{i}" for i in np.argsort(-probs)[:2]]
    assert preds[0][0].score == pytest.approx(float(probs.max()), rel=1e-5)


def test_timm_new_head_and_features(tiny_models: dict[str, Path], images: list[Path]) -> None:
    model = zoo.load(tiny_models["timm"], task="image-classification", num_labels=5)
    assert model.labels == [f"LABEL_{i}" for i in range(5)]
    assert model(images).shape == (2, 5)
    features = zoo.load(tiny_models["timm"], task="feature-extraction")
    assert features(images).shape == (2, 16)  # the tiny resnet's last stage width
    with pytest.raises(UnsupportedError, match="timm model cannot do task 'fill-mask'"):
        zoo.load(tiny_models["timm"], task="fill-mask")


def test_timm_save_reload_identical_and_readable_by_timm(
    tiny_models: dict[str, Path], images: list[Path], tmp_path: Path
) -> None:
    import timm
    import torch

    model = zoo.load(tiny_models["timm"], task="image-classification", num_labels=4)
    model.labels = ["cat", "dog", "bird", "fish"]
    before = model(images)
    out = model.save(tmp_path / "pets")
    assert {"config.json", "model.safetensors", "zoolab.json", "README.md"} <= {p.name for p in out.iterdir()}
    config = json.loads((out / "config.json").read_text())
    assert (config["architecture"], config["num_classes"]) == ("resnet18", 4)
    assert "pretrained_cfg" in config
    meta = json.loads((out / "zoolab.json").read_text())
    assert meta["labels"] == ["cat", "dog", "bird", "fish"] and meta["task"] == "image-classification"
    # Only the framework it was checked in: keras-hub converting this tiny variant was never tried.
    assert (meta["library"], meta["framework"], meta["frameworks"]) == ("timm", "torch", ["torch"])
    card = _card(out)
    assert card["library_name"] == "timm" and card["pipeline_tag"] == "image-classification"
    assert "zoolab" in card["tags"]

    again = zoo.load(out)
    assert again.labels == model.labels
    np.testing.assert_array_equal(again(images), before)
    # timm alone reads the folder and computes the same logits.
    plain = timm.create_model(f"local-dir:{out}", pretrained=True).eval()
    batch = torch.stack([again.preprocessor(again_img) for again_img in _pil(images)])
    with torch.inference_mode():
        np.testing.assert_array_equal(plain(batch).numpy(), before)
    assert plain.pretrained_cfg.get("label_names") == ["cat", "dog", "bird", "fish"]


def _pil(paths: list[Path]) -> list:
    from PIL import Image

    return [Image.open(p).convert("RGB") for p in paths]


def test_fill_mask(tiny_models: dict[str, Path]) -> None:
    model = zoo.load(tiny_models["bert-mlm"])
    assert (model.library, model.task) == ("transformers", "fill-mask")
    logits = model(["paris is the [MASK] of france", "the [MASK] sat"])
    assert logits.shape == (2, len(model.preprocessor))
    preds = zoo.predict(model, ["paris is the [MASK] of france"], top_k=3)[0]
    assert len(preds) == 3 and preds[0].score >= preds[1].score >= preds[2].score
    best = int(np.argmax(logits[0]))
    assert preds[0].label == model.preprocessor.decode([best]).strip()
    with pytest.raises(InvalidInputError, match=r"mask token '\[MASK\]'"):
        model(["no mask here"])
    with pytest.raises(InvalidInputError, match="strings"):
        model([Path("x.png")])


def test_text_classification_head_save_reload(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    import transformers

    model = zoo.load(tiny_models["bert-mlm"], task="text-classification", num_labels=3)
    assert model.labels == ["LABEL_0", "LABEL_1", "LABEL_2"]
    before = model(TEXTS)
    assert before.shape == (2, 3)
    out = model.save(tmp_path / "clf")
    again = zoo.load(out)
    assert (again.task, again.labels) == ("text-classification", model.labels)
    np.testing.assert_array_equal(again(TEXTS), before)
    # transformers alone reads the folder (safetensors) with the same head.
    plain = transformers.AutoModelForSequenceClassification.from_pretrained(out, use_safetensors=True)
    assert plain.config.num_labels == 3 and not list(out.glob("*.bin"))
    assert _card(out)["pipeline_tag"] == "text-classification"


def test_existing_classifier_keeps_its_labels(tiny_models: dict[str, Path]) -> None:
    model = zoo.load(tiny_models["distilbert-cls"])
    assert (model.task, model.labels) == ("text-classification", ["negative", "positive"])
    preds = zoo.predict(model, TEXTS, top_k=5)
    assert [len(p) for p in preds] == [2, 2]
    assert sum(p.score for p in preds[0]) == pytest.approx(1.0, abs=1e-6)
    bigger = zoo.load(tiny_models["distilbert-cls"], num_labels=4)
    assert bigger.labels == [f"LABEL_{i}" for i in range(4)] and bigger(TEXTS).shape == (2, 4)


def test_gpt2_next_token(tiny_models: dict[str, Path]) -> None:
    model = zoo.load(tiny_models["gpt2"])
    assert model.task == "text-generation"
    logits = model(["the cat", "hello world and the dog"])  # different lengths: padded batch
    single = model(["the cat"])
    np.testing.assert_allclose(logits[:1], single, atol=1e-5)
    preds = zoo.predict(model, ["the cat"], top_k=2)[0]
    assert preds[0].label == model.preprocessor.decode([int(np.argmax(single[0]))]).strip()
    # GPT-2 as a classifier (pad token taken from eos).
    clf = zoo.load(tiny_models["gpt2"], task="text-classification", num_labels=2)
    assert clf(TEXTS).shape == (2, 2)


def test_sentence_embeddings(tiny_models: dict[str, Path]) -> None:
    model = zoo.load(tiny_models["sentence"])
    assert model.task == "feature-extraction"
    assert model.metadata["pooling"] == {"mode": "mean", "normalize": True}
    vectors = model(["hello world", "the cat", "the cat sat"])
    assert vectors.shape == (3, 16)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    # Mean pooling over the attention mask, computed by hand.
    import torch

    enc = model.preprocessor(["the cat"], return_tensors="pt")
    with torch.inference_mode():
        hidden = model.model(**enc).last_hidden_state[0].mean(dim=0)
    np.testing.assert_allclose(vectors[1], (hidden / hidden.norm()).numpy(), atol=1e-6)
    neighbours = zoo.predict(model, ["hello world", "the cat", "the cat sat"], top_k=1)
    sims = vectors @ vectors.T
    assert neighbours[1][0].label == ["hello world", "the cat sat"][int(sims[1, 2] > sims[1, 0])]
    assert neighbours[1][0].score == pytest.approx(float(max(sims[1, 0], sims[1, 2])), abs=1e-5)
    assert zoo.predict(model, ["alone"]) == [[]]


def test_sentence_model_save_keeps_pooling(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    model = zoo.load(tiny_models["sentence"])
    out = model.save(tmp_path / "emb")
    again = zoo.load(out)
    assert again.metadata["pooling"] == {"mode": "mean", "normalize": True}
    np.testing.assert_array_equal(again(TEXTS), model(TEXTS))


def test_framework_the_model_lacks_is_named(tiny_models: dict[str, Path], copy_model) -> None:
    folder = copy_model(tiny_models["timm"])
    config = json.loads((folder / "config.json").read_text())
    config["architecture"] = "convnext_tiny"  # keras-hub has no ConvNeXt converter
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsupportedError, match=r"cannot be loaded in TensorFlow/Keras; it is available for: PyTorch"):
        zoo.load(folder, framework="tf")
    with pytest.raises(UnsupportedError, match="available for: PyTorch"):
        zoo.load("convnext-tiny", framework="tf")


def test_bad_arguments(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="framework"):
        zoo.load(tiny_models["timm"], framework="jax")
    with pytest.raises(InvalidInputError, match="num_labels"):
        zoo.load(tiny_models["timm"], num_labels=0)
    with pytest.raises(InvalidInputError, match="unknown task"):
        zoo.load(tiny_models["timm"], task="segmentation")
    model = zoo.load(tiny_models["timm"])
    with pytest.raises(InvalidInputError, match="cannot read image"):
        model(["not-an-image.txt"])
    with pytest.raises(InvalidInputError, match="top_k"):
        zoo.predict(model, ["x.png"], top_k=0)
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "keep.txt").write_text("mine")
    with pytest.raises(ConflictError, match="not empty"):
        model.save(occupied)
    assert (occupied / "keep.txt").read_text() == "mine" and len(list(occupied.iterdir())) == 1


def test_imagenet_heads_get_class_names(tmp_path: Path, images: list[Path], timm_folder_factory) -> None:
    folder = timm_folder_factory(tmp_path / "in1k", num_classes=1000)
    model = zoo.load(folder)
    assert model.labels[:3] == ["tench", "goldfish", "great white shark"] and len(model.labels) == 1000
    top = zoo.predict(model, images[:1], top_k=1)[0][0]
    assert top.label == model.labels[int(np.argmax(model(images[:1])[0]))]


def test_embed_returns_the_vectors(tiny_models: dict[str, Path]) -> None:
    vectors = zoo.embed(tiny_models["sentence"], ["hello world"])
    assert vectors.shape == (1, 16) and abs(float(np.linalg.norm(vectors)) - 1.0) < 1e-5


def test_transformers_vision_classifier(tmp_path: Path, images: list[Path]) -> None:
    import torch
    import transformers as tf

    torch.manual_seed(0)
    config = tf.ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1,
                          num_attention_heads=2, intermediate_size=32, num_labels=2,
                          id2label={0: "day", 1: "night"}, label2id={"day": 0, "night": 1})  # fmt: skip
    folder = tmp_path / "vit"
    tf.ViTForImageClassification(config).save_pretrained(folder)
    tf.ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(folder)
    model = zoo.load(folder)
    assert (model.library, model.task, model.labels) == ("transformers", "image-classification", ["day", "night"])
    assert model(images).shape == (2, 2)
    out = model.save(tmp_path / "vit-saved")
    np.testing.assert_array_equal(zoo.load(out)(images), model(images))


def test_timm_folder_needs_model_safetensors(tiny_models: dict[str, Path], copy_model, tmp_path: Path) -> None:
    folder = copy_model(tiny_models["timm"])
    (folder / "model.safetensors").rename(folder / "weights.safetensors")
    (folder / "pytorch_model.bin").write_bytes(b"timm would prefer this pickle")
    with pytest.raises(UnsupportedError, match="no model.safetensors"):
        zoo.load(folder)
    featureless = zoo.load(tiny_models["timm"], task="feature-extraction")
    out = featureless.save(tmp_path / "features")
    with pytest.raises(UnsupportedError, match="no classifier head"):
        zoo.load(out, task="image-classification")
    assert zoo.load(out, task="image-classification", num_labels=2).labels == ["LABEL_0", "LABEL_1"]
