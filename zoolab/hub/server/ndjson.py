"""Streaming reader of the Hub's ndjson commit payload.

Stock clients send every ``regular`` file inline, base64-encoded, one JSON line per file. A line may
be gigabytes long (a big file from a client with Xet on a server in ``regular`` mode), so a ``file``
line past :data:`SPILL_BYTES` has its content decoded and written to a blob as it arrives instead
of being held in memory; every other line is parsed whole (and is small).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any

from zoolab.errors import InvalidInputError
from zoolab.hub.store.blobs import BlobWriter
from zoolab.hub.store.validation import load_json

SPILL_BYTES = 4 * 1024 * 1024
"""A line longer than this is streamed (when it is a base64 ``file`` line)."""
MAX_LINE_BYTES = 64 * 1024 * 1024
"""Any other line longer than this is refused."""

# What json.dumps writes first for a file operation: the content string comes first.
_FILE_PREFIX = re.compile(rb'^\s*\{\s*"key"\s*:\s*"file"\s*,\s*"value"\s*:\s*\{\s*"content"\s*:\s*"')


class _Base64Sink:
    """Decodes base64 text arriving in pieces and writes the bytes to a blob writer."""

    def __init__(self, writer: BlobWriter):
        self.writer = writer
        self._pending = b""

    def feed(self, text: bytes) -> None:
        if b"\\" in text:
            raise InvalidInputError("base64 file content must not contain JSON escapes")
        data = self._pending + text
        cut = len(data) - len(data) % 4
        self._pending = data[cut:]
        if cut:
            self.writer.write(_b64(data[:cut]))

    def close(self) -> None:
        if self._pending:
            raise InvalidInputError("base64 file content has a truncated last block")


def _b64(text: bytes) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInputError("file content is not valid base64") from None


class CommitPayloadReader:
    """Feed body chunks, get back parsed lines.

    A streamed file comes back as ``{"key": "streamedFile", "value": <value without content>,
    "index": i}``; ``streamed[i]`` holds ``(value, writer)``, the writer (from ``new_writer``)
    already holding every byte of the file, to ``finish()``.
    """

    def __init__(self, new_writer: Callable[[], BlobWriter]):
        self._new_writer = new_writer
        self._buffer = bytearray()
        self._mode = "line"  # line | content | tail
        self._prefix = b""
        self._sink: _Base64Sink | None = None
        self.streamed: list[tuple[dict[str, Any], BlobWriter]] = []
        self.lines = 0

    def feed(self, chunk: bytes) -> list[dict[str, Any]]:
        """Consume a chunk; return the complete small lines parsed from it, in order."""
        out: list[dict[str, Any]] = []
        data = bytes(chunk)
        pos = 0  # scan by offset: copying the rest of the chunk per line would be quadratic
        while pos < len(data):
            if self._mode == "content":
                data, pos = bytes(self._feed_content(memoryview(data)[pos:])), 0
                continue
            newline = data.find(b"\n", pos)
            if newline < 0:
                self._buffer += memoryview(data)[pos:]
                pos = len(data)
                self._maybe_spill()
                continue
            self._buffer += memoryview(data)[pos:newline]
            pos = newline + 1
            line = bytes(self._buffer)
            self._buffer.clear()
            parsed = self._finish_line(line)
            if parsed is not None:
                out.append(parsed)
        return out

    @property
    def buffered(self) -> int:
        """Bytes of the current, unfinished line held in memory."""
        return len(self._buffer)

    def finish(self) -> list[dict[str, Any]]:
        """End of body: parse what is left."""
        if self._mode == "content":
            raise InvalidInputError("commit payload ends inside a file's content")
        line = bytes(self._buffer)
        self._buffer.clear()
        parsed = self._finish_line(line)
        return [parsed] if parsed is not None else []

    def abort(self) -> None:
        """Drop the temp files of streamed contents not yet stored (a no-op for published ones)."""
        if self._sink is not None:
            self._sink.writer.abort()
        # A streamed file refused after its line was read (bad path, ...) must not leave its temp file;
        # abort() leaves published blobs alone.
        for _, writer in self.streamed:
            writer.abort()

    # -- internals
    def _maybe_spill(self) -> None:
        if self._mode != "line" or len(self._buffer) <= SPILL_BYTES:
            return
        match = _FILE_PREFIX.match(self._buffer[:256])
        if match is None:
            if len(self._buffer) > MAX_LINE_BYTES:
                raise InvalidInputError(f"commit payload line {self.lines + 1} is longer than {MAX_LINE_BYTES} bytes")
            return
        self._prefix = bytes(self._buffer[: match.end()])
        rest = bytes(self._buffer[match.end():])
        self._buffer.clear()
        self._sink = _Base64Sink(self._new_writer())
        self._mode = "content"
        self._feed_content(memoryview(rest))

    def _feed_content(self, data: memoryview) -> memoryview:
        assert self._sink is not None
        raw = bytes(data)
        quote = raw.find(b'"')
        if quote < 0:
            self._sink.feed(raw)
            return memoryview(b"")
        self._sink.feed(raw[:quote])
        self._sink.close()
        # The rest of the line (after the closing quote) is parsed as JSON with an empty content.
        self._buffer += self._prefix + b'"'
        self._mode = "tail"
        return memoryview(raw[quote + 1:])

    def _finish_line(self, line: bytes) -> dict[str, Any] | None:
        self.lines += 1
        if self._mode == "tail":
            assert self._sink is not None
            obj = _parse(line, self.lines)
            value = obj.get("value") if isinstance(obj, dict) else None
            if not isinstance(value, dict):
                raise InvalidInputError(f"commit payload line {self.lines} is malformed")
            self.streamed.append((value, self._sink.writer))
            self._sink = None
            self._mode = "line"
            return {"key": "streamedFile", "value": value, "index": len(self.streamed) - 1}
        if not line.strip():
            return None
        return _parse(line, self.lines)


def _parse(line: bytes, number: int) -> dict[str, Any]:
    obj = load_json(line, what=f"commit payload line {number}")
    if not isinstance(obj, dict) or not isinstance(obj.get("value"), dict):
        raise InvalidInputError(f'commit payload line {number} must be {{"key": ..., "value": {{...}}}}')
    return obj
