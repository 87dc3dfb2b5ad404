"""Keras fine-tuning on two devices with tf.distribute: ``zoolab finetune --framework tf --nproc 2``
(MirroredStrategy on two logical CPU devices) and two worker processes given ``TF_CONFIG``
(MultiWorkerMirroredStrategy) against one device at the same global batch size, one set of
outputs, and a two-device run resumed on one device.

Every run is a fresh ``python -m zoolab`` process: logical CPU devices must be made before
TensorFlow starts. Batch norm is synchronised over the replicas, so the runs compute the same
steps up to the order of float sums: the first two steps' losses agree within 1e-4. AdamW's
first steps divide each gradient by its own magnitude, so rounding differences in near-zero
gradients become full-size updates and the runs drift apart from the third step on; the stated
tolerance on the final validation accuracy is 0.15 (2 of the 15 validation images).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from zoolab.runs import read_metrics

pytestmark = [pytest.mark.tf, pytest.mark.xdist_group("tf-distributed")]

SETTINGS = {"schedule.epochs": 3, "optim.batch_size": 16, "optim.lr": 3e-3, "data.augment": False,
            "optim.backbone_lr_scale": 1.0, "log_every_steps": 1, "checkpoint.keep": 5}
FLAGS = [x for k, v in SETTINGS.items() for x in ("--set", f"{k}={v}")]
ACCURACY_TOL, FIRST_STEPS_TOL = 0.15, 1e-4


def _zoolab(*args: str, ok: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "zoolab", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    if ok:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from finetune_support import write_digits_folder
    from zoolab.zoo.keras_checkpoints import make_checkpoint

    base = tmp_path_factory.mktemp("tf-dist")
    resnet = make_checkpoint("resnet18", base / "resnet18")
    config = json.loads((resnet / "config.json").read_text())
    config["pretrained_cfg"]["input_size"] = [3, 16, 16]  # small and fast; the digits are 8x8
    (resnet / "config.json").write_text(json.dumps(config))
    return resnet, write_digits_folder(base / "digits", classes=range(5), per_class=30)


def _run(inputs: tuple[Path, Path], out: Path, *extra: str, ok: bool = True) -> subprocess.CompletedProcess:
    return _zoolab("finetune", str(inputs[0]), str(inputs[1]), "--framework", "tf", *FLAGS, "--out", str(out),
                   "--json", *extra, ok=ok)


@pytest.fixture(scope="module")
def one_device(inputs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("one") / "run"
    _run(inputs, out)
    return out


@pytest.fixture(scope="module")
def two_devices(inputs, tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("two") / "run"
    proc = _run(inputs, out, "--nproc", "2")
    return out, json.loads(proc.stdout)


def _val(folder: Path) -> list[dict]:
    return [r for r in read_metrics(folder) if "val_loss" in r]


def _assert_close_runs(a: Path, b: Path) -> None:
    for ra, rb in zip(read_metrics(a)[:2], read_metrics(b)[:2]):
        assert ra["step"] == rb["step"] and abs(ra["train_loss"] - rb["train_loss"]) < FIRST_STEPS_TOL, (ra, rb)
    va, vb = _val(a), _val(b)
    assert [r["step"] for r in va] == [r["step"] for r in vb]
    assert abs(va[-1]["val_accuracy"] - vb[-1]["val_accuracy"]) <= ACCURACY_TOL, (va, vb)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder).parent if p.parent.name == "tb" else p.relative_to(folder))
                  for p in folder.rglob("*") if p.is_file())


def test_two_devices_match_one_device_with_one_set_of_outputs(one_device, two_devices) -> None:
    two, doc = two_devices
    assert any("2 replicas (MirroredStrategy)" in n for n in doc["notes"])
    _assert_close_runs(one_device, two)
    assert _val(two)[-1]["val_accuracy"] > 0.6  # 5 classes: chance is 0.2
    assert _files(two) == _files(one_device)  # the same checkpoints, logs and models
    assert len(list((two / "tb").iterdir())) == 1
    steps = [r["step"] for r in read_metrics(two) if "val_loss" not in r]
    assert steps == sorted(set(steps))  # one train row per step


def test_two_device_run_resumes_on_one_device(one_device, two_devices, tmp_path) -> None:
    run = tmp_path / "run"
    shutil.copytree(two_devices[0], run)  # what a run killed after its first epoch leaves
    checkpoints = sorted((run / "checkpoints").iterdir())
    shutil.rmtree(checkpoints[-1])
    shutil.rmtree(run / "final")
    proc = _zoolab("finetune", "--resume", str(run))
    assert f"resumed from {checkpoints[-2].name}" in proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == str(run)
    assert (run / "final" / "config.json").is_file() and checkpoints[-1].is_dir()
    _assert_close_runs(one_device, run)


def _free_ports(n: int) -> list[int]:
    import socket

    socks = [socket.socket() for _ in range(n)]
    for sock in socks:
        sock.bind(("localhost", 0))
    ports = [sock.getsockname()[1] for sock in socks]
    for sock in socks:
        sock.close()
    return ports


def test_two_workers_with_tf_config_match_one_device(inputs, one_device, tmp_path) -> None:
    # MultiWorkerMirroredStrategy: two processes on this machine stand for two machines
    out = tmp_path / "run"
    workers = [f"localhost:{p}" for p in _free_ports(2)]
    command = [sys.executable, "-m", "zoolab", "finetune", str(inputs[0]), str(inputs[1]), "--framework", "tf",
               *FLAGS, "--out", str(out)]
    procs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={
        **os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
        "TF_CONFIG": json.dumps({"cluster": {"worker": workers}, "task": {"type": "worker", "index": i}})})
        for i in range(2)]
    results = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1][-2000:] for r in results]
    assert results[0][0].strip().splitlines()[-1] == str(out)  # the chief reports
    assert results[1][0].strip() == ""  # the other worker writes and prints nothing
    assert "2 replicas (MultiWorkerMirroredStrategy)" in results[0][1]
    _assert_close_runs(one_device, out)
    assert _files(out) == _files(one_device)


def test_more_replicas_than_devices_is_one_line(inputs, tmp_path) -> None:
    proc = _run(inputs, tmp_path / "r", "--nproc", "2", "--device", "cuda", ok=False)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "2 replicas asked for, but TensorFlow sees 0 GPU(s)" in proc.stdout + proc.stderr, proc.stdout[-2000:]
    assert not (tmp_path / "r").exists()
