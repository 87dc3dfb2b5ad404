"""The PyTorch backend of ``zoolab.zoo``: timm for vision, transformers for NLP.

It implements the backend contract of :mod:`zoolab.zoo.loaded` (``load``, ``run``, ``save``)
plus ``label_names`` for token-level tasks. Folders reach it already checked by
:mod:`zoolab.zoo.loading` (safetensors present, no untrusted remote code); here weights are still
only ever read through safetensors (timm prefers ``model.safetensors`` and reads any other file
with ``weights_only``; transformers is called with ``use_safetensors=True``).

What ``run`` returns, per task (float32, batch first):

- ``image-classification`` / ``text-classification``: logits ``(N, num_labels)``;
- ``feature-extraction``: one pooled vector per input ``(N, D)`` (pooling from
  ``metadata["pooling"]``: mean over the attention mask by default, L2-normalised if asked);
  for timm models the pooled features of the backbone;
- ``fill-mask``: vocabulary logits at the first mask token ``(N, vocab)``;
- ``text-generation``: vocabulary logits for the next token after the input ``(N, vocab)``.
"""

from __future__ import annotations

import contextlib
import functools
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from zoolab.errors import InvalidInputError, UnsupportedError
from zoolab.zoo.loaded import LoadedModel
from zoolab.zoo.metadata import FolderInfo, inspect_folder

_TEXT_TASK_CLASSES = {
    "text-classification": "AutoModelForSequenceClassification",
    "fill-mask": "AutoModelForMaskedLM",
    "text-generation": "AutoModelForCausalLM",
    "feature-extraction": "AutoModel",
    "image-classification": "AutoModelForImageClassification",
}


def default_labels(n: int) -> list[str]:
    """``LABEL_0 .. LABEL_{n-1}``, the labels of a new head (transformers' convention)."""
    return [f"LABEL_{i}" for i in range(n)]


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' progress bars and load reports for one call, then restore them.

    A new classifier head is the point of ``num_labels``; the report of "missing" head weights
    that transformers prints for it would read like an error.
    """
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


# --- load --------------------------------------------------------------------------------------
def load(
    path: Path,
    *,
    task: str | None,
    num_labels: int | None,
    labels: list[str] | None,
    metadata: dict[str, Any],
    trust_remote_code: bool = False,
) -> LoadedModel:
    """Load the timm or transformers model in ``path`` as a :class:`LoadedModel`.

    ``task`` (default: the folder's) and ``num_labels`` pick the head: a classification task
    with a ``num_labels`` different from the checkpoint's gets a new, randomly initialised head.
    """
    info = inspect_folder(Path(path))
    if info.library == "timm":
        return _load_timm(info, task or info.task, num_labels, labels, metadata)
    if info.library == "transformers":
        return _load_transformers(info, task or info.task, num_labels, labels, metadata,
                                  trust_remote_code)  # fmt: skip
    raise UnsupportedError(
        f"{path} is a {info.library} model, which PyTorch cannot load",
        hint="load it with framework='tf'",
    )


def _resolve_labels(n: int, *candidates: Any) -> list[str]:
    """The first candidate label list of length ``n``, else ``LABEL_i``."""
    for candidate in candidates:
        if isinstance(candidate, dict):  # {index: name}, as timm and transformers store them
            try:
                candidate = [candidate[k] for k in sorted(candidate, key=int)]
            except (TypeError, ValueError):
                continue
        if isinstance(candidate, (list, tuple)) and len(candidate) == n:
            return [str(x) for x in candidate]
    return default_labels(n)


@functools.lru_cache(maxsize=1)
def _imagenet_names() -> tuple[str, ...]:
    """Short ImageNet-1k class names ("tench", "goldfish", ...), read once per process."""
    import timm.data

    return tuple(d.split(",")[0] for d in timm.data.ImageNetInfo().label_descriptions())


def _load_timm(
    info: FolderInfo,
    task: str,
    num_labels: int | None,
    labels: list[str] | None,
    metadata: dict[str, Any],
) -> LoadedModel:
    import timm
    import timm.data

    if task not in ("image-classification", "feature-extraction"):
        raise UnsupportedError(f"a timm model cannot do task '{task}'",
                               hint="use image-classification or feature-extraction")  # fmt: skip
    if not (info.path / "model.safetensors").is_file():
        # timm's folder loader prefers model.safetensors and would otherwise pick a pickled file.
        raise UnsupportedError(f"{info.path} has no model.safetensors, the timm weights file",
                               hint="save the weights as model.safetensors (safetensors only)")  # fmt: skip
    # timm's own local-folder loader: the same code path as timm.create_model("local-dir:...").
    try:
        model = timm.create_model(f"local-dir:{info.path}", pretrained=True)
    except RuntimeError as exc:  # a state dict that does not fit (zoolab.zoo.checks names it first)
        raise InvalidInputError(f"the timm weights in {info.path} do not fit its config: {str(exc).splitlines()[0][:300]}") from None
    native = int(getattr(model, "num_classes", 0))
    if task == "feature-extraction":
        model.reset_classifier(0)
    elif num_labels is not None and num_labels != native:
        model.reset_classifier(num_labels)
    model.eval()
    transform = timm.data.create_transform(**timm.data.resolve_data_config({}, model=model))
    n = int(getattr(model, "num_classes", 0))
    if task == "image-classification" and n == 0:
        raise UnsupportedError(f"the timm model in {info.path} has no classifier head",
                               hint="pass num_labels to put a new head on it")  # fmt: skip
    result_labels = None
    if task == "image-classification":
        imagenet = None
        if n == 1000 and n == native and not info.zoolab.get("labels"):
            imagenet = list(_imagenet_names())
        heads_kept = n == native
        result_labels = _resolve_labels(
            n,
            labels,
            info.zoolab.get("labels") if heads_kept else None,
            info.config.get("label_names") if heads_kept else None,
            imagenet,
        )
    return LoadedModel(model, "torch", "timm", task, transform, result_labels,
                       {**metadata, "architecture": info.architecture})  # fmt: skip


def _load_transformers(
    info: FolderInfo,
    task: str,
    num_labels: int | None,
    labels: list[str] | None,
    metadata: dict[str, Any],
    trust_remote_code: bool,
) -> LoadedModel:
    import transformers

    if task not in _TEXT_TASK_CLASSES:
        raise UnsupportedError(f"unknown task '{task}' for a transformers model",
                               hint=f"one of: {', '.join(_TEXT_TASK_CLASSES)}")  # fmt: skip
    auto_class = getattr(transformers, _TEXT_TASK_CLASSES[task])
    kwargs: dict[str, Any] = {"use_safetensors": True, "trust_remote_code": trust_remote_code}
    classifier = task in ("text-classification", "image-classification")
    native_labels = info.config.get("id2label") or {}
    if classifier:
        n = num_labels or len(info.zoolab.get("labels") or []) or len(native_labels) or 2
        names = _resolve_labels(n, labels, info.zoolab.get("labels"), native_labels)
        kwargs.update(
            num_labels=n,
            id2label=dict(enumerate(names)),
            label2id={name: i for i, name in enumerate(names)},
            # A new head of another size replaces the checkpoint's: that is the point of it.
            ignore_mismatched_sizes=True,
        )
    with quiet_transformers():
        try:
            model, report = auto_class.from_pretrained(str(info.path), output_loading_info=True, **kwargs)
        except (RuntimeError, ValueError, OSError) as exc:  # weights of other shapes or dtypes than declared
            raise InvalidInputError(
                f"transformers cannot load the weights in {info.path}: {str(exc).splitlines()[0][:300]}"
            ) from None
        _check_loading_report(model, report, info, new_head=num_labels is not None)
        preprocessor = _text_preprocessor(info, task, trust_remote_code)
    model.eval()
    if task == "text-classification" and getattr(model.config, "pad_token_id", None) is None:
        # Decoder-only models (GPT-2) classify the last non-padding token: they need a pad id.
        model.config.pad_token_id = getattr(preprocessor, "pad_token_id", None)
    result_labels = [model.config.id2label[i] for i in range(model.config.num_labels)] \
        if classifier else None  # fmt: skip
    meta = {**metadata, "architecture": info.architecture}
    if task == "feature-extraction":
        meta.setdefault("pooling", {"mode": "mean", "normalize": False})
    return LoadedModel(model, "torch", "transformers", task, preprocessor, result_labels, meta)


def _check_loading_report(model: Any, report: dict[str, Any], info: FolderInfo, *, new_head: bool) -> None:
    """Refuse weights transformers reports missing or unexpected, except a head's or a pooler's.

    A checkpoint of another task (a base model under a new classifier, a classifier read as a
    base model) legitimately lacks or carries head weights outside the base model; anything
    missing inside the base model would run with random values, and is refused by name.
    """
    prefix = getattr(model, "base_model_prefix", "") or ""
    is_base = getattr(model, "base_model", model) is model
    checkpoint_arch = (info.config.get("architectures") or [None])[0]
    other_task = new_head or checkpoint_arch != type(model).__name__

    def in_base(key: str) -> bool:
        return is_base or (bool(prefix) and key.startswith(prefix + "."))

    def pooler(key: str) -> bool:
        return ".pooler." in f".{key}"

    missing = [k for k in report.get("missing_keys") or [] if not pooler(k) and (in_base(k) or not other_task)]
    unexpected = [k for k in report.get("unexpected_keys") or [] if in_base(k) or not other_task]
    mismatched = [k[0] if isinstance(k, tuple) else k for k in report.get("mismatched_keys") or []]
    mismatched = [k for k in mismatched if in_base(k) or not new_head]
    for kind, keys in (("missing", missing), ("unexpected", unexpected), ("of another shape", mismatched)):
        if keys:
            shown = ", ".join(sorted(keys)[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
            raise InvalidInputError(
                f"the weights in {info.path} do not match the model its config.json declares: "
                f"{len(keys)} weights {kind} ({shown}); zoolab does not run layers with random values",
            )


def _text_preprocessor(info: FolderInfo, task: str, trust_remote_code: bool) -> Any:
    import transformers

    if task == "image-classification":
        # zoolab decides about repository code, never a prompt on stdin: pass the decision.
        return transformers.AutoImageProcessor.from_pretrained(str(info.path), trust_remote_code=trust_remote_code)
    if not any((info.path / name).is_file() for name in
               ("tokenizer.json", "tokenizer_config.json", "vocab.txt", "vocab.json")):  # fmt: skip
        return None  # loading works; running text through it needs a tokenizer (run says so)
    tokenizer = transformers.AutoTokenizer.from_pretrained(
        str(info.path), trust_remote_code=trust_remote_code
    )
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token  # GPT-2 has no pad token; batches need one
    return tokenizer


# --- run ---------------------------------------------------------------------------------------
def _to_pil(item: Any) -> Any:
    from PIL import Image

    if isinstance(item, Image.Image):
        return item.convert("RGB")
    if isinstance(item, (str, Path)):
        try:
            with Image.open(item) as img:
                return img.convert("RGB")
        except (OSError, ValueError) as exc:
            raise InvalidInputError(f"cannot read image {item}: {exc}") from exc
    if isinstance(item, np.ndarray) and item.ndim == 3:
        return Image.fromarray(item.astype(np.uint8)).convert("RGB")
    raise InvalidInputError(
        f"an image model needs image files, PIL images or HxWx3 uint8 arrays, got {type(item).__name__}"
    )


def run(loaded: LoadedModel, inputs: list[Any]) -> np.ndarray:
    """Preprocess ``inputs`` and return the model's float32 outputs (see the module docstring)."""
    import torch

    if not inputs:
        raise InvalidInputError("no inputs given")
    with torch.inference_mode():
        if loaded.library == "timm":
            batch = torch.stack([loaded.preprocessor(_to_pil(x)) for x in inputs])
            out = loaded.model(batch)
        elif loaded.task == "image-classification":
            pixels = loaded.preprocessor([_to_pil(x) for x in inputs], return_tensors="pt")
            out = loaded.model(**pixels).logits
        else:
            out = _run_text(loaded, inputs)
    return out.detach().float().cpu().numpy().astype(np.float32, copy=False)


def _run_text(loaded: LoadedModel, inputs: list[Any]) -> Any:
    import torch

    if not all(isinstance(x, str) for x in inputs):
        raise InvalidInputError("a text model needs strings as inputs")
    tokenizer = loaded.preprocessor
    if tokenizer is None:
        raise UnsupportedError("this model folder has no tokenizer, so it cannot read text",
                               hint="save the tokenizer next to the model (tokenizer.json)")  # fmt: skip
    if loaded.task == "text-generation":
        tokenizer.padding_side = "right"  # the next-token position is then mask.sum() - 1
    enc = tokenizer(inputs, padding=True, truncation=True, return_tensors="pt")
    if enc["input_ids"].shape[1] == 0 or not bool(enc["attention_mask"].sum(dim=1).all()):
        raise InvalidInputError("an input text has no tokens; give non-empty texts")
    out = loaded.model(**enc)
    mask = enc["attention_mask"]
    if loaded.task == "text-classification":
        return out.logits
    if loaded.task == "fill-mask":
        mask_id = tokenizer.mask_token_id
        is_mask = enc["input_ids"] == mask_id
        if mask_id is None or not bool(is_mask.any(dim=1).all()):
            raise InvalidInputError(
                f"every fill-mask input needs the mask token {tokenizer.mask_token!r}",
                hint=f"for example: 'Paris is the {tokenizer.mask_token} of France.'",
            )
        first = is_mask.int().argmax(dim=1)
        return out.logits[torch.arange(len(inputs)), first]
    if loaded.task == "text-generation":
        last = mask.sum(dim=1) - 1  # right padding: the last real token of each row
        return out.logits[torch.arange(len(inputs)), last]
    return pool(out.last_hidden_state, mask, loaded.metadata.get("pooling") or {})


def pool(hidden: Any, mask: Any, pooling: dict[str, Any]) -> Any:
    """One vector per row of token states ``hidden`` (N, T, D) under attention ``mask`` (N, T)."""
    import torch

    mode = pooling.get("mode", "mean")
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    if mode == "cls":
        vectors = hidden[:, 0]
    elif mode == "max":
        vectors = hidden.masked_fill(weights == 0, float("-inf")).max(dim=1).values
    else:
        vectors = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
    if pooling.get("normalize"):
        vectors = torch.nn.functional.normalize(vectors, p=2, dim=1)
    return vectors


def label_names(loaded: LoadedModel, indices: list[int]) -> list[str]:
    """Names of output ``indices``: vocabulary tokens for token tasks, else the labels."""
    tokenizer = loaded.preprocessor
    if loaded.task in ("fill-mask", "text-generation") and tokenizer is not None:
        # decode() reads best for BPE ("Ġcat" -> "cat") but drops special tokens: fall back then.
        return [tokenizer.decode([i]).strip() or str(tokenizer.convert_ids_to_tokens(i))
                for i in indices]  # fmt: skip
    labels = loaded.labels or []
    return [labels[i] if i < len(labels) else f"LABEL_{i}" for i in indices]


# --- save --------------------------------------------------------------------------------------
def save(loaded: LoadedModel, folder: Path) -> None:
    """Write ``loaded`` in its library's own format into ``folder`` (safetensors weights).

    timm: ``config.json`` (architecture, num_classes, pretrained_cfg, model_args) and
    ``model.safetensors``, as ``timm.create_model("local-dir:...")`` and ``hf-hub:`` read them;
    transformers: ``save_pretrained`` plus the tokenizer or image processor.
    """
    folder.mkdir(parents=True, exist_ok=True)
    if loaded.library == "timm":
        from timm.models import save_for_hf

        model_config = {"label_names": list(loaded.labels)} if loaded.labels else None
        save_for_hf(loaded.model, str(folder), model_config=model_config, safe_serialization=True)
    elif loaded.library == "transformers":
        with quiet_transformers():
            # safetensors: transformers 5 writes no other weight format
            loaded.model.save_pretrained(str(folder))
            if loaded.preprocessor is not None:
                loaded.preprocessor.save_pretrained(str(folder))
    else:
        raise UnsupportedError(f"the PyTorch backend cannot save a {loaded.library} model")
