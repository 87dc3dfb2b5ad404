"""Sample repos for the web-page tests: a timm model, a fine-tuned text model with a model-index,
an RL agent with a replay video, and a private repo of an organisation, published with the stock
``huggingface_hub`` client to a real server."""

from __future__ import annotations

import io
from dataclasses import dataclass

from huggingface_hub import CommitOperationAdd, HfApi

TIMM_CARD = """---
library_name: timm
pipeline_tag: image-classification
tags: [pytorch, safetensors, image-classification]
license: apache-2.0
---
# resnet-tiny

A small ResNet for **CIFAR-10**, trained with timm.

| Top-1 | Params |
|------:|-------:|
| 91.2  | 0.3 M  |

```python
import timm
model = timm.create_model("resnet18", num_classes=10)
```
"""

TEXT_CARD = """---
library_name: transformers
pipeline_tag: text-classification
tags: [pytorch, fine-tuned]
base_model: prajjwal1/bert-tiny
datasets: [imdb]
model-index:
- name: bert-tiny-imdb
  results:
  - task: {type: text-classification, name: Text Classification}
    dataset: {name: imdb, type: imdb, split: test}
    metrics:
    - {type: accuracy, value: 0.8734, name: Accuracy}
    - {type: f1, value: 0.8612, name: F1}
---
# bert-tiny-imdb

Sentiment classifier. <script>document.title = "pwned"</script>
<img src="x" onerror="document.title='pwned'"> <a href="javascript:alert(1)">click</a>
<iframe src="/"></iframe><div onclick="alert(2)" style="color:red">styled</div>
"""

AGENT_CARD = """---
library_name: stable-baselines3
pipeline_tag: reinforcement-learning
tags: [reinforcement-learning, CartPole-v1, pytorch]
model-index:
- name: PPO
  results:
  - task: {type: reinforcement-learning, name: reinforcement-learning}
    dataset: {name: CartPole-v1, type: CartPole-v1}
    metrics:
    - {type: mean_reward, value: 500.00 +/- 0.00, name: mean_reward}
---
# PPO agent playing CartPole-v1
"""

PRIVATE_CARD = """---
library_name: timm
pipeline_tag: image-classification
tags: [pytorch]
---
# internal-model

Only the lab may see this.
"""


def replay_mp4() -> bytes:
    """A short real H.264 mp4 (a moving bar), as ``zoolab rl enjoy`` writes; a stand-in if no ffmpeg."""
    try:
        import imageio.v2 as imageio
        import numpy as np
    except ImportError:
        return b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64
    buffer = io.BytesIO()
    with imageio.get_writer(buffer, format="mp4", fps=10, codec="libx264", pixelformat="yuv420p",  # type: ignore[arg-type]
                            macro_block_size=16) as writer:
        for step in range(20):
            frame = np.full((96, 160, 3), 30, dtype=np.uint8)
            frame[40:56, 8 * step:8 * step + 16] = (120, 200, 255)
            writer.append_data(frame)
    return buffer.getvalue()


@dataclass
class Published:
    """Ids and tokens of the sample repos."""

    timm: str
    text: str
    agent: str
    private: str
    member_token: str
    outsider_token: str
    weights: bytes


def publish_samples(url: str, server) -> Published:  # type: ignore[no-untyped-def]
    """Publish the four sample repos to the server at ``url`` (``server``: a HubServer)."""
    owner = server.token("pat", write=True)
    member = server.token("mia", write=True, orgs=("lab",))
    outsider = server.token("otto", write=False)
    api = HfApi(endpoint=url, token=owner)
    weights = bytes(range(256)) * 40
    repos = {"timm": ("pat/resnet-tiny", TIMM_CARD, {"model.safetensors": weights, "config.json": b'{"architecture": "resnet18", "num_classes": 10}'}),
             "text": ("pat/bert-tiny-imdb", TEXT_CARD, {"config.json": b'{"model_type": "bert"}', "notes/train.md": b"# Training\n\n3 epochs."}),
             "agent": ("pat/ppo-CartPole-v1", AGENT_CARD, {"replay.mp4": replay_mp4(), "agent.zip": b"PK\x05\x06" + b"\x00" * 18})}
    for repo_id, card, files in repos.values():
        api.create_repo(repo_id)
        ops = [CommitOperationAdd(path, data) for path, data in {"README.md": card.encode(), **files}.items()]
        api.create_commit(repo_id, ops, commit_message=f"Add {repo_id.split('/')[1]}")
    HfApi(endpoint=url, token=member).create_repo("lab/internal-model", private=True)
    HfApi(endpoint=url, token=member).upload_file(path_or_fileobj=PRIVATE_CARD.encode(), path_in_repo="README.md",
                                                  repo_id="lab/internal-model", commit_message="Secret card")
    return Published(timm="pat/resnet-tiny", text="pat/bert-tiny-imdb", agent="pat/ppo-CartPole-v1",
                     private="lab/internal-model", member_token=member, outsider_token=outsider, weights=weights)
