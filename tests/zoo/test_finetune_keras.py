"""zoo.finetune with framework="tf": the Keras trainer on real digits and kaomoji, resume, LoRA, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.tf, pytest.mark.xdist_group("tf")]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from zoolab.zoo.keras_checkpoints import make_checkpoint

    base = tmp_path_factory.mktemp("ft-keras")
    resnet = make_checkpoint("resnet18", base / "resnet18", num_labels=3)
    config = json.loads((resnet / "config.json").read_text())
    config["pretrained_cfg"]["input_size"] = [3, 32, 32]  # the digits' own size: a fast test
    (resnet / "config.json").write_text(json.dumps(config))
    return {"resnet18": resnet, "bert": make_checkpoint("bert", base / "bert"),
            "gpt2": make_checkpoint("gpt2", base / "gpt2")}


@pytest.fixture(scope="module")
def kaomoji(tmp_path_factory: pytest.TempPathFactory):
    import zoolab.zoo as zoo
    from finetune_support import write_kaomoji_csv

    path = write_kaomoji_csv(tmp_path_factory.mktemp("kao") / "k.csv", per_class=12)
    return zoo.data.table(path, label="category")


def _weights(model) -> list[np.ndarray]:
    return [np.asarray(v.numpy()) for v in model.weights]


def test_image_folder_run_folder_and_saved_model(checkpoints, tmp_path) -> None:
    import zoolab.zoo as zoo
    from finetune_support import write_digits_folder

    data = zoo.data.image_folder(write_digits_folder(tmp_path / "digits", per_class=12))
    model = zoo.load(checkpoints["resnet18"], framework="tf")
    run = zoo.finetune(model, data, epochs=1, lr=3e-3, batch_size=16, out=tmp_path / "run", quiet=True)
    assert run.model.framework == "tf" and run.model.labels == [str(d) for d in range(10)]
    assert any("new head: 3 -> 10 labels" in n for n in run.notes)
    for name in ("config.yaml", "metrics.csv", "evaluation.json", "learning_curves.png", "best", "final"):
        assert (run.folder / name).exists(), name
    ckpt = sorted((run.folder / "checkpoints").iterdir())[-1]
    assert {p.name for p in ckpt.iterdir()} >= {"model.safetensors", "optim.safetensors", "rng.safetensors", "state.json"}
    assert json.loads((ckpt / "state.json").read_text())["framework"] == "tf"
    # The head trained: it moved away from its initial values (the body at a tenth of the rate).
    fresh, _ = __import__("zoolab.zoo.tuning.keras_trainer", fromlist=["x"]).with_head(
        zoo.load(checkpoints["resnet18"], framework="tf"), run.model.labels, 0)
    assert not np.allclose(fresh.model.get_layer("predictions").kernel.numpy(),
                           run.model.model.get_layer("predictions").kernel.numpy())
    again = zoo.load(run.folder / "best", framework="tf")
    assert again.labels == run.model.labels
    images = sorted((tmp_path / "digits" / "7").iterdir())[:3]
    np.testing.assert_allclose(again(images), run.model(images), atol=1e-5)
    doc = json.loads((run.folder / "best" / "zoolab.json").read_text())
    assert doc["training"]["framework"] == "tf" and "val_accuracy" in doc["training"]["metrics"]


def test_resume_mid_epoch_ends_with_the_same_weights(checkpoints, kaomoji, tmp_path, monkeypatch) -> None:
    import zoolab.zoo as zoo
    from zoolab.zoo.tuning import keras_parts

    # Dropout on (keras-hub BERT default 0.1): the seed-generator states must resume too.
    settings = {"epochs": 2, "batch_size": 8, "grad_accumulation": 2, "checkpoint.every_steps": 2, "lr": 3e-3}
    whole = zoo.finetune(zoo.load(checkpoints["bert"], framework="tf"), kaomoji, out=tmp_path / "a", quiet=True,
                         **settings)
    steps = whole.metrics[-1]["step"]
    real_apply, calls = keras_parts.Stepper.apply, {"n": 0}

    def dies(self, step, frozen):  # a SIGKILL: the process just stops, nothing more is written
        calls["n"] += 1
        if calls["n"] > steps - 3:  # past the last mid-epoch checkpoint of epoch 2
            raise SystemExit("killed")
        return real_apply(self, step, frozen)

    monkeypatch.setattr(keras_parts.Stepper, "apply", dies)
    with pytest.raises(SystemExit):
        zoo.finetune(zoo.load(checkpoints["bert"], framework="tf"), kaomoji, out=tmp_path / "b", quiet=True, **settings)
    monkeypatch.setattr(keras_parts.Stepper, "apply", real_apply)
    latest = sorted((tmp_path / "b" / "checkpoints").iterdir())[-1]
    state = json.loads((latest / "state.json").read_text())
    assert 0 < state["batch"] and state["step"] < steps  # mid-epoch
    resumed = zoo.finetune(zoo.load(checkpoints["bert"], framework="tf"), kaomoji, resume=tmp_path / "b", quiet=True)
    a = zoo.load(tmp_path / "a" / "final", framework="tf").model
    b = zoo.load(tmp_path / "b" / "final", framework="tf").model
    for x, y in zip(_weights(a), _weights(b)):
        np.testing.assert_array_equal(x, y)
    assert resumed.metrics[-1]["step"] == steps


def test_lora_trains_adapters_only_and_saves_them(checkpoints, kaomoji, tmp_path) -> None:
    import zoolab.zoo as zoo

    model = zoo.load(checkpoints["bert"], framework="tf")
    query = model.model.transformer_layers[0]._self_attention_layer._query_dense
    before = query._kernel.numpy().copy()
    run = zoo.finetune(model, kaomoji, epochs=1, batch_size=8, lr=5e-3, out=tmp_path / "run", quiet=True,
                       **{"lora.rank": 4, "lora.merge": False})
    layer = run.model.model.backbone.transformer_layers[0]._self_attention_layer._query_dense
    assert layer.lora_enabled and layer.lora_alpha == 8.0  # lora.alpha defaults to 2 * rank
    np.testing.assert_array_equal(layer._kernel.numpy(), before)  # the base kernel is frozen
    assert np.abs(layer.lora_kernel_b.numpy()).max() > 0  # the adapter moved from its zero start
    assert (run.folder / "final" / "adapters.lora.h5").is_file()
    best = zoo.load(run.folder / "best", framework="tf")  # a merged, plain preset: no LoRA layers
    assert not best.model.backbone.transformer_layers[0]._self_attention_layer._query_dense.lora_enabled
    texts = ["(^_^)", "(╥﹏╥)", "hello"]
    np.testing.assert_allclose(best(texts), run.model(texts), atol=1e-5)


def test_bad_inputs_on_the_keras_path_get_clear_errors(checkpoints, kaomoji, tmp_path, monkeypatch) -> None:
    import zoolab.zoo as zoo
    from zoolab.errors import InvalidInputError, TrainingError, UnsupportedError
    from zoolab.zoo.tuning import keras_parts

    bert = zoo.load(checkpoints["bert"], framework="tf")
    with pytest.raises(UnsupportedError, match="text-generation model .* cannot be fine-tuned"):
        zoo.finetune(zoo.load(checkpoints["gpt2"], framework="tf"), kaomoji, out=tmp_path / "g", quiet=True)
    with pytest.raises(InvalidInputError, match="closest|did you mean|lora"):
        zoo.finetune(bert, kaomoji, out=tmp_path / "k", quiet=True, **{"lora.rnak": 4})
    with pytest.raises(UnsupportedError, match="no layers keras-hub can give LoRA adapters"):
        from finetune_support import write_digits_folder

        digits = zoo.data.image_folder(write_digits_folder(tmp_path / "digits", per_class=3))
        zoo.finetune(zoo.load(checkpoints["resnet18"], framework="tf"), digits, lora_rank=2,
                     out=tmp_path / "l", quiet=True)
    real = keras_parts.Stepper.forward_backward
    monkeypatch.setattr(keras_parts.Stepper, "forward_backward", lambda self, *a: real(self, *a) * float("nan"))
    with pytest.raises(TrainingError, match="loss became nan at step 1.*no checkpoint had been written yet"):
        zoo.finetune(bert, kaomoji, epochs=1, out=tmp_path / "n", quiet=True)
