"""The model catalog: every entry is checked against the installed timm, transformers and
keras-hub registries (architecture, parameter count, preprocessing, license, preset names)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from zoolab.errors import InvalidInputError, ModelNotFoundError, UnsupportedError
from zoolab.zoo import catalog

ENTRIES = catalog.list_models()
REQUIRED = {
    "resnet18", "resnet50", "mobilenetv3", "efficientnet-b0", "vit-b16", "convnext-tiny",
    "bert-base-uncased", "distilbert-base-uncased", "roberta-base", "all-minilm-l6-v2", "gpt2",
}  # fmt: skip


def _keras_hub_presets() -> dict[str, dict]:
    """Every keras-hub preset, read from its *_presets.py files without importing keras."""
    import importlib.util

    spec = importlib.util.find_spec("keras_hub")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("keras-hub is not installed")
    models_dir = Path(next(iter(spec.submodule_search_locations))) / "src" / "models"
    presets: dict[str, dict] = {}
    for file in models_dir.glob("*/*_presets.py"):
        for node in ast.parse(file.read_text()).body:
            if isinstance(node, ast.Assign) and isinstance(node.value, ast.Dict):
                try:
                    value = ast.literal_eval(node.value)
                except ValueError:
                    continue
                presets.update({k: v for k, v in value.items() if isinstance(v, dict)})
    return presets


def test_catalog_has_the_curated_models() -> None:
    assert REQUIRED <= {e.name for e in ENTRIES}
    assert len({e.name for e in ENTRIES}) == len(ENTRIES)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_entry_metadata_is_complete(entry: catalog.CatalogEntry) -> None:
    assert entry.task in catalog.TASKS
    assert entry.library in ("timm", "transformers")
    assert entry.torch_repo.startswith("hf:") and entry.torch_repo.count("/") == 1
    assert entry.license and entry.params > 1_000_000 and entry.description
    assert entry.frameworks == (("torch", "tf") if entry.tf_preset else ("torch",))
    if entry.library == "timm":
        assert len(entry.input_size) == 3
        assert {"mean", "std", "interpolation", "crop_pct"} <= set(entry.preprocessing)
    else:
        assert "tokenizer" in entry.preprocessing and entry.torch_config.get("model_type")
    assert catalog.get(entry.name) is entry
    for alias in entry.aliases:
        assert catalog.get(alias.upper()) is entry


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_entry_matches_the_torch_architecture(entry: catalog.CatalogEntry) -> None:
    # The full-size architecture, built on the meta device: exact parameter count at no cost.
    import torch

    with torch.device("meta"):
        if entry.library == "timm":
            import timm

            cfg = timm.models.get_pretrained_cfg(entry.torch_repo.split("/", 1)[1])
            assert cfg.hf_hub_id == entry.torch_repo.split(":", 1)[1]
            assert tuple(cfg.input_size) == entry.input_size
            pre = entry.preprocessing
            assert (tuple(cfg.mean), tuple(cfg.std)) == (tuple(pre["mean"]), tuple(pre["std"]))
            assert (cfg.interpolation, cfg.crop_pct) == (pre["interpolation"], pre["crop_pct"])
            assert cfg.license == entry.license
            model = timm.create_model(entry.architecture)
        else:
            import transformers as tf

            fields = dict(entry.torch_config)
            config = tf.AutoConfig.for_model(fields.pop("model_type"), **fields)
            assert config.max_position_embeddings >= entry.input_size[0]
            auto = {"fill-mask": tf.AutoModelForMaskedLM, "text-generation": tf.AutoModelForCausalLM,
                    "feature-extraction": tf.AutoModel}[entry.task]  # fmt: skip
            model = auto.from_config(config)
    assert sum(p.numel() for p in model.parameters()) == entry.params


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda e: e.name)
def test_entry_tf_preset_exists_in_keras_hub(entry: catalog.CatalogEntry) -> None:
    presets = _keras_hub_presets()
    if entry.tf_preset is None:
        # No keras-hub model of this family at all: the catalog says PyTorch only.
        family = entry.architecture.split("_")[0]
        assert not any(name.startswith(family) for name in presets)
        with pytest.raises(UnsupportedError, match="PyTorch"):
            entry.source_for("tf")
        return
    assert entry.tf_preset in presets
    assert entry.source_for("tf") == entry.tf_preset


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(ModelNotFoundError, match="did you mean: resnet50"):
        catalog.get("resnet5O")
    with pytest.raises(ModelNotFoundError, match="zoolab models"):
        catalog.get("zzzzzz")


def test_search_and_filters() -> None:
    assert [e.name for e in catalog.search("resnet")] == ["resnet18", "resnet50"]
    assert [e.name for e in catalog.search("MiniLM")] == ["all-minilm-l6-v2"]
    assert catalog.search("convnext", framework="tf") == []
    assert {e.name for e in catalog.search("", task="text-generation")} == {"gpt2"}
    assert len(catalog.list_models(framework="tf")) == len(ENTRIES) - 1
    with pytest.raises(InvalidInputError):
        catalog.search("x", framework="jax")


def test_catalog_imports_no_framework() -> None:
    code = (
        "import sys\nimport zoolab.zoo\nfrom zoolab.zoo.catalog import search\n"
        "assert search('bert')\nzoolab.zoo.list_models\n"
        "print([m for m in ('torch', 'tensorflow', 'transformers', 'timm', 'keras') if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
