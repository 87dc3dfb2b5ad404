"""Blobs in S3-compatible object storage (AWS S3, MinIO, Ceph, R2) through boto3's standard API.

The same content-addressed layout as the blob folder: object ``<prefix>/<2 hex>/<sha256>``.
An upload is written to a local temp file while it is hashed, checked against the sha256 and size
the client announced, and only then sent to the bucket, with its sha256 as the object's checksum so
the storage verifies the bytes it received too. Only a verified object ever gets its blob name, and
the metadata transaction that lets a commit reference it comes after: a process killed mid-upload
leaves at most a temp file on its own disk (or an unfinished multipart upload, which the bucket
never lists as an object).

Nothing on local disk is state: ``tmp/`` holds uploads in flight and ``cache/`` copies of small
blobs the server reads itself (model cards); any process with the same bucket serves the same blobs.
Large downloads are answered with presigned URLs (:meth:`S3Blobs.presigned_url`).
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from zoolab.errors import ConfigError, IntegrityError
from zoolab.hub.store.blobs import BlobFiles, BlobStat, sha256_of_file
from zoolab.hub.store.validation import validate_sha256

SINGLE_PUT_MAX = 64 * 1024**2
"""Blobs up to this size go up in one PUT carrying their sha256 checksum; larger ones in parts."""
PRESIGN_TTL_S = 3600
"""How long a presigned download URL stays valid."""


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` as ``(bucket, prefix)`` (the prefix without slashes at its ends)."""
    if not url.startswith("s3://") or not url[5:].split("/", 1)[0]:
        raise ConfigError(f"invalid blob store URL {url!r}", hint="use s3://BUCKET or s3://BUCKET/PREFIX")
    bucket, _, prefix = url[5:].partition("/")
    return bucket, prefix.strip("/")


def s3_client(endpoint_url: str | None = None) -> Any:
    """A boto3 S3 client from the standard configuration (``AWS_*`` variables, ``~/.aws``);
    ``endpoint_url`` (or ``AWS_ENDPOINT_URL``) names a non-AWS server, addressed path-style."""
    try:
        import boto3
        from botocore.config import Config
    except ImportError:
        raise ConfigError("an S3 blob store needs boto3", hint="pip install 'zoolab[scale]'") from None
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    config = Config(s3={"addressing_style": "path" if endpoint else "auto"}, retries={"max_attempts": 5},
                    max_pool_connections=64)
    return boto3.client("s3", endpoint_url=endpoint, config=config)


class S3Blobs(BlobFiles):
    """The blobs of one store in a bucket; ``local`` holds temp files and the read cache."""

    def __init__(self, url: str, local: Path, *, endpoint_url: str | None = None, client: Any = None):
        self.url = url
        self.bucket, self.prefix = parse_s3_url(url)
        self.client = client or s3_client(endpoint_url)
        self.root = local
        self.tmp_dir = local / "tmp"
        self.cache_dir = local / "cache"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self._check_bucket()

    def _check_bucket(self) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            raise ConfigError(f"cannot use bucket '{self.bucket}': {code or exc}",
                              hint="create the bucket and give these credentials access to it") from None
        except BotoCoreError as exc:
            raise ConfigError(f"cannot reach the S3 storage: {exc}",
                              hint="check AWS_ENDPOINT_URL and the credentials (AWS_ACCESS_KEY_ID, ...)") from None

    def key(self, sha256: str) -> str:
        """The object key of a blob."""
        sha = validate_sha256(sha256)
        return f"{self.prefix}/{sha[:2]}/{sha}" if self.prefix else f"{sha[:2]}/{sha}"

    def uploads_key(self, upload_id: str) -> str:
        """The key prefix of a multipart upload's part objects (:mod:`.s3_parts`)."""
        return f"{self.prefix}/uploads/{upload_id}" if self.prefix else f"uploads/{upload_id}"

    def head_key(self, key: str) -> dict[str, Any] | None:
        """The metadata of object ``key``, or None if there is none."""
        from botocore.exceptions import ClientError

        try:
            return self.client.head_object(Bucket=self.bucket, Key=key)  # type: ignore[no-any-return]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def _head(self, sha256: str) -> dict[str, Any] | None:
        return self.head_key(self.key(sha256))

    def path(self, sha256: str) -> Path:
        """A local, verified copy of the blob (fetched into the cache on first use); for the small
        files the server reads itself. Downloads of large files go to :meth:`presigned_url`."""
        sha = validate_sha256(sha256)
        cached = self.cache_dir / sha[:2] / sha
        if cached.is_file():
            return cached
        cached.parent.mkdir(parents=True, exist_ok=True)
        temp = self.tmp_dir / f"fetch-{sha}-{os.getpid()}-{time.monotonic_ns()}"
        from botocore.exceptions import ClientError

        try:
            self.client.download_file(self.bucket, self.key(sha), str(temp))
        except ClientError as exc:
            temp.unlink(missing_ok=True)
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return cached  # absent: callers see a missing file, as with the blob folder
            raise
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        if sha256_of_file(temp) != sha:  # never serve bytes that are not the blob
            temp.unlink(missing_ok=True)
            raise IntegrityError(f"blob {sha} in the bucket does not match its sha256",
                                 hint="run 'zoolab hub verify' on this store")
        os.chmod(temp, 0o444)
        os.replace(temp, cached)
        return cached

    def exists(self, sha256: str) -> bool:
        """True if the bucket holds the blob."""
        return self._head(sha256) is not None

    def publish(self, temp: Path, sha256: str) -> bool:
        """Send a verified temp file to the bucket as blob ``sha256`` unless it is there already;
        the temp file is removed either way. True if this call stored the blob."""
        try:
            if self.exists(sha256):
                self.touch(sha256)
                return False
            size = temp.stat().st_size
            if size <= SINGLE_PUT_MAX:
                checksum = base64.b64encode(bytes.fromhex(sha256)).decode()
                with open(temp, "rb") as fh:  # the storage re-checks the sha256 it receives
                    self.client.put_object(Bucket=self.bucket, Key=self.key(sha256), Body=fh,
                                           ChecksumSHA256=checksum, ContentLength=size)
            else:
                self.client.upload_file(str(temp), self.bucket, self.key(sha256))
            head = self._head(sha256)
            if head is None or int(head["ContentLength"]) != size:
                raise IntegrityError(f"blob {sha256} did not arrive whole in the bucket",
                                     hint="upload the file again")
            return True
        finally:
            temp.unlink(missing_ok=True)

    def touch(self, sha256: str) -> None:
        """Refresh the object's modification time (copied onto itself), so ``gc``'s grace period
        protects a re-uploaded blob until its commit."""
        try:
            self.client.copy_object(Bucket=self.bucket, Key=self.key(sha256), MetadataDirective="REPLACE",
                                    CopySource={"Bucket": self.bucket, "Key": self.key(sha256)},
                                    Metadata={"touched": str(int(time.time()))})
        except Exception:
            pass  # absent, or too large to copy in one call: gc's upload records still protect it

    def read_head(self, sha256: str, n: int) -> bytes:
        """The first ``n`` bytes of a blob (a ranged GET)."""
        if n <= 0:
            return b""
        out = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256), Range=f"bytes=0-{n - 1}")
        return out["Body"].read()  # type: ignore[no-any-return]

    def open_blob(self, sha256: str) -> BinaryIO:
        """A stream of the blob's bytes."""
        out = self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))
        return out["Body"]  # type: ignore[no-any-return]

    def list_blobs(self) -> Iterator[BlobStat]:
        """Every blob object in the bucket under the prefix."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=f"{self.prefix}/" if self.prefix else "")
        for page in pages:
            for obj in page.get("Contents", []):
                name = obj["Key"].rsplit("/", 1)[-1]
                if len(name) == 64:
                    yield BlobStat(name, int(obj["Size"]), obj["LastModified"].timestamp())

    def delete(self, sha256: str) -> None:
        """Remove a blob from the bucket and the local cache."""
        self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))
        sha = validate_sha256(sha256)
        (self.cache_dir / sha[:2] / sha).unlink(missing_ok=True)

    def presigned_url(self, sha256: str, *, content_disposition: str | None = None) -> str | None:
        """A time-limited URL fetching the blob straight from the storage (which answers with
        ``content_disposition`` as its Content-Disposition)."""
        params: dict[str, str] = {"Bucket": self.bucket, "Key": self.key(sha256)}
        if content_disposition is not None:
            params["ResponseContentDisposition"] = content_disposition
        return self.client.generate_presigned_url(  # type: ignore[no-any-return]
            "get_object", Params=params, ExpiresIn=PRESIGN_TTL_S)

    def clean_temp(self, *, older_than_s: float = 3600.0) -> tuple[int, int]:
        """Remove stale temp files, part objects of abandoned multipart uploads, and cached copies
        not used for ``older_than_s``."""
        removed, freed = super().clean_temp(older_than_s=older_than_s)
        cutoff = time.time() - older_than_s
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                      Prefix=self.uploads_key("").rstrip("/") + "/")
        for page in pages:
            for obj in page.get("Contents", []):
                if obj["LastModified"].timestamp() < cutoff:
                    self.client.delete_object(Bucket=self.bucket, Key=obj["Key"])
                    removed += 1
                    freed += int(obj["Size"])
        for path in self.cache_dir.rglob("*"):
            try:
                if path.is_file() and path.stat().st_atime < cutoff:
                    path.unlink()
            except FileNotFoundError:
                continue
        return removed, freed

