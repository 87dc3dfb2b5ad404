"""``zoolab finetune`` on bad input (issue section 8), through the CLI: one clear ``error:`` line on
stderr, a non-zero exit, no traceback, and nothing already written lost. Inputs the run can live
with (unreadable images, over-long texts) are skipped or truncated, counted and named instead.

Most cases run in-process with typer's CliRunner (one torch import for all); the NaN loss and an
empty folder run as real ``python -m zoolab`` processes. Out of memory cannot be caused honestly
on a shared CI machine, so the allocator's failure is raised from the model's forward pass."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from finetune_support import write_digits_folder
from zoolab.cli.main import app

runner = CliRunner()
ONE_STEP = ["--epochs", "0.1", "--batch-size", "8"]
"""A run of one optimiser step: enough to reach the training loop, the notes and the report."""


@pytest.fixture(scope="module")
def models(tiny_models, tmp_path_factory) -> dict[str, Path]:
    import timm
    from timm.models import save_for_hf

    image = tmp_path_factory.mktemp("finetune-error-models") / "image"
    save_for_hf(timm.create_model("test_resnet", num_classes=3, pretrained_cfg_overlay={"input_size": (3, 32, 32),
                                                                                       "crop_pct": 1.0}),
                str(image), safe_serialization=True)
    # the text encoder takes at most 64 positions; gpt2 is a text generator
    return {"image": image, "text": tiny_models["bert-mlm"], "generator": tiny_models["gpt2"]}


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    """Two digit classes, 12 real images each, plus four files that are no readable image."""
    folder = write_digits_folder(tmp_path_factory.mktemp("digits") / "digits", classes=[0, 1], per_class=12)
    for name in ("0/broken.png", "0/empty.jpg", "1/text.png", "1/truncated.gif"):
        (folder / name).write_bytes(b"" if name.endswith(".jpg") else b"\x89PNG not an image")
    return folder


@pytest.fixture(scope="module")
def reviews(tmp_path_factory) -> Path:
    """40 labelled texts (columns review, stars, lang); every fourth is 180 words long."""
    path = tmp_path_factory.mktemp("table") / "reviews.csv"
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["review", "stars", "lang"])
        for i in range(40):
            words = ("the cat sat on the mat " * (30 if i % 4 == 0 else 1)).split()
            writer.writerow([" ".join(words), "good" if i % 2 else "bad", "en"])
    return path


def _error_line(stderr: str) -> str:
    """The one ``error:`` line, after checking it is the only one, the last one, and no traceback came."""
    lines = [line for line in stderr.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert "Traceback" not in stderr and len(errors) == 1 and lines[-1] == errors[0], stderr
    return errors[0]


def _setup(case: str, models: dict[str, Path], digits: Path, reviews: Path, tmp_path: Path) -> list[str]:
    image, text = str(models["image"]), str(models["text"])
    if case == "empty-folder":
        (tmp_path / "empty").mkdir()
        return [image, str(tmp_path / "empty")]
    if case == "one-class-folder":
        return [image, str(write_digits_folder(tmp_path / "sevens", classes=[7], per_class=6))]
    if case == "missing-column":
        return [text, str(reviews), "--text-column", "text", "--label-column", "stars"]
    if case == "one-label-value":
        return [text, str(reviews), "--text-column", "review", "--label-column", "lang"]
    if case == "not-a-classifier":
        return [str(models["generator"]), str(reviews), "--text-column", "review", "--label-column", "stars"]
    if case == "text-on-image-model":
        return [image, str(reviews), "--text-column", "review", "--label-column", "stars"]
    raise AssertionError(case)


@pytest.mark.parametrize("case, message, code", [
    ("empty-folder", "no images found in {tmp}/empty", 2),
    ("one-class-folder", "has a single label ('7'); classification needs at least two", 2),
    ("missing-column", "has no column 'text'; its columns: review, stars, lang", 2),
    ("one-label-value", "has a single label ('en'); classification needs at least two", 2),
    ("not-a-classifier", "a transformers text-generation model cannot be fine-tuned for classification", 1),
    ("text-on-image-model", "an image model cannot read texts", 1),
])
def test_bad_data_or_model_is_one_line_and_writes_nothing(case, message, code, models, digits, reviews, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["finetune", *_setup(case, models, digits, reviews, tmp_path), "--out", str(out)])
    assert result.exit_code == code and isinstance(result.exception, SystemExit), result.stderr
    assert message.format(tmp=tmp_path) in _error_line(result.stderr)
    assert not out.exists()  # refused before the run folder was made


def test_resume_of_a_folder_that_is_not_a_run_leaves_it_alone(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    result = runner.invoke(app, ["finetune", "--resume", str(tmp_path)])
    assert result.exit_code == 2
    assert f"{tmp_path} is not a fine-tuning run folder" in _error_line(result.stderr)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"] and (tmp_path / "notes.txt").read_text() == "keep me"


def test_an_existing_run_is_not_overwritten(models, digits, tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.yaml").write_text("kind: zoolab-finetune\n")
    result = runner.invoke(app, ["finetune", str(models["image"]), str(digits), "--out", str(out)])
    assert result.exit_code != 0 and f"--resume {out}" in _error_line(result.stderr)
    assert [p.name for p in out.iterdir()] == ["config.yaml"] and (out / "config.yaml").read_text() == "kind: zoolab-finetune\n"


def test_unreadable_images_are_skipped_counted_and_the_first_named(models, digits, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["finetune", str(models["image"]), str(digits), *ONE_STEP, "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    note = next(line for line in result.stderr.splitlines() if line.startswith("skipped"))
    assert note == "skipped 4 unreadable image(s) in train: 0/broken.png, 0/empty.jpg, 1/text.png and 1 more"
    assert "data: train 22, validation 2" in result.stderr  # the 24 readable images, 10% held out
    assert result.stdout.strip().splitlines()[-1] == str(out) and (out / "final" / "model.safetensors").is_file()


def test_texts_longer_than_the_model_takes_are_truncated_and_counted(models, reviews, tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["finetune", str(models["text"]), str(reviews), "--text-column", "review",
                                 "--label-column", "stars", *ONE_STEP, "--out", str(out)])
    assert result.exit_code == 0, result.stderr
    # train + validation hold the 40 rows; the 10 of 180 words exceed the encoder's 64 positions
    assert "10 of 40 texts are longer than the 64 tokens the model takes and were truncated" in result.stderr
    assert result.stdout.strip().splitlines()[-1] == str(out)


@pytest.mark.parametrize("failure", ["cpu", "cuda"])
def test_out_of_memory_suggests_a_smaller_batch_and_accumulation(failure, models, digits, tmp_path, monkeypatch):
    import torch

    from zoolab.zoo.tuning import torch_trainer

    def exhausted(*args, **kwargs):
        if failure == "cuda":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (GPU 0; 1.00 GiB free)")
        # what torch's CPU allocator raises when malloc fails
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: not enough memory: "
                           "you tried to allocate 8589934592 bytes.")

    monkeypatch.setattr(torch_trainer, "_forward", exhausted)
    out = tmp_path / "run"
    result = runner.invoke(app, ["finetune", str(models["image"]), str(digits), *ONE_STEP, "--out", str(out)])
    assert result.exit_code == 1
    line = _error_line(result.stderr)
    assert "out of memory at batch size 8" in line and "lower --batch-size" in line and "grad_accumulation" in line
    assert "no checkpoint had been written yet" in line
    assert (out / "config.yaml").is_file()  # the run folder stays, for a look at what was tried


def _zoolab(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "zoolab", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})


def test_nan_loss_in_a_real_process_stops_and_names_the_good_checkpoint_it_keeps(models, digits, tmp_path):
    from safetensors.numpy import load_file

    out = tmp_path / "run"
    proc = _zoolab("finetune", str(models["image"]), str(digits), "--epochs", "2", "--batch-size", "8", "--lr", "1e12",
                   "--set", "optim.max_grad_norm=null", "--set", "schedule.warmup_ratio=0",
                   "--set", "checkpoint.every_steps=1", "--set", "log_every_steps=1", "--out", str(out))
    assert proc.returncode == 1
    line = _error_line(proc.stderr)
    assert "the training loss became nan" in line and "the last good checkpoint is kept in" in line
    kept = Path(line.split("the last good checkpoint is kept in ")[1].split(" ")[0])
    assert kept.parent == out / "checkpoints" and (kept / "state.json").is_file()
    weights = load_file(str(kept / "model.safetensors"))
    assert all(np.isfinite(w).all() for w in weights.values())  # good: finite weights
    assert (out / "metrics.csv").read_text().splitlines()[1].startswith("1,")  # step 1's row, logged before the NaN, stays


def test_empty_folder_in_a_real_process(models, tmp_path):
    (tmp_path / "empty").mkdir()
    proc = _zoolab("finetune", str(models["image"]), str(tmp_path / "empty"), "--out", str(tmp_path / "run"))
    assert proc.returncode == 2 and proc.stdout == ""
    assert _error_line(proc.stderr).startswith(f"error: no images found in {tmp_path / 'empty'}")
    assert not (tmp_path / "run").exists()
