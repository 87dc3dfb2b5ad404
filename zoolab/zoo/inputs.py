"""What ``zoolab predict`` runs a model on: image files (a folder stands for the images in it) or texts.

A vision model takes image paths; a folder among them is replaced by the image files directly in
it, in name order. A text model takes the arguments as texts, and an argument that is an existing
image file or a folder of images is almost certainly a mistake (the model would classify the string
``"cat.jpg"``), so it is refused with a message saying why.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from zoolab.errors import InvalidInputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm")
VISION_TASKS = ("image-classification",)


def _is_image_file(text: str) -> bool:
    path = Path(text).expanduser()
    return path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()


def images_in(folder: Path) -> list[str]:
    """The image files directly in ``folder`` (by suffix), sorted by name; hidden files skipped."""
    return [str(p) for p in sorted(folder.iterdir())
            if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES]


def prediction_inputs(inputs: Sequence[str], task: str) -> list[str]:
    """The inputs to give a model of ``task``: folders expanded for vision models, checked for text ones.

    Raises:
        InvalidInputError: a folder holds no images; a text model got an image file or a folder.
    """
    items = [str(x) for x in inputs]
    if not items:
        raise InvalidInputError("no inputs given", hint="pass image files, a folder of images, or texts")
    if task not in VISION_TASKS:
        for item in items:
            path = Path(item).expanduser()
            if _is_image_file(item) or (path.is_dir() and images_in(path)):
                kind = "an image file" if path.is_file() else "a folder"
                raise InvalidInputError(
                    f"'{item}' is {kind}, but this is a {task} model: it takes texts, not images",
                    hint="pass the text itself, or an image-classification model for images",
                )
        return items
    out: list[str] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            found = images_in(path)
            if not found:
                raise InvalidInputError(
                    f"folder {item} holds no image files", hint=f"images end in {', '.join(IMAGE_SUFFIXES[:5])}, ..."
                )
            out.extend(found)
        else:
            out.append(item)
    return out
