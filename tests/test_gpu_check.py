"""`make gpu-check` away from a GPU: its CPU-side checks pass (every gpu-marked test collects,
the benchmarks start) and it then stops with one line saying no GPU was found, exit status 1."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(torch.cuda.is_available(), reason="with a GPU, make gpu-check itself is the check")
def test_gpu_check_without_a_gpu_passes_cpu_checks_then_says_so():
    results = ROOT / "benchmarks" / "RESULTS.md"
    before = results.read_text().count("## GPU check on")
    proc = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "gpu_check.py")], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "CPU-side checks passed" in proc.stdout
    found = [line for line in proc.stderr.splitlines() if line.startswith("gpu-check:")]
    assert len(found) == 1 and "no CUDA GPU found" in found[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert results.read_text().count("## GPU check on") == before  # nothing recorded
