"""Model cards: validate a README.md's YAML metadata before publishing, or write one.

The metadata fields the Hub indexes are checked field by field so a bad card is refused before
anything is uploaded, with a message naming the field: ``library_name``, ``tags``,
``pipeline_tag``, ``license``, ``base_model``, ``datasets``, ``language``, ``metrics`` and
``model-index`` (parsed by huggingface_hub's ``ModelCardData``, as the Hub parses it).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any


from zoolab.errors import InvalidCardError, InvalidInputError
from zoolab.hub.refs import validate_repo_id
from zoolab.hub.store.cards import split_front_matter

_LIBRARY = re.compile(r"^[a-z0-9][a-z0-9_.+-]*\Z")

PIPELINE_TAGS = frozenset(
    """audio-classification audio-to-audio automatic-speech-recognition depth-estimation
    document-question-answering feature-extraction fill-mask image-classification image-feature-extraction
    image-segmentation image-text-to-text image-to-image image-to-text image-to-video keypoint-detection
    mask-generation object-detection question-answering reinforcement-learning robotics sentence-similarity
    summarization table-question-answering tabular-classification tabular-regression text-classification
    text-generation text-ranking text-to-audio text-to-image text-to-speech text-to-video text2text-generation
    time-series-forecasting token-classification translation unconditional-image-generation
    video-classification video-text-to-text visual-question-answering zero-shot-classification
    zero-shot-image-classification zero-shot-object-detection image-to-3d text-to-3d any-to-any other""".split()
)
"""Task ids the Hub accepts as ``pipeline_tag``."""

LICENSES = frozenset(
    """apache-2.0 mit openrail openrail++ bigscience-openrail-m creativeml-openrail-m bigscience-bloom-rail-1.0
    bigcode-openrail-m afl-3.0 artistic-2.0 bsl-1.0 bsd bsd-2-clause bsd-3-clause bsd-3-clause-clear c-uda cc
    cc0-1.0 cc-by-2.0 cc-by-2.5 cc-by-3.0 cc-by-4.0 cc-by-sa-3.0 cc-by-sa-4.0 cc-by-nc-2.0 cc-by-nc-3.0
    cc-by-nc-4.0 cc-by-nd-4.0 cc-by-nc-nd-3.0 cc-by-nc-nd-4.0 cc-by-nc-sa-2.0 cc-by-nc-sa-3.0 cc-by-nc-sa-4.0
    cdla-sharing-1.0 cdla-permissive-1.0 cdla-permissive-2.0 wtfpl ecl-2.0 epl-1.0 epl-2.0 etalab-2.0 eupl-1.1
    eupl-1.2 agpl-3.0 gfdl gpl gpl-2.0 gpl-3.0 lgpl lgpl-2.1 lgpl-3.0 isc h-research intel-research lppl-1.3c
    ms-pl apple-ascl apple-amlr mpl-2.0 odc-by odbl openmdw-1.0 osl-3.0 postgresql ofl-1.1 ncsa unlicense zlib
    pddl lgpl-lr deepfloyd-if-license fair-noncommercial-research-license llama2 llama3 llama3.1 llama3.2
    llama3.3 llama4 gemma unknown other""".split()
)
"""License ids the Hub accepts (``other`` with ``license_name`` for anything else)."""


def split_card(text: str) -> tuple[dict[str, Any], str]:
    """(metadata, body) of a model card; metadata is {} when there is no YAML block."""
    return split_front_matter(text)


def _bad(field: str, problem: str, hint: str | None = None) -> InvalidCardError:
    return InvalidCardError(f"README.md metadata field '{field}' {problem}", hint=hint)


def _str_list(meta: dict[str, Any], field: str) -> list[str]:
    value = meta.get(field)
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) and v.strip() for v in items):
        raise _bad(field, "must be a string or a list of non-empty strings")
    return items


def validate_metadata(meta: dict[str, Any]) -> dict[str, Any]:
    """Check the fields the Hub indexes; return ``meta`` unchanged or raise :class:`InvalidCardError`."""
    lib = meta.get("library_name")
    if lib is not None and (not isinstance(lib, str) or not _LIBRARY.match(lib)):
        raise _bad("library_name", f"must be a lowercase library id such as timm or transformers, not {lib!r}")
    _str_list(meta, "tags")
    task = meta.get("pipeline_tag")
    if task is not None and (not isinstance(task, str) or task not in PIPELINE_TAGS):
        raise _bad("pipeline_tag", f"{task!r} is not a Hub task", hint="e.g. image-classification, text-classification")
    lic = meta.get("license")
    if lic is not None and (not isinstance(lic, str) or lic not in LICENSES):
        raise _bad("license", f"{lic!r} is not a license id the Hub knows",
                   hint="e.g. apache-2.0 or mit; use 'other' with license_name for anything else")
    for base in _str_list(meta, "base_model"):
        try:
            validate_repo_id(base)
        except InvalidInputError:
            raise _bad("base_model", f"{base!r} is not a repository id", hint="write namespace/name") from None
    _str_list(meta, "datasets")
    _str_list(meta, "language")
    _str_list(meta, "metrics")
    if "model-index" in meta or "model_index" in meta:
        _validate_model_index(meta)
    return meta


def _validate_model_index(meta: dict[str, Any]) -> None:
    from huggingface_hub import ModelCardData

    field = "model-index" if "model-index" in meta else "model_index"
    index = meta[field]
    if not isinstance(index, list) or not index:
        raise _bad(field, "must be a non-empty list of {name, results: [...]} entries")
    try:
        data = ModelCardData(**{"model-index": index})
    except (ValueError, KeyError, TypeError) as exc:
        first = str(exc).split(". Pass")[0]
        raise _bad(field, f"is invalid: {first}", hint="each result needs task.type, dataset.name/type, metrics[].type/value") from None
    for result in data.eval_results or []:
        if not isinstance(result.metric_value, (int, float, str)):
            raise _bad(field, f"metric {result.metric_type!r} has a non-scalar value")


def validate_card_file(path: Path) -> dict[str, Any]:
    """Read and validate ``path`` (a README.md); return its metadata."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidCardError(f"{path} is not UTF-8 text") from None
    meta, _body = split_card(text)
    return validate_metadata(meta)


def card_summary(text: str) -> str | None:
    """The first paragraph of a card's text (not a heading), trimmed to 300 characters."""
    try:
        _meta, body = split_card(text)
    except InvalidCardError:
        body = text
    for para in re.split(r"\n\s*\n", body):
        line = " ".join(para.split())
        if line and not line.startswith(("#", "<", "|", "```", "---")):
            return line[:300]
    return None


def card_scores(meta: dict[str, Any]) -> list[str]:
    """The card's ``model-index`` scores as lines such as ``"Accuracy 0.9412 (pets, test)"``.

    Read with huggingface_hub's ``ModelCardData`` as the Hub reads them; a malformed block gives none.
    """
    index = meta.get("model-index") or meta.get("model_index")
    if not isinstance(index, list) or not index:
        return []
    from huggingface_hub import ModelCardData

    try:
        results = ModelCardData(**{"model-index": index}).eval_results or []
    except (ValueError, KeyError, TypeError, AttributeError):
        return []
    lines = []
    for r in results:
        value = f"{r.metric_value:.4f}" if isinstance(r.metric_value, float) else str(r.metric_value)
        where = ", ".join(str(x) for x in (r.dataset_name, r.dataset_split) if x)
        lines.append(f"{r.metric_name or r.metric_type} {value}" + (f" ({where})" if where else ""))
    return lines


def generate_card(folder: Path, repo_id: str) -> str:
    """A README.md for a folder that has none, with metadata read from its config files.

    Reads ``zoolab.json`` (task, framework, library, license, base_model, datasets, metrics),
    ``config.json`` (timm's ``architecture`` or transformers' ``model_type``) and keras-hub's
    ``metadata.json``; the result passes :func:`validate_metadata`.
    """
    from huggingface_hub import ModelCardData

    zl = _json(folder / "zoolab.json")
    cfg = _json(folder / "config.json")
    meta: dict[str, Any] = {}
    library = zl.get("library") or zl.get("library_name")
    if not library:
        if (folder / "metadata.json").exists() and "keras_version" in _json(folder / "metadata.json"):
            library = "keras-hub"
        elif "architecture" in cfg and "pretrained_cfg" in cfg:
            library = "timm"
        elif "model_type" in cfg:
            library = "transformers"
    if isinstance(library, str) and _LIBRARY.match(library):
        meta["library_name"] = library
    task = zl.get("task") or zl.get("pipeline_tag") or _folder_task(folder)
    if task in PIPELINE_TAGS:
        meta["pipeline_tag"] = task
    tags = ["zoolab"]
    fw = zl.get("framework")
    for f in fw if isinstance(fw, list) else [fw]:
        if f in ("torch", "pytorch"):
            tags.append("pytorch")
        elif f in ("tf", "keras", "tensorflow"):
            tags.append("keras")
    meta["tags"] = tags
    if zl.get("license") in LICENSES:
        meta["license"] = zl["license"]
    for key in ("base_model", "datasets"):
        if isinstance(zl.get(key), (str, list)):
            meta[key] = zl[key]
    meta = validate_metadata(meta)
    yaml_text = ModelCardData(**meta).to_yaml()
    name = repo_id.split("/")[-1]
    lines = [f"# {name}", ""]
    task_words = meta.get("pipeline_tag", "").replace("-", " ")
    article = "An" if task_words[:1] in ("a", "e", "i", "o", "u") else "A"
    what = f"{article} {task_words} model" if task_words else "A model"
    if meta.get("library_name"):
        what += f" for {meta['library_name']}"
    lines += [what + ", published with zoolab.", "", "```bash", f"zoolab download {repo_id}", "```", ""]
    return f"---\n{yaml_text}\n---\n\n" + "\n".join(lines)


def _folder_task(folder: Path) -> str | None:
    """The task zoolab.zoo reads from the folder's config (``BertForSequenceClassification`` ->
    text-classification, a timm classifier -> image-classification), as loading it would."""
    from zoolab.errors import ZoolabError

    try:
        from zoolab.zoo.metadata import inspect_folder

        return inspect_folder(folder).task
    except (ZoolabError, OSError, ValueError, ImportError):
        return None


def _json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
