"""The one YAML loader for text zoolab did not write: model-card metadata, above all.

A README's front matter comes from whoever pushed the repository. Plain ``yaml.safe_load`` is
safe from code execution but not from size blow-ups: nested aliases (a "billion laughs" card of a
few hundred bytes) expand into gigabytes, deep nesting overflows the recursion limit, and a
``"\\ud800"`` escape yields a string no JSON answer or SQLite row can hold. :func:`load_untrusted_yaml`
refuses all of that with :class:`UnsafeYamlError` (a ``yaml.YAMLError``, so callers that already
catch YAML errors keep working), before any expansion happens.

With libyaml (PyYAML's C extension) the event stream is checked first and C builds the values;
without it a pure-Python loader checks while composing. Every path that parses card metadata goes
through it: the hub server (``/api/validate-yaml`` and the
card indexed at commit time), the local registry and ``zoolab publish``'s card validation all call
:func:`zoolab.hub.store.cards.split_front_matter`, which calls this function.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.events import AliasEvent, CollectionEndEvent, CollectionStartEvent, NodeEvent

MAX_YAML_BYTES = 1024 * 1024
"""Largest YAML text accepted (1 MiB; real model cards' metadata is a few KiB)."""
MAX_DEPTH = 64
"""Deepest nesting of mappings and sequences accepted."""
MAX_NODES = 100_000
"""Most nodes (scalars, mappings, sequences) one document may hold."""


class UnsafeYamlError(yaml.YAMLError):
    """YAML that :func:`load_untrusted_yaml` refuses (aliases, too deep, too large, surrogates)."""


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses aliases and bounds depth and node count while composing."""

    def __init__(self, stream: str, *, max_depth: int, max_nodes: int):
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0
        self._max_depth = max_depth
        self._max_nodes = max_nodes

    def compose_node(self, parent: Any, index: Any) -> Any:  # type: ignore[override]
        if self.check_event(AliasEvent):
            event = self.peek_event()
            raise UnsafeYamlError(
                f"YAML aliases ('*{event.anchor}') are not accepted{_where(event)}: write the value out"
            )
        self._nodes += 1
        if self._nodes > self._max_nodes:
            raise UnsafeYamlError(f"YAML document has more than {self._max_nodes} values")
        self._depth += 1
        try:
            if self._depth > self._max_depth:
                raise UnsafeYamlError(f"YAML nesting deeper than {self._max_depth} levels{_where(self.peek_event())}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _where(event: Any) -> str:
    mark = getattr(event, "start_mark", None)
    return f" (line {mark.line + 1})" if mark is not None else ""


def load_untrusted_yaml(
    text: str, *, max_bytes: int = MAX_YAML_BYTES, max_depth: int = MAX_DEPTH, max_nodes: int = MAX_NODES
) -> Any:
    """Parse one YAML document from an untrusted source, like ``yaml.safe_load`` but bounded.

    Refused with :class:`UnsafeYamlError`: text over ``max_bytes`` (UTF-8), any alias (``*name``;
    anchors alone are harmless), nesting deeper than ``max_depth``, more than ``max_nodes`` values,
    and strings holding lone surrogates. Malformed YAML raises ``yaml.YAMLError`` as usual. The cost
    is linear in the text's length; still, call it off an event loop (it is pure-Python parsing).
    """
    if len(text) > max_bytes or len(text.encode("utf-8", "surrogatepass")) > max_bytes:
        raise UnsafeYamlError(f"YAML text is larger than {max_bytes} bytes")
    c_loader = getattr(yaml, "CSafeLoader", None)
    if c_loader is not None:
        # libyaml: check the event stream first (cheap, nothing built), then let C build the
        # values; about four times faster than the pure-Python loader below.
        try:
            _check_events(yaml.parse(text, Loader=c_loader), max_depth=max_depth, max_nodes=max_nodes)
        except yaml.YAMLError as exc:
            if "nesting depth" in str(exc):  # libyaml's own bound (1000) hit while scanning ahead
                raise UnsafeYamlError(f"YAML nesting deeper than {max_depth} levels") from None
            raise
        data = yaml.load(text, Loader=c_loader)  # noqa: S506 - CSafeLoader, and checked above
    else:
        loader = _BoundedLoader(text, max_depth=max_depth, max_nodes=max_nodes)
        try:
            try:
                data = loader.get_single_data()
            except RecursionError:
                raise UnsafeYamlError("YAML nesting is too deep") from None
        finally:
            loader.dispose()
    _refuse_surrogates(data)
    return data


def _check_events(events: Any, *, max_depth: int, max_nodes: int) -> None:
    depth = nodes = 0
    for event in events:
        if isinstance(event, AliasEvent):
            raise UnsafeYamlError(
                f"YAML aliases ('*{event.anchor}') are not accepted{_where(event)}: write the value out"
            )
        if isinstance(event, NodeEvent):
            nodes += 1
            if nodes > max_nodes:
                raise UnsafeYamlError(f"YAML document has more than {max_nodes} values")
        if isinstance(event, CollectionStartEvent):
            depth += 1
            if depth > max_depth:
                raise UnsafeYamlError(f"YAML nesting deeper than {max_depth} levels{_where(event)}")
        elif isinstance(event, CollectionEndEvent):
            depth -= 1


def _refuse_surrogates(value: Any) -> None:
    # Iterative: the depth is bounded already, but a flat walk costs nothing and cannot overflow.
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise UnsafeYamlError("YAML text holds an invalid character (a lone UTF-16 surrogate)") from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)


__all__ = ["MAX_DEPTH", "MAX_NODES", "MAX_YAML_BYTES", "UnsafeYamlError", "load_untrusted_yaml"]
