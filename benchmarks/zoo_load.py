"""Time to load a model from a warm cache: ``zoolab.zoo.load`` against each library's own call.

Rows (random-initialised models of real size, published to a local ``zoolab hub serve`` so that
every loader reads the same Hugging Face cache; no download from the internet):

- PyTorch, timm ResNet-50: ``timm.create_model("hf-hub:ORG/NAME", pretrained=True)`` plus its
  eval transform, against ``zoolab.zoo.load("hf:ORG/NAME")``;
- PyTorch, transformers BERT-base: ``AutoModel.from_pretrained`` plus ``AutoTokenizer``, against
  ``zoolab.zoo.load("hf:ORG/NAME", task="feature-extraction")``;
- Keras, the same ResNet-50 converted by keras-hub: ``ImageClassifier.from_preset("hf://ORG/NAME")``
  against ``zoolab.zoo.load(..., framework="tf")``;
- Keras, the same BERT-base converted by keras-hub: ``Backbone.from_preset`` plus
  ``TextClassifierPreprocessor.from_preset`` against ``zoolab.zoo.load(..., framework="tf")``;
- Keras, a keras-hub preset (BERT-base saved with ``save_to_preset``): the same pair.

Each library call builds what zoolab's result holds (the model and its preprocessing). Every
loader runs once to warm the cache, then the two sides alternate ``--repeats`` times; the table
shows medians and ``speedup = library / zoolab`` (>= 1.0: zoolab adds no overhead). Both sides
talk to the same local server (the Hub client revalidates cached files with a HEAD request).

Run:
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/zoo_load.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table, record  # noqa: E402


def start_server(home: Path) -> tuple[subprocess.Popen, str]:
    """A ``zoolab hub serve`` on a free port; returns the process and its URL."""
    home.mkdir(parents=True, exist_ok=True)
    log = open(home / "server.out", "wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "zoolab", "hub", "serve", "--home", str(home), "--host", "127.0.0.1", "--port", "0"],
        stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "ZOOLAB_HOME": str(home)},
    )  # fmt: skip
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        match = re.search(r"zoolab hub listening on (http://\S+)", (home / "server.out").read_text(errors="replace"))
        if match:
            return proc, match.group(1)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    raise SystemExit("hub server did not start: " + (home / "server.out").read_text(errors="replace")[-2000:])


def publish(url: str, server_home: Path, work: Path) -> dict[str, str]:
    """Write the benchmark's checkpoints and upload them; returns row key -> repo id."""
    from huggingface_hub import HfApi

    from zoolab.hub.store import Store
    from zoolab.zoo.keras_checkpoints import make_checkpoint

    store = Store(server_home)
    store.create_user("bench")
    api = HfApi(endpoint=url, token=store.create_token("bench", write=True))
    folders = {
        "resnet50": make_checkpoint("resnet50", work / "resnet50", num_labels=1000),
        "bert-base": make_checkpoint("bert", work / "bert-base", size="base"),
    }
    import zoolab.zoo as zoo

    # The keras-hub preset: the converted BERT-base saved by keras-hub's own save_to_preset.
    keras_bert = zoo.load(folders["bert-base"], framework="tf")
    keras_bert.backend.save(keras_bert, work / "bert-base-keras")
    folders["bert-base-keras"] = work / "bert-base-keras"
    repos = {}
    for key, folder in folders.items():
        repo_id = f"bench/{key}"
        api.create_repo(repo_id, exist_ok=True)
        api.upload_folder(repo_id=repo_id, folder_path=folder)
        repos[key] = repo_id
    return repos


def rows(repos: dict[str, str]) -> list[tuple[str, str, Callable[[], Any], Callable[[], Any]]]:
    """(framework, model, library call, zoolab call) per row."""
    import keras_hub
    import timm
    import timm.data
    import transformers

    import zoolab.zoo as zoo

    def timm_call() -> Any:
        model = timm.create_model(f"hf-hub:{repos['resnet50']}", pretrained=True).eval()
        return model, timm.data.create_transform(**timm.data.resolve_data_config({}, model=model))

    def transformers_call() -> Any:
        repo = repos["bert-base"]
        return transformers.AutoModel.from_pretrained(repo).eval(), transformers.AutoTokenizer.from_pretrained(repo)

    def keras_text(repo: str) -> Callable[[], Any]:
        def call() -> Any:
            backbone = keras_hub.models.Backbone.from_preset(f"hf://{repo}")
            return backbone, keras_hub.models.TextClassifierPreprocessor.from_preset(f"hf://{repo}")

        return call

    return [
        ("PyTorch", "timm ResNet-50", timm_call, lambda: zoo.load(f"hf:{repos['resnet50']}")),
        ("PyTorch", "transformers BERT-base", transformers_call,
         lambda: zoo.load(f"hf:{repos['bert-base']}", task="feature-extraction")),
        ("Keras", "ResNet-50 (timm checkpoint, converted)",
         lambda: keras_hub.models.ImageClassifier.from_preset(f"hf://{repos['resnet50']}"),
         lambda: zoo.load(f"hf:{repos['resnet50']}", framework="tf")),
        ("Keras", "BERT-base (transformers checkpoint, converted)", keras_text(repos["bert-base"]),
         lambda: zoo.load(f"hf:{repos['bert-base']}", framework="tf", task="feature-extraction")),
        ("Keras", "BERT-base (keras-hub preset)", keras_text(repos["bert-base-keras"]),
         lambda: zoo.load(f"hf:{repos['bert-base-keras']}", framework="tf", task="feature-extraction")),
    ]  # fmt: skip


def timed(call: Callable[[], Any]) -> float:
    start = time.perf_counter()
    result = call()
    elapsed = time.perf_counter() - start
    del result
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed loads per side and row")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="zoolab-bench-load-"))
    proc, url = start_server(work / "server")
    # Every loader reads HF_ENDPOINT and the cache location when huggingface_hub is imported.
    os.environ.update({"HF_ENDPOINT": url, "HF_HOME": str(work / "hf"), "ZOOLAB_HOME": str(work / "zoolab"),
                       "HF_HUB_DISABLE_TELEMETRY": "1", "TF_CPP_MIN_LOG_LEVEL": "3"})  # fmt: skip
    try:
        from zoolab.zoo.keras_backend import import_keras

        import_keras()
        import torch

        torch.set_num_threads(1)
        repos = publish(url, work / "server", work / "checkpoints")
        table = []
        for framework, name, library_call, zoolab_call in rows(repos):
            timed(library_call), timed(zoolab_call)  # warm the cache (and import paths)
            lib_times, zoo_times = [], []
            for _ in range(args.repeats):
                lib_times.append(timed(library_call))
                zoo_times.append(timed(zoolab_call))
            lib, ours = statistics.median(lib_times), statistics.median(zoo_times)
            table.append([framework, name, lib, ours, lib / ours])
            print(f"{framework:8s} {name:48s} library {lib:6.2f}s  zoolab {ours:6.2f}s", flush=True)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    record(
        "zoo load: zoolab.zoo.load vs the libraries' own loaders (warm cache)",
        markdown_table(["framework", "model", "library s (median)", "zoolab s (median)", "speedup"], table),
        notes=f"{args.repeats} alternating loads per side after one warm-up; random-initialised models of "
        "real size served by a local zoolab hub; speedup = library / zoolab.",
    )


if __name__ == "__main__":
    main()
