"""Multipart LFS uploads assembled in the bucket, so any server process may receive any part.

With the blob folder, a multipart upload is assembled in a file of the store's ``tmp/``
(:mod:`zoolab.hub.server.multipart`), which every process on that machine shares. Processes on
several machines share only the bucket, so there each part becomes an object
``<prefix>/uploads/<upload id>/<part number>`` carrying the sha256 of its bytes (its etag).
Completion reads the parts back in order through one blob writer, re-hashing each against its
etag and the whole against the object's oid and size; only then is the blob stored under its name.
Bytes are thus verified as they are read for the blob: a part replaced after completion began can
never reach it. Part objects are removed after completion, and ``gc`` removes abandoned ones.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool

from zoolab.errors import ConflictError, IntegrityError, InvalidInputError
from zoolab.hub.store.blobs import CHUNK, BlobDigest
from zoolab.hub.store.s3 import S3Blobs

_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


class BucketAssembly:
    """The parts of one multipart upload, as objects in the store's bucket (same interface as
    :class:`zoolab.hub.server.multipart.Assembly`)."""

    def __init__(self, blobs: S3Blobs, upload_id: str):
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise InvalidInputError("invalid upload id", hint="ask the LFS batch API for new upload URLs")
        self.blobs = blobs
        self.base = blobs.uploads_key(upload_id)

    def _key(self, number: int | str) -> str:
        return f"{self.base}/{number}"

    def _sealed(self) -> bool:
        return self.blobs.head_key(self._key("sealed")) is not None

    async def write_part(self, number: int, offset: int, body: AsyncIterator[bytes]) -> tuple[int, str]:
        """Receive one part into a local temp file, then store it as a part object; ``(bytes, etag)``.
        ``offset`` is implied by the part number here. 409 once completion began."""
        if await run_in_threadpool(self._sealed):
            raise ConflictError("this upload was completed already", hint="start a new upload")
        fd, name = tempfile.mkstemp(prefix="part-", dir=self.blobs.tmp_dir)
        temp = Path(name)
        try:
            digest = hashlib.sha256()
            written = 0
            with os.fdopen(fd, "wb") as fh:
                async for data in body:
                    fh.write(data)
                    digest.update(data)
                    written += len(data)
            etag = digest.hexdigest()
            await run_in_threadpool(self._put_part, number, temp, etag)
        finally:
            temp.unlink(missing_ok=True)
        return written, etag

    def _put_part(self, number: int, temp: Path, etag: str) -> None:
        with open(temp, "rb") as fh:  # the storage re-checks the part's sha256 as it receives it
            self.blobs.client.put_object(Bucket=self.blobs.bucket, Key=self._key(number), Body=fh,
                                         ChecksumSHA256=base64.b64encode(bytes.fromhex(etag)).decode(),
                                         Metadata={"sha256": etag})

    def check_parts(self, parts: list[object], count: int) -> None:
        """Refuse a completion whose part list does not match what was received."""
        if len(parts) != count:
            raise InvalidInputError(f"completion must list all {count} parts")
        for number, part in enumerate(parts, start=1):
            head = self.blobs.head_key(self._key(number))
            if not isinstance(part, dict) or part.get("partNumber") != number or head is None:
                raise InvalidInputError(f"part {number} was not uploaded", hint="upload every part, then complete")
            if head.get("Metadata", {}).get("sha256") != part.get("etag"):
                raise IntegrityError(f"part {number}'s etag does not match what was received")

    def seal_and_store(self, blobs: Any, oid: str, size: int, count: int) -> BlobDigest:
        """Concatenate the parts through a blob writer, verifying each part and the whole, and
        store the blob (blocking: run it in a worker thread). The part objects are removed
        whatever the outcome."""
        client, bucket = self.blobs.client, self.blobs.bucket
        client.put_object(Bucket=bucket, Key=self._key("sealed"), Body=b"")  # later part PUTs get 409
        try:
            with self.blobs.writer(expected_size=size) as writer:
                for number in range(1, count + 1):
                    got = client.get_object(Bucket=bucket, Key=self._key(number))
                    part_digest = hashlib.sha256()
                    while chunk := got["Body"].read(CHUNK):
                        part_digest.update(chunk)
                        writer.write(chunk)
                    if part_digest.hexdigest() != got.get("Metadata", {}).get("sha256"):
                        raise IntegrityError(f"part {number} changed while the upload was completed",
                                             hint="upload the object again")
                return writer.finish(expected_sha256=oid)
        finally:
            for number in [*range(1, count + 1), "sealed"]:
                client.delete_object(Bucket=bucket, Key=self._key(number))


__all__ = ["BucketAssembly"]
