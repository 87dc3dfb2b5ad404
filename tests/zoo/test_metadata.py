"""Reading model folders: format detection, frameworks, and the safety checks."""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from zoolab.errors import InvalidInputError, PermissionDeniedError, UnsupportedError
from zoolab.zoo import metadata
from zoolab.zoo.loading import load


def test_detects_each_format(tiny_models: dict[str, Path], tmp_path: Path) -> None:
    timm_info = metadata.inspect_folder(tiny_models["timm"])
    assert (timm_info.library, timm_info.architecture, timm_info.task) == ("timm", "resnet18", "image-classification")
    assert timm_info.frameworks == ("torch", "tf")
    bert = metadata.inspect_folder(tiny_models["bert-mlm"])
    assert (bert.library, bert.architecture, bert.task) == ("transformers", "bert", "fill-mask")
    assert metadata.inspect_folder(tiny_models["gpt2"]).task == "text-generation"
    assert metadata.inspect_folder(tiny_models["distilbert-cls"]).task == "text-classification"
    assert metadata.inspect_folder(tiny_models["sentence"]).task == "feature-extraction"
    preset = tmp_path / "preset"
    preset.mkdir()
    (preset / "config.json").write_text(json.dumps({"module": "keras_hub.src.models.bert.bert_backbone",
                                                    "class_name": "BertBackbone", "config": {}}))  # fmt: skip
    (preset / "metadata.json").write_text(json.dumps({"keras_version": "3.0"}))
    keras = metadata.inspect_folder(preset)
    assert (keras.library, keras.frameworks) == ("keras-hub", ("tf",))


def test_frameworks_of_unconvertible_architectures() -> None:
    assert metadata.frameworks_for("timm", "convnext_tiny") == ("torch",)
    assert metadata.frameworks_for("transformers", "electra") == ("torch",)
    assert metadata.frameworks_for("transformers", "distilbert") == ("torch", "tf")


def test_keras_hub_conversion_table_matches_installed_keras_hub() -> None:
    spec = importlib.util.find_spec("keras_hub")
    if spec is None:
        pytest.skip("keras-hub is not installed")
    utils = Path(next(iter(spec.submodule_search_locations))) / "src" / "utils"
    hf_loader = (utils / "transformers" / "preset_loader.py").read_text()
    hf_types = {
        name
        for line in hf_loader.splitlines()
        if re.search(r"model_type (==|in) ", line)
        for name in re.findall(r'"([^"]+)"', line)
    }
    assert metadata.KERAS_HUB_TRANSFORMERS_TYPES <= hf_types
    timm_loader = (utils / "timm" / "preset_loader.py").read_text()
    for prefix in metadata.KERAS_HUB_TIMM_PREFIXES:
        assert f'"{prefix}"' in timm_loader


def test_unknown_folder_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InvalidInputError, match="no model zoolab can read"):
        load(tmp_path)


def test_pickle_only_repository_is_refused(tiny_models: dict[str, Path], copy_model) -> None:
    import torch

    folder = copy_model(tiny_models["bert-mlm"])
    # A pickled checkpoint next to the config, as old repositories have it: never loaded.
    from safetensors.torch import load_file

    torch.save(load_file(folder / "model.safetensors"), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    with pytest.raises(UnsupportedError, match=r"only pickled weights \(pytorch_model.bin\)"):
        load(folder)
    timm_folder = copy_model(tiny_models["timm"])
    (timm_folder / "model.safetensors").rename(timm_folder / "pytorch_model.pt")
    with pytest.raises(UnsupportedError, match="safetensors only"):
        load(timm_folder)


def test_remote_code_needs_the_flag(tiny_models: dict[str, Path], copy_model) -> None:
    folder = copy_model(tiny_models["bert-mlm"])
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForMaskedLM": "modeling_evil.EvilForMaskedLM"}
    (folder / "config.json").write_text(json.dumps(config))
    # The code that would run: it must not, without the flag.
    (folder / "modeling_evil.py").write_text("raise SystemExit('remote code ran')\n")
    with pytest.raises(PermissionDeniedError, match="trust_remote_code=True.*--trust-remote-code"):
        load(folder)


def test_pooling_from_sentence_transformers_folder(tiny_models: dict[str, Path]) -> None:
    assert metadata.pooling_for(tiny_models["sentence"], {}) == {"mode": "mean", "normalize": True}
    assert metadata.pooling_for(tiny_models["bert-mlm"], {}) == {"mode": "mean", "normalize": False}


def test_remote_code_runs_only_with_the_flag(
    tiny_models: dict[str, Path], copy_model, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import transformers.dynamic_module_utils as dynamic

    # transformers copies repository code into a modules cache fixed at its import: keep it here.
    monkeypatch.setattr(dynamic, "HF_MODULES_CACHE", str(tmp_path / "hf-modules"))
    folder = copy_model(tiny_models["bert-mlm"])
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoModelForMaskedLM": "modeling_custom.CustomForMaskedLM"}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "modeling_custom.py").write_text(
        "from transformers import BertForMaskedLM\n\n\n"
        "class CustomForMaskedLM(BertForMaskedLM):\n    ran_from_repository = True\n"
    )
    with pytest.raises(PermissionDeniedError):
        load(folder)
    model = load(folder, trust_remote_code=True)
    assert type(model.model).__name__ == "CustomForMaskedLM" and model.model.ran_from_repository
