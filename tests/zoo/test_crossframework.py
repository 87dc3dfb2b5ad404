"""§4: the same checkpoint gives the same outputs in PyTorch and in TensorFlow/Keras.

For every architecture both frameworks load, a tiny random-initialised checkpoint (timm or
transformers format, every bias and normalisation statistic random) is published to a real
zoolab hub server, loaded with ``zoolab.zoo.load("team:org/name", framework=...)`` in each
framework, and run on the same inputs through each side's own preprocessing (timm transforms /
transformers tokenizers and image processors against zoolab's Keras preprocessing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from zoolab.zoo.keras_checkpoints import TINY_ARCHS, add_sentence_transformer_modules, make_checkpoint

pytestmark = [pytest.mark.tf, pytest.mark.xdist_group("tf")]

TOLERANCE = 1e-4
TEXTS = ["The cat sat on the mat.", "hello world", "a red dog is fast!"]

#: case -> (architecture, num_labels). Heads where the checkpoint has one; base models as well
#: for the text encoders (feature-extraction, pooled).
CASES: dict[str, tuple[str, int | None]] = {
    "resnet18": ("resnet18", 3),
    "resnet50": ("resnet50", 3),
    "mobilenetv3_small_100": ("mobilenetv3_small_100", 3),
    "efficientnet_b0": ("efficientnet_b0", 3),
    "vit-classifier": ("vit", 3),
    "bert": ("bert", None),
    "bert-classifier": ("bert", 2),
    "distilbert": ("distilbert", None),
    "distilbert-classifier": ("distilbert", 2),
    "roberta": ("roberta", None),
    "roberta-classifier": ("roberta", 2),
    "gpt2": ("gpt2", None),
}


@pytest.fixture(scope="session")
def published(hub_server, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every case's checkpoint, published to the session's hub server: case -> repo id."""
    from huggingface_hub import HfApi

    api = HfApi(endpoint=hub_server.url, token=hub_server.token("zoo-team"))
    root = tmp_path_factory.mktemp("crossframework")
    repos = {}
    for case, (arch, num_labels) in CASES.items():
        folder = make_checkpoint(arch, root / case, num_labels=num_labels)
        repo_id = hub_server.new_repo_id("zoo-team")
        api.create_repo(repo_id)
        api.upload_folder(repo_id=repo_id, folder_path=folder)
        repos[case] = repo_id
    return repos


@pytest.fixture
def team_source(hub_server) -> str:
    """This test's zoolab configuration knows the server as source ``team``."""
    from zoolab.hub.config import add_source

    add_source("team", hub_server.url, token=hub_server.token("zoo-reader", write=False))
    return "team"


@pytest.fixture(scope="session")
def pictures(tmp_path_factory: pytest.TempPathFactory) -> dict[int, list[Path]]:
    """Random RGB PNGs: odd sizes (resized and cropped by timm) and exact 32x32 ones for ViT."""
    from PIL import Image

    root = tmp_path_factory.mktemp("pictures")
    rng = np.random.default_rng(1)
    sizes = {0: [(80, 100), (64, 64), (120, 70)], 32: [(32, 32), (32, 32)]}
    out: dict[int, list[Path]] = {}
    for key, shapes in sizes.items():
        out[key] = []
        for i, (h, w) in enumerate(shapes):
            path = root / f"img-{key}-{i}.png"
            Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)
            out[key].append(path)
    return out


def test_every_architecture_both_frameworks_load_is_covered() -> None:
    assert {arch for arch, _ in CASES.values()} == set(TINY_ARCHS)


@pytest.mark.parametrize("case", list(CASES))
def test_same_outputs_in_pytorch_and_keras(case: str, published, team_source, pictures) -> None:
    import zoolab.zoo as zoo

    ref = f"{team_source}:{published[case]}"
    torch_model = zoo.load(ref, framework="torch")
    keras_model = zoo.load(ref, framework="tf")
    assert (torch_model.framework, keras_model.framework) == ("torch", "tf")
    assert keras_model.task == torch_model.task
    arch = TINY_ARCHS[CASES[case][0]]
    if arch.modality == "image":
        inputs: list = pictures[32 if arch.library == "transformers" else 0]
    else:
        inputs = TEXTS
    expected = torch_model(inputs)
    got = keras_model(inputs)
    assert got.dtype == np.float32 and got.shape == expected.shape
    assert float(np.abs(expected).max()) > 1e-3  # a real signal, not two zero tensors
    diff = float(np.abs(got - expected).max())
    assert diff <= TOLERANCE, f"{case}: max abs diff {diff:.3g} > {TOLERANCE}"
    if keras_model.labels is not None:
        assert keras_model.labels == torch_model.labels


def test_stock_keras_hub_reads_the_published_checkpoint(published, hub_server, tmp_path: Path) -> None:
    """keras-hub alone, ``from_preset("hf://...")`` with HF_ENDPOINT at the server, agrees too.

    (GPT-2: keras-hub's own conversion needs none of zoolab's corrections for it.)
    """
    import zoolab.zoo as zoo
    from huggingface_hub import snapshot_download

    from zoolab.zoo import keras_backend

    repo_id = published["gpt2"]
    folder = snapshot_download(repo_id, endpoint=hub_server.url, cache_dir=tmp_path / "cache")
    keras_model = zoo.load(folder, framework="tf")
    batch = keras_backend.preprocess(keras_model, TEXTS)
    ours = keras_backend.model_outputs(keras_model, batch)
    np.save(tmp_path / "ids.npy", batch["token_ids"])
    np.save(tmp_path / "mask.npy", batch["padding_mask"])
    script = textwrap.dedent(
        """
        import sys, numpy as np
        from zoolab.zoo.keras_backend import import_keras
        import_keras()
        import keras_hub
        repo, folder = sys.argv[1:3]
        model = keras_hub.models.CausalLM.from_preset("hf://" + repo)
        batch = {"token_ids": np.load(folder + "/ids.npy"), "padding_mask": np.load(folder + "/mask.npy")}
        np.save(folder + "/out.npy", np.asarray(model(batch)))
        """
    )
    env = {**os.environ, "HF_ENDPOINT": hub_server.url, "HF_HUB_CACHE": str(tmp_path / "cache2")}
    done = subprocess.run([sys.executable, "-c", script, repo_id, str(tmp_path)], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    theirs = np.load(tmp_path / "out.npy")
    mask = batch["padding_mask"][..., None]
    assert theirs.shape == ours.shape
    assert float(np.abs((theirs - ours) * mask).max()) <= TOLERANCE
    assert json.loads((Path(folder) / "config.json").read_text())["model_type"] == "gpt2"


def test_sentence_transformer_embeddings_agree(tmp_path: Path) -> None:
    """A sentence-transformers folder (BERT + mean pooling + Normalize, like all-MiniLM-L6-v2)."""
    import zoolab.zoo as zoo

    folder = add_sentence_transformer_modules(make_checkpoint("bert", tmp_path / "sentence"))
    torch_model = zoo.load(folder, framework="torch")
    keras_model = zoo.load(folder, framework="tf")
    assert keras_model.task == torch_model.task == "feature-extraction"
    assert keras_model.metadata["pooling"] == {"mode": "mean", "normalize": True}
    got, expected = keras_model(TEXTS), torch_model(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
    assert float(np.abs(got - expected).max()) <= TOLERANCE
