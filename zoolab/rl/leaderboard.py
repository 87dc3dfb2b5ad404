"""Agents of every source ranked by the mean return their cards report (``zoolab search --task reinforcement-learning``).

The return is read from the card's ``model-index`` (metric ``mean_reward``, written as
``"mean +/- std"`` by zoolab and by SB3/RL Zoo, or as a number), the environment from its
``dataset`` entry (or the tags, for cards without one). Hits without a readable return are listed
after the ranked ones.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from zoolab.errors import ZoolabError

TASK = "reinforcement-learning"
_VALUE = re.compile(r"\s*([-+]?[0-9.eE+-]+)\s*(?:\+/-|±)\s*([-+]?[0-9.eE+-]+)\s*")


@dataclass
class Entry:
    """One agent on the leaderboard."""

    repo: str
    """``SOURCE:org/name``."""
    env_id: str | None
    algo: str | None
    library: str | None
    mean_reward: float | None
    std_reward: float | None
    downloads: int | None


@dataclass
class Leaderboard:
    """Entries best first, and one warning per source or repo that could not be read."""

    entries: list[Entry] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def parse_reward(value: Any) -> tuple[float | None, float | None]:
    """``"500.00 +/- 0.00"`` -> ``(500.0, 0.0)``; a plain number -> ``(x, None)``; else ``(None, None)``."""
    if isinstance(value, bool):
        return None, None
    if isinstance(value, (int, float)):
        return float(value), None
    match = _VALUE.fullmatch(str(value))
    if match:
        try:
            return float(match.group(1)), float(match.group(2))
        except ValueError:
            return None, None
    try:
        return float(str(value)), None
    except ValueError:
        return None, None


def card_result(card: dict[str, Any]) -> tuple[str | None, float | None, float | None]:
    """``(env_id, mean, std)`` from a card's model-index (the first mean_reward found)."""
    index = card.get("model-index") or card.get("model_index") or []
    for model in index if isinstance(index, list) else []:
        for result in (model or {}).get("results") or []:
            dataset = (result or {}).get("dataset") or {}
            env = dataset.get("name") or dataset.get("type")
            for metric in (result or {}).get("metrics") or []:
                if (metric or {}).get("type") == "mean_reward" or (metric or {}).get("name") == "mean_reward":
                    mean, std = parse_reward(metric.get("value"))
                    return (str(env) if env else None), mean, std
    return None, None, None


_ALGOS = ("ppo", "a2c", "dqn", "qrdqn", "sac", "td3", "tqc", "ddpg", "trpo", "ars", "crossq")


def _entry(hit: Any, details: Any) -> Entry:
    card = details.card or {}
    env, mean, std = card_result(card)
    tags = [str(t) for t in (details.tags or card.get("tags") or [])]
    algo = next((t.lower() for t in tags if t.lower() in _ALGOS), None)
    if env is None:  # RL Zoo and zoolab tag the env id; it is the tag with a version suffix
        env = next((t for t in tags if re.search(r"-v\d+\Z", t)), None)
    return Entry(repo=hit.qualified_id, env_id=env, algo=algo, library=details.library or hit.library,
                 mean_reward=mean, std_reward=std, downloads=hit.downloads)


def leaderboard(env_id: str | None = None, *, query: str = "", source: str | None = None,
                limit: int = 20, timeout: float | None = None) -> Leaderboard:
    """RL agents of every source (or ``source``), best reported mean return first.

    ``env_id`` keeps the agents evaluated on that environment. Each hit's card is read with
    :func:`zoolab.hub.info` (a few requests in parallel); one that fails adds a warning.
    """
    from zoolab.hub import info, search

    board = Leaderboard()
    wide = max(limit * 5, 100)
    queries = [query] if query or not env_id else ["", env_id]
    hits: dict[str, Any] = {}
    for q in queries:
        found = search(q, task=TASK, source=source, limit=min(wide, 1000), timeout=timeout)
        board.warnings += [w for w in found.warnings if w not in board.warnings]
        for hit in found.hits:
            if hit.source != "catalog":
                hits.setdefault(hit.qualified_id, hit)

    def read(hit: Any) -> Entry | str:
        try:
            return _entry(hit, info(hit.qualified_id))
        except ZoolabError as exc:
            return f"{hit.qualified_id}: {exc.message}"

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(read, hits.values()))
    entries = [r for r in results if isinstance(r, Entry)]
    board.warnings += [r for r in results if isinstance(r, str)]
    if env_id:
        entries = [e for e in entries if e.env_id == env_id]
    entries.sort(key=lambda e: (e.mean_reward is None, -(e.mean_reward or 0.0), e.repo))
    board.entries = entries[:limit]
    return board
