"""Mixed precision in the Keras trainer: bf16 and fp16 runs on real digits learn, keep float32
weights and logits, save presets that load as float32, leave the global policy as it was, and resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.tf, pytest.mark.xdist_group("tf")]

SETTINGS = {"epochs": 2, "lr": 3e-3, "batch_size": 16, "data.augment": False, "optim.backbone_lr_scale": 1.0}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from finetune_support import write_digits_folder
    from zoolab.zoo.keras_checkpoints import make_checkpoint

    base = tmp_path_factory.mktemp("ft-keras-mp")
    resnet = make_checkpoint("resnet18", base / "resnet18")
    config = json.loads((resnet / "config.json").read_text())
    config["pretrained_cfg"]["input_size"] = [3, 32, 32]  # the digits' own size: a fast test
    (resnet / "config.json").write_text(json.dumps(config))
    return resnet, write_digits_folder(base / "digits", classes=range(5), per_class=16)


def _finetune(inputs: tuple[Path, Path], out: Path, **settings):
    import zoolab.zoo as zoo

    return zoo.finetune(zoo.load(inputs[0], framework="tf"), zoo.data.image_folder(inputs[1]), out=out, quiet=True,
                        **{**SETTINGS, **settings})


def _assert_float32_everywhere(run) -> None:
    import keras

    assert keras.config.dtype_policy().name == "float32"  # the global policy is back
    model = run.model.model
    assert {layer.dtype_policy.name for layer in model.backbone._flatten_layers()} == {"float32"}
    for name in ("best", "final"):
        backbone = json.loads((run.folder / name / "config.json").read_text())["config"]
        assert backbone["dtype"]["config"]["name"] == "float32", name
    import zoolab.zoo as zoo

    again = zoo.load(run.folder / "best", framework="tf")
    assert {v.dtype for v in again.model.weights} == {"float32"}
    assert {layer.dtype_policy.name for layer in again.model.backbone._flatten_layers()} == {"float32"}


def test_bf16_learns_keeps_float32_and_resumes(inputs, tmp_path, monkeypatch) -> None:
    import zoolab.zoo as zoo
    from zoolab.zoo.tuning import keras_parts

    settings = {"precision": "bf16", "checkpoint.every_steps": 3}
    whole = _finetune(inputs, tmp_path / "a", **settings)
    assert any("mixed_bfloat16 policy" in n for n in whole.notes)
    assert whole.evaluation.accuracy > 0.5  # 5 classes: chance is 0.2
    _assert_float32_everywhere(whole)
    probe = sorted((inputs[1] / "3").iterdir())[:4]
    logits = whole.model(probe)
    assert logits.dtype == np.float32
    np.testing.assert_allclose(zoo.load(whole.folder / "best", framework="tf")(probe), logits, atol=1e-5)

    # killed after the mid-epoch checkpoint of epoch 2, then resumed: the same weights as `whole`
    steps = whole.metrics[-1]["step"]
    real_apply, calls = keras_parts.Stepper.apply, {"n": 0}

    def dies(self, step, frozen):
        calls["n"] += 1
        if calls["n"] > steps - 2:
            raise SystemExit("killed")
        return real_apply(self, step, frozen)

    monkeypatch.setattr(keras_parts.Stepper, "apply", dies)
    with pytest.raises(SystemExit):
        _finetune(inputs, tmp_path / "b", **settings)
    monkeypatch.setattr(keras_parts.Stepper, "apply", real_apply)
    import keras

    assert keras.config.dtype_policy().name == "float32"  # restored after a crash too
    state = json.loads((sorted((tmp_path / "b" / "checkpoints").iterdir())[-1] / "state.json").read_text())
    assert 0 < state["batch"] and state["step"] < steps
    zoo.finetune(zoo.load(inputs[0], framework="tf"), zoo.data.image_folder(inputs[1]), resume=tmp_path / "b",
                 quiet=True)
    a = zoo.load(tmp_path / "a" / "final", framework="tf").model
    b = zoo.load(tmp_path / "b" / "final", framework="tf").model
    for x, y in zip(a.weights, b.weights):
        np.testing.assert_array_equal(np.asarray(x.numpy()), np.asarray(y.numpy()))


def test_fp16_with_loss_scaling_learns_and_checkpoints_its_scale(inputs, tmp_path) -> None:
    from safetensors.numpy import load_file

    run = _finetune(inputs, tmp_path / "run", precision="fp16")
    assert any("mixed_float16 policy" in n and "slower than float32" in n for n in run.notes)  # on the CPU
    assert run.evaluation.accuracy > 0.5
    _assert_float32_everywhere(run)
    ckpt = sorted((run.folder / "checkpoints").iterdir())[-1]
    optim = load_file(str(ckpt / "optim.safetensors"))
    scale = float(optim["fp16/loss_scale"].ravel()[0])
    # dynamic scaling from 2**15: a power of two, and the run's steps never overflowed it to 0
    assert scale >= 1 and np.log2(scale) == int(np.log2(scale))
    assert int(optim["fp16/loss_scale_good_steps"].ravel()[0]) >= 1


def test_auto_is_float32_on_the_cpu() -> None:
    from zoolab.zoo.tuning.keras_devices import policy_for

    assert policy_for("auto", "/CPU:0") is None and policy_for("bf16", "/CPU:0") == "mixed_bfloat16"


@pytest.mark.gpu
@pytest.mark.parametrize("precision", ["auto", "bf16", "fp16"])
def test_cuda_mixed_precision_keras(precision, inputs, tmp_path) -> None:
    tf = pytest.importorskip("tensorflow")
    if not tf.config.list_physical_devices("GPU"):
        pytest.skip("TensorFlow sees no GPU")
    run = _finetune(inputs, tmp_path / "run", precision=precision, device="cuda", epochs=3)
    assert any("mixed_" in n for n in run.notes)
    assert run.evaluation.accuracy > 0.5
    _assert_float32_everywhere(run)
