"""The Keras backend: converted checkpoints, new heads, keras-hub presets saved and read back,
preprocessing that matches timm's, and clear errors for what keras-hub cannot convert."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from zoolab.errors import InvalidInputError, UnsupportedError
from zoolab.zoo.keras_checkpoints import make_checkpoint

pytestmark = [pytest.mark.tf, pytest.mark.xdist_group("tf")]

TEXTS = ["the cat sat on the mat", "hello world"]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("keras-checkpoints")
    return {
        "resnet18": make_checkpoint("resnet18", root / "resnet18", num_labels=3),
        "bert": make_checkpoint("bert", root / "bert"),
        "bert-classifier": make_checkpoint("bert", root / "bert-classifier", num_labels=2),
        "gpt2": make_checkpoint("gpt2", root / "gpt2"),
    }


@pytest.fixture(scope="module")
def picture_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    from PIL import Image

    root = tmp_path_factory.mktemp("keras-pictures")
    rng = np.random.default_rng(3)
    paths = []
    for i, (h, w) in enumerate([(90, 70), (64, 64)]):
        paths.append(root / f"p{i}.png")
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(paths[-1])
    return paths


def test_image_preprocessing_matches_timm_pixel_for_pixel(checkpoints, picture_files) -> None:
    import timm
    import timm.data
    import torch
    from PIL import Image

    from zoolab.zoo.keras_preprocess import ImagePreprocessing

    config = json.loads((checkpoints["resnet18"] / "config.json").read_text())
    model = timm.create_model("resnet18", num_classes=3, pretrained_cfg=config["pretrained_cfg"])
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=model))
    expected = torch.stack([transform(Image.open(p).convert("RGB")) for p in picture_files]).numpy()
    ours = ImagePreprocessing.from_timm(config)(picture_files)
    assert ours.shape == (2, 64, 64, 3)
    np.testing.assert_allclose(ours, expected.transpose(0, 2, 3, 1), atol=1e-6)


@pytest.mark.parametrize("name, task, shape", [
    ("resnet18", "image-classification", (2, 3)),
    ("bert", "feature-extraction", (2, 32)),
    ("bert-classifier", "text-classification", (2, 2)),
    ("gpt2", "text-generation", None),
])  # fmt: skip
def test_saved_preset_reads_back_identically(name, task, shape, checkpoints, picture_files, tmp_path) -> None:
    import keras_hub

    import zoolab.zoo as zoo

    model = zoo.load(checkpoints[name], framework="tf")
    assert (model.library, model.task) == ("keras-hub", task)
    inputs = picture_files if name == "resnet18" else TEXTS
    before = model(inputs)
    if shape:
        assert before.shape == shape
    folder = model.save(tmp_path / "saved")
    assert (folder / "config.json").is_file() and (folder / "model.weights.h5").is_file()
    assert (folder / "metadata.json").is_file() and (folder / "zoolab.json").is_file()
    again = zoo.load(folder, framework="tf")
    np.testing.assert_array_equal(again(inputs), before)
    assert again.labels == model.labels and again.task == task
    # keras-hub alone reads the preset too, with the same weights (and, where zoolab changed no
    # activation, the same outputs).
    classes = {"image-classification": keras_hub.models.ImageClassifier,
               "text-classification": keras_hub.models.TextClassifier,
               "text-generation": keras_hub.models.CausalLM,
               "feature-extraction": keras_hub.models.Backbone}  # fmt: skip
    stock = classes[task].from_preset(str(folder))
    for got, want in zip(stock.weights, model.model.weights, strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    from zoolab.zoo import keras_backend

    if not model.metadata.get("keras_overrides"):
        batch = keras_backend.preprocess(model, inputs)
        np.testing.assert_array_equal(np.asarray(stock(batch)), keras_backend.model_outputs(model, batch))


def test_new_heads_replace_the_classifier(checkpoints, picture_files) -> None:
    import zoolab.zoo as zoo

    vision = zoo.load(checkpoints["resnet18"], framework="tf", task="image-classification", num_labels=5)
    assert vision(picture_files).shape == (2, 5)
    assert vision.labels == [f"LABEL_{i}" for i in range(5)]
    text = zoo.load(checkpoints["bert"], framework="tf", task="text-classification", num_labels=4)
    assert type(text.model).__name__ == "BertTextClassifier"
    assert text(TEXTS).shape == (2, 4)
    # The converted encoder is kept: only the head is new.
    base = zoo.load(checkpoints["bert"], framework="tf")
    for got, want in zip(text.model.backbone.weights, base.model.weights):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


def test_checkpoint_labels_and_text_generation_token_names(checkpoints) -> None:
    import zoolab.zoo as zoo
    from zoolab.zoo import keras_backend

    image = zoo.load(checkpoints["resnet18"], framework="tf")
    assert image.labels == ["class_0", "class_1", "class_2"]
    gpt2 = zoo.load(checkpoints["gpt2"], framework="tf")
    logits = gpt2(["the cat"])
    assert logits.shape == (1, gpt2.model.backbone.vocabulary_size)
    assert keras_backend.label_names(gpt2, [int(gpt2.preprocessor.tokenizer.token_to_id("Ġcat"))]) == ["cat"]


def test_architectures_keras_hub_cannot_convert_say_which_frameworks_have_them(tmp_path) -> None:
    import timm
    from timm.models import save_for_hf

    from zoolab.zoo import keras_backend

    # A ConvNeXt (no keras-hub converter) and a ResNet variant keras-hub builds differently.
    save_for_hf(timm.create_model("convnext_atto", num_classes=2), str(tmp_path / "convnext"), safe_serialization=True)
    with pytest.raises(UnsupportedError, match="keras-hub cannot convert timm architecture 'convnext_atto'.*PyTorch only"):
        keras_backend.load(tmp_path / "convnext")
    narrow = timm.create_model("resnet18", num_classes=2, layers=(1, 1, 1, 1), channels=(8, 8, 16, 16), stem_width=8)
    save_for_hf(narrow, str(tmp_path / "narrow"), safe_serialization=True)
    with pytest.raises(UnsupportedError, match="resnet18.*the standard resnet18 has.*PyTorch only"):
        keras_backend.load(tmp_path / "narrow")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InvalidInputError, match="no config.json"):
        keras_backend.load(tmp_path / "empty")


def test_bad_inputs_get_clear_errors(checkpoints, tmp_path) -> None:
    import zoolab.zoo as zoo

    image = zoo.load(checkpoints["resnet18"], framework="tf")
    with pytest.raises(InvalidInputError, match="image file not found"):
        image([tmp_path / "missing.png"])
    text = zoo.load(checkpoints["bert"], framework="tf")
    with pytest.raises(InvalidInputError, match="strings"):
        text([1, 2])
    with pytest.raises(InvalidInputError, match="num_labels needs"):
        from zoolab.zoo import keras_backend

        keras_backend.load(checkpoints["gpt2"], num_labels=3)
