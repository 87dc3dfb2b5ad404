"""benchmarks/finetune.py: its comparison table from contestants' figures (ratios, targets met or
not), its smallest quick piece run for real, and a bad --only refused in one line. No speed is
asserted: the benchmark measures it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "finetune.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_finetune", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def _figures(to_target, budget, acc, rss, samples_s=10.0):
    return {"to_target_s": to_target, "budget_s": budget, "final_acc": acc, "samples_s": samples_s,
            "rss_mib": rss, "gpu_mib": None, "mfu": 0.01}


def test_rows_give_the_ratio_and_say_whether_each_target_is_met(bench):
    budgets = {k: bench.Budget(**vars(v)) for k, v in bench.FULL.items()}
    figures = {
        ("text", "zoolab-torch"): _figures(10.0, 30.0, 0.62, 900),
        ("text", "hf-trainer"): _figures(20.0, 40.0, 0.60, 1000),  # 2x faster, better, less memory: met
        ("text", "zoolab-keras"): _figures(10.0, 30.0, 0.55, 900),
        ("text", "keras-fit"): _figures(11.0, 30.0, 0.60, 800),  # 1.1x only, worse accuracy, more memory
        ("image", "zoolab-torch"): _figures(4.0, 9.0, 0.95, 700),
        ("image", "torch-loop"): _figures(None, 8.0, 0.80, 600),  # never reached the target
    }
    rows = {r[0]: r for r in bench.comparison_rows(figures, budgets)}
    assert len(rows) == 3  # the image Trainer and Keras rows did not run
    trainer = rows["text: zoolab PyTorch vs HF Trainer"]
    assert trainer[2:5] == ["10.0 s", "20.0 s", "2.00x"] and trainer[-1] == "1.5x: yes"
    keras = rows["text: zoolab Keras vs Keras fit"]
    assert keras[4] == "1.10x" and keras[-1] == "1.2x: no"
    loop = rows["image: zoolab PyTorch vs plain PyTorch loop"]
    assert loop[3] == "not reached" and loop[4] == "only zoolab" and loop[-1] == "record only"
    assert all(len(r) == len(bench.HEADER) for r in rows.values())


def test_a_failed_or_skipped_side_is_named_in_its_row(bench):
    budgets = {k: bench.Budget(**vars(v)) for k, v in bench.QUICK.items()}
    figures = {("image", "zoolab-keras"): {"skipped": "TensorFlow sees no GPU"},
               ("image", "keras-fit"): {"skipped": "TensorFlow sees no GPU"}}
    (row,) = bench.comparison_rows(figures, budgets)
    assert row[2] == "skipped: TensorFlow sees no GPU" and len(row) == len(bench.HEADER)


def test_quick_torch_loop_runs_and_prints_its_row():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--only", "image:torch-loop", "--no-record"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("| image: plain PyTorch loop"))
    cells = [c.strip() for c in line.strip("|").split("|")]
    assert 0.0 <= float(cells[7]) <= 1.0  # a validation accuracy was measured
    assert float(cells[9]) > 0  # samples/s
    assert "GFLOP/s" in proc.stdout and "MFLOP per training sample" in proc.stdout


def test_unknown_only_entry_is_refused_in_one_line():
    proc = subprocess.run([sys.executable, str(SCRIPT), "--only", "image:fastai"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "unknown --only entry 'image:fastai'" in proc.stderr.strip().splitlines()[-1]
