"""Fine-tuning in two CPU processes (gloo DistributedDataParallel): launched by torchrun or by
``--nproc``, it matches one process at the same global batch size, writes one set of outputs
(rank 0), and resumes with another process count.

The runs use LoRA (so batch norm keeps its statistics and no per-process batch statistics enter)
and no augmentation (whose random draws come from each process's own generator): then the only
difference between one and two processes is the order of float sums, and the stated tolerance is
1e-5 on losses, equality on accuracy. With batch norm training the runs differ more; that is
what DDP does too, and docs/finetune.md says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from finetune_support import tiny_pretrained, write_digits_folder
from zoolab.runs import read_metrics
from zoolab.zoo.tuning.api import finetune

pytestmark = pytest.mark.xdist_group("finetune-ddp")

SETTINGS = {"schedule.epochs": 2, "optim.batch_size": 32, "optim.lr": 1e-2, "lora.rank": 4, "data.augment": False,
            "checkpoint.keep": 5}
FLAGS = [x for k, v in SETTINGS.items() for x in ("--set", f"{k}={v}")]
TOL = 1e-5


def _zoolab(*args: str, torchrun: bool = False, ok: bool = True) -> subprocess.CompletedProcess:
    """``python -m zoolab ARGS`` (under ``torchrun --standalone --nproc-per-node 2`` with ``torchrun``)."""
    launcher = ["-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"] if torchrun else []
    proc = subprocess.run([sys.executable, *launcher, "-m", "zoolab", *args], capture_output=True, text=True,
                          env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=300)
    if ok:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("ddp")
    return tiny_pretrained(base / "digits04"), write_digits_folder(base / "digits", classes=range(5, 10), per_class=60)


@pytest.fixture(scope="module")
def one_process(inputs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one") / "run"
    finetune(str(inputs[0]), str(inputs[1]), out=out, quiet=True, **SETTINGS)
    return out


@pytest.fixture(scope="module")
def torchrun_two(inputs, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("two") / "run"
    proc = _zoolab("finetune", str(inputs[0]), str(inputs[1]), *FLAGS, "--out", str(out), "--json", torchrun=True)
    return out, proc


def _val_rows(folder: Path) -> list[dict]:
    return [r for r in read_metrics(folder) if "val_loss" in r]


def _assert_same_training(a: Path, b: Path, from_step: int = 0) -> None:
    rows_a = [r for r in read_metrics(a) if r["step"] > from_step]
    rows_b = [r for r in read_metrics(b) if r["step"] > from_step]
    assert [r["step"] for r in rows_a] == [r["step"] for r in rows_b]
    for ra, rb in zip(rows_a, rows_b):
        assert abs(ra["train_loss"] - rb["train_loss"]) < TOL, (ra, rb)
        if "val_loss" in ra:
            assert abs(ra["val_loss"] - rb["val_loss"]) < TOL, (ra, rb)
            assert ra["val_accuracy"] == rb["val_accuracy"]


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder).parent if p.parent.name == "tb" else p.relative_to(folder))
                  for p in folder.rglob("*") if p.is_file())


def test_torchrun_two_processes_match_one_and_only_rank0_writes(one_process, torchrun_two):
    two, proc = torchrun_two
    _assert_same_training(one_process, two)
    assert _val_rows(two)[-1]["step"] == 18 and _val_rows(two)[-1]["val_accuracy"] > 0.5
    # one metrics.csv row per step, one TensorBoard file, the same files as a one-process run
    steps = [r["step"] for r in read_metrics(two)]
    assert len(steps) == len(set(zip(steps, ["val_loss" in r for r in read_metrics(two)])))
    assert len(list((two / "tb").iterdir())) == 1
    assert _files(two) == _files(one_process)
    assert proc.stdout.count('"run":') == 1  # only rank 0 reports
    assert "Traceback" not in proc.stderr


def test_resume_with_one_process_from_a_two_process_run(one_process, torchrun_two, tmp_path):
    # what a run killed after its first epoch leaves: the step-9 checkpoint and no final model
    run = tmp_path / "run"
    shutil.copytree(torchrun_two[0], run)
    shutil.rmtree(run / "checkpoints" / "step-0000000018")
    shutil.rmtree(run / "final")
    resumed = finetune(None, None, resume=run, quiet=True)
    _assert_same_training(one_process, run)
    assert resumed.evaluation.accuracy == pytest.approx(_val_rows(one_process)[-1]["val_accuracy"])
    assert (run / "final" / "config.json").is_file()


def test_cli_nproc_resumes_a_one_process_run_in_two(one_process, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(one_process, run)
    shutil.rmtree(run / "checkpoints" / "step-0000000018")
    shutil.rmtree(run / "final")
    proc = _zoolab("finetune", "--resume", str(run), "--nproc", "2")
    assert proc.stdout.strip().splitlines()[-1] == str(run)
    assert proc.stderr.count("resumed from step-0000000009") == 1  # rank 0's progress only
    _assert_same_training(one_process, run)
    assert (run / "checkpoints" / "step-0000000018").is_dir()


def test_bad_nproc_is_one_line(tmp_path):
    for bad in ("0", "-3"):
        proc = _zoolab("finetune", "m", "d", "--nproc", bad, ok=False)
        assert proc.returncode == 2 and "--nproc must be a whole number" in proc.stderr, proc.stderr
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) <= 2
    # TensorFlow trains in one process per machine: TF processes started by torchrun are refused
    # (each says so in one line; torchrun then reports its failed children in its own way). torchrun
    # stops the other process as soon as one fails, so the second may not get to say it.
    proc = _zoolab("finetune", "m", "d", "--framework", "tf", "--out", str(tmp_path / "r"), torchrun=True, ok=False)
    refusals = [line for line in proc.stderr.splitlines() if "not in processes started by torchrun" in line]
    assert proc.returncode != 0 and 1 <= len(refusals) <= 2, proc.stderr
    assert all(line.startswith("error: TensorFlow fine-tuning trains in one process") for line in refusals)
    assert not (tmp_path / "r").exists()
