"""timm variants of other widths than their name: what a saved folder claims, and short errors in TF.

keras-hub's timm converter builds the layers from the architecture name alone, so a ``resnet18``
with other channel counts cannot become a Keras model. The folder must not claim TensorFlow, and
the failure when it is tried anyway must be one short line (Keras's own text embeds the tensor).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from zoolab.errors import UnsupportedError
from zoolab.zoo.keras_convert import REASON_CHARS, short_reason

# Keras 3's text for a weight of another shape, as keras-hub's timm converter raises it.
KERAS_ASSIGN_ERROR = (
    "The shape of the target variable and the shape of the target value in `variable.assign(value)` must "
    "match. variable.shape=(3, 3, 64, 64), Received: value.shape=(3, 3, 64, 32). Target variable: "
    "<Variable path=stack0_block0_1_conv/kernel, shape=(3, 3, 64, 64), dtype=float32, value=[[[[-0.0334 "
    + "-0.0123 " * 2000 + "]]]]>"
)


def _no_dump(message: str) -> None:
    assert "\n" not in message and "value=" not in message and "dtype=" not in message, message
    assert len(message) < 400, len(message)


def test_short_reason_names_the_weight_and_both_shapes() -> None:
    reason = short_reason(ValueError(KERAS_ASSIGN_ERROR))
    assert reason == ("weight stack0_block0_1_conv/kernel: Keras expects shape (3, 3, 64, 64), "
                      "the checkpoint has (3, 3, 64, 32)")
    assert short_reason(KeyError("stem.conv.weight")) == "stem.conv.weight"
    long = short_reason(ValueError("bad layer " + "x" * 1000 + "\nsecond line"))
    assert len(long) == REASON_CHARS and "second" not in long
    assert short_reason(ValueError("cannot map value=[[1. 2.]] onto it")) == "cannot map"


@pytest.fixture(scope="module")
def variant(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A timm resnet18 with other depths and widths (config.json's model_args record them)."""
    import timm
    from timm.models import save_for_hf

    folder = tmp_path_factory.mktemp("variant") / "narrow-resnet18"
    model = timm.create_model("resnet18", num_classes=2, layers=(1, 1, 1, 1), channels=(8, 8, 16, 16), stem_width=8)
    save_for_hf(model, str(folder), safe_serialization=True)
    return folder


def test_saved_variant_records_only_the_checked_framework(variant: Path, tmp_path: Path) -> None:
    from zoolab import zoo
    from zoolab.zoo.metadata import inspect_folder

    saved = zoo.load(str(variant), framework="torch").save(tmp_path / "saved")
    assert json.loads((saved / "zoolab.json").read_text())["frameworks"] == ["torch"]
    assert inspect_folder(saved).frameworks == ("torch",)
    with pytest.raises(UnsupportedError, match="cannot be loaded in TensorFlow/Keras; it is available for: PyTorch") as err:
        zoo.load(str(saved), framework="tf")
    _no_dump(str(err.value))


@pytest.mark.tf
@pytest.mark.xdist_group("tf")
def test_converting_a_variant_fails_in_one_short_line(variant: Path, tmp_path: Path) -> None:
    from zoolab import zoo
    from zoolab.cli.main import app

    # The timm folder names an architecture keras-hub converts; its weight shapes say it is not that one,
    # which is found from the safetensors header before Keras builds anything.
    with pytest.raises(UnsupportedError, match=r"timm architecture 'resnet18': weight layer1.0.bn1.bias has shape "
                       r"\(8,\), the standard resnet18 has \(64,\)") as err:
        zoo.load(str(variant), framework="tf")
    _no_dump(str(err.value))
    assert "other widths or depths" in str(err.value) and "PyTorch only" in str(err.value)
    # So does a folder saved before zoolab.json recorded only the checked framework.
    saved = zoo.load(str(variant), framework="torch").save(tmp_path / "claims-tf")
    meta = json.loads((saved / "zoolab.json").read_text())
    (saved / "zoolab.json").write_text(json.dumps({**meta, "frameworks": ["torch", "tf"]}))
    for folder in (variant, saved):
        result = CliRunner().invoke(app, ["predict", str(folder), "hello", "--framework", "tf"])
        assert result.exit_code != 0 and "Traceback" not in result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and "the standard resnet18 has" in lines[0], result.stderr
        _no_dump(lines[0])
