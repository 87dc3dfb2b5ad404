"""Fine-tuning in two processes on CUDA with mixed precision (runs only where a GPU is present).

With two GPUs or more the processes use nccl, one GPU each; on a single GPU they share it
through gloo (``ZOOLAB_DIST_BACKEND=gloo``), since nccl refuses two processes on one device.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from finetune_support import tiny_pretrained, write_digits_folder
from zoolab.runs import read_metrics

torch = pytest.importorskip("torch")

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]


@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_two_processes_on_cuda_with_mixed_precision(precision, tmp_path):
    model = tiny_pretrained(tmp_path / "pre")
    data = write_digits_folder(tmp_path / "digits", classes=range(5, 10), per_class=60)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    if torch.cuda.device_count() < 2:
        env["ZOOLAB_DIST_BACKEND"] = "gloo"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "zoolab",
         "finetune", str(model), str(data), "--epochs", "3", "--batch-size", "32", "--lr", "3e-3",
         "--set", "optim.backbone_lr_scale=1.0", "--device", "cuda", "--precision", precision,
         "--out", str(out), "--json"],
        capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout)
    assert result["evaluation"]["accuracy"] > 0.6
    val = [r for r in read_metrics(out) if "val_loss" in r]
    assert [r["epoch"] for r in val] == [1.0, 2.0, 3.0]  # one row per epoch: rank 0 alone logs
    config = json.loads((out / "best" / "zoolab.json").read_text())
    assert config["training"]["settings"]["precision"] == precision
