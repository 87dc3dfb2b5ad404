"""`make demo` runs the main workflow offline on the local registry: keep it working."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_demo_runs_offline_end_to_end(tmp_path: Path) -> None:
    home = tmp_path / "demo-home"
    env = {**os.environ, "ZOOLAB_HOME": str(home), "HF_HOME": str(home / "hf"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "zoolab.demo"], env=env, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # Each step ran as a real command and left what a user would find.
    for step in ("$ zoolab publish", "$ zoolab search", "$ zoolab download", "$ zoolab predict",
                 "$ zoolab finetune", "$ zoolab evaluate", "$ zoolab rl train", "$ zoolab rl eval"):
        assert step in proc.stdout
    assert "demo/pets-mobilenet" in proc.stdout
    results = json.loads((home / "demo-work" / "ppo-cartpole" / "results.json").read_text())
    assert results["mean_return"] >= 475
    run = home / "demo-work" / "finetune-digits"
    training = json.loads((run / "best" / "zoolab.json").read_text())["training"]
    assert training["labels"] == ["0", "1", "2"] and training["evaluation"]["accuracy"] > 0.5  # chance: 1/3
    assert (home / "demo-work" / "evaluation" / "confusion_matrix.png").is_file()
    assert "demo/digits-mobilenet" in proc.stdout
    snapshots = list((home / "hf").rglob("models--demo--pets-mobilenet/snapshots/*/model.safetensors"))
    assert snapshots, "the download step left no snapshot in the HF cache layout"
