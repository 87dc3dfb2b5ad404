"""Assembly of multipart LFS uploads: one private file per upload, sealed before it is verified.

Each upload (one object of one LFS batch answer) has a random id carried in its signed URLs, and
its parts are written into ``tmp/uploads/<id>.part`` only: two clients uploading the same object
never share a file, and nobody can write into another's upload without its signed URLs.

A part request holds a shared ``flock`` on the assembly file while it writes. Completion takes the
exclusive lock (refused while a part is still being written), renames the file to a sealed name,
hashes it and links it into ``blobs/`` only if no such blob exists. A part request that opened the
file before the seal finds, once it holds its lock, that the name no longer leads to its file and
writes nothing: bytes written after verification can never reach a stored blob. The locks work
across server processes sharing a store.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from zoolab.errors import ConflictError, IntegrityError, InvalidInputError
from zoolab.hub.store.blobs import BlobDigest, BlobFiles

_UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


def new_upload_id() -> str:
    """A fresh, unguessable upload id (it is also signed into the upload URLs)."""
    return secrets.token_hex(16)


class Assembly:
    """The assembly file of one multipart upload under ``uploads_dir``."""

    def __init__(self, uploads_dir: Path, upload_id: str):
        if not _UPLOAD_ID.fullmatch(upload_id):
            raise InvalidInputError("invalid upload id", hint="ask the LFS batch API for new upload URLs")
        self.path = uploads_dir / f"{upload_id}.part"
        self._marker_prefix = uploads_dir / f"{upload_id}.part"

    def marker(self, number: int) -> Path:
        """The file holding part ``number``'s etag (the sha256 of its bytes)."""
        return Path(f"{self._marker_prefix}.{number}")

    async def write_part(self, number: int, offset: int, body: AsyncIterator[bytes]) -> tuple[int, str]:
        """Write one part's bytes at ``offset``; ``(bytes written, etag)``. 409 once completion began."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConflictError("this upload is being completed", hint="start a new upload") from None
            if not _same_file(fd, self.path):
                raise ConflictError("this upload was completed already", hint="start a new upload")
            digest = hashlib.sha256()
            written = 0
            async for data in body:
                os.pwrite(fd, data, offset + written)
                written += len(data)
                digest.update(data)
        finally:
            os.close(fd)  # releases the lock
        etag = digest.hexdigest()
        self.marker(number).write_text(etag)
        return written, etag

    def check_parts(self, parts: list[object], count: int) -> None:
        """Refuse a completion whose part list does not match what was received."""
        if len(parts) != count:
            raise InvalidInputError(f"completion must list all {count} parts")
        for number, part in enumerate(parts, start=1):
            marker = self.marker(number)
            if not isinstance(part, dict) or part.get("partNumber") != number or not marker.exists():
                raise InvalidInputError(f"part {number} was not uploaded", hint="upload every part, then complete")
            if marker.read_text() != part.get("etag"):
                raise IntegrityError(f"part {number}'s etag does not match what was received")

    def seal_and_store(self, blobs: BlobFiles, oid: str, size: int, count: int) -> BlobDigest:
        """Verify the assembled object against ``oid`` and ``size`` and store it (blocking: run it in a
        worker thread). Once sealed, the assembly and its part markers are removed whatever the
        outcome; a 409 while a part is still being written leaves the upload as it was (retry)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            raise InvalidInputError("no parts were uploaded for this upload") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise ConflictError("a part of this upload is still being written",
                                    hint="complete the upload once every part request has finished") from None
            if not _same_file(fd, self.path):
                raise ConflictError("this upload was completed already", hint="start a new upload")
            sealed = self.path.with_name(self.path.name + f".sealed-{secrets.token_hex(8)}")
            os.rename(self.path, sealed)  # new part requests can no longer reach this file
            try:
                return blobs.adopt(sealed, expected_sha256=oid, expected_size=size)  # removes `sealed`
            finally:
                for number in range(1, count + 1):
                    self.marker(number).unlink(missing_ok=True)
        finally:
            os.close(fd)


def assembly_for(blobs: BlobFiles, uploads_dir: Path, upload_id: str) -> Any:
    """The assembly of an upload: a file under ``uploads_dir``, or part objects in the bucket when
    the blobs are in S3 (server processes on several machines share only the bucket)."""
    from zoolab.hub.store.s3 import S3Blobs

    if isinstance(blobs, S3Blobs):
        from zoolab.hub.store.s3_parts import BucketAssembly

        return BucketAssembly(blobs, upload_id)
    return Assembly(uploads_dir, upload_id)


def _same_file(fd: int, path: Path) -> bool:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return False
    own = os.fstat(fd)
    return (st.st_dev, st.st_ino) == (own.st_dev, own.st_ino)


__all__ = ["Assembly", "assembly_for", "new_upload_id"]
