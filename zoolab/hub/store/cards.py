"""Model-card metadata (README.md YAML front matter) and the Hub's "is this an LFS file" rule."""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from zoolab.errors import InvalidCardError
from zoolab.hub.yaml_safe import load_untrusted_yaml

# Blank lines may come first, as huggingface_hub's card parser (and so the Hub) allows.
_FRONT_MATTER = re.compile(r"\A\ufeff?\s*---[ \t]*\r?\n(.*?)\r?\n---[ \t]*(?:\r?\n|\Z)", re.DOTALL)

# Files the Hub's default .gitattributes sends to LFS whatever their size.
LFS_SUFFIXES = frozenset(
    {
        ".7z", ".arrow", ".bin", ".bz2", ".ckpt", ".ftz", ".gguf", ".gz", ".h5", ".joblib", ".keras",
        ".mlmodel", ".model", ".msgpack", ".npy", ".npz", ".onnx", ".ot", ".parquet", ".pb", ".pickle",
        ".pkl", ".pt", ".pth", ".rar", ".safetensors", ".tar", ".tflite", ".tgz", ".wasm", ".xz",
        ".zip", ".zst", ".mp4", ".png", ".jpg", ".jpeg", ".wav", ".mp3",
    }
)  # fmt: skip
LFS_MIN_SIZE = 10 * 1024 * 1024
"""Files from this size on are LFS files, text or not (the Hub's limit for regular git files)."""


def is_lfs_file(path: str, size: int, sample: bytes) -> bool:
    """Decide like the Hub whether a file is an LFS file: big, binary, or a known binary suffix.

    ``sample`` is the start of the content (the Hub's preupload sends its first 512 bytes).
    """
    if size == 0:
        return False  # an empty file is a plain git blob on the Hub, whatever its suffix
    if size >= LFS_MIN_SIZE:
        return True
    if PurePosixPath(path).suffix.lower() in LFS_SUFFIXES:
        return True
    return b"\x00" in sample[:8000]


def split_front_matter(text: str) -> tuple[dict[str, Any], str]:
    """(metadata, body) of a model card: the YAML block at the top as a dict ({} when there is none).

    Raises InvalidCardError when the block is not valid YAML or not a mapping, and when it uses
    what :func:`zoolab.hub.yaml_safe.load_untrusted_yaml` refuses (aliases, deep nesting, huge
    blocks): the card comes from whoever pushed the repo.
    """
    match = _FRONT_MATTER.match(text)
    if match is None:
        return {}, text
    try:
        data = load_untrusted_yaml(match.group(1))
    except yaml.YAMLError as exc:
        raise InvalidCardError(
            f"the README.md metadata block is not valid YAML: {str(exc).splitlines()[0]}",
            hint="fix the block between the two '---' lines at the top of README.md",
        ) from None
    if data is None:
        return {}, text[match.end():]
    if not isinstance(data, dict):
        raise InvalidCardError(
            "the README.md metadata block must be a YAML mapping (key: value lines)",
            hint="write e.g. 'library_name: timm' between the '---' lines",
        )
    return data, text[match.end():]


def parse_card_metadata(text: str) -> dict[str, Any]:
    """The card's YAML metadata as JSON-ready values ({} when there is none); see split_front_matter."""
    return _jsonable(split_front_matter(text)[0])


MAX_CARD_BYTES = 5 * 1024 * 1024
"""A README larger than this is not indexed as a model card."""


def card_of_file(path: Path) -> tuple[dict[str, Any], str]:
    """(JSON-ready metadata, text) of a README file; ({}, "") when it is too large to be a card.
    Raises InvalidCardError for malformed metadata (see :func:`split_front_matter`)."""
    if path.stat().st_size > MAX_CARD_BYTES:
        return {}, ""
    text = path.read_text(encoding="utf-8", errors="replace")
    return parse_card_metadata(text), text


def _jsonable(value: Any) -> Any:
    # YAML may hold dates and other non-JSON scalars; the store keeps JSON.
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def card_tags(card: dict[str, Any]) -> tuple[list[str], str | None, str | None]:
    """(tags, library_name, pipeline_tag) derived from card metadata, the way the Hub lists them."""
    tags: list[str] = []

    def add(tag: Any) -> None:
        if isinstance(tag, (str, int, float)) and str(tag) and str(tag) not in tags:
            tags.append(str(tag))

    raw = card.get("tags") or []
    for tag in raw if isinstance(raw, list) else [raw]:
        add(tag)
    library = card.get("library_name")
    library = str(library) if isinstance(library, (str, int, float)) else None
    pipeline = card.get("pipeline_tag")
    pipeline = str(pipeline) if isinstance(pipeline, (str, int, float)) else None
    if library:
        add(library)
    if pipeline:
        add(pipeline)
    for key, prefix in (("license", "license:"), ("base_model", "base_model:"), ("datasets", "dataset:")):
        value = card.get(key)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item:
                add(prefix + item)
    languages = card.get("language")
    for item in languages if isinstance(languages, list) else [languages]:
        if isinstance(item, str) and item:
            add(item)
    return tags, library, pipeline
