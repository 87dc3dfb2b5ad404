"""Content-addressed blob files: ``blobs/<2 hex>/<sha256>``.

A blob is written to a temporary file under ``tmp/`` while its sha256 (and git blob sha1) are
computed, fsynced, checked against what the caller announced, and only then linked into place if
no blob of that name exists (:meth:`BlobFiles.publish`): a stored blob is never written again.
A reader never sees a half-written blob, and a process killed mid-write leaves only a temp file,
which :meth:`BlobFiles.clean_temp` (``zoolab hub gc``) removes.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from zoolab.errors import IntegrityError, PayloadTooLargeError
from zoolab.hub.store.validation import check_integrity, validate_sha256

CHUNK = 1024 * 1024


@dataclass(frozen=True)
class BlobDigest:
    """What is known about a blob once written."""

    sha256: str
    size: int
    git_oid: str


@dataclass(frozen=True)
class BlobStat:
    """A stored blob as maintenance lists it."""

    sha256: str
    size: int
    mtime: float
    """When it was written or last re-used (gc's grace period counts from here)."""


def git_blob_oid_of_file(path: Path, size: int) -> str:
    """Git's blob id of a file: ``sha1(b"blob <size>\\0" + content)``."""
    sha1 = hashlib.sha1(f"blob {size}\0".encode())
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            sha1.update(chunk)
    return sha1.hexdigest()


class BlobWriter:
    """Streams bytes into a temp file, hashing as it goes; :meth:`finish` verifies and publishes.

    Use as a context manager: leaving the block without ``finish`` removes the temp file.
    """

    def __init__(self, files: BlobFiles, *, expected_size: int | None = None, max_size: int | None = None):
        self._files = files
        self._expected_size = expected_size
        self._max_size = max_size
        fd, name = tempfile.mkstemp(prefix="blob-", suffix=".part", dir=files.tmp_dir)
        self._fh = os.fdopen(fd, "wb")
        self.temp_path = Path(name)
        self._sha256 = hashlib.sha256()
        # The git header needs the size up front: hash inline only when it is announced.
        self._sha1 = hashlib.sha1(f"blob {expected_size}\0".encode()) if expected_size is not None else None
        self.size = 0
        self._done = False
        self.digest: BlobDigest | None = None
        """Set by :meth:`finish` once the bytes are verified."""

    def write(self, data: bytes) -> None:
        """Append ``data``; raise PayloadTooLargeError past ``max_size`` or the announced size."""
        self.size += len(data)
        limit = self._max_size
        if limit is not None and self.size > limit:
            raise PayloadTooLargeError(f"upload exceeds the limit of {limit} bytes")
        if self._expected_size is not None and self.size > self._expected_size:
            raise IntegrityError(
                f"received more than the {self._expected_size} bytes announced",
                hint="upload the file again; nothing was stored",
            )
        self._sha256.update(data)
        if self._sha1 is not None:
            self._sha1.update(data)
        self._fh.write(data)

    def write_from(self, stream: BinaryIO) -> None:
        """Copy a readable binary stream into the blob."""
        while chunk := stream.read(CHUNK):
            self.write(chunk)

    def finish(self, *, expected_sha256: str | None = None, publish: bool = True) -> BlobDigest:
        """Verify the bytes against what was announced, fsync and move the blob into place.

        With ``publish=False`` the verified temp file stays in ``tmp/`` until :meth:`publish` (a
        commit publishes its inline files inside its own transaction, so a refused commit stores
        none of them); :meth:`abort` still removes it.
        """
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        sha = self._sha256.hexdigest()
        check_integrity(sha, self.size, expected_sha256, self._expected_size)
        if self._sha1 is not None:
            git_oid = self._sha1.hexdigest()
        else:
            git_oid = git_blob_oid_of_file(self.temp_path, self.size)
        self.digest = BlobDigest(sha, self.size, git_oid)
        if publish:
            self.publish()
        return self.digest

    def publish(self) -> BlobDigest:
        """Move the verified blob into place (after ``finish(publish=False)``); idempotent."""
        if self.digest is None:
            raise RuntimeError("publish() before finish()")
        if not self._done:
            self._files.publish(self.temp_path, self.digest.sha256)
            self._done = True
        return self.digest

    def abort(self) -> None:
        """Drop the temp file (idempotent)."""
        if not self._fh.closed:
            self._fh.close()
        if not self._done:
            self.temp_path.unlink(missing_ok=True)
            self._done = True

    def __enter__(self) -> BlobWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.abort()


class BlobFiles:
    """The blob folder of one store (the embedded store's blob backend).

    The blob interface every backend offers (:class:`zoolab.hub.store.s3.S3Blobs` is the other):
    ``path`` (a local file of the blob), ``exists``, ``publish`` (a verified temp file becomes the
    blob, write-once), ``touch``, ``writer``/``put``/``stage``/``adopt`` (verified writes through
    ``tmp_dir``), ``read_head``, ``open_blob``, ``list_blobs``, ``delete``, ``presigned_url``
    and ``clean_temp``.
    """

    def __init__(self, root: Path):
        self.root = root
        self.blob_dir = root / "blobs"
        self.tmp_dir = root / "tmp"
        self.blob_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        """Where the blob with this sha256 lives (it may not exist)."""
        sha = validate_sha256(sha256)
        return self.blob_dir / sha[:2] / sha

    def exists(self, sha256: str) -> bool:
        """True if the blob file is present."""
        return self.path(sha256).is_file()

    def publish(self, temp: Path, sha256: str) -> bool:
        """Move a verified, fsynced temp file into place as blob ``sha256``, only if it is absent.

        Write-once: the blob is created with ``os.link`` (which fails if the name exists, like
        ``O_EXCL``), never replaced, so no upload can overwrite a stored blob, not even with bytes
        it verified. The temp file is removed either way. True if this call stored the blob.
        """
        target = self.path(sha256)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.chmod(temp, 0o444)  # read-only on disk too: nothing writes a stored blob
            os.link(temp, target)
        except FileExistsError:
            self.touch(sha256)  # same content stored already; keep gc's grace period fresh
            stored = False
        except OSError:
            # A file system without hard links: rename, still never over an existing blob.
            if target.exists():
                self.touch(sha256)
                stored = False
            else:
                os.rename(temp, target)
                stored = True
        else:
            stored = True
        temp.unlink(missing_ok=True)
        if stored:
            _fsync_dir(target.parent)
        return stored

    def touch(self, sha256: str) -> None:
        """Mark a blob as just used, so ``gc``'s grace period protects it until it is committed."""
        try:
            os.utime(self.path(sha256))
        except FileNotFoundError:
            pass

    def writer(self, *, expected_size: int | None = None, max_size: int | None = None) -> BlobWriter:
        """A new :class:`BlobWriter` into this store."""
        return BlobWriter(self, expected_size=expected_size, max_size=max_size)

    def put(
        self,
        data: bytes | BinaryIO | Path,
        *,
        expected_sha256: str | None = None,
        expected_size: int | None = None,
    ) -> BlobDigest:
        """Store ``data`` (bytes, a binary stream or a file path), verified and atomic."""
        if expected_sha256 is not None:
            expected_sha256 = validate_sha256(expected_sha256)
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data)
            sha = hashlib.sha256(data).hexdigest()
            check_integrity(sha, len(data), expected_sha256, expected_size)
            if self.exists(sha):
                # Known content: no temp file, no fsync (many small identical files stay cheap).
                self.touch(sha)
                return BlobDigest(sha, len(data), hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest())
        size_hint = expected_size
        if size_hint is None and isinstance(data, (bytes, bytearray, memoryview)):
            size_hint = len(data)
        elif size_hint is None and isinstance(data, Path):
            size_hint = data.stat().st_size
        with self.writer(expected_size=size_hint) as writer:
            if isinstance(data, (bytes, bytearray, memoryview)):
                writer.write(bytes(data))
            elif isinstance(data, Path):
                with open(data, "rb") as fh:
                    writer.write_from(fh)
            else:
                writer.write_from(data)
            return writer.finish(expected_sha256=expected_sha256)

    def stage(self, data: bytes) -> BlobDigest | BlobWriter:
        """Bytes for a commit to come: the digest if that content is stored already, else a finished
        but unpublished writer (verified and fsynced in ``tmp/``) for the commit to publish."""
        sha = hashlib.sha256(data).hexdigest()
        if self.exists(sha):
            self.touch(sha)
            return BlobDigest(sha, len(data), hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest())
        writer = self.writer(expected_size=len(data))
        try:
            writer.write(data)
            writer.finish(publish=False)
        except BaseException:
            writer.abort()
            raise
        return writer

    def adopt(self, path: Path, *, expected_sha256: str, expected_size: int) -> BlobDigest:
        """Hash a fully written file (a multipart upload assembled in ``tmp/``), verify it and move it
        into place. The file is removed if it does not match."""
        expected_sha256 = validate_sha256(expected_sha256)
        sha256 = hashlib.sha256()
        sha1 = hashlib.sha1(f"blob {expected_size}\0".encode())
        size = 0
        try:
            with open(path, "rb+") as fh:
                while chunk := fh.read(CHUNK):
                    sha256.update(chunk)
                    sha1.update(chunk)
                    size += len(chunk)
                os.fsync(fh.fileno())
            check_integrity(sha256.hexdigest(), size, expected_sha256, expected_size)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        self.publish(path, expected_sha256)
        return BlobDigest(expected_sha256, size, sha1.hexdigest())

    def read_head(self, sha256: str, n: int) -> bytes:
        """The first ``n`` bytes of a blob."""
        with open(self.path(sha256), "rb") as fh:
            return fh.read(n)

    def open_blob(self, sha256: str) -> BinaryIO:
        """A stream of the blob's bytes."""
        return open(self.path(sha256), "rb")

    def list_blobs(self) -> Iterator[BlobStat]:
        """Every stored blob."""
        for name, path in self.iter_all():
            try:
                st = path.stat()
            except FileNotFoundError:
                continue
            yield BlobStat(name, st.st_size, st.st_mtime)

    def delete(self, sha256: str) -> None:
        """Remove a blob (gc, after checking nothing references it)."""
        self.path(sha256).unlink(missing_ok=True)

    def presigned_url(self, sha256: str, *, content_disposition: str | None = None) -> str | None:
        """A URL serving the blob without this server; None: a folder cannot presign, so the
        server sends the bytes itself."""
        return None

    def iter_all(self) -> Iterator[tuple[str, Path]]:
        """Every blob file as ``(name, path)``."""
        if not self.blob_dir.exists():
            return
        for sub in sorted(self.blob_dir.iterdir()):
            if sub.is_dir():
                for path in sorted(sub.iterdir()):
                    yield path.name, path

    def clean_temp(self, *, older_than_s: float = 3600.0) -> tuple[int, int]:
        """Remove temp files older than ``older_than_s``; return (files removed, bytes freed)."""
        removed = freed = 0
        cutoff = time.time() - older_than_s
        for path in self.tmp_dir.rglob("*"):
            try:
                if path.is_file() and path.stat().st_mtime < cutoff:
                    size = path.stat().st_size
                    path.unlink()
                    removed += 1
                    freed += size
            except FileNotFoundError:
                continue
        for path in sorted(self.tmp_dir.rglob("*"), reverse=True):
            if path.is_dir():
                try:
                    path.rmdir()
                except OSError:
                    pass
        return removed, freed


def sha256_of_file(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
