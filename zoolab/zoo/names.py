"""What a model name a user types stands for, for commands that work on repositories.

``zoolab info``, ``zoolab download`` and ``zoolab cache rm`` resolve names in the order
:func:`zoolab.zoo.load` does, so ``resnet50`` means the same model everywhere:

1. a path (``./my-model``, ``/abs``, ``~/x``) is a folder on disk, not a repository: refused with
   the command that publishes it;
2. a catalog name (``resnet50``, ``bert-base-uncased``, aliases included) -> the entry's
   repository (``hf:timm/resnet50.a1_in1k``), unless ``--source`` names another source;
3. ``org/name`` or ``SOURCE:org/name`` -> itself (the default source for an unqualified id);
4. a bare name that is no catalog name, without ``--source`` -> an error with close matches
   (a repository id always has a namespace; ``--source hf`` reaches a namespace-less Hub repo).
"""

from __future__ import annotations

from zoolab.errors import InvalidInputError, ModelNotFoundError
from zoolab.zoo import catalog


def _looks_like_path(text: str) -> bool:
    return text.startswith((".", "/", "~")) or "\\" in text or text.count("/") > 1


def repo_ref(ref: str, *, source: str | None = None) -> str:
    """The repository ref (``[SOURCE:]org/name``) the model name ``ref`` stands for.

    Raises:
        InvalidInputError: ``ref`` is empty or a path on disk.
        ModelNotFoundError: ``ref`` is a bare name that is no catalog name (with close matches).
    """
    text = (ref or "").strip()
    if not text:
        raise InvalidInputError("a model is needed: a catalog name or a repository id ([SOURCE:]org/name)")
    if _looks_like_path(text):
        raise InvalidInputError(
            f"{text} is a folder path, not a repository",
            hint=f"publish it with `zoolab publish {text} SOURCE:org/name`, or pass a catalog name or repo id",
        )
    if source is None and ":" not in text:
        entry = catalog.find(text)
        if entry is not None:
            return entry.torch_repo
        if "/" not in text:
            from zoolab.hub.refs import validate_repo_id

            validate_repo_id(text)  # malformed ids get the repository id message
            try:
                catalog.get(text)
            except ModelNotFoundError as exc:
                raise ModelNotFoundError(
                    f"'{text}' is neither a catalog model nor a repository id",
                    hint=f"{exc.hint}; a repository id is org/name or SOURCE:org/name (or pass --source)",
                ) from None
    return text
