"""Hostile keras-hub presets: refused before Keras deserialises anything, nothing written or read
outside the preset, no module imported, no model built larger than its weights."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest
from hostile_repos import MARKER
from typer.testing import CliRunner

import hostile_repos as hostile
import zoolab.zoo as zoo
from zoolab.cli.main import app
from zoolab.errors import InvalidInputError, PermissionDeniedError
from zoolab.zoo.keras_checkpoints import make_checkpoint

pytestmark = [pytest.mark.tf, pytest.mark.xdist_group("tf")]
runner = CliRunner()


@pytest.fixture(scope="module")
def presets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Clean keras-hub presets saved by zoolab: an image classifier and a text backbone."""
    root = tmp_path_factory.mktemp("hostile-presets")
    out = {}
    for name, labels in (("resnet18", 3), ("bert", None)):
        source = make_checkpoint(name, root / f"{name}-src", num_labels=labels)
        out[name] = zoo.load(source, framework="tf").save(root / name)
    return out


@pytest.fixture
def preset(presets, tmp_path: Path):
    def copy(name: str) -> Path:
        return shutil.copytree(presets[name], tmp_path / name)

    return copy


def _edit(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def _refused(folder: Path, pattern: str, error: type, inputs: list[str]) -> None:
    with pytest.raises(error, match=pattern):
        zoo.load(folder, framework="tf")
    result = runner.invoke(app, ["predict", str(folder), *inputs, "--framework", "tf"])
    assert result.exit_code != 0 and result.stderr.startswith("error: ") and "Traceback" not in result.output
    assert not (folder / MARKER).exists()


def test_a_lambda_graph_that_would_write_a_file_is_refused(preset, tmp_path: Path, images) -> None:
    import keras

    folder = preset("resnet18")
    target = folder / MARKER
    # What the preset held: a functional backbone whose Lambda calls a public Keras
    # function with the preset's own arguments (here: where to write a PNG).
    lam = keras.layers.Lambda(keras.visualization.plot_image_gallery, output_shape=(8, 8, 3),
                              arguments={"path": str(target)}, name="gallery")  # fmt: skip
    graph = {"module": "keras.src.models.functional", "class_name": "Functional", "registered_name": "Functional",
             "config": {"name": "evil", "layers": [{**keras.saving.serialize_keras_object(lam), "name": "gallery",
                                                    "inbound_nodes": []}],
                        "input_layers": [], "output_layers": []}}  # fmt: skip
    _edit(folder / "task.json", lambda task: task["config"].__setitem__("backbone", graph))
    _refused(folder, r"task.json: task.config.backbone is a Keras Functional", PermissionDeniedError, [str(images[0])])
    result = runner.invoke(app, ["export", str(folder), "--format", "tflite", "--out", str(tmp_path / "m.tflite")])
    assert result.exit_code != 0 and "Functional" in result.stderr and not (tmp_path / "m.tflite").exists()
    # The layer itself, anywhere in the tree, is refused by name too.
    _edit(folder / "task.json", lambda task: task["config"].__setitem__("backbone", keras.saving.serialize_keras_object(lam)))
    _refused(folder, r"is a Keras Lambda", PermissionDeniedError, [str(images[0])])
    assert not target.exists()


@pytest.mark.parametrize(
    ("node", "pattern"),
    [
        ({"module": "keras.layers", "class_name": "TFSMLayer", "config": {"filepath": "/tmp/x"}, "registered_name": None},
         r"Keras TFSMLayer"),
        ({"module": "keras.src.ops", "class_name": "function", "config": "nonzero", "registered_name": "function"},
         r"Keras function"),
        ({"module": "hostile_keras_module", "class_name": "Thing", "config": {}, "registered_name": "Thing"},
         r"hostile_keras_module.Thing, not a keras-hub"),
    ],
)
def test_classes_outside_keras_hub_presets_are_refused(preset, tmp_path: Path, monkeypatch, node, pattern, images) -> None:
    folder = preset("resnet18")
    hostile.evil_module(tmp_path / "hostile_keras_module.py", folder / MARKER)
    monkeypatch.syspath_prepend(str(tmp_path))
    _edit(folder / "task.json", lambda task: task["config"].__setitem__("backbone", node))
    _refused(folder, pattern, PermissionDeniedError, [str(images[0])])
    assert "hostile_keras_module" not in sys.modules


@pytest.mark.parametrize("config_file", ["/ABS/tokenizer.json", "../../outside/tokenizer.json", "sub/tokenizer.json"])
def test_tokenizer_files_outside_the_preset_are_never_read(preset, tmp_path: Path, config_file: str, monkeypatch) -> None:
    folder = preset("bert")
    outside = tmp_path / "outside"
    (outside / "tokenizer").mkdir(parents=True)
    (outside / "tokenizer" / "vocabulary.txt").write_text("[PAD]\nsecret\n")
    config_file = config_file.replace("/ABS", str(outside))
    for name in ("tokenizer.json", "preprocessor.json"):
        _edit(folder / name, lambda data: [n.__setitem__("config_file", config_file)
                                           for n in _configs(data) if "config_file" in n])  # fmt: skip
    opened: list[str] = []
    import builtins

    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: opened.append(str(f)) or real_open(f, *a, **k))
    _refused(folder, r"config_file is .*nothing outside the preset is read", InvalidInputError, ["hello"])
    assert not any("secret" in p or "outside" in p for p in opened)


def _configs(data):
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("config"), dict):
                yield node["config"]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def test_vocabulary_path_is_refused(preset) -> None:
    folder = preset("bert")
    _edit(folder / "tokenizer.json", lambda data: data["config"].__setitem__("vocabulary", "/etc/passwd"))
    _refused(folder, r"tokenizer.config.vocabulary names a file", InvalidInputError, ["hello"])


def test_declared_layers_beyond_the_weights_are_refused_before_building(preset) -> None:
    folder = preset("bert")
    _edit(folder / "config.json", lambda data: data["config"].__setitem__("num_layers", 300))
    _refused(folder, r"num_layers=300 but model.weights.h5 holds at most \d+ layers", InvalidInputError, ["hello"])
    _edit(folder / "config.json", lambda data: data["config"].update(num_layers=2, hidden_dim=4096))
    _refused(folder, r"hidden_dim=4096, a size no tensor", InvalidInputError, ["hello"])
    _edit(folder / "config.json", lambda data: data["config"].update(hidden_dim=32, max_sequence_length=10**6))
    _refused(folder, r"max_sequence_length=1000000, a size no tensor", InvalidInputError, ["hello"])


def test_image_converter_size_is_bounded(preset, images) -> None:
    folder = preset("resnet18")
    _edit(folder / "image_converter.json", lambda data: data["config"].__setitem__("image_size", [64000, 64000]))
    _refused(folder, r"image_converter.json image_size height is 64000 pixels", InvalidInputError, [str(images[0])])


def test_zoolab_json_of_a_preset_is_validated(preset, images) -> None:
    folder = preset("resnet18")
    hostile.zoolab_json(folder, labels=5)
    _refused(folder, r"zoolab.json field 'labels': expected a list of strings, got int", InvalidInputError, [str(images[0])])


def test_config_auto_map_is_refused_on_the_tf_path(tmp_path: Path) -> None:
    folder = make_checkpoint("bert", tmp_path / "bert")
    pattern = hostile.config_auto_map(folder)
    _refused(folder, pattern, PermissionDeniedError, ["hello"])


def test_clean_presets_still_load_and_trust_lifts_the_class_list(preset, images) -> None:
    folder = preset("resnet18")
    assert zoo.load(folder, framework="tf")([images[0]]).shape == (1, 3)
    result = runner.invoke(app, ["scan", str(folder), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert "keras_hub>ResNetImageClassifier" in report["findings"]["tf"]["keras_classes"]


def test_hostile_preset_served_by_a_hub_server(preset, hub_server, images, isolated_home: Path) -> None:
    from huggingface_hub import HfApi

    from zoolab.hub.config import add_source

    folder = preset("bert")
    _edit(folder / "tokenizer.json", lambda data: data["config"].__setitem__("config_file", "/etc/tokenizer.json"))
    hostile.evil_module(folder / "keras_layers_evil.py", folder / MARKER)
    api = HfApi(endpoint=hub_server.url, token=hub_server.token("attacker"))
    repo_id = hub_server.new_repo_id("attacker")
    api.create_repo(repo_id)
    api.upload_folder(repo_id=repo_id, folder_path=folder)
    add_source("team", hub_server.url, token=hub_server.token("zoo-reader", write=False))
    with pytest.raises(InvalidInputError, match=r"config_file is '/etc/tokenizer.json'"):
        zoo.load(f"team:{repo_id}", framework="tf")
    result = runner.invoke(app, ["scan", f"team:{repo_id}"])
    assert result.exit_code == 1 and "config_file" in result.stderr
    fetched = sorted(p.name for p in (isolated_home.parent / "hf-home").rglob("*") if p.is_file())
    assert "model.weights.h5" in fetched and not [f for f in fetched if f.endswith(".py")], fetched
    assert not (folder / MARKER).exists()


def test_preset_file_that_is_no_keras_object_is_a_clear_error(preset, images) -> None:
    folder = preset("resnet18")
    (folder / "task.json").write_text(json.dumps({"config": {}}))
    _refused(folder, r"task.json is not a serialised keras-hub object", InvalidInputError, [str(images[0])])
