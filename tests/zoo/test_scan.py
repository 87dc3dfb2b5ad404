"""``zoolab scan``: what a repository would make zoolab do, without loading it; the scan and the
loader run the same checks, so they refuse the same repositories with the same words."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from hostile_repos import MARKER
from typer.testing import CliRunner

import hostile_repos as hostile
import zoolab.zoo as zoo
from zoolab.cli.main import app
from zoolab.errors import ZoolabError
from zoolab.zoo.scan import scan

runner = CliRunner()


def test_clean_folder_reports_what_loading_reads(tiny_models) -> None:
    result = runner.invoke(app, ["scan", str(tiny_models["bert-mlm"]), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] and report["library"] == "transformers" and report["frameworks"] == ["torch", "tf"]
    torch = report["findings"]["torch"]
    assert torch["weights"] == ["model.safetensors"] and torch["code_references"] == []
    sizes = torch["sizes"]
    assert sizes["weight_parameters"] > 0 and sizes["declared_parameters"] <= sizes["weight_parameters"] * 1.01 + 64
    text = runner.invoke(app, ["scan", str(tiny_models["timm"])])
    assert text.exit_code == 0 and "weights read from: model.safetensors" in text.stdout
    assert "crop_pct" in text.stdout and "nothing refused" in text.stdout


def test_every_refusal_is_listed_and_nothing_is_loaded(tiny_models, copy_model, monkeypatch) -> None:
    import torch

    monkeypatch.setattr(torch, "load", lambda *a, **k: pytest.fail("torch.load called"))
    folder = copy_model(tiny_models["bert-mlm"])
    hostile.shards_to_pickle(folder)
    hostile.config_auto_map(folder)
    hostile.image_processor_auto_map(folder)
    result = runner.invoke(app, ["scan", str(folder), "--framework", "torch"])
    assert result.exit_code == 1
    refused = [line for line in result.stderr.splitlines() if line.startswith("refused:")]
    assert any("weights.data" in line for line in refused), result.stderr
    assert any("modeling_evil.EvilModel" in line and "image_processing_evil" in line for line in refused)
    assert "modeling_evil.py: Python file" in result.stdout.replace("\n", " ")
    assert not (folder / MARKER).exists()


BUILDERS = {
    "pickle-shard": hostile.shards_to_pickle,
    "transformers-weights": hostile.transformers_weights_bin,
    "declared-layers": lambda f: hostile.declared_layers(f, 6),
    "auto-map": hostile.config_auto_map,
    "auto-map-list": hostile.tokenizer_auto_map_list,
    "huge-header": hostile.huge_header,
    "labels": lambda f: hostile.zoolab_json(f, labels=5) or "field 'labels'",
    "clean": lambda f: None,
}


@pytest.mark.parametrize("case", list(BUILDERS))
@pytest.mark.parametrize("framework", ["torch", "tf"])
def test_scan_and_load_agree(case: str, framework: str, tiny_models, tmp_path: Path) -> None:
    folder = shutil.copytree(tiny_models["sentence"], tmp_path / case)
    pattern = BUILDERS[case](folder)
    report = scan(folder, framework=framework)
    try:
        zoo.load(folder, framework=framework) if framework == "torch" or case != "clean" else None
        loaded_error = None
    except ZoolabError as exc:
        loaded_error = str(exc)
    if pattern is None:
        assert report.ok and loaded_error is None, report.refusals
    else:
        assert not report.ok and loaded_error is not None
        assert loaded_error in report.refusals, (loaded_error, report.refusals)
    assert not (folder / MARKER).exists()


def test_a_trusting_scan_runs_no_repository_code(tiny_models, copy_model) -> None:
    folder = copy_model(tiny_models["bert-mlm"])
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "configuration_evil.EvilConfig", "AutoModel": "configuration_evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    hostile.evil_module(folder / "configuration_evil.py", folder / MARKER)
    result = runner.invoke(app, ["scan", str(folder), "--trust-remote-code", "--framework", "torch", "--json"])
    assert result.exit_code == 0, result.output
    refs = json.loads(result.stdout)["findings"]["torch"]["code_references"]
    assert "config.json: auto_map.AutoConfig -> configuration_evil.EvilConfig" in refs
    assert not (folder / MARKER).exists()
    assert runner.invoke(app, ["scan", str(folder)]).exit_code == 1
