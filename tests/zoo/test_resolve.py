"""Resolving what a user types: folders, catalog names, repo ids on the local registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import zoolab.hub as hub
import zoolab.zoo as zoo
from zoolab.errors import ModelNotFoundError, NotFoundError, UnsupportedError
from zoolab.zoo.loading import resolve


def test_catalog_name_resolves_to_its_torch_repo(monkeypatch: pytest.MonkeyPatch, tiny_models) -> None:
    calls = []

    def fake_download(repo, **kwargs):
        calls.append((repo, kwargs))
        return hub.Snapshot(path=tiny_models["timm"], repo_id=repo.split(":")[1], source="hf", commit="a" * 40)

    monkeypatch.setattr(hub, "download", fake_download, raising=False)
    model = zoo.load("ResNet-18")
    repo, kwargs = calls[0]
    assert repo == "hf:timm/resnet18.a1_in1k"
    assert kwargs["framework"] == "torch"
    assert "*.bin" in kwargs["exclude"]  # pickles are never loaded, so not fetched either
    assert model.metadata["catalog"] == "resnet18"
    assert (model.metadata["repo_id"], model.metadata["revision"]) == ("timm/resnet18.a1_in1k", "a" * 40)


def test_catalog_name_for_tf_is_a_keras_hub_preset() -> None:
    resolved = resolve("bert-base-uncased", framework="tf")
    assert (resolved.folder, resolved.preset) == (None, "bert_base_en_uncased")
    with pytest.raises(UnsupportedError, match="convnext-tiny.*available for: PyTorch"):
        resolve("convnext-tiny", framework="tf")


def test_unknown_refs_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        zoo.load(str(tmp_path / "missing" / "folder"))
    with pytest.raises(ModelNotFoundError, match="not in the model catalog.*did you mean: resnet50"):
        zoo.load("resnet 50!")  # a bare name is a catalog name: no network round trip
    with pytest.raises(ModelNotFoundError, match="not a local folder, a catalog model or a repository id"):
        zoo.load("org/bad name!")


def test_repo_on_the_local_registry(tiny_models, images) -> None:
    hub.publish(tiny_models["timm"], "local:team/tiny-resnet", progress=False)
    model = zoo.load("local:team/tiny-resnet")
    direct = zoo.load(tiny_models["timm"])
    np.testing.assert_array_equal(model(images), direct(images))
    assert (model.metadata["source"], model.metadata["repo_id"]) == ("local", "team/tiny-resnet")
    # An unqualified id with an explicit source, and a missing repository.
    assert zoo.load("team/tiny-resnet", source="local").task == "image-classification"
    with pytest.raises(NotFoundError):
        zoo.load("local:team/nope")


def test_saved_model_publishes_and_loads_back(tiny_models, tmp_path: Path) -> None:
    texts = ["hello world", "the cat"]
    model = zoo.load(tiny_models["bert-mlm"], task="text-classification", num_labels=2)
    folder = model.save(tmp_path / "clf")
    result = hub.publish(folder, "local:me/tiny-clf", progress=False)
    assert {"README.md", "zoolab.json", "model.safetensors", "config.json"} <= set(result.files)
    again = zoo.load("local:me/tiny-clf")
    assert again.task == "text-classification" and again.labels == model.labels
    np.testing.assert_array_equal(again(texts), model(texts))


def test_pickle_only_repo_is_refused_after_download(tiny_models, copy_model) -> None:
    import torch
    from safetensors.torch import load_file

    folder = copy_model(tiny_models["bert-mlm"])
    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    hub.publish(folder, "local:old/pickled", progress=False)
    with pytest.raises(UnsupportedError, match=r"only pickled weights \(pytorch_model.bin\)"):
        zoo.load("local:old/pickled")
    # Nothing pickled reached the download cache.
    from zoolab import settings

    assert not list(settings.hf_hub_cache().parent.rglob("pytorch_model.bin"))


def test_keras_only_repo_names_its_framework(tmp_path: Path) -> None:
    import json

    preset = tmp_path / "preset"
    preset.mkdir()
    (preset / "config.json").write_text(json.dumps({"module": "keras_hub.src.models.bert.bert_backbone",
                                                    "class_name": "BertBackbone", "config": {}}))  # fmt: skip
    (preset / "metadata.json").write_text(json.dumps({"keras_version": "3.15.1"}))
    (preset / "model.weights.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 64)
    hub.publish(preset, "local:keras/only-tf", progress=False)
    with pytest.raises(UnsupportedError, match="cannot be loaded in PyTorch; it is available for: TensorFlow/Keras"):
        zoo.load("local:keras/only-tf")
