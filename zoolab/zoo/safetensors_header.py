"""Reading a ``*.safetensors`` header without trusting it: names, dtypes and shapes, no tensor data.

A safetensors file is an 8-byte little-endian header length, a JSON header (tensor name ->
``{"dtype", "shape", "data_offsets"}``, plus an optional ``__metadata__`` of strings) and the raw
bytes. The header is what zoolab compares with a config's declared sizes before any library
allocates a tensor, so it is read here with its own bounds: a header larger than the file or than
:data:`MAX_HEADER_BYTES`, an unknown dtype, a negative or non-integer dimension, or offsets that do
not match the shape or leave the file are refused with one line naming the file and the tensor.

This module imports no framework.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass
from pathlib import Path

from zoolab.errors import InvalidInputError, UnsupportedError

MAX_HEADER_BYTES = 100 * 1024 * 1024
"""The safetensors library's own limit on the header (100 MB)."""

#: dtype -> bytes per element, as the safetensors format defines them.
DTYPE_BYTES: dict[str, float] = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1, "F4": 0.5, "F6_E2M3": 0.75,
    "F6_E3M2": 0.75, "I16": 2, "U16": 2, "F16": 2, "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8,
    "U64": 8, "F64": 8, "C64": 8,
}  # fmt: skip

#: dtypes numpy holds natively: what the Keras path (keras-hub's converters read numpy) can use.
NUMPY_DTYPES = frozenset({"BOOL", "U8", "I8", "I16", "U16", "F16", "I32", "U32", "F32", "I64", "U64", "F64"})
#: dtypes PyTorch loads (torch has no 4/6-bit float or complex64 weights in these checkpoints).
TORCH_DTYPES = NUMPY_DTYPES | {"BF16", "F8_E5M2", "F8_E4M3", "F8_E8M0"}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor as its file's header declares it."""

    dtype: str
    shape: tuple[int, ...]

    @property
    def numel(self) -> int:
        """Number of elements."""
        return math.prod(self.shape)


def read_header(path: Path, *, display: str | None = None) -> dict[str, TensorInfo]:
    """The tensors declared by the safetensors file ``path`` (no tensor data is read).

    Raises:
        InvalidInputError: the file is not a well-formed safetensors file (the message names the
            file, shown as ``display``, and the first problem found).
        UnsupportedError: a tensor has a dtype the safetensors format does not define.
    """
    name = display or path.name
    try:
        size = path.stat().st_size
        with path.open("rb") as fh:
            prefix = fh.read(8)
            if len(prefix) < 8:
                raise InvalidInputError(f"{name} is not a safetensors file (shorter than its 8-byte header length)")
            (length,) = struct.unpack("<Q", prefix)
            if length > MAX_HEADER_BYTES or length > size - 8:
                raise InvalidInputError(
                    f"{name} is not a safetensors file: its header claims {length} bytes "
                    f"(the file has {size}; at most {MAX_HEADER_BYTES} allowed)"
                )
            raw = fh.read(length)
    except OSError as exc:
        raise InvalidInputError(f"cannot read {name}: {exc.strerror or exc}") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise InvalidInputError(f"{name} is not a safetensors file: its header is not JSON") from None
    if not isinstance(header, dict):
        raise InvalidInputError(f"{name} is not a safetensors file: its header is not a JSON object")
    data_size = size - 8 - length
    tensors: dict[str, TensorInfo] = {}
    for key, entry in header.items():
        if key == "__metadata__":
            continue
        tensors[key] = _tensor(name, key, entry, data_size)
    return tensors


def _tensor(name: str, key: str, entry: object, data_size: int) -> TensorInfo:
    if not isinstance(entry, dict):
        raise InvalidInputError(f"{name}: tensor {key!r} has no dtype/shape/data_offsets entry")
    dtype, shape, offsets = entry.get("dtype"), entry.get("shape"), entry.get("data_offsets")
    if dtype not in DTYPE_BYTES:
        raise UnsupportedError(f"{name}: tensor {key!r} has dtype {dtype!r}, which safetensors does not define")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise InvalidInputError(f"{name}: tensor {key!r} has shape {shape!r}; expected a list of non-negative integers")
    if (
        not isinstance(offsets, list) or len(offsets) != 2
        or not all(type(o) is int for o in offsets) or not 0 <= offsets[0] <= offsets[1] <= data_size
    ):  # fmt: skip
        raise InvalidInputError(f"{name}: tensor {key!r} has data_offsets {offsets!r} outside the file")
    info = TensorInfo(dtype, tuple(shape))
    if offsets[1] - offsets[0] != math.ceil(info.numel * DTYPE_BYTES[dtype]):
        raise InvalidInputError(
            f"{name}: tensor {key!r} declares shape {tuple(shape)} of {dtype} but holds "
            f"{offsets[1] - offsets[0]} bytes"
        )
    return info
