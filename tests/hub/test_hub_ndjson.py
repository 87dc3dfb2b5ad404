"""The streaming ndjson commit reader: big inline files go to disk piece by piece."""

from __future__ import annotations

import base64
import hashlib
import json
import os
from pathlib import Path

import pytest

from zoolab.errors import InvalidInputError
from zoolab.hub.server import ndjson
from zoolab.hub.store import Store


def payload(files: dict[str, bytes]) -> bytes:
    lines = [{"key": "header", "value": {"summary": "s"}}]
    lines += [{"key": "file", "value": {"content": base64.b64encode(d).decode(), "path": p, "encoding": "base64"}}
              for p, d in files.items()]
    lines.append({"key": "deletedFile", "value": {"path": "old.txt"}})
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


@pytest.mark.parametrize("chunk_size", [1, 7, 512, 4096])
def test_big_file_lines_are_streamed_and_small_ones_parsed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           chunk_size: int) -> None:
    monkeypatch.setattr(ndjson, "SPILL_BYTES", 1000)
    store = Store(tmp_path / "h")
    files = {"small.txt": b"tiny", "big.bin": os.urandom(5000)}
    body = payload(files)
    reader = ndjson.CommitPayloadReader(store.blob_writer)
    items = []
    for start in range(0, len(body), chunk_size):
        items += reader.feed(body[start:start + chunk_size])
    items += reader.finish()
    assert [i["key"] for i in items] == ["header", "file", "streamedFile", "deletedFile"]
    value, writer = reader.streamed[0]
    assert value == {"content": "", "path": "big.bin", "encoding": "base64"}
    digest = writer.finish()
    assert digest.sha256 == hashlib.sha256(files["big.bin"]).hexdigest()
    assert store.blobs.path(digest.sha256).read_bytes() == files["big.bin"]


def test_truncated_or_garbled_payloads_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ndjson, "SPILL_BYTES", 100)
    store = Store(tmp_path / "h")
    body = payload({"big.bin": os.urandom(1000)})
    reader = ndjson.CommitPayloadReader(store.blob_writer)
    with pytest.raises(InvalidInputError):
        reader.feed(body[: len(body) // 2])
        reader.finish()
    reader.abort()
    assert list(store.blobs.tmp_dir.iterdir()) == []
    with pytest.raises(InvalidInputError):
        ndjson.CommitPayloadReader(store.blob_writer).feed(b'{"key": "header", "value": {}}\n{not json}\n')
    with pytest.raises(InvalidInputError):
        bad = b'{"key": "file", "value": {"content": "' + b"A" * 200 + b'!!", "path": "x"}}\n'
        streaming = ndjson.CommitPayloadReader(store.blob_writer)
        for start in range(0, len(bad), 50):
            streaming.feed(bad[start:start + 50])
