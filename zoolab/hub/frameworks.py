"""Which deep-learning frameworks a repository serves, and which of its files each one needs.

Derived from the library name, the tags and the file names, because sources differ in what they
report: a search listing often has only library and tags, ``info`` and ``download`` see files.

- torch: timm, transformers, sentence-transformers, diffusers, ``*.safetensors``, ``*.bin``,
  ``*.pt``/``*.pth``, the ``pytorch`` tag;
- tf: keras, keras-hub, tf-keras, tensorflow, ``*.keras``, ``*.h5`` (incl. ``model.weights.h5`` of
  keras-hub presets and ``tf_model.h5`` of transformers), TensorFlow SavedModels, the ``tf`` tag.
"""

from __future__ import annotations

import fnmatch
from typing import Iterable, Sequence

from zoolab.errors import InvalidInputError, UnsupportedError

FRAMEWORKS = ("torch", "tf")

_TORCH_LIBRARIES = {"timm", "transformers", "pytorch", "torch", "sentence-transformers", "diffusers", "open_clip",
                    "peft", "stable-baselines3", "zoolab-rl"}
_TF_LIBRARIES = {"keras", "keras-hub", "keras-nlp", "keras-cv", "tf-keras", "tensorflow", "tf"}
_TORCH_TAGS = {"pytorch", "torch", "timm"}
_TF_TAGS = {"tf", "tensorflow", "keras", "keras-hub", "tf-keras"}

_TORCH_WEIGHTS = ("*.safetensors", "*.bin", "*.pt", "*.pth")
_TF_WEIGHTS = ("*.keras", "*.h5", "*.pb", "variables/*", "*/variables/*", "*.index", "*.data-*")
_OTHER_WEIGHTS = ("*.msgpack", "*.onnx", "*.gguf", "*.ot", "*.tflite", "*.mlmodel", "*.ckpt")


def _match(path: str, patterns: Iterable[str]) -> bool:
    name = path.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(name, p) for p in patterns)


def file_framework(path: str) -> str | None:
    """``torch``, ``tf`` or None (config, tokenizer, card, ...) for one repository file."""
    if _match(path, _TORCH_WEIGHTS):
        return "torch"
    if _match(path, _TF_WEIGHTS):
        return "tf"
    return None


def detect(library: str | None = None, tags: Iterable[str] = (), files: Iterable[str] | None = None) -> tuple[str, ...]:
    """Frameworks (subset of ``("torch", "tf")``, in that order) the repository serves.

    With ``files`` known, weights decide (a transformers repo with only ``tf_model.h5`` is tf);
    library and tags fill in when no weight file says anything.
    """
    found: set[str] = set()
    if files is not None:
        found = {fw for fw in (file_framework(f) for f in files) if fw}
    if not found:
        lib = (library or "").lower()
        tagset = {t.lower() for t in tags}
        if lib in _TORCH_LIBRARIES or tagset & _TORCH_TAGS:
            found.add("torch")
        if lib in _TF_LIBRARIES or tagset & _TF_TAGS:
            found.add("tf")
    return tuple(fw for fw in FRAMEWORKS if fw in found)


def check_framework(framework: str | None) -> str | None:
    """Validate a ``--framework`` value (``torch``, ``tf``, ``tensorflow``, ``keras``, ``pytorch``)."""
    if framework is None:
        return None
    value = framework.lower()
    value = {"pytorch": "torch", "tensorflow": "tf", "keras": "tf"}.get(value, value)
    if value not in FRAMEWORKS:
        raise InvalidInputError(f"unknown framework {framework!r}", hint="use torch or tf")
    return value


def files_for(framework: str, files: Sequence[str], *, repo_id: str = "repository") -> list[str]:
    """The subset of ``files`` that loading the model in ``framework`` needs.

    Keeps configuration, tokenizer, card and metadata files; keeps the framework's weights (only
    safetensors when a torch repo has both safetensors and ``.bin``); drops the other framework's
    weights and unrelated formats (flax, onnx, gguf). Raises :class:`UnsupportedError` when the
    repository has no weights for ``framework``.
    """
    framework = check_framework(framework) or framework
    weights = [f for f in files if file_framework(f) == framework]
    if not weights:
        have = detect(files=files)
        raise UnsupportedError(
            f"{repo_id} has no {framework} weights",
            hint=f"it has: {', '.join(have) or 'no recognised weights'}; drop --framework or pick another",
        )
    if framework == "torch" and any(f.endswith(".safetensors") for f in weights):
        # transformers and timm prefer safetensors; the pickled .bin copy would only cost bandwidth.
        weights = [f for f in weights if f.endswith(".safetensors")]
    keep = set(weights)
    for f in files:
        if file_framework(f) is None and not _match(f, _OTHER_WEIGHTS):
            keep.add(f)
    return [f for f in files if f in keep]


def filter_patterns(files: Iterable[str], include: Sequence[str] | None, exclude: Sequence[str] | None) -> list[str]:
    """Files matching at least one ``include`` glob (all when None) and no ``exclude`` glob.

    Globs follow ``fnmatch`` like huggingface_hub's ``allow_patterns``: ``*`` crosses ``/``, and a
    pattern ending in ``/`` means everything under that folder.
    """

    def norm(patterns: Sequence[str] | None) -> list[str] | None:
        if patterns is None:
            return None
        return [p + "*" if p.endswith("/") else p for p in patterns]

    inc, exc = norm(include), norm(exclude)
    out = []
    for f in files:
        if inc is not None and not any(fnmatch.fnmatchcase(f, p) for p in inc):
            continue
        if exc is not None and any(fnmatch.fnmatchcase(f, p) for p in exc):
            continue
        out.append(f)
    return out
