"""TensorBoard scalar event files without importing tensorboard.

``torch.utils.tensorboard`` pulls in tensorboard's TensorFlow stub, which imports boto3, botocore
and fsspec for remote file systems: most of a second of start-up for a run that logs a few
hundred numbers. An event file is a TFRecord stream of ``Event`` protocol buffers; scalars need
five fields, written here by hand. The files are what ``SummaryWriter`` writes (the same header
event, the same ``purge_step`` session-start marker, the same file names), and TensorBoard reads
them as its own.
"""

from __future__ import annotations

import itertools
import os
import socket
import struct
import time
from pathlib import Path


def _crc_table() -> list[int]:
    table = []
    for n in range(256):
        crc = n
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1  # CRC-32C (Castagnoli), reflected
        table.append(crc)
    return table


_CRC_TABLE = _crc_table()
_FILE_IDS = itertools.count()


def crc32c(data: bytes) -> int:
    """CRC-32C of ``data``."""
    crc = 0xFFFFFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def _masked_crc(data: bytes) -> int:
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # int64 fields: negative numbers as two's complement
    out = bytearray()
    while True:
        bits = n & 0x7F
        n >>= 7
        if n:
            out.append(bits | 0x80)
        else:
            out.append(bits)
            return bytes(out)


def _field_bytes(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _event(wall_time: float, step: int | None = None, *, file_version: str | None = None,
           summary: bytes | None = None, session_start: bool = False, writer: str | None = None) -> bytes:
    """One serialised ``tensorflow.Event`` (fields: 1 wall_time, 2 step, 3 file_version, 5 summary,
    7 session_log, 10 source_metadata)."""
    out = b"\x09" + struct.pack("<d", wall_time)
    if step is not None:
        out += b"\x10" + _varint(step)
    if file_version is not None:
        out += _field_bytes(3, file_version.encode())
    if summary is not None:
        out += _field_bytes(5, summary)
    if session_start:
        out += _field_bytes(7, b"\x08\x01")  # SessionLog{status: START}
    if writer is not None:
        out += _field_bytes(10, _field_bytes(1, writer.encode()))
    return out


def _scalar_summary(tag: str, value: float) -> bytes:
    """``Summary{value: [{tag, simple_value}]}``."""
    return _field_bytes(1, _field_bytes(1, tag.encode()) + b"\x15" + struct.pack("<f", value))


class ScalarWriter:
    """The part of ``SummaryWriter`` zoolab uses: ``add_scalar``, ``flush``, ``close``, ``purge_step``.

    With ``purge_step`` TensorBoard hides events of earlier files at that step and later (a
    resumed run's logs then read like an uninterrupted one's).
    """

    def __init__(self, log_dir: str | Path, purge_step: int | None = None) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        name = f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}.{os.getpid()}.{next(_FILE_IDS)}"
        self.path = self.log_dir / name
        self._fh = self.path.open("wb")
        self._write(_event(time.time(), file_version="brain.Event:2", writer="zoolab.tbevents"))
        if purge_step is not None:
            self._write(_event(time.time(), purge_step, file_version="brain.Event:2"))
            self._write(_event(time.time(), purge_step, session_start=True))
        self.flush()

    def _write(self, data: bytes) -> None:
        header = struct.pack("<Q", len(data))
        self._fh.write(header + struct.pack("<I", _masked_crc(header)) + data + struct.pack("<I", _masked_crc(data)))

    def add_scalar(self, tag: str, value: float, step: int) -> None:
        """Log ``value`` under ``tag`` at ``step``."""
        self._write(_event(time.time(), int(step), summary=_scalar_summary(tag, float(value))))

    def flush(self) -> None:
        """Push buffered events to the file."""
        if not self._fh.closed:
            self._fh.flush()

    def close(self) -> None:
        """Flush and close the file."""
        if not self._fh.closed:
            self._fh.close()
