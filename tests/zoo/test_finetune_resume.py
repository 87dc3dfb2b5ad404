"""Resume: a fine-tuning process killed with SIGKILL mid-epoch, or stopped with Ctrl-C, continues
from its newest checkpoint and ends with the same weights, bit for bit, as an uninterrupted run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from finetune_support import tiny_pretrained

SCRIPT = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {support!r})
    from finetune_support import digits_data
    import zoolab.zoo.tuning.progress as progress
    import zoolab.zoo as zoo
    from zoolab.zoo.tuning.api import finetune

    class Slow(progress.Progress):  # gives the test time to interrupt between optimiser steps
        def advance(self, n=1, **shown):
            time.sleep({delay})

    progress.make_progress = lambda quiet=False: Slow()
    model = zoo.load({model!r})
    data = digits_data([5, 6, 7, 8, 9], per_class=40)
    resume = {resume!r}
    finetune(model if resume is None else None, data, out={out!r} if resume is None else None,
             resume=resume, epochs=2, batch_size=16, seed=3,
             **{{"checkpoint.every_steps": 2, "checkpoint.keep": 3, "optim.grad_accumulation": 2}})
    print("done")
""")


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    return tiny_pretrained(tmp_path_factory.mktemp("tiny") / "digits04")


def _script(model: Path, out: Path, resume: Path | None = None, delay: float = 0.0) -> list[str]:
    code = SCRIPT.format(support=str(Path(__file__).parent), model=str(model), out=str(out),
                         resume=None if resume is None else str(resume), delay=delay)
    return [sys.executable, "-c", code]


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def _run(cmd: list[str]) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _wait_for_checkpoint(proc: subprocess.Popen, run: Path, min_step: int) -> int:
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        found = sorted(run.glob("checkpoints/step-*/state.json"))
        steps = [int(p.parent.name.split("-")[1]) for p in found]
        if steps and max(steps) >= min_step:
            return max(steps)
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        time.sleep(0.02)
    raise AssertionError("no checkpoint appeared")


def _weights(folder: Path) -> bytes:
    return (folder / "model.safetensors").read_bytes()


def _same_tensors(a: Path, b: Path) -> None:
    import torch
    from safetensors.torch import load_file

    ta, tb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert ta.keys() == tb.keys()
    for key in ta:
        assert torch.equal(ta[key], tb[key]), key


@pytest.fixture(scope="module")
def uninterrupted(pretrained, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plain") / "run"
    _run(_script(pretrained, out))
    return out


def test_sigkill_mid_epoch_then_resume_is_bit_exact(pretrained, uninterrupted, tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(_script(pretrained, run, delay=0.15), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env())
    try:
        killed_at = _wait_for_checkpoint(proc, run, min_step=4)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not (run / "final").exists()  # it really was killed before the end
    state = json.loads(sorted(run.glob("checkpoints/step-*/state.json"))[-1].read_text())
    assert state["epoch"] == 0 and 0 < state["batch"], state  # mid-epoch
    assert killed_at >= 4
    _run(_script(pretrained, run, resume=run))
    assert _weights(run / "final") == _weights(uninterrupted / "final")
    _same_tensors(run / "best", uninterrupted / "best")
    steps = [int(float(r.split(",")[0])) for r in (run / "metrics.csv").read_text().splitlines()[1:]]
    plain = [int(float(r.split(",")[0])) for r in (uninterrupted / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == plain  # rows a killed run wrote after its checkpoint are not repeated


def test_ctrl_c_writes_a_checkpoint_and_says_how_to_resume(pretrained, uninterrupted, tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(_script(pretrained, run, delay=0.15), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env())
    try:
        _wait_for_checkpoint(proc, run, min_step=2)
        time.sleep(0.4)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert f"--resume {run}" in err
    _run(_script(pretrained, run, resume=run))
    assert _weights(run / "final") == _weights(uninterrupted / "final")
