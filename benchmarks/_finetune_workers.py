"""The contestants of ``benchmarks/finetune.py``, one per subprocess (so each has its own peak memory).

Run as ``python benchmarks/_finetune_workers.py NAME SPEC.json OUT.json``. Every contestant gets the
same prepared data (``train`` / ``validation`` splits on disk), model, epochs, learning rate and
batch size from SPEC and writes OUT: the validation accuracy after each epoch with the seconds
since its clock started, the seconds for the whole budget, the epochs and samples trained, and
its peak memory. The clock starts after the model and the raw data are loaded (both sides load
them the same way) and so covers tokenising or decoding, set-up, training, the per-epoch
validations and the checkpoints each tool writes by default or as its guide says.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import sqlite3  # noqa: F401  - before TensorFlow (its own SQLite lacks FTS5)

Spec = dict[str, Any]
Result = dict[str, Any]


def _peak_rss_mib() -> float:
    """This process's peak RSS: VmHWM, which starts afresh at exec (ru_maxrss keeps the peak of
    the forking parent, so every contestant would report at least the benchmark's own)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except (OSError, ValueError, IndexError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _accuracy(logits: Any, labels: Any) -> float:
    import numpy as np

    if isinstance(logits, (tuple, list)):  # a model that returns more than its logits
        logits = logits[0]
    return float((np.asarray(logits).argmax(axis=-1) == np.asarray(labels)).mean())


def _gpu_peak_torch(spec: Spec) -> float | None:
    if spec["device"] != "cuda":
        return None
    import torch

    return torch.cuda.max_memory_allocated() / 2**20


def _gpu_peak_tf(spec: Spec) -> float | None:
    if spec["device"] != "cuda":
        return None
    import tensorflow as tf

    return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


# --- zoolab ------------------------------------------------------------------------------------
def zoolab(spec: Spec, framework: str) -> Result:
    """``zoo.finetune`` with the shared settings; the curve comes from its metrics.csv rows."""
    import zoolab.zoo as zoo

    if framework == "tf":
        from zoolab.zoo.keras_backend import import_keras

        import_keras()
    data_dir = Path(spec["data_dir"])
    data = zoo.data.image_folder(data_dir) if spec["task"] == "image" else zoo.data.table(data_dir, label="label")
    model = zoo.load(spec["model_dir"], framework=framework)
    settings = {"optim.lr": spec["lr"], "optim.batch_size": spec["batch_size"], "optim.backbone_lr_scale": 1.0,
                "data.augment": False, "precision": "fp32", "device": spec["device"], "seed": spec["seed"]}
    if spec["task"] == "text":
        settings["data.max_length"] = spec["max_length"]
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        run = zoo.finetune(model, data, epochs=spec["epochs"], out=Path(tmp) / "run", quiet=True, **settings)
        budget = time.perf_counter() - t0
    vals = [r for r in run.metrics if r.get("val_accuracy") not in (None, "")]
    curve = [(float(r["wall_time_s"]), float(r["val_accuracy"])) for r in vals]
    gpu = _gpu_peak_tf(spec) if framework == "tf" else _gpu_peak_torch(spec)
    return {"curve": curve, "budget_s": budget, "epochs": len(curve), "samples": len(data["train"]) * len(curve),
            "gpu_peak_mib": gpu}


def zoolab_torch(spec: Spec) -> Result:
    return zoolab(spec, "torch")


def zoolab_tf(spec: Spec) -> Result:
    return zoolab(spec, "tf")


# --- Hugging Face Trainer ----------------------------------------------------------------------
def _trainer_args(spec: Spec, out: str) -> Any:
    """TrainingArguments as the task guides set them: evaluate and save every epoch, keep the best."""
    import transformers

    return transformers.TrainingArguments(
        output_dir=out, learning_rate=spec["lr"], per_device_train_batch_size=spec["batch_size"],
        per_device_eval_batch_size=2 * spec["batch_size"], num_train_epochs=spec["epochs"], weight_decay=0.01,
        eval_strategy="epoch", save_strategy="epoch", load_best_model_at_end=True, metric_for_best_model="accuracy",
        save_total_limit=2, logging_strategy="epoch", report_to="none", disable_tqdm=True, seed=spec["seed"],
        use_cpu=spec["device"] == "cpu", remove_unused_columns=spec["task"] == "text", dataloader_num_workers=0)


def _curve_callback(t0: list[float], curve: list[tuple[float, float]]) -> Any:
    import transformers

    class Curve(transformers.TrainerCallback):
        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kw: Any) -> None:
            curve.append((time.perf_counter() - t0[0], float(metrics["eval_accuracy"])))

    return Curve()


def hf_trainer(spec: Spec) -> Result:
    """transformers' Trainer: the text-classification guide (dynamic padding) or, for images, the
    image-classification guide with the timm checkpoint through transformers' TimmWrapper."""
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.logging.set_verbosity_error()
    names = spec["labels"]
    ids = {n: i for i, n in enumerate(names)}
    common = dict(num_labels=len(names), id2label=dict(enumerate(names)), label2id=ids)
    data_dir = spec["data_dir"]
    if spec["task"] == "text":
        raw = datasets.load_dataset("csv", data_files={s: f"{data_dir}/{s}.csv" for s in ("train", "validation")})
        tok = transformers.AutoTokenizer.from_pretrained(spec["model_dir"])
        model = transformers.AutoModelForSequenceClassification.from_pretrained(spec["model_dir"], **common)
    else:
        raw = datasets.load_dataset("imagefolder", data_dir=data_dir)
        model = transformers.AutoModelForImageClassification.from_pretrained(
            spec["model_dir"], ignore_mismatched_sizes=True, **common)
    t0, curve = [time.perf_counter()], []
    if spec["task"] == "text":
        def encode(batch: dict[str, list]) -> dict[str, Any]:
            enc = tok(batch["text"], truncation=True, max_length=spec["max_length"])
            enc["labels"] = [ids[str(v)] for v in batch["label"]]  # a new column: "label" would stay a string
            return enc

        data = raw.map(encode, batched=True, remove_columns=["text", "label"])
        extra: dict[str, Any] = {"processing_class": tok, "data_collator": transformers.DataCollatorWithPadding(tok)}
    else:
        import timm.data
        import torch

        cfg = timm.data.resolve_data_config({}, pretrained_cfg=model.config.pretrained_cfg)
        tf = timm.data.create_transform(**cfg)  # the eval transform: no augmentation, as for all contestants
        # imagefolder's labels are the sorted folder names, the same order as ``names``
        data = raw.with_transform(lambda b: {"pixel_values": [tf(im.convert("RGB")) for im in b["image"]],
                                             "labels": b["label"]})

        def collate(rows: list[dict[str, Any]]) -> dict[str, Any]:
            return {"pixel_values": torch.stack([r["pixel_values"] for r in rows]),
                    "labels": torch.tensor([r["labels"] for r in rows])}

        extra = {"data_collator": collate}
    with tempfile.TemporaryDirectory() as tmp:
        trainer = transformers.Trainer(
            model=model, args=_trainer_args(spec, tmp), train_dataset=data["train"], eval_dataset=data["validation"],
            compute_metrics=lambda p: {"accuracy": _accuracy(p.predictions, p.label_ids)},
            callbacks=[_curve_callback(t0, curve)], **extra)
        trainer.train()
        budget = time.perf_counter() - t0[0]
    return {"curve": curve, "budget_s": budget, "epochs": len(curve), "samples": len(data["train"]) * len(curve),
            "gpu_peak_mib": _gpu_peak_torch(spec)}


# --- a plain PyTorch loop ----------------------------------------------------------------------
def torch_loop(spec: Spec) -> Result:
    """torchvision ImageFolder + DataLoader, timm's eval transform, AdamW, one validation per epoch."""
    import timm
    import timm.data
    import torch
    import torchvision
    from safetensors.torch import load_file

    device = torch.device(spec["device"])
    torch.manual_seed(spec["seed"])
    cfg = json.loads((Path(spec["model_dir"]) / "config.json").read_text())
    model = timm.create_model(cfg["architecture"], num_classes=cfg["num_classes"],
                              pretrained_cfg_overlay=cfg["pretrained_cfg"])
    model.load_state_dict(load_file(str(Path(spec["model_dir"]) / "model.safetensors")))
    model.reset_classifier(len(spec["labels"]))
    model.to(device)
    t0, curve = time.perf_counter(), []
    tf = timm.data.create_transform(**timm.data.resolve_data_config({}, model=model))
    train = torchvision.datasets.ImageFolder(f"{spec['data_dir']}/train", transform=tf)
    val = torchvision.datasets.ImageFolder(f"{spec['data_dir']}/validation", transform=tf)
    train_dl = torch.utils.data.DataLoader(train, batch_size=spec["batch_size"], shuffle=True)
    val_dl = torch.utils.data.DataLoader(val, batch_size=2 * spec["batch_size"])
    opt = torch.optim.AdamW(model.parameters(), lr=spec["lr"], weight_decay=0.01)
    loss_fn = torch.nn.CrossEntropyLoss()
    for _ in range(int(spec["epochs"])):
        model.train()
        for x, y in train_dl:
            loss = loss_fn(model(x.to(device)), y.to(device))
            opt.zero_grad()
            loss.backward()
            opt.step()
        model.eval()
        right = 0
        with torch.no_grad():
            for x, y in val_dl:
                right += int((model(x.to(device)).argmax(1).cpu() == y).sum())
        curve.append((time.perf_counter() - t0, right / len(val)))
    return {"curve": curve, "budget_s": time.perf_counter() - t0, "epochs": len(curve),
            "samples": len(train) * len(curve), "gpu_peak_mib": _gpu_peak_torch(spec)}


# --- Keras fit ---------------------------------------------------------------------------------
def _keras_curve(keras: Any, t0: list[float], curve: list[tuple[float, float]]) -> Any:
    class Curve(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            curve.append((time.perf_counter() - t0[0], float(logs["val_accuracy"])))

    return Curve()


def keras_fit(spec: Spec) -> Result:
    """A keras-hub classifier on the same converted backbone, ``compile`` + ``fit`` on arrays: texts
    packed by keras-hub's own preprocessor (every text to ``max_length``), images normalised."""
    import numpy as np

    import zoolab.zoo as zoo
    from zoolab.zoo.keras_backend import import_keras

    keras = import_keras()
    import keras_hub

    keras.utils.set_random_seed(spec["seed"])
    loaded = zoo.load(spec["model_dir"], framework="tf")
    names, data_dir = spec["labels"], Path(spec["data_dir"])
    ids = {n: i for i, n in enumerate(names)}
    if spec["task"] == "text":
        import csv

        raw = {s: list(csv.DictReader((data_dir / f"{s}.csv").open(encoding="utf-8"))) for s in ("train", "validation")}
        backbone = loaded.model
        prep = loaded.preprocessor
        prep.sequence_length = spec["max_length"]
        # keras-hub's preprocessor packs the texts once, eagerly, before fit (every text to max_length)
        model = keras_hub.models.BertTextClassifier(backbone=backbone, num_classes=len(names), preprocessor=None)
    else:
        raw = {s: sorted(p for p in (data_dir / s).glob("*/*.png")) for s in ("train", "validation")}
        model = type(loaded.model)(backbone=loaded.model.backbone, num_classes=len(names), preprocessor=None)
    t0, curve = [time.perf_counter()], []
    if spec["task"] == "text":
        packed = {s: prep([r["text"] for r in rows]) for s, rows in raw.items()}
        xs = {s: {k: np.asarray(v) for k, v in (p[0] if isinstance(p, tuple) else p).items()} for s, p in packed.items()}
        ys = {s: np.array([ids[r["label"]] for r in rows]) for s, rows in raw.items()}
    else:
        from PIL import Image

        mean, std = np.asarray(loaded.preprocessor.mean, np.float32), np.asarray(loaded.preprocessor.std, np.float32)
        xs = {s: (np.stack([np.asarray(Image.open(p).convert("RGB"), np.float32) / 255.0 for p in paths]) - mean) / std
              for s, paths in raw.items()}
        ys = {s: np.array([ids[p.parent.name] for p in paths]) for s, paths in raw.items()}
    model.compile(optimizer=keras.optimizers.AdamW(learning_rate=spec["lr"], weight_decay=0.01),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    # keras-hub's Task.fit turns arrays into a tf.data pipeline that it does not shuffle (fit's own
    # shuffle is ignored for a dataset), and the image files come sorted by label: shuffle every
    # epoch, seeded, as Keras' guides do with a tf.data.Dataset.
    import tensorflow as tf

    n_train = len(ys["train"])
    train = (tf.data.Dataset.from_tensor_slices((xs["train"], ys["train"]))
             .shuffle(n_train, seed=spec["seed"], reshuffle_each_iteration=True).batch(spec["batch_size"]))
    model.fit(train, epochs=int(spec["epochs"]), verbose=0,
              validation_data=(xs["validation"], ys["validation"]), validation_batch_size=2 * spec["batch_size"],
              callbacks=[_keras_curve(keras, t0, curve)])
    budget = time.perf_counter() - t0[0]
    return {"curve": curve, "budget_s": budget, "epochs": len(curve), "samples": len(ys["train"]) * len(curve),
            "gpu_peak_mib": _gpu_peak_tf(spec)}


# --- model FLOPs -------------------------------------------------------------------------------
def flops(spec: Spec) -> Result:
    """Forward FLOPs of one sample of the torch model (texts: the mean over sampled training texts
    at their own length, no padding), counted by torch's FlopCounterMode; training = 3x forward."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    if spec["task"] == "text":
        import csv

        import transformers

        tok = transformers.AutoTokenizer.from_pretrained(spec["model_dir"])
        model = transformers.AutoModelForSequenceClassification.from_pretrained(spec["model_dir"],
                                                                                num_labels=len(spec["labels"]))
        rows = list(csv.DictReader(open(f"{spec['data_dir']}/train.csv", encoding="utf-8")))[:16]
        inputs = [tok(r["text"], truncation=True, max_length=spec["max_length"], return_tensors="pt") for r in rows]
    else:
        import timm

        cfg = json.loads((Path(spec["model_dir"]) / "config.json").read_text())
        model = timm.create_model(cfg["architecture"], num_classes=len(spec["labels"]),
                                  pretrained_cfg_overlay=cfg["pretrained_cfg"])
        inputs = [{"x": torch.zeros(1, *cfg["pretrained_cfg"]["input_size"])}]
    model.eval()
    total = 0
    with torch.no_grad():
        for inp in inputs:
            counter = FlopCounterMode(display=False)
            with counter:
                model(**inp) if spec["task"] == "text" else model(inp["x"])
            total += counter.get_total_flops()
    return {"train_flops_per_sample": 3.0 * total / len(inputs)}


WORKERS: dict[str, Callable[[Spec], Result]] = {
    "zoolab-torch": zoolab_torch, "zoolab-keras": zoolab_tf, "hf-trainer": hf_trainer, "torch-loop": torch_loop,
    "keras-fit": keras_fit, "flops": flops,
}


def main(argv: list[str]) -> int:
    name, spec_path, out_path = argv
    spec = json.loads(Path(spec_path).read_text())
    if spec["device"] == "cpu":
        os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
    if spec["device"] == "cuda" and name in ("zoolab-keras", "keras-fit"):
        import tensorflow as tf

        if not tf.config.list_physical_devices("GPU"):  # a CPU-only TensorFlow build next to CUDA torch
            Path(out_path).write_text(json.dumps({"skipped": "TensorFlow sees no GPU"}))
            return 0
    result = WORKERS[name](spec)
    result["peak_rss_mib"] = _peak_rss_mib()
    Path(out_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
