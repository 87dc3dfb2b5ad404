"""Resume: a ``zoolab finetune`` process killed with SIGKILL mid-epoch, or a notebook's
``zoo.finetune`` stopped with Ctrl-C, continues from its newest checkpoint and ends with the same
weights, bit for bit, as an uninterrupted ``zoolab finetune`` run with the same seed.

The processes are real: the CLI runs as ``python -m zoolab finetune ...``, slowed between
optimiser steps by a ``sitecustomize`` (on PYTHONPATH only for the runs to interrupt) so the test
can strike after a checkpoint exists and before the epoch ends.
"""

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

from finetune_support import tiny_pretrained, write_digits_folder

SETTINGS = ["--epochs", "2", "--batch-size", "16", "--set", "seed=3", "--set", "checkpoint.every_steps=2",
            "--set", "checkpoint.keep=3", "--set", "optim.grad_accumulation=2"]
"""Two epochs of 6 optimiser steps (180 training images, batches of 16, 2 batches per step)."""
DELAY_S = 0.25
"""Sleep after each optimiser step of an interrupted run: checkpoints at steps 2 and 4 are then
about half a second apart, and step 4 is still mid-epoch, so the kill lands in the first epoch."""

SLOW_SITE = textwrap.dedent("""
    import os, time
    import zoolab.zoo.tuning.progress as progress

    _delay = float(os.environ["ZOOLAB_TEST_STEP_DELAY"])
    _advance = progress._Terminal.advance

    def advance(self, n=1, **shown):
        time.sleep(_delay)
        _advance(self, n, **shown)

    progress._Terminal.advance = advance
""")

LIBRARY = textwrap.dedent("""
    import sys, time
    import zoolab.zoo.tuning.progress as progress
    from zoolab.zoo.tuning.api import finetune

    class Slow(progress.Progress):  # gives the test time to interrupt between optimiser steps
        def advance(self, n=1, **shown):
            time.sleep({delay})

    progress.make_progress = lambda quiet=False: Slow()
    finetune({model!r}, {data!r}, out={out!r}, epochs=2, batch_size=16, seed=3,
             **{{"checkpoint.every_steps": 2, "checkpoint.keep": 3, "optim.grad_accumulation": 2}})
""")


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory) -> Path:
    return tiny_pretrained(tmp_path_factory.mktemp("tiny") / "digits04")


@pytest.fixture(scope="module")
def digits59(tmp_path_factory) -> Path:
    return write_digits_folder(tmp_path_factory.mktemp("d59") / "digits", classes=range(5, 10), per_class=40)


@pytest.fixture(scope="module")
def slow_site(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("slow-site")
    (folder / "sitecustomize.py").write_text(SLOW_SITE)
    return folder


def _env(slow_site: Path | None = None) -> dict[str, str]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    if slow_site is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(slow_site), *filter(None, [env.get("PYTHONPATH")])])
        env["ZOOLAB_TEST_STEP_DELAY"] = str(DELAY_S)
    return env


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "zoolab", "finetune", *args]


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


def _metric_rows(run: Path) -> list[tuple[int, bool]]:
    """``(step, is_validation)`` of every metrics.csv row, in file order."""
    lines = (run / "metrics.csv").read_text().splitlines()
    header = lines[0].split(",")
    val = header.index("val_loss")
    return [(int(float(r.split(",")[0])), r.split(",")[val] != "") for r in lines[1:]]


@pytest.fixture(scope="module")
def uninterrupted(pretrained, digits59, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("plain") / "run"
    proc = _run(_cli(str(pretrained), str(digits59), *SETTINGS, "--out", str(out)))
    assert proc.stdout.strip().splitlines()[-1] == str(out)
    return out


def test_cli_sigkill_mid_epoch_then_resume_is_bit_exact(pretrained, digits59, uninterrupted, slow_site, tmp_path):
    run = tmp_path / "run"
    proc = subprocess.Popen(_cli(str(pretrained), str(digits59), *SETTINGS, "--out", str(run)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(slow_site))
    try:
        _wait_for_checkpoint(proc, run, min_step=2)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGKILL
    assert not (run / "final").exists()  # it really was killed before the end
    state = json.loads(sorted(run.glob("checkpoints/step-*/state.json"))[-1].read_text())
    assert state["epoch"] == 0 and 0 < state["batch"], state  # mid-epoch
    resumed = _run(_cli("--resume", str(run)))
    assert resumed.stdout.strip().splitlines()[-1] == str(run)
    assert "resumed from step-" in resumed.stderr
    assert _weights(run / "final") == _weights(uninterrupted / "final")
    _same_tensors(run / "best", uninterrupted / "best")
    rows = _metric_rows(run)
    assert len(rows) == len(set(rows))  # rows the killed run wrote after its checkpoint are not repeated
    assert rows == _metric_rows(uninterrupted)


def test_ctrl_c_in_python_writes_a_checkpoint_and_resume_matches_the_cli_run(pretrained, digits59, uninterrupted,
                                                                             tmp_path):
    run = tmp_path / "run"
    code = LIBRARY.format(model=str(pretrained), data=str(digits59), out=str(run), delay=DELAY_S)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=_env())
    try:
        _wait_for_checkpoint(proc, run, min_step=2)
        time.sleep(DELAY_S)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0
    assert f"--resume {run}" in err
    # The library resumes it from the folder alone; the same settings as the CLI run give its bytes.
    _run([sys.executable, "-c", f"from zoolab.zoo.tuning.api import finetune; finetune(None, None, resume={str(run)!r}, quiet=True)"])
    assert _weights(run / "final") == _weights(uninterrupted / "final")
