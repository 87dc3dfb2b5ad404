"""Hostile repositories loaded as users load them (``zoo.load``, ``zoolab predict``/``export``):
each gets one clear error line, and nothing happens — no pickle read, no repository code run, no
file outside the repository read, no memory blown. Repositories refused before any framework
runs are checked on the TensorFlow path as well (same checks, whatever the metadata claims)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hostile_repos import MARKER
from typer.testing import CliRunner

import hostile_repos as hostile
import zoolab.zoo as zoo
from zoolab.cli.main import app
from zoolab.errors import InvalidInputError, PermissionDeniedError, UnsupportedError, ZoolabError
from zoolab.zoo.keras_checkpoints import make_checkpoint

runner = CliRunner()


@pytest.fixture
def no_unpickling(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record (and fail) every torch.load / pickle load while the test runs."""
    import pickle

    import torch

    calls: list[str] = []

    def refuse(name: str):
        def call(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} called on {args[:1]}")

        return call

    monkeypatch.setattr(torch, "load", refuse("torch.load"))
    monkeypatch.setattr(pickle, "load", refuse("pickle.load"))
    monkeypatch.setattr(pickle, "Unpickler", refuse("pickle.Unpickler"))
    return calls


def _cli_error(args: list[str]) -> str:
    """Run the CLI in-process; return its one error line (asserting failure and no traceback)."""
    result = runner.invoke(app, args)
    assert result.exit_code != 0, result.output
    assert "Traceback" not in result.output and result.exception is None or isinstance(result.exception, SystemExit)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[0].startswith("error: "), result.output
    return " ".join(lines)  # rich may wrap the one line


def _refused(folder: Path, pattern: str, error: type[ZoolabError], *, framework: str = "torch", **kwargs) -> None:
    with pytest.raises(error, match=pattern):
        zoo.load(folder, framework=framework, **kwargs)
    assert re.search(pattern, _cli_error(["predict", str(folder), "the [MASK] sat", "--framework", framework]), re.S)
    assert not (folder / MARKER).exists()


@pytest.fixture
def bert(tiny_models, copy_model) -> Path:
    return copy_model(tiny_models["bert-mlm"])


# --- weights ------------------------------------------------------------------------------------
@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_index_pointing_at_a_pickle_is_refused(bert: Path, framework: str, no_unpickling) -> None:
    pattern = hostile.shards_to_pickle(bert)
    _refused(bert, pattern, UnsupportedError, framework=framework)
    assert no_unpickling == []


def test_transformers_weights_entry_is_refused(bert: Path, no_unpickling) -> None:
    pattern = hostile.transformers_weights_bin(bert)
    _refused(bert, pattern, UnsupportedError)
    assert no_unpickling == []
    result = runner.invoke(app, ["export", str(bert), "--format", "onnx", "--out", str(bert / "x.onnx")])
    assert result.exit_code != 0 and "transformers_weights" in result.stderr
    assert not (bert / "x.onnx").exists()


@pytest.mark.parametrize("builder", [hostile.shard_outside, hostile.shard_absolute])
def test_shards_outside_the_folder_are_refused(bert: Path, tmp_path: Path, builder, monkeypatch) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    pattern = builder(bert, outside)
    opened: list[str] = []
    import safetensors

    real = safetensors.safe_open
    monkeypatch.setattr(safetensors, "safe_open", lambda path, *a, **k: opened.append(str(path)) or real(path, *a, **k))
    _refused(bert, pattern, InvalidInputError)
    assert not any("stolen" in p for p in opened)


def test_pickles_beside_safetensors_are_never_read(bert: Path, no_unpickling) -> None:
    hostile.pickles_beside_safetensors(bert)
    model = zoo.load(bert)
    assert model(["the [MASK] sat"]).shape[0] == 1
    assert no_unpickling == [] and not (bert / MARKER).exists()


def test_pickled_adapter_is_refused(bert: Path, no_unpickling) -> None:
    (bert / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "base_model_name_or_path": "/etc"}))
    hostile.evil_pickle(bert / "adapter_model.bin", bert / MARKER)
    _refused(bert, r"adapter_model.safetensors", UnsupportedError)


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_malformed_headers_and_unknown_dtypes_fail_fast(bert: Path, copy_model, tiny_models, framework: str) -> None:
    _refused(bert, hostile.huge_header(bert), InvalidInputError, framework=framework)
    other = copy_model(tiny_models["sentence"])
    pattern = hostile.odd_dtype(other)
    if framework == "tf":  # numpy has no float8_e8m0fnu: named, not an AttributeError
        _refused(other, pattern, UnsupportedError, framework="tf")
    else:  # PyTorch reads the dtype, but the tensor no longer fits the model
        with pytest.raises(ZoolabError):
            zoo.load(other)


# --- declared sizes -----------------------------------------------------------------------------
@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_more_layers_declared_than_weights_hold(tmp_path: Path, framework: str) -> None:
    folder = make_checkpoint("bert", tmp_path / "bert")  # 2 layers of weights
    pattern = hostile.declared_layers(folder, 8)
    _refused(folder, pattern + r".*random values", InvalidInputError, framework=framework)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak memory from /proc")
def test_absurd_layer_count_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    folder = make_checkpoint("bert", tmp_path / "bert")
    hostile.declared_layers(folder, 600)
    # Peak memory of the child itself: VmHWM restarts at exec (ru_maxrss would carry pytest's).
    script = ("import re, zoolab.zoo as zoo\n"
              "try:\n    zoo.load({!r}, framework={!r})\nexcept Exception as exc:\n    print(type(exc).__name__, exc)\n"
              "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n")  # fmt: skip
    for framework in ("torch", "tf"):
        out = subprocess.run([sys.executable, "-c", script.format(str(folder), framework)], capture_output=True,
                             text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
        lines = out.stdout.strip().splitlines()
        assert lines[0].startswith("InvalidInputError") and "num_hidden_layers=600" in lines[0], out.stdout + out.stderr
        assert int(lines[-1]) < 1_500_000, f"{framework}: {int(lines[-1]) // 1024} MB"  # KiB: torch itself is ~0.5 GB


def test_weights_the_model_does_not_have_are_named(tmp_path: Path) -> None:
    folder = make_checkpoint("bert", tmp_path / "bert")
    pattern = hostile.unexpected_weight(folder, "encoder.layer.7.extra.weight")
    with pytest.raises(InvalidInputError, match=pattern):
        zoo.load(folder)


def test_a_missing_weight_is_named_not_left_random(tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    folder = make_checkpoint("bert", tmp_path / "bert")
    state = load_file(folder / "model.safetensors")
    del state["encoder.layer.1.output.dense.bias"]  # too small for the size check: the load report names it
    save_file(state, folder / "model.safetensors", metadata={"format": "pt"})
    with pytest.raises(InvalidInputError, match=r"1 weights missing \(encoder.layer.1.output.dense.bias\)"):
        zoo.load(folder)


# --- remote code --------------------------------------------------------------------------------
def test_image_processor_code_never_runs_and_nothing_prompts(tmp_path: Path) -> None:
    folder = make_checkpoint("vit", tmp_path / "vit", num_labels=3)
    pattern = hostile.image_processor_auto_map(folder)
    with pytest.raises(PermissionDeniedError, match=pattern):
        zoo.load(folder)
    picture = tmp_path / "p.png"
    from PIL import Image

    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(picture)
    # A user answering "y" to a prompt on stdin must change nothing: zoolab decides, not a prompt.
    for command in (["predict", str(folder), str(picture)], ["scan", str(folder)]):
        out = subprocess.run([sys.executable, "-m", "zoolab", *command], input="y\ny\n", capture_output=True,
                             text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})  # fmt: skip
        assert out.returncode != 0 and "--trust-remote-code" in out.stderr and "Traceback" not in out.stderr
        assert not (folder / MARKER).exists()


def test_auto_map_as_a_list_is_a_field_error(bert: Path) -> None:
    pattern = hostile.tokenizer_auto_map_list(bert)
    for trust in (False, True):
        with pytest.raises(InvalidInputError, match=pattern):
            zoo.load(bert, trust_remote_code=trust)
    assert not (bert / MARKER).exists()


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_metadata_claiming_keras_skips_no_check(bert: Path, framework: str) -> None:
    hostile.config_auto_map(bert)
    hostile.zoolab_json(bert, library="keras-hub", frameworks=["tf", "torch"])
    with pytest.raises(InvalidInputError, match="field 'library' says 'keras-hub'"):
        zoo.load(bert, framework=framework)
    hostile.zoolab_json(bert, library=None)  # no claim at all: the remote-code check still runs
    _refused(bert, r"needs Python code.*--trust-remote-code", PermissionDeniedError, framework=framework)


def test_sentence_transformers_paths_stay_inside(copy_model, tiny_models, tmp_path: Path) -> None:
    folder = copy_model(tiny_models["sentence"])
    modules = json.loads((folder / "modules.json").read_text())
    modules[1]["path"] = "../../../../../../../../etc"
    (folder / "modules.json").write_text(json.dumps(modules))
    with pytest.raises(InvalidInputError, match="modules.json path .* outside the repository"):
        zoo.load(folder)


# --- zoolab.json --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("fields", "pattern"),
    [
        ({"labels": 5}, r"field 'labels': expected a list of strings, got int"),
        ({"frameworks": "torch"}, r"field 'frameworks': expected a non-empty list"),
        ({"labels": [f"c{i}" for i in range(2_000_000)]}, r"field 'labels': 2000000 labels"),
        ({"labels": [f"c{i}" for i in range(7)]}, r"names 7 labels but the model's classifier head has 3 outputs"),
        ({"pooling": {"mode": "sum"}}, r"field 'pooling.mode'"),
        ({"format_version": 99}, r"format_version 99"),
        ({"task": ["x"]}, r"field 'task'"),
    ],
)
def test_zoolab_json_fields_are_validated(copy_model, tiny_models, fields, pattern) -> None:
    folder = copy_model(tiny_models["timm"])
    hostile.zoolab_json(folder, **fields)
    with pytest.raises(ZoolabError, match=pattern):
        zoo.load(folder)
    assert re.search(pattern, _cli_error(["predict", str(folder), "x.png"]))


# --- images -------------------------------------------------------------------------------------
@pytest.mark.parametrize(("builder", "value"), [(hostile.timm_crop_pct, 0.002), (hostile.timm_input_size, 32000)])
def test_timm_image_sizes_are_bounded(copy_model, tiny_models, images, builder, value) -> None:
    folder = copy_model(tiny_models["timm"])
    pattern = builder(folder, value)
    with pytest.raises(InvalidInputError, match=pattern):
        zoo.load(folder)
    with pytest.raises(InvalidInputError, match=pattern):
        zoo.load(folder, framework="tf")
    assert re.search(pattern, _cli_error(["predict", str(folder), str(images[0])]))


def test_timm_pretrained_cfg_pointers_lose_to_the_folder(copy_model, tiny_models, images, monkeypatch, no_unpickling) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    clean = zoo.load(tiny_models["timm"])([images[0]])
    folder = copy_model(tiny_models["timm"])
    hostile.timm_hub_pointers(folder)
    np.testing.assert_allclose(zoo.load(folder)([images[0]]), clean, atol=1e-6)
    assert no_unpickling == [] and not (folder / MARKER).exists()



def test_symlink_out_of_the_folder_is_refused(bert: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("[PAD]\nsecret\n")
    (bert / "tokenizer.json").unlink()
    (bert / "tokenizer.json").symlink_to(secret)
    _refused(bert, r"tokenizer.json is a symlink out of the repository", InvalidInputError)


@pytest.mark.parametrize(
    ("change", "pattern"),
    [
        ({"std": [0, 0, 0]}, r"pretrained_cfg.std must be 3 finite numbers"),
        ({"mean": [0.5]}, r"pretrained_cfg.mean must be 3 finite numbers"),
        ({"interpolation": "evil"}, r"interpolation 'evil' is not one of"),
    ],
)
def test_timm_normalisation_settings_are_validated(copy_model, tiny_models, change, pattern) -> None:
    folder = copy_model(tiny_models["timm"])
    config = json.loads((folder / "config.json").read_text())
    config["pretrained_cfg"].update(change)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(InvalidInputError, match=pattern):
        zoo.load(folder)


def test_id2label_with_non_index_keys_is_a_field_error(copy_model, tiny_models) -> None:
    folder = copy_model(tiny_models["distilbert-cls"])
    config = json.loads((folder / "config.json").read_text())
    config["id2label"] = {"zero": "negative", "one": "positive"}
    (folder / "config.json").write_text(json.dumps(config))
    for framework in ("torch", "tf"):
        with pytest.raises(InvalidInputError, match="field 'id2label': keys must be class indices"):
            zoo.load(folder, framework=framework)


@pytest.mark.parametrize("key", ["vocab_file", "tokenizer_file"])
def test_tokenizer_config_naming_a_file_outside_is_refused(bert: Path, tmp_path: Path, key: str, monkeypatch) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nsecret\n")
    config = json.loads((bert / "tokenizer_config.json").read_text())
    config[key] = str(secret)
    (bert / "tokenizer_config.json").write_text(json.dumps(config))
    (bert / "tokenizer.json").unlink()  # so transformers would fall back to the named file
    opened: list[str] = []
    import builtins

    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: opened.append(str(f)) or real_open(f, *a, **k))
    _refused(bert, rf"tokenizer_config.json: '{key}' names a file", InvalidInputError)
    assert str(secret) not in opened


@pytest.mark.parametrize(("change", "pattern"), [({"resample": "evil"}, "resample must be"),
                                                 ({"image_std": [0, 0, 0]}, "image_std must be"),
                                                 ({"size": {"height": 50000, "width": 32}}, "is 50000 pixels")])  # fmt: skip
def test_image_processor_settings_are_bounded(tmp_path: Path, change, pattern) -> None:
    folder = make_checkpoint("vit", tmp_path / "vit", num_labels=3)
    proc = json.loads((folder / "preprocessor_config.json").read_text())
    proc.update(change)
    (folder / "preprocessor_config.json").write_text(json.dumps(proc))
    for framework in ("torch", "tf"):
        with pytest.raises(InvalidInputError, match=pattern):
            zoo.load(folder, framework=framework)


@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_a_config_of_two_formats_is_refused(copy_model, tiny_models, framework: str) -> None:
    # keras-hub would read model_type (a 300-layer BERT), zoolab's timm side the architecture.
    folder = copy_model(tiny_models["timm"])
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="bert", num_hidden_layers=300)
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(InvalidInputError, match="describes a timm and a transformers checkpoint at once"):
        zoo.load(folder, framework=framework)
