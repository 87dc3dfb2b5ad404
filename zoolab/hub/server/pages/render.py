"""What the pages show of a repo: the card as safe HTML, the model-index as rows, the score, the
frameworks it loads in, and the copyable snippets.

A card comes from whoever pushed the repo: Markdown is rendered with raw HTML allowed (cards use
``<img>``, ``<details>``), then every tag, attribute and URL scheme outside a small allow-list is
removed by nh3, so no script, event handler or ``javascript:`` link from a card reaches a browser.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

import nh3
from markdown_it import MarkdownIt

from zoolab.hub.store import RepoInfo
from zoolab.hub.store.cards import split_front_matter

_ALLOWED_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "details", "div", "dl", "dt", "em", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "img", "kbd", "li", "ol", "p", "pre", "s", "span", "strong", "sub",
    "summary", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul",
}  # fmt: skip
_ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"}, "img": {"src", "alt", "title", "width", "height"}, "th": {"align"}, "td": {"align"},
    "code": {"class"}, "ol": {"start"},
}  # fmt: skip
_markdown = MarkdownIt("commonmark", {"html": True, "linkify": False}).enable("table").enable("strikethrough")

PREVIEW_BYTES = 512 * 1024
"""Files up to this size get a preview on their page."""

FRAMEWORK_TAGS = {"pytorch": "PyTorch", "tf": "TensorFlow", "keras": "Keras", "jax": "JAX", "safetensors": "safetensors",
                  "onnx": "ONNX"}
"""Tags naming a framework (the Hub's spelling) and how the pages show them."""
_LIBRARY_FRAMEWORKS = {"timm": ("pytorch",), "transformers": ("pytorch",), "stable-baselines3": ("pytorch",),
                       "keras-hub": ("keras",), "keras": ("keras",), "tf-keras": ("tf",)}


def sanitize_html(html: str) -> str:
    """``html`` with only harmless tags, attributes and http(s)/mailto/relative links left."""
    return nh3.clean(html, tags=_ALLOWED_TAGS, attributes=_ALLOWED_ATTRIBUTES,
                     url_schemes={"http", "https", "mailto"}, link_rel="noopener noreferrer nofollow")


def render_markdown(text: str) -> str:
    """Markdown (CommonMark with tables) as sanitised HTML."""
    return sanitize_html(_markdown.render(text))


def card_body(text: str) -> str:
    """The Markdown of a README without its YAML block (a malformed block is shown as text)."""
    try:
        return split_front_matter(text)[1]
    except Exception:  # noqa: BLE001 - a broken block must not hide the card; the store already refused it on push
        return text


@dataclass(frozen=True)
class EvalRow:
    """One metric of the card's ``model-index``."""

    model: str
    task: str
    dataset: str
    split: str
    metric: str
    value: str


def _text(value: Any) -> str:
    return "" if value is None or isinstance(value, (dict, list)) else str(value)


def eval_rows(card: dict[str, Any]) -> list[EvalRow]:
    """The ``model-index`` results as rows (malformed entries are skipped, never an error)."""
    rows: list[EvalRow] = []
    index = card.get("model-index")
    for model in index if isinstance(index, list) else []:
        if not isinstance(model, dict):
            continue
        for result in model.get("results") or []:
            if not isinstance(result, dict):
                continue
            task = result.get("task") if isinstance(result.get("task"), dict) else {}
            dataset = result.get("dataset") if isinstance(result.get("dataset"), dict) else {}
            for metric in result.get("metrics") or []:
                if not isinstance(metric, dict):
                    continue
                value = metric.get("value")
                shown = f"{value:.4g}" if isinstance(value, float) else _text(value)
                rows.append(EvalRow(_text(model.get("name")), _text(task.get("name") or task.get("type")),
                                    _text(dataset.get("name") or dataset.get("type")), _text(dataset.get("split")),
                                    _text(metric.get("name") or metric.get("type")), shown))
    return rows


def score(card: dict[str, Any]) -> float | None:
    """The first numeric metric of the card's ``model-index`` (an agent's mean reward, a fine-tuned
    model's accuracy), None when there is none. A string like ``"500.00 +/- 0.00"`` counts by its
    first number, as SB3's cards write it."""
    for row in eval_rows(card):
        head = row.value.split()[0] if row.value.split() else ""
        try:
            number = float(head)
        except ValueError:
            continue
        if math.isfinite(number):
            return number
    return None


def frameworks(info: RepoInfo) -> list[str]:
    """The frameworks the repo loads in, from its tags and library (display names, sorted)."""
    found = {tag for tag in info.tags if tag in FRAMEWORK_TAGS}
    found.update(_LIBRARY_FRAMEWORKS.get(info.library_name or "", ()))
    return [FRAMEWORK_TAGS[key] for key in sorted(found)]


def is_agent(info: RepoInfo) -> bool:
    """True for a reinforcement-learning agent (the Hub's tag, or an SB3 library name)."""
    return "reinforcement-learning" in info.tags or info.library_name in ("stable-baselines3", "zoolab-rl")


@dataclass(frozen=True)
class Snippet:
    """A titled command or code line the page offers to copy."""

    title: str
    code: str


def snippets(info: RepoInfo, base_url: str) -> list[Snippet]:
    """How to use the repo from this server: zoolab, the Python API and the stock libraries."""
    rid = info.repo_id
    base = base_url.rstrip("/")
    env = f"HF_ENDPOINT={base}"
    if info.repo_type == "dataset":
        return [
            Snippet("zoolab CLI", f"zoolab source add hub {base}\nzoolab download hub:{rid} --type dataset"),
            Snippet("datasets", f"{env} python -c \"import datasets; print(datasets.load_dataset({rid!r}))\""),
            Snippet("huggingface_hub", f"{env} hf download {rid} --repo-type dataset"),
        ]
    items = [Snippet("zoolab CLI", f"zoolab source add hub {base}\nzoolab download hub:{rid}")]
    if is_agent(info):
        items.append(Snippet("Watch the agent", f"zoolab rl enjoy hub:{rid} --out replay.mp4"))
    else:
        items.append(Snippet("Python (zoolab)", f"from zoolab import zoo\nmodel = zoo.load({('hub:' + rid)!r})"))
    library = info.library_name or ""
    if library == "timm":
        items.append(Snippet("timm", f"{env} python -c \"import timm; "
                                     f"m = timm.create_model('hf-hub:{rid}', pretrained=True)\""))
    elif library == "transformers":
        items.append(Snippet("transformers", f"{env} python -c \"from transformers import AutoModel; "
                                             f"m = AutoModel.from_pretrained('{rid}')\""))
    elif library in ("keras-hub", "keras"):
        items.append(Snippet("keras-hub", f"{env} python -c \"import keras_hub; "
                                          f"m = keras_hub.models.Backbone.from_preset('hf://{rid}')\""))
    items.append(Snippet("huggingface_hub", f"{env} hf download {rid}"))
    return items


def preview(name: str, data: bytes) -> tuple[str, str]:
    """(kind, content) of a small file: ``markdown`` (safe HTML), ``json`` (pretty text), ``text``, or
    ``binary`` (empty content)."""
    if b"\x00" in data[:8000]:
        return "binary", ""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "binary", ""
    lower = name.lower()
    if lower.endswith((".md", ".markdown")):
        return "markdown", render_markdown(card_body(text) if lower.endswith("readme.md") else text)
    if lower.endswith(".json"):
        try:
            return "json", json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            return "text", text
    return "text", text


def human_size(size: int) -> str:
    """``1.2 MB``-style size (decimal units, as the Hub shows them)."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{size} B"


__all__ = ["EvalRow", "FRAMEWORK_TAGS", "PREVIEW_BYTES", "Snippet", "card_body", "eval_rows", "frameworks",
           "human_size", "is_agent", "preview", "render_markdown", "sanitize_html", "score", "snippets"]
