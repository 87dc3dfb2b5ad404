"""What zoolab downloads is a normal Hugging Face cache entry: transformers loads it as is."""

from __future__ import annotations

from pathlib import Path

import zoolab.hub as hub
from zoolab.hub import layout


def test_transformers_loads_a_local_registry_download(tmp_path: Path) -> None:
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    cfg = BertConfig(vocab_size=64, hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32,
                     max_position_embeddings=32)
    model = BertModel(cfg).eval()
    model.save_pretrained(tmp_path / "bert")
    hub.publish(tmp_path / "bert", "local:me/bert-tiny")
    snap = hub.download("local:me/bert-tiny", framework="torch", progress=False)
    ids = torch.tensor([[1, 5, 9, 2]])
    # From the snapshot folder zoolab printed, and by repo id from that source's cache.
    by_path = BertModel.from_pretrained(snap.path).eval()
    by_id = BertModel.from_pretrained("me/bert-tiny", cache_dir=layout.cache_dir("local"), local_files_only=True).eval()
    with torch.no_grad():
        expected = model(ids).last_hidden_state
        assert torch.allclose(by_path(ids).last_hidden_state, expected)
        assert torch.allclose(by_id(ids).last_hidden_state, expected)
