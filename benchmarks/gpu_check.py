"""``make gpu-check``: every ``gpu``-marked test plus short GPU rows of the fine-tuning and RL
benchmarks, in under 9 minutes on one GPU, with the figures (and the GPU's name) appended to
benchmarks/RESULTS.md.

First, everywhere, the CPU-side checks: the gpu tests collect (no import or marker errors) and
the benchmark scripts start (``--help``). Then, without a CUDA GPU, one line says none was found
and the exit status is 1; nothing is recorded. With one, each step runs under its own time cap
(tests 270 s, fine-tuning row 150 s, RL row 90 s) and the table records what passed and how long
it took; the benchmarks append their own rows (zoolab beside its anchor) as well.

Run: ``make gpu-check`` (or ``.venv/bin/python benchmarks/gpu_check.py [--no-record]``).
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, record  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "benchmarks"
FINETUNE_BENCH = BENCH / "finetune.py"
"""The fine-tuning benchmark; ``--quick --device cuda`` is the short row: every contestant on a tiny
budget, about ten processes, so most of its cap is their start-up."""
RL_ROW = ["--rows", "ppo-cartpole", "--seeds", "1", "--max-steps", "20000", "--stop-at-target", "--cap", "60",
          "--eval-episodes", "5"]
CAPS = {"tests": 270, "finetune": 150, "rl": 90}


def _run(cmd: list[str], timeout: float) -> tuple[int, float, str]:
    """(exit status, seconds, last output lines); 124 when the cap was hit."""
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=max(timeout, 1))
        rc, out = proc.returncode, proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        rc, out = 124, f"{exc.stdout or ''}{exc.stderr or ''}"
        out = out.decode(errors="replace") if isinstance(out, bytes) else out
    return rc, time.perf_counter() - t0, "\n".join(out.strip().splitlines()[-15:])


def cpu_checks() -> tuple[int, list[str]]:
    """Collect the gpu tests and start the benchmarks; (number of gpu tests, problems found)."""
    problems = []
    rc, _, out = _run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-m", "gpu", "tests",
                       "-p", "no:cacheprovider"], 300)
    found = re.search(r"(\d+)(?:/\d+)? tests? collected", out)
    n = int(found.group(1)) if found else 0
    if rc != 0 or n == 0:
        problems.append(f"the gpu tests do not collect (pytest exit {rc}): {out.splitlines()[-1] if out else ''}")
    scripts = [BENCH / "rl_vs_sb3.py"] + ([FINETUNE_BENCH] if FINETUNE_BENCH.is_file() else [])
    for script in scripts:
        rc, _, out = _run([sys.executable, str(script), "--help"], 120)
        if rc != 0:
            problems.append(f"{script.name} --help failed (exit {rc}): {out.splitlines()[-1] if out else ''}")
    return n, problems


def _test_counts(junit: Path) -> str:
    """'N passed, M failed, K skipped' from a JUnit XML report."""
    try:
        suite = ET.parse(junit).getroot()
        suite = suite if suite.tag == "testsuite" else suite[0]
        total, fail = int(suite.get("tests", 0)), int(suite.get("failures", 0)) + int(suite.get("errors", 0))
        skipped = int(suite.get("skipped", 0))
    except (OSError, ET.ParseError, IndexError):
        return "no report"
    return f"{total - fail - skipped} passed, {fail} failed, {skipped} skipped"


def gpu_steps(gpu: str) -> tuple[list[list[object]], bool]:
    """Run the three GPU steps; (table rows, all passed)."""
    rows: list[list[object]] = []
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "gpu.xml"
        rc, secs, out = _run([sys.executable, "-m", "pytest", "-m", "gpu", "tests", "-q", "-p", "no:cacheprovider",
                              f"--junitxml={junit}", "--timeout", str(CAPS["tests"])], CAPS["tests"])
        rows.append(["gpu-marked tests", _test_counts(junit) + ("" if rc != 124 else " (time cap)"), secs])
        ok &= rc == 0
        if rc != 0:
            print(out, file=sys.stderr)
    if FINETUNE_BENCH.is_file():
        _, _, usage = _run([sys.executable, str(FINETUNE_BENCH), "--help"], 60)
        cmd = [sys.executable, str(FINETUNE_BENCH), "--quick"] + (["--device", "cuda"] if "--device" in usage else [])
        rc, secs, out = _run(cmd, CAPS["finetune"])
        rows.append(["fine-tuning benchmark --quick", "ok" if rc == 0 else f"failed (exit {rc})", secs])
        ok &= rc == 0
        if rc != 0:
            print(out, file=sys.stderr)
    else:
        rows.append(["fine-tuning benchmark --quick", "not run: benchmarks/finetune.py is not in this tree", 0.0])
    if importlib.util.find_spec("stable_baselines3") is None:
        rows.append(["RL benchmark (PPO CartPole, cuda)", "not run: stable-baselines3 missing (make bench)", 0.0])
        ok = False
    else:
        rc, secs, out = _run([sys.executable, str(BENCH / "rl_vs_sb3.py"), *RL_ROW, "--device", "cuda",
                              "--note", f"short GPU row of make gpu-check on {gpu}"], CAPS["rl"])
        rows.append(["RL benchmark (PPO CartPole, cuda)", "ok" if rc == 0 else f"failed (exit {rc})", secs])
        ok &= rc == 0
        if rc != 0:
            print(out, file=sys.stderr)
    return rows, ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args()
    n, problems = cpu_checks()
    for problem in problems:
        print(f"gpu-check: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"gpu-check: CPU-side checks passed ({n} gpu-marked tests collect, the benchmarks start)")
    import torch

    if not torch.cuda.is_available():
        print(f"gpu-check: no CUDA GPU found (torch {torch.__version__}, CUDA build {torch.version.cuda or 'none'}); "
              "no GPU test or benchmark ran", file=sys.stderr)
        return 1
    gpu = torch.cuda.get_device_name(0)
    t0 = time.perf_counter()
    rows, ok = gpu_steps(gpu)
    rows.append(["total", "all passed" if ok else "something failed", time.perf_counter() - t0])
    table = markdown_table(["step", "result", "seconds"], rows)
    if args.no_record:
        print(table)
    else:
        record(f"GPU check on {gpu}", table, f"make gpu-check: every gpu-marked test, then short GPU benchmark rows "
                                           f"(their own tables follow or precede this one). {torch.cuda.device_count()} GPU(s).")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
