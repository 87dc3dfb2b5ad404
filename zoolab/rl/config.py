"""Hyperparameter dataclasses shared by every algorithm, and parsing of ``key=value`` overrides.

Each algorithm has its own config dataclass (``PPOConfig``, ``DQNConfig``, ...) in its module.
They all hold an :class:`EnvConfig` under ``env`` (vectorisation, normalisation, frame stacking)
so the same environment settings mean the same thing for every algorithm.

Overrides name a field as ``learning_rate`` or, for the environment group, ``env.norm_obs``.
String values (from ``--set``) are parsed as YAML scalars and checked against the field's type.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

import yaml

from zoolab.errors import InvalidInputError

C = TypeVar("C")


@dataclass
class EnvConfig:
    """How training environments are built and what the agent sees of them."""

    n_envs: int = 1
    """Number of environment copies stepped together."""
    vectorization: Literal["sync", "async"] = "sync"
    """``sync`` steps the copies in this process; ``async`` runs each in a subprocess."""
    norm_obs: bool = False
    """Normalise observations with running mean/std (statistics are saved with the agent)."""
    norm_reward: bool = False
    """Scale rewards by the running std of the discounted return (training only)."""
    clip_obs: float = 10.0
    """Clip normalised observations to [-clip_obs, clip_obs]."""
    clip_reward: float = 10.0
    """Clip normalised rewards to [-clip_reward, clip_reward]."""
    frame_stack: int = 1
    """Stack the last N observations (1 = no stacking)."""
    max_episode_steps: int | None = None
    """Override the environment's time limit (None keeps the registered one)."""


def _resolve_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def field_types(cls: type) -> dict[str, Any]:
    """Flat ``{key: type}`` of a config class, nested groups as ``group.key``."""
    out: dict[str, Any] = {}
    hints = _resolve_hints(cls)
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            for sub, sub_tp in field_types(tp).items():
                out[f"{f.name}.{sub}"] = sub_tp
        else:
            out[f.name] = tp
    return out


def field_docs(cls: type) -> dict[str, str]:
    """Flat ``{key: docstring}`` for every field, read from the source of the dataclass."""
    import ast
    import inspect
    import textwrap

    docs: dict[str, str] = {}
    hints = _resolve_hints(cls)
    # Base classes first, so a subclass that re-declares a field also replaces its docstring.
    for klass in reversed([k for k in cls.__mro__ if dataclasses.is_dataclass(k)]):
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass)))
        except (OSError, TypeError):  # pragma: no cover - source not available
            continue
        body = tree.body[0].body  # type: ignore[attr-defined]
        for node, nxt in zip(body, body[1:]):
            if (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and isinstance(nxt, ast.Expr)
                and isinstance(nxt.value, ast.Constant)
                and isinstance(nxt.value.value, str)
            ):
                docs[node.target.id] = " ".join(nxt.value.value.split())
    for f in dataclasses.fields(cls):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            for sub, doc in field_docs(tp).items():
                docs[f"{f.name}.{sub}"] = doc
    return docs


def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", None) or str(tp).replace("typing.", "")


def coerce(value: Any, tp: Any, key: str) -> Any:
    """Check/convert ``value`` (already YAML-parsed) against the type annotation ``tp``."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    bad = InvalidInputError(f"bad value {value!r} for '{key}': expected {_type_name(tp)}")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        if isinstance(value, str) and value.lower() in {"none", "null"} and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return coerce(value, arg, key)
            except InvalidInputError:
                continue
        raise bad
    if origin is Literal:
        if value in args:
            return value
        raise InvalidInputError(f"bad value {value!r} for '{key}': choose one of {', '.join(map(str, args))}")
    if origin in (tuple, list):
        if isinstance(value, str):
            value = [yaml.safe_load(v) for v in value.strip("()[] ").split(",") if v.strip()]
        if isinstance(value, int) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise bad
        item_tp = args[0] if args else Any
        return tuple(coerce(v, item_tp, key) for v in value)
    if tp is Any:
        return value
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if tp is int:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise bad
    if tp is float:
        if isinstance(value, bool):
            raise bad
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)  # YAML 1.1 reads "3e-4" as a string
            except ValueError:
                raise bad from None
        raise bad
    if tp is str:
        if isinstance(value, str):
            return value
        raise bad
    raise bad


def _parse_scalar(text: str) -> Any:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"env": {"n_envs": 4}}`` -> ``{"env.n_envs": 4}`` (dotted keys pass through)."""
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        full = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, f"{full}."))
        else:
            out[full] = value
    return out


def normalize_overrides(overrides: Mapping[str, Any] | Iterable[str] | None) -> dict[str, Any]:
    """Accept a mapping or ``["key=value", ...]`` (as from ``--set``) and return a flat dict."""
    if not overrides:
        return {}
    if isinstance(overrides, Mapping):
        return flatten(overrides)
    out: dict[str, Any] = {}
    for item in overrides:
        if not isinstance(item, str) or "=" not in item:
            raise InvalidInputError(f"bad override {item!r}: write it as key=value, for example learning_rate=3e-4")
        key, _, value = item.partition("=")
        out[key.strip()] = value.strip()
    return out


def apply_overrides(config: C, overrides: Mapping[str, Any] | Iterable[str] | None) -> C:
    """Return a copy of ``config`` with ``overrides`` applied; strings are parsed against field types.

    Raises:
        InvalidInputError: unknown key (the message lists the valid keys) or a value of the wrong type.
    """
    flat = normalize_overrides(overrides)
    types_ = field_types(type(config))
    nested = dataclasses.asdict(config)
    for key, value in flat.items():
        if key not in types_:
            import difflib

            close = difflib.get_close_matches(key, list(types_), n=3)
            hint = f"did you mean {', '.join(close)}? " if close else ""
            raise InvalidInputError(
                f"unknown setting '{key}' for {type(config).__name__}; {hint}valid keys: {', '.join(sorted(types_))}"
            )
        if isinstance(value, str):
            value = _parse_scalar(value)
        value = coerce(value, types_[key], key)
        target = nested
        *groups, last = key.split(".")
        for g in groups:
            target = target[g]
        target[last] = value
    return from_dict(type(config), nested)


def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
    """Build a config dataclass from a (nested) dict, checking keys and types."""
    hints = _resolve_hints(cls)
    kwargs: dict[str, Any] = {}
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key, value in data.items():
        if key not in names:
            raise InvalidInputError(f"unknown setting '{key}' for {cls.__name__}; valid keys: {', '.join(sorted(names))}")
        tp = hints[key]
        if dataclasses.is_dataclass(tp):
            kwargs[key] = from_dict(tp, value or {})  # type: ignore[arg-type]
        else:
            kwargs[key] = coerce(value, tp, key)
    return cls(**kwargs)


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON/YAML-friendly nested dict (tuples become lists)."""

    def conv(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: conv(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [conv(x) for x in v]
        return v

    return conv(dataclasses.asdict(config))


# --- ranges ------------------------------------------------------------------------------------
# (low, high, low_open, high_open); None = unbounded on that side. Keys are field names, whatever
# the algorithm, so one table covers every config; fields absent from a config are skipped.
_POS_INT = (1, None, False, False)
_NONNEG = (0, None, False, False)
_POSITIVE = (0, None, True, False)
_UNIT = (0, 1, False, False)
RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "env.n_envs": _POS_INT, "env.frame_stack": _POS_INT, "env.max_episode_steps": _POS_INT,
    "env.clip_obs": _POSITIVE, "env.clip_reward": _POSITIVE,
    "learning_rate": _POSITIVE, "critic_learning_rate": _POSITIVE, "gamma": _UNIT, "gae_lambda": _UNIT,
    "torch_threads": _NONNEG, "n_steps": _POS_INT, "batch_size": _POS_INT, "n_epochs": _POS_INT,
    "clip_range": _POSITIVE, "clip_range_vf": _POSITIVE, "ent_coef": _NONNEG, "vf_coef": _NONNEG,
    "max_grad_norm": _POSITIVE, "target_kl": _POSITIVE, "buffer_size": _POS_INT, "learning_starts": _NONNEG,
    "train_freq": _POS_INT, "gradient_steps": _POS_INT, "target_update_interval": _POS_INT,
    "tau": (0, 1, True, False), "exploration_fraction": _UNIT, "exploration_initial_eps": _UNIT,
    "exploration_final_eps": _UNIT, "policy_delay": _POS_INT, "exploration_noise": _NONNEG,
    "target_policy_noise": _NONNEG, "target_noise_clip": _NONNEG, "log_interval": _POS_INT,
}


def _allowed(rng: tuple[float | None, float | None, bool, bool], is_int: bool) -> str:
    low, high, low_open, high_open = rng
    kind = "a whole number" if is_int else "a number"
    if low is not None and high is not None:
        return f"{kind} in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {low}"
    return kind


def check_ranges(config: Any) -> None:
    """Reject settings outside the values the algorithms can use, naming what is allowed.

    Raises:
        InvalidInputError: the first setting out of range (or a float that is NaN/infinite).
    """
    import math

    from zoolab.rl.amp import PRECISIONS
    from zoolab.rl.nets import ACTIVATIONS

    flat = flatten(dataclasses.asdict(config))
    docs = field_docs(type(config))
    for key, value in flat.items():
        about = f" ({docs[key]})" if key in docs else ""
        if isinstance(value, float) and not math.isfinite(value):
            raise InvalidInputError(f"bad value {value} for '{key}': it must be a finite number{about}")
        if key == "precision" and value not in PRECISIONS:
            raise InvalidInputError(f"bad value {value!r} for 'precision': choose one of {', '.join(PRECISIONS)}")
        if key == "activation" and value not in ACTIVATIONS:
            raise InvalidInputError(f"bad value {value!r} for 'activation': choose one of {', '.join(ACTIVATIONS)}")
        if key == "hidden_sizes":
            # Empty is allowed: the heads then sit on the observation (or the CNN's features) directly.
            if any(int(v) < 1 for v in value):
                raise InvalidInputError(f"bad value {list(value)} for 'hidden_sizes': give layer widths, "
                                        "each a whole number >= 1, e.g. hidden_sizes=64,64")
            continue
        rng = RANGES.get(key)
        if rng is None or value is None or isinstance(value, bool):
            continue
        low, high, low_open, high_open = rng
        too_low = low is not None and (value <= low if low_open else value < low)
        too_high = high is not None and (value >= high if high_open else value > high)
        if too_low or too_high:
            raise InvalidInputError(f"bad value {value} for '{key}': it must be {_allowed(rng, isinstance(value, int))}{about}")
