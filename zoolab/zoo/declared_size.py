"""Does a timm or transformers config fit its safetensors weights? Checked on the meta device.

A repository's ``config.json`` says how big the model is (layers, widths, vocabulary, classes);
its safetensors headers say how big the weights are. A config declaring more than the weights
hold makes a library allocate the declared model (gigabytes from a few megabytes of repository)
and then either fail or run the missing layers with random values. So before any library builds
the model, the model the config implies is built on PyTorch's ``meta`` device (shapes only, no
memory) and compared with the headers:

- timm: the state dict must match the weights tensor for tensor (names and shapes); the message
  names what is missing, unexpected or of another shape;
- transformers: the parameter count must match (transformers renames some checkpoint keys on
  load, so names are compared after loading, by the backend); a pooler the checkpoint was saved
  without is allowed, as transformers allows it.

Before the meta build, a layer count larger than the number of tensors in the headers is refused
outright (building a million modules costs memory even on ``meta``). Both frameworks' loaders run
this check: keras-hub's converters build the same architecture from the same config.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from zoolab.errors import InvalidInputError, UnsupportedError, ZoolabError
from zoolab.zoo.safetensors_header import NUMPY_DTYPES, TORCH_DTYPES, TensorInfo, read_header

#: Config keys that count repeated layers, in the libraries' spellings.
_LAYER_KEYS = re.compile(r"^(num_hidden_layers|n_layers?|num_layers|(en|de)coder_layers|num_(en|de)coder_layers|depth)$")
_SLACK = 1.01
"""A config may imply at most 1% more parameters than the weights hold (besides a pooler)."""


def read_headers(folder: Path, weights: list[str], framework: str) -> dict[str, TensorInfo]:
    """The tensors of every weights file, checking each dtype is one ``framework`` can read."""
    allowed = NUMPY_DTYPES if framework == "tf" else TORCH_DTYPES
    tensors: dict[str, TensorInfo] = {}
    for name in weights:
        for key, info in read_header(folder / name, display=name).items():
            if info.dtype not in allowed:
                reader = "keras-hub's converter (numpy)" if framework == "tf" else "PyTorch"
                raise UnsupportedError(
                    f"{name}: tensor {key!r} has dtype {info.dtype}, which {reader} cannot load",
                    hint="load it with framework='torch'" if framework == "tf" else None,
                )
            tensors[key] = info
    return tensors


def _bound_layers(config: dict[str, Any], tensors: int) -> None:
    for key, value in config.items():
        if _LAYER_KEYS.match(key) and type(value) is int and value > max(tensors, 1):
            raise InvalidInputError(
                f"config.json declares {key}={value}, more layers than its weights have tensors "
                f"({tensors}); zoolab does not build a model its weights do not fill",
            )


def _names(keys: set[str]) -> str:
    shown = sorted(keys)[:5]
    return ", ".join(shown) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")


def _timm_meta(config: dict[str, Any]) -> Any:
    import timm
    import torch

    kwargs = dict(config.get("model_args") or {})
    if not isinstance(config.get("model_args") or {}, dict):
        raise InvalidInputError("config.json field 'model_args' must be an object")
    if "num_classes" in config:
        kwargs["num_classes"] = config["num_classes"]
    arch = config.get("architecture")
    if not isinstance(arch, str) or not timm.is_model(arch):
        raise UnsupportedError(f"config.json names timm architecture {arch!r}, which timm does not have")
    try:
        with torch.device("meta"):
            return timm.create_model(arch, pretrained=False, **kwargs)
    except (TypeError, ValueError, RuntimeError, AssertionError) as exc:
        raise InvalidInputError(f"config.json does not describe a buildable {arch}: {str(exc).splitlines()[0][:200]}") from None


def _transformers_meta(folder: Path, trust_remote_code: bool) -> Any:
    import torch
    import transformers

    try:
        config = transformers.AutoConfig.from_pretrained(str(folder), trust_remote_code=trust_remote_code)
        arch = (getattr(config, "architectures", None) or [None])[0]
        cls = getattr(transformers, arch, None) if isinstance(arch, str) else None
        with torch.device("meta"):
            if isinstance(cls, type) and issubclass(cls, transformers.PreTrainedModel):
                return cls._from_config(config)
            return transformers.AutoModel.from_config(config, trust_remote_code=trust_remote_code)
    except ZoolabError:
        raise
    except (ValueError, TypeError, KeyError, AttributeError, OSError, RuntimeError) as exc:
        raise InvalidInputError(
            f"config.json does not describe a model transformers can build: {str(exc).splitlines()[0][:200]}"
        ) from None


def check_declared_size(
    folder: Path, fmt: str, config: dict[str, Any], weights: list[str], *, framework: str, trust_remote_code: bool,
    run_code: bool = True,
) -> dict[str, int]:
    """Compare what ``config.json`` declares with the safetensors headers of ``weights``.

    Returns ``{"declared_parameters", "weight_parameters", "weight_tensors"}``. A trusted model
    whose classes live in the repository is built from that code only if ``run_code`` (a scan
    never runs it, and reports the stored sizes alone).

    Raises:
        InvalidInputError: the config declares more than the weights hold, or (timm) the weights
            miss tensors, have unexpected ones, or tensors of other shapes (named in the message).
        UnsupportedError: a tensor's dtype cannot be read by ``framework``.
    """
    key = _signature(folder, weights, fmt, framework, trust_remote_code, run_code)
    if key in _PASSED:
        return dict(_PASSED[key])
    result = _check(folder, fmt, config, weights, framework=framework, trust_remote_code=trust_remote_code,
                    run_code=run_code)  # fmt: skip
    if len(_PASSED) >= 64:
        _PASSED.pop(next(iter(_PASSED)))
    _PASSED[key] = dict(result)
    return result


#: Folders that passed, by the identity of their files: a warm reload (the same snapshot, or a
#: local folder whose files have not changed) is not rebuilt on the meta device.
_PASSED: dict[tuple[Any, ...], dict[str, int]] = {}


def _signature(folder: Path, weights: list[str], *flags: Any) -> tuple[Any, ...]:
    def stat(name: str) -> tuple[Any, ...]:
        info = (folder / name).stat()  # follows a cache snapshot's link to its content-addressed blob
        return (name, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)

    return (str(folder.resolve()), stat("config.json"), *map(stat, weights), *flags)


def _check(
    folder: Path, fmt: str, config: dict[str, Any], weights: list[str], *, framework: str, trust_remote_code: bool,
    run_code: bool,
) -> dict[str, int]:
    tensors = read_headers(folder, [w for w in weights if not w.startswith("adapter_")], framework)
    held = sum(info.numel for info in tensors.values())
    _bound_layers(config, len(tensors))
    if fmt == "timm":
        state = _timm_meta(config).state_dict()
        missing = set(state) - set(tensors)
        unexpected = set(tensors) - set(state)
        other = {k for k in set(state) & set(tensors) if tuple(state[k].shape) != tensors[k].shape}
        if missing or unexpected or other:
            parts = [f"missing {_names(missing)}" if missing else "",
                     f"unexpected {_names(unexpected)}" if unexpected else "",
                     f"of another shape {_names(other)}" if other else ""]  # fmt: skip
            raise InvalidInputError(
                f"the weights do not match the timm {config.get('architecture')} that config.json "
                f"declares: {'; '.join(p for p in parts if p)}",
            )
        declared = sum(int(v.numel()) for v in state.values())
    elif not run_code and config.get("auto_map"):
        return {"weight_parameters": int(held), "weight_tensors": len(tensors)}
    else:
        model = _transformers_meta(folder, trust_remote_code)
        declared = sum(p.numel() for name, p in model.named_parameters() if "pooler" not in name)
        if declared > held * _SLACK + 64:
            layers = [f"{k}={v}" for k, v in config.items() if _LAYER_KEYS.match(k)]
            raise InvalidInputError(
                f"config.json declares a model of {declared:,} parameters"
                + (f" ({', '.join(layers)})" if layers else "")
                + f" but its weights hold {held:,}; the missing weights would run with random values, "
                "so zoolab refuses it",
            )
    return {"declared_parameters": int(declared), "weight_parameters": int(held), "weight_tensors": len(tensors)}
