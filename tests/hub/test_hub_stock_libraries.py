"""transformers, timm and keras-hub load tiny models published to a zoolab hub server.

Each runs in a fresh interpreter with HF_ENDPOINT pointing at the server, as a user would: the
libraries read it at import time. Each script publishes a random-initialised model with the
library's own save format, loads it back through the hub and checks the outputs are identical.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TRANSFORMERS = """
import sys, tempfile, torch
from huggingface_hub import HfApi
from transformers import AutoModel, BertConfig, BertModel
repo_id = sys.argv[1]
torch.manual_seed(0)
config = BertConfig(vocab_size=99, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                    intermediate_size=32, max_position_embeddings=32)
model = BertModel(config).eval()
folder = tempfile.mkdtemp()
model.save_pretrained(folder)
HfApi().create_repo(repo_id)
HfApi().upload_folder(repo_id=repo_id, folder_path=folder)
loaded = AutoModel.from_pretrained(repo_id).eval()
ids = torch.tensor([[1, 5, 7, 9]])
with torch.no_grad():
    same = torch.equal(model(ids).last_hidden_state, loaded(ids).last_hidden_state)
print("SAME", same, type(loaded).__name__)
"""

TIMM = """
import sys, tempfile, torch, timm
from huggingface_hub import HfApi
repo_id = sys.argv[1]
torch.manual_seed(0)
model = timm.create_model("test_resnet", pretrained=False, num_classes=3).eval()
folder = tempfile.mkdtemp()
timm.models.save_for_hf(model, folder)
HfApi().create_repo(repo_id)
HfApi().upload_folder(repo_id=repo_id, folder_path=folder)
loaded = timm.create_model(f"hf-hub:{repo_id}", pretrained=True).eval()
x = torch.randn(1, 3, 32, 32)
with torch.no_grad():
    same = torch.equal(model(x), loaded(x))
print("SAME", same, loaded.num_classes)
"""

KERAS_HUB = """
import sys, tempfile
import numpy as np
import keras_hub
from huggingface_hub import HfApi
repo_id = sys.argv[1]
backbone = keras_hub.models.BertBackbone(vocabulary_size=50, num_layers=1, num_heads=2, hidden_dim=8,
                                         intermediate_dim=16, max_sequence_length=16)
folder = tempfile.mkdtemp()
backbone.save_to_preset(folder)
HfApi().create_repo(repo_id)
HfApi().upload_folder(repo_id=repo_id, folder_path=folder)
loaded = keras_hub.models.Backbone.from_preset(f"hf://{repo_id}")
same = all(np.array_equal(a, b) for a, b in zip(backbone.get_weights(), loaded.get_weights()))
print("SAME", same, type(loaded).__name__)
"""


def run_with_endpoint(hub_server, script: str, tmp_path: Path) -> str:  # type: ignore[no-untyped-def]
    repo_id = hub_server.new_repo_id("alice")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
    env.update({
        "HF_ENDPOINT": hub_server.url,
        "HF_TOKEN": hub_server.token("alice"),
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "OMP_NUM_THREADS": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "KERAS_BACKEND": env.get("KERAS_BACKEND", "tensorflow"),
    })
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(script), repo_id], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-4000:]
    return out.stdout.strip().splitlines()[-1]


def test_transformers_from_pretrained(hub_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run_with_endpoint(hub_server, TRANSFORMERS, tmp_path) == "SAME True BertModel"


def test_timm_create_model_from_hf_hub(hub_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    assert run_with_endpoint(hub_server, TIMM, tmp_path) == "SAME True 3"


@pytest.mark.tf
def test_keras_hub_from_preset(hub_server, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    pytest.importorskip("keras_hub")
    assert run_with_endpoint(hub_server, KERAS_HUB, tmp_path) == "SAME True BertBackbone"
