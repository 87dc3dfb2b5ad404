"""What ``/api/validate-yaml`` reports on a card's metadata, as the Hub does: errors for fields of
the wrong shape (the client refuses to commit such a README), a warning for a card without any.

Only the fields the Hub and zoolab's search read are checked; unknown fields are the card's own.
"""

from __future__ import annotations

from typing import Any

NO_METADATA_WARNING = "empty or missing yaml metadata in repo card"

_STRING_OR_LIST = ("license", "language", "tags", "datasets", "base_model", "metrics")
_STRINGS = ("library_name", "pipeline_tag", "license_name", "license_link")


def _is_text_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def card_problems(metadata: dict[str, Any]) -> tuple[list[str], list[str]]:
    """``(errors, warnings)`` for a card's parsed YAML metadata."""
    if not metadata:
        return [], [NO_METADATA_WARNING]
    errors = []
    for key in _STRING_OR_LIST:
        value = metadata.get(key)
        if value is not None and not isinstance(value, str) and not _is_text_list(value):
            errors.append(f'"{key}" must be a string or an array of strings')
    for key in _STRINGS:
        value = metadata.get(key)
        if value is not None and not isinstance(value, str):
            errors.append(f'"{key}" must be a string')
    index = metadata.get("model-index")
    if index is not None:
        if not isinstance(index, list) or not all(isinstance(item, dict) for item in index):
            errors.append('"model-index" must be an array of objects')
        elif not all(isinstance(item.get("name"), str) and isinstance(item.get("results", []), list)
                     for item in index):
            errors.append('"model-index[]" needs a string "name" and an array "results"')
    return errors, []


__all__ = ["NO_METADATA_WARNING", "card_problems"]
