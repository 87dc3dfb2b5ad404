"""``make demo``: the main zoolab workflow on the embedded local registry, offline, no account.

Each step is a real ``zoolab`` command run in a subprocess, printed before it runs, so the
output reads like a terminal session a user could repeat:

1. make a small image classifier (random weights, 3 labels) in timm's format;
2. ``zoolab publish`` it to the local registry, ``zoolab search`` and ``zoolab info`` it;
3. ``zoolab download`` it into the Hugging Face cache layout and ``zoolab predict`` with it;
4. ``zoolab finetune`` it on real images (scikit-learn's digits 0-2), ``zoolab evaluate`` it,
   publish the fine-tuned model and predict with it from the registry;
5. ``zoolab rl train`` a PPO agent on CartPole-v1 and ``zoolab rl eval`` it.

Run it with ``make demo`` (it uses ``ZOOLAB_HOME=.zoolab-demo``) or ``python -m zoolab.demo``.

Every step runs torch with one thread (``OMP_NUM_THREADS=1`` unless already set): the demo's
models are tiny, so a second thread only adds synchronisation, and on a busy machine its spinning
made the fine-tuning 15-30 times slower (measured: 188 s of CPU for the whole demo with the
default threads, 72 s with one).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

from rich.console import Console

console = Console()

REPO = "local:demo/pets-mobilenet"
LABELS = ["cat", "dog", "bird"]
TUNED = "local:demo/digits-mobilenet"


def zoolab(*args: str) -> str:
    """Run ``zoolab ARGS`` as a user would, echoing the command; return its stdout."""
    console.print(f"\n[bold cyan]$ zoolab {shlex.join(args)}[/]")
    proc = subprocess.run(
        [sys.executable, "-m", "zoolab", *args], stdout=subprocess.PIPE, text=True, check=False
    )
    sys.stdout.write(proc.stdout)
    sys.stdout.flush()
    if proc.returncode != 0:
        raise SystemExit(f"demo step failed: zoolab {shlex.join(args)} (exit {proc.returncode})")
    return proc.stdout


def make_model(workdir: Path) -> tuple[Path, Path]:
    """A small timm classifier saved by zoolab (timm format + zoolab.json + card), and an image."""
    import numpy as np
    import timm
    from PIL import Image

    import zoolab.zoo as zoo

    raw = workdir / "raw-model"
    timm.models.save_for_hf(timm.create_model(
        "mobilenetv3_small_050", num_classes=len(LABELS), pretrained_cfg_overlay={"input_size": (3, 64, 64)}), raw, safe_serialization=True)
    model = zoo.load(raw, task="image-classification")
    model.labels = list(LABELS)
    folder = model.save(workdir / "pets-mobilenet")
    image = workdir / "pet.png"
    pixels = np.random.default_rng(0).integers(0, 256, size=(224, 224, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(image)
    return folder, image


def write_digits(folder: Path, classes: tuple[int, ...] = (0, 1, 2), per_class: int = 150) -> Path:
    """Real images: scikit-learn's 8x8 digits as ``folder/{train,test}/<digit>/*.png`` (64x64 RGB, 80/20)."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for c in classes:
        chosen = np.flatnonzero(digits.target == c)[:per_class]
        for n, i in enumerate(chosen):
            out = folder / ("test" if n >= 0.8 * len(chosen) else "train") / str(c)
            out.mkdir(parents=True, exist_ok=True)
            grey = (digits.images[i] * (255.0 / 16.0)).astype(np.uint8)
            Image.fromarray(grey).resize((64, 64), Image.BILINEAR).convert("RGB").save(out / f"{i:04d}.png")
    return folder


def main() -> None:
    """Run the demo in ``ZOOLAB_HOME`` (``make demo`` points it at ./.zoolab-demo)."""
    from zoolab import settings

    home = settings.zoolab_home()
    workdir = home / "demo-work"
    workdir.mkdir(parents=True, exist_ok=True)
    console.rule(f"zoolab demo — local registry in {home}")

    console.print("\n[bold]1. A small image classifier (random weights, labels cat/dog/bird)[/]")
    folder, image = make_model(workdir)
    console.print(f"saved to {folder}: {', '.join(sorted(p.name for p in folder.iterdir()))}")

    console.print("\n[bold]2. Publish it to the local registry, find it, look at it[/]")
    zoolab("publish", str(folder), REPO, "--message", "First version of the pets classifier")
    zoolab("search", "pets", "--source", "local")
    zoolab("info", REPO)

    console.print("\n[bold]3. Download it (Hugging Face cache layout) and predict with it[/]")
    path = zoolab("download", REPO, "--quiet").strip().splitlines()[-1]
    console.print(f"snapshot folder: {path}")
    zoolab("predict", REPO, str(image), "--top-k", "3")

    console.print("\n[bold]4. Fine-tune it on real images (digits 0-2), evaluate it, publish it, use it[/]")
    digits = write_digits(workdir / "digits")
    run = workdir / "finetune-digits"
    # Three short epochs take the random-weight classifier from chance (1/3) to about 0.9 test accuracy.
    zoolab("finetune", REPO, str(digits), "--epochs", "3", "--lr", "5e-3", "--batch-size", "32",
           "--set", "optim.backbone_lr_scale=1", "--out", str(run))
    zoolab("evaluate", str(run / "best"), str(digits), "--split", "test", "--out", str(workdir / "evaluation"))
    zoolab("publish", str(run / "best"), TUNED, "--message", "Fine-tuned on digits 0-2")
    zoolab("predict", TUNED, str(next((digits / "test" / "2").iterdir())), "--top-k", "3")

    console.print("\n[bold]5. Train a PPO agent on CartPole-v1 and evaluate it[/]")
    run_dir = workdir / "ppo-cartpole"
    zoolab("rl", "train", "ppo", "CartPole-v1", "--seed", "0", "--run-dir", str(run_dir))
    zoolab("rl", "eval", str(run_dir), "--episodes", "10")

    console.rule("done")
    console.print(
        "Everything above is in "
        f"{home} (registry/, demo-work/). Remove it with `rm -rf {shlex.quote(str(home))}`."
    )
    # The registry the demo filled, with its web pages: the one command to look at it in a browser.
    console.print(f"Browse it: [bold]zoolab hub serve --home {shlex.quote(str(home))} --port 8080[/], "
                  "then open http://127.0.0.1:8080/")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("OMP_NUM_THREADS", "1")  # read by torch at import, here and in every step
    main()
