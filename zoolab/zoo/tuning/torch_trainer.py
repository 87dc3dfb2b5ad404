"""The PyTorch training loop (timm and transformers models); the contract is in ``tuning.api``.

A plain loop, no framework around it: AdamW in four parameter groups (head / backbone x decay /
no decay: norms, biases and other 1-D weights get none), the learning rate set every step from
``schedule.lr_factor`` (so the step counter is the whole schedule state), gradient accumulation
and clipping, autocast (bf16, or fp16 with a grad scaler), LoRA through peft. Data order is a
function of (seed, epoch); checkpoints hold weights, AdamW moments, the step and batch position
and the torch / Python RNG states as of the last optimiser step, so a resumed CPU run repeats
the uninterrupted one bit for bit.
"""

from __future__ import annotations

import copy
import math
import random
from typing import Any

import numpy as np

from zoolab.errors import TrainingError, UnsupportedError
from zoolab.zoo.loaded import LoadedModel
from zoolab.zoo.tuning import distributed
from zoolab.zoo.tuning.api import FitJob, FitOutcome
from zoolab.zoo.tuning.loop import epoch_order, length_grouped_order, plan_steps, split_batches
from zoolab.zoo.tuning.schedule import lr_factor
from zoolab.zoo.tuning.torch_data import Feeder, feeder

_ENCODER_TASKS = ("text-classification", "feature-extraction", "fill-mask")


# --- head --------------------------------------------------------------------------------------
def with_head(loaded: LoadedModel, labels: list[str], seed: int) -> tuple[LoadedModel, str | None]:
    """A classifier for ``labels`` on ``loaded``'s backbone (see the contract in ``tuning.api``)."""
    import torch

    n = len(labels)
    if loaded.library == "timm":
        model = loaded.model
        old = int(getattr(model, "num_classes", 0))
        note = None
        if old != n or list(loaded.labels or []) != list(labels):
            torch.manual_seed(seed)
            model.reset_classifier(n)
            note = f"new classifier head: {old or 'none'} -> {n} labels ({', '.join(labels[:8])}{' ...' if n > 8 else ''})"
        return LoadedModel(model, "torch", "timm", "image-classification", loaded.preprocessor, list(labels),
                           {**loaded.metadata, "labels": list(labels)}), note
    if loaded.library != "transformers" or loaded.task not in _ENCODER_TASKS:
        raise UnsupportedError(f"a {loaded.library} {loaded.task} model cannot be fine-tuned for classification",
                               hint="use an image classifier (timm) or a text encoder (BERT-like transformers model)")
    import transformers

    model = loaded.model
    if (loaded.task == "text-classification" and list(loaded.labels or []) == list(labels)):
        return loaded, None
    config = copy.deepcopy(model.config)
    config.num_labels = n
    config.id2label = dict(enumerate(labels))
    config.label2id = {name: i for i, name in enumerate(labels)}
    try:
        torch.manual_seed(seed)
        new = transformers.AutoModelForSequenceClassification.from_config(config)
    except ValueError as exc:
        raise UnsupportedError(f"transformers has no sequence classifier for {type(model).__name__}: {exc}") from None
    src = model.base_model.state_dict()
    report = new.base_model.load_state_dict(src, strict=False)
    missing = [k for k in report.missing_keys if "pooler" not in k]
    if missing:
        raise UnsupportedError(f"the encoder weights do not fit a {type(new).__name__}: missing {', '.join(missing[:5])}")
    new.eval()
    if getattr(new.config, "pad_token_id", None) is None:
        new.config.pad_token_id = getattr(loaded.preprocessor, "pad_token_id", None)
    old = len(loaded.labels or []) if loaded.task == "text-classification" else 0
    note = f"new classifier head: {old or 'none'} -> {n} labels ({', '.join(labels[:8])}{' ...' if n > 8 else ''})"
    meta = {k: v for k, v in loaded.metadata.items() if k != "pooling"}
    return LoadedModel(new, "torch", "transformers", "text-classification", loaded.preprocessor, list(labels),
                       {**meta, "labels": list(labels)}), note


# --- helpers -----------------------------------------------------------------------------------
def _device(name: str) -> Any:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UnsupportedError("--device cuda was asked for but no CUDA GPU is available", hint="use --device cpu or auto")
    return torch.device(name)


def _precision(name: str, device: Any) -> Any:
    import torch

    if name == "auto":
        if device.type != "cuda":
            return None
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def _head_names(loaded: LoadedModel, model: Any) -> tuple[str, ...]:
    if loaded.library == "timm":
        cls = (getattr(model, "pretrained_cfg", None) or {}).get("classifier") or "head"
        return tuple(cls) if isinstance(cls, (list, tuple)) else (cls,)
    return ("classifier", "score", "pooler")


def _is_head(name: str, heads: tuple[str, ...]) -> bool:
    name = name.replace("base_model.model.", "").replace("modules_to_save.default.", "").replace("original_module.", "")
    return any(name == h or name.startswith(h + ".") for h in heads)


def _with_lora(loaded: LoadedModel, model: Any, s: Any) -> Any:
    import peft
    import torch

    heads = _head_names(loaded, model)
    targets: Any = list(s.lora.target_modules) or None
    if targets is None and loaded.library == "timm":
        targets = [n for n, m in model.named_modules() if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))
                   and not _is_head(n, heads)]
    if targets is None:
        targets = "all-linear"
    heads_present = [h for h in heads if any(n == h for n, _ in model.named_modules())]
    config = peft.LoraConfig(r=s.lora.rank, lora_alpha=s.lora.scale_alpha, lora_dropout=s.lora.dropout,
                             target_modules=targets, modules_to_save=heads_present)
    return peft.get_peft_model(model, config)


def _groups(model: Any, heads: tuple[str, ...], s: Any) -> list[dict[str, Any]]:
    buckets: dict[tuple[bool, bool], list[Any]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        no_decay = p.ndim <= 1 or name.endswith(".bias") or "norm" in name.lower()
        buckets.setdefault((_is_head(name, heads), no_decay), []).append(p)
    groups = []
    for (head, no_decay), params in sorted(buckets.items()):
        lr = s.optim.lr * (1.0 if head else s.optim.backbone_lr_scale)
        groups.append({"params": params, "lr": lr, "base_lr": lr, "head": head,
                       "weight_decay": 0.0 if no_decay else s.optim.weight_decay})
    return groups


def _rng_snapshot(device: Any) -> dict[str, Any]:
    import torch

    snap = {"torch": torch.get_rng_state().numpy().copy(), "python": random.getstate()}
    if device.type == "cuda":
        snap["cuda"] = torch.cuda.get_rng_state(device).numpy().copy()
    return snap


def _rng_apply(snap: dict[str, Any], device: Any) -> None:
    """Set torch's and Python's global generators to ``snap`` (from :func:`_rng_snapshot`)."""
    _rng_restore({k: v for k, v in snap.items() if k != "python"}, snap["python"], device)


def _rng_restore(arrays: dict[str, Any], py_state: Any, device: Any) -> None:
    import torch

    torch.set_rng_state(torch.from_numpy(arrays["torch"].copy()))
    if "cuda" in arrays and device.type == "cuda":
        torch.cuda.set_rng_state(torch.from_numpy(arrays["cuda"].copy()), device)
    version, internal, gauss = py_state
    random.setstate((version, tuple(internal), gauss))


def _train_mode(model: Any, s: Any) -> None:
    """Training mode; with LoRA the frozen base keeps its batch-norm statistics too, so the saved
    adapter (weights only) describes the trained model completely."""
    import torch

    model.train()
    if s.lora.rank:
        for m in model.modules():
            if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
                m.eval()


def _out_of_memory(exc: BaseException) -> bool:
    """True for an allocation failure: CUDA's OutOfMemoryError, Python's MemoryError, or the
    RuntimeError torch's CPU allocator raises ("DefaultCPUAllocator: not enough memory: ...")."""
    import torch

    if isinstance(exc, (torch.cuda.OutOfMemoryError, MemoryError)):
        return True
    text = str(exc).lower()
    return "defaultcpuallocator" in text or "out of memory" in text or "can't allocate memory" in text


def _forward(model: Any, library: str, inputs: dict[str, Any]) -> Any:
    if library == "timm":
        return model(inputs["x"])
    return model(**inputs).logits


def _order(fd: Feeder, s: Any, epoch: int) -> np.ndarray:
    if fd.lengths is not None and s.data.group_by_length:
        return length_grouped_order(fd.lengths, s.optim.batch_size, s.seed, epoch)
    return epoch_order(len(fd), s.seed, epoch)


def _exportable(loaded: LoadedModel, model: Any, s: Any) -> LoadedModel:
    """A LoadedModel whose ``save`` writes the library's format (LoRA merged, or peft adapter files)."""
    inner = model
    if s.lora.rank:
        if not s.lora.merge:
            from zoolab.zoo.tuning import peft_save

            return peft_save.adapter_model(loaded, model)
        inner = copy.deepcopy(model).merge_and_unload()
    return LoadedModel(inner, "torch", loaded.library, loaded.task, loaded.preprocessor, loaded.labels, loaded.metadata)


# --- logits ------------------------------------------------------------------------------------
def _predict(model: Any, library: str, fd: Feeder, batch_size: int, device: Any, dtype: Any) -> np.ndarray:
    import torch

    model.eval()
    outs = []
    with torch.inference_mode(), torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
        for i in range(0, len(fd), batch_size):
            inputs, _ = fd.batch(np.arange(i, min(i + batch_size, len(fd))))
            outs.append(_forward(model, library, {k: v.to(device) for k, v in inputs.items()}).float().cpu())
    return torch.cat(outs).numpy() if outs else np.zeros((0, 0), np.float32)


def logits(loaded: LoadedModel, dataset: Any, batch_size: int = 64) -> np.ndarray:
    """float32 ``(N, num_labels)`` logits for a normalised split, in row order."""
    from zoolab.zoo.tuning.settings import FinetuneSettings

    s = FinetuneSettings.from_overrides({"data.augment": False})
    device = next(loaded.model.parameters()).device
    return _predict(loaded.model, loaded.library, feeder(loaded, dataset, s, train=False), batch_size, device, None)


# --- fit ---------------------------------------------------------------------------------------
def fit(job: FitJob) -> FitOutcome:  # noqa: C901 - one loop, read top to bottom
    """Train ``job.loaded`` as the contract in ``tuning.api`` says."""
    import torch

    s, run, loaded = job.settings, job.run, job.loaded
    device = _device(s.device)
    dtype = _precision(s.precision, device)
    torch.manual_seed(s.seed)
    random.seed(s.seed)
    train_fd = feeder(loaded, job.data["train"], s, train=True)
    val_fd = feeder(loaded, job.data["validation"], s, train=False)
    val_fd.cache_all()
    if not s.data.augment:  # the training transform is the deterministic eval one: decode each image once
        train_fd.cache_all()
    notes = []
    if train_fd.truncated or val_fd.truncated:
        from zoolab.zoo.tuning.torch_data import text_limit

        notes.append(f"{train_fd.truncated + val_fd.truncated} of {len(train_fd) + len(val_fd)} texts are longer than the "
                     f"{text_limit(loaded, s)} tokens the model takes and were truncated (data.max_length sets the limit)")
    model = loaded.model.to(device)
    if s.lora.rank:
        model = _with_lora(loaded, model, s)
    heads = _head_names(loaded, loaded.model)
    groups = _groups(model, heads, s)
    # The fused kernel (CUDA, and CPU since torch 2.4) instead of the default per-tensor loop of
    # Python-dispatched ops, which on CPU took as long as the backward pass of a ResNet-18 step.
    opt = torch.optim.AdamW(groups, lr=s.optim.lr, fused=True)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype is torch.float16)
    plan = plan_steps(len(train_fd), s)
    bs, accum = s.optim.batch_size, s.optim.grad_accumulation
    eval_bs = s.optim.eval_batch_size or 2 * bs
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=s.optim.label_smoothing)
    step, epoch, start_batch, loss_sum, loss_n = 0, 0, 0, 0.0, 0
    if job.resume_from is not None:
        from zoolab.runs import restore_optimizer

        arrays, state = run.read_checkpoint(job.resume_from)
        sd = {k: torch.from_numpy(v.copy()) for k, v in arrays["model"].items()}
        model.load_state_dict(sd, strict=True)
        restore_optimizer("adamw", opt, {k: torch.from_numpy(v.copy()).to(device) for k, v in arrays["optim"].items()},
                          state["optim"])
        if "scaler" in state and scaler.is_enabled():
            scaler.load_state_dict(state["scaler"])
        _rng_restore(arrays["rng"], state["python_rng"], device)
        job.monitor.load_state(state["monitor"])
        step, epoch, start_batch = int(state["step"]), int(state["epoch"]), int(state["batch"])
        loss_sum, loss_n = float(state["loss_sum"]), int(state["loss_n"])
        job.clock.set_elapsed(float(state["elapsed_s"]))
        job.progress.note(f"resumed from {job.resume_from.name} (epoch {epoch + 1}, step {step})")
    snap = _rng_snapshot(device)
    train_model = distributed.wrap(model, s)  # DDP with several processes, else model

    def checkpoint(at_epoch: int, at_batch: int) -> None:
        from zoolab.runs import flatten_optimizer

        tensors, meta = flatten_optimizer("adamw", opt)
        arrays = {"model": {k: v.detach().cpu().contiguous().numpy() for k, v in model.state_dict().items()},
                  "optim": {k: v.cpu().numpy() for k, v in tensors.items()},
                  "rng": {k: v for k, v in snap.items() if k != "python"}}
        state = {"epoch": at_epoch, "batch": at_batch, "optim": meta, "python_rng": snap["python"],
                 "monitor": job.monitor.state(), "elapsed_s": job.clock.elapsed,
                 "loss_sum": loss_sum, "loss_n": loss_n, "framework": "torch"}
        if scaler.is_enabled():
            state["scaler"] = scaler.state_dict()
        run.write_checkpoint(step, arrays, state)

    def set_trainable(ep: int) -> None:
        frozen = ep < s.freeze_backbone_epochs
        for g in opt.param_groups:
            for p in g["params"]:
                p.requires_grad_(g["head"] or not frozen)

    stopped, last_row = "completed", {}
    best_state: dict[str, Any] | None = None
    best_step, best_logits = -1, None
    n_epochs = math.ceil(plan.total_steps / plan.steps_per_epoch)
    b = start_batch
    from zoolab.runs import DeferredInterrupt

    interrupt = DeferredInterrupt()  # Ctrl-C acted on between optimiser steps, so its checkpoint is exact
    try:
        while epoch < n_epochs and stopped == "completed":
            order = _order(train_fd, s, epoch)
            batches = split_batches(order, bs)
            set_trainable(epoch)
            _train_mode(model, s)
            job.progress.start_epoch(epoch + 1, len(batches), start_batch)
            b = start_batch
            while b < len(batches) and step < plan.total_steps:
                if interrupt.asked:  # a safe point: weights, RNG and position agree
                    raise KeyboardInterrupt
                # Augmentation draws from the global generators, which other code also uses between
                # steps (validation, saving best/, a module imported for the first time there): each
                # step starts from the state the previous step left, the one checkpoints record, so an
                # uninterrupted run and a resumed one draw the same crops.
                _rng_apply(snap, device)
                group = batches[b:b + accum]
                for g in opt.param_groups:
                    g["lr"] = g["base_lr"] * lr_factor(step, plan.total_steps, plan.warmup_steps,
                                                       s.schedule.decay, s.schedule.min_lr_ratio)
                total = sum(len(x) for x in group)
                group_loss = 0.0
                for idx in group:
                    idx, counted, share = distributed.shard(idx, total)  # this process's rows
                    inputs, y = train_fd.batch(idx)
                    inputs = {k: v.to(device, non_blocking=True) for k, v in inputs.items()}
                    with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
                        loss = loss_fn(_forward(train_model, loaded.library, inputs).float(), y.to(device))
                    scaler.scale(loss * share).backward()
                    group_loss += float(loss.detach()) * counted / total
                group_loss = distributed.step_loss(group_loss)
                if not math.isfinite(group_loss):
                    raise TrainingError(f"the training loss became {group_loss} at step {step + 1} (epoch {epoch + 1})")
                if s.optim.max_grad_norm is not None:
                    scaler.unscale_(opt)
                    norm = torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]],
                                                          s.optim.max_grad_norm)
                    # A finite loss can still give infinite gradients; stepping on them would put NaNs into
                    # the weights, and into the checkpoint that is then reported as the last good one.
                    if not torch.isfinite(norm) and not scaler.is_enabled():  # fp16's scaler skips such steps itself
                        raise TrainingError(f"the gradients became {float(norm)} at step {step + 1} (epoch {epoch + 1})")
                scaler.step(opt)
                scaler.update()
                opt.zero_grad(set_to_none=True)
                step += 1
                b += len(group)
                snap = _rng_snapshot(device)
                loss_sum, loss_n = loss_sum + group_loss, loss_n + 1
                job.progress.advance(len(group), loss=group_loss)
                if step % s.log_every_steps == 0:
                    run.log({"step": step, "epoch": round(epoch + b / len(batches), 4), "wall_time_s": round(job.clock.elapsed, 3),
                             "train_loss": group_loss, "lr": opt.param_groups[-1]["lr"]})
                if s.checkpoint.every_steps and step % s.checkpoint.every_steps == 0 and b < len(batches):
                    checkpoint(epoch, b)
                if job.clock.expired():
                    stopped = "time_budget"
                    break
            # validation closes the epoch (or the run, when it stops part-way)
            y_val = val_fd.labels
            val_logits = _predict(model, loaded.library, val_fd, eval_bs, device, dtype)
            row = {"step": step, "epoch": round(epoch + b / len(batches), 4), "wall_time_s": round(job.clock.elapsed, 3),
                   "train_loss": loss_sum / max(loss_n, 1), **job.validate(y_val, val_logits)}
            _train_mode(model, s)
            run.log(row)
            job.progress.end_epoch(row)
            last_row = row
            if job.monitor.update(row):
                run.save_model("best", _exportable(loaded, model, s), row)
                best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                # fp32 logits of the very model returned (LoRA merging changes the last bits)
                best_step, best_logits = step, val_logits if dtype is None and not s.lora.rank else None
            if job.monitor.should_stop and stopped == "completed":
                stopped = "early_stopping"
            epoch, start_batch, loss_sum, loss_n = epoch + 1, 0, 0.0, 0
            if s.checkpoint.per_epoch or stopped != "completed" or epoch >= n_epochs:
                checkpoint(epoch, 0)
    except KeyboardInterrupt:
        checkpoint(epoch, b)  # b: the first batch not yet in an optimiser step
        raise
    except (torch.cuda.OutOfMemoryError, MemoryError, RuntimeError) as exc:
        if not _out_of_memory(exc):
            raise
        raise TrainingError(f"out of memory at batch size {bs}{' on ' + device.type if device.type != 'cpu' else ''}",
                            hint="lower --batch-size and raise optim.grad_accumulation to keep the effective batch") from None
    finally:
        interrupt.restore()
        job.progress.close()
    final = _exportable(loaded, model, s)
    # No optimiser step since best/ was written: final/ is the same model, its files linked, not written again.
    run.save_model("final", final, last_row, same_model_as="best" if best_step == step else None)
    best_dir = run.path / "best"
    if best_state is not None:
        model.load_state_dict(best_state)
        result = _exportable(loaded, model, s)
    elif (best_dir / "config.json").is_file():  # resumed after the best was saved: read it back
        from zoolab.zoo.loading import load

        result = load(str(best_dir), framework="torch")
        result.metadata = {**loaded.metadata, "labels": list(loaded.labels or [])}
    else:
        if not best_dir.is_dir():
            run.save_model("best", final, last_row)
        result = final
    result.model.eval()
    return FitOutcome(result, steps=step, epochs=float(last_row.get("epoch", epoch)), stopped=stopped,
                      best=job.monitor.best_row, notes=notes, best_validation_logits=best_logits)
