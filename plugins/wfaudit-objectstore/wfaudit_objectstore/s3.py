"""``S3Archive``: archive objects in an S3-compatible bucket, with boto3.

Why boto3 rather than an fsspec filesystem (s3fs): the archive needs five plain
object operations (put, get, head, delete, list), synchronous, with S3's own
error codes to tell "no such key" from "access denied" from "endpoint down".
boto3 is the reference S3 client, works against every S3-compatible server
(AWS, SeaweedFS, MinIO, Ceph) with an ``endpoint_url``, reads credentials from
the standard chain (environment, shared files, instance roles) and retries
throttled calls itself. s3fs adds a filesystem abstraction and an asyncio stack
(aiobotocore) on top of the same botocore, which this archive does not use.

URL: ``s3://BUCKET[/PREFIX][?endpoint=URL&region=NAME&addressing=path|virtual]``.
Credentials never go in the URL: they come from boto3's chain
(``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``, ``AWS_PROFILE`` ...) or the
constructor's arguments.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
)

from wfaudit_hookspecs import (
    BadStoreURL,
    ConfigurationError,
    SnapshotNotFound,
    StoreError,
    StoreUnavailable,
)

__all__ = ["CONTENT_TYPE", "S3Archive"]

CONTENT_TYPE = "application/vnd.wfaudit.archive+zstd"
_MISSING = frozenset({"NoSuchKey", "404", "NotFound"})
_OPTIONS = frozenset({"endpoint", "region", "addressing"})
_NO_CREDENTIALS = (
    "an S3 archive URL must not hold credentials (user:password@, in the bucket or "
    "the endpoint): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile) instead"
)


class S3Archive:
    """An :class:`~wfaudit_hookspecs.retention.ArchiveStore` in an S3 bucket.

    :param bucket: the bucket (it must exist).
    :param prefix: a key prefix inside the bucket ("" for none).
    :param endpoint: the S3 endpoint of a non-AWS server (``http://127.0.0.1:8333``).
    :param region: the signing region (default ``us-east-1``).
    :param addressing: ``path`` (default with an endpoint) or ``virtual``.
    :param access_key_id: explicit credentials; None uses boto3's chain.
    :param secret_access_key: explicit credentials; never printed.
    """

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint: str | None = None,
        region: str | None = None,
        addressing: str | None = None,
        access_key_id: str | None = None,
        secret_access_key: str | None = None,
    ) -> None:
        if not bucket:
            raise BadStoreURL("an S3 archive needs a bucket: s3://BUCKET[/PREFIX]")
        if "@" in bucket or (endpoint is not None and "@" in endpoint):
            # The URL is printed and recorded in every archive record: no user-info.
            raise BadStoreURL(_NO_CREDENTIALS)
        style = addressing or ("path" if endpoint else "auto")
        if style not in ("path", "virtual", "auto"):
            raise BadStoreURL(f"S3 addressing must be path or virtual, not {addressing!r}")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        query = {
            key: value
            for key, value in (
                ("endpoint", endpoint),
                ("region", region),
                ("addressing", addressing),
            )
            if value
        }
        path = f"/{self.prefix}" if self.prefix else ""
        self.url = f"s3://{bucket}{path}" + (f"?{urlencode(query, safe=':/')}" if query else "")
        self._client: Any = boto3.session.Session().client(
            "s3",
            endpoint_url=endpoint,
            region_name=region or "us-east-1",
            aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key,
            config=Config(
                s3={"addressing_style": style},
                retries={"max_attempts": 5, "mode": "standard"},
                connect_timeout=5,
                read_timeout=60,
            ),
        )

    @classmethod
    def from_url(cls, url: str) -> S3Archive:
        """An archive from ``s3://BUCKET[/PREFIX][?endpoint=...&region=...&addressing=...]``.

        :raises BadStoreURL: not an ``s3`` URL, credentials in it (anywhere: the
            bucket, the endpoint), or unknown options. No message quotes the URL.
        """
        if "@" in url:
            # No part of an S3 archive URL has a use for "@" but user-info.
            raise BadStoreURL(_NO_CREDENTIALS)
        try:
            parts = urlsplit(url)
        except ValueError:
            raise BadStoreURL("the S3 archive URL cannot be parsed") from None
        if parts.scheme != "s3":
            raise BadStoreURL("an S3 archive URL starts with s3://")
        options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        unknown = sorted(set(options) - _OPTIONS)
        if unknown:
            raise BadStoreURL(
                f"unknown S3 archive URL options: {', '.join(unknown)} "
                "(known: endpoint, region, addressing)"
            )
        return cls(
            parts.netloc,
            parts.path,
            endpoint=options.get("endpoint"),
            region=options.get("region"),
            addressing=options.get("addressing"),
        )

    def __repr__(self) -> str:
        return f"S3Archive({self.url!r})"

    def _key(self, key: str) -> str:
        if not key or key.startswith("/"):
            raise StoreError(f"archive key {key!r} must be a relative key")
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes) -> None:
        """Write an object (one ``PutObject``; S3 makes it visible whole or not at all)."""
        self._call(
            "write",
            key,
            lambda: self._client.put_object(
                Bucket=self.bucket, Key=self._key(key), Body=data, ContentType=CONTENT_TYPE
            ),
        )

    def get(self, key: str) -> bytes:
        """An object's bytes.

        :raises SnapshotNotFound: no such object.
        """

        def read() -> bytes:
            response = self._client.get_object(Bucket=self.bucket, Key=self._key(key))
            body = response["Body"]
            try:
                return bytes(body.read())
            finally:
                body.close()

        result: bytes = self._call("read", key, read)
        return result

    def size(self, key: str) -> int | None:
        """An object's size, or None when there is none."""
        try:
            response = self._call(
                "inspect",
                key,
                lambda: self._client.head_object(Bucket=self.bucket, Key=self._key(key)),
            )
        except SnapshotNotFound:
            return None
        return int(response["ContentLength"])

    def delete(self, key: str) -> None:
        """Delete an object (S3 answers the same whether it was there or not)."""
        self._call(
            "delete",
            key,
            lambda: self._client.delete_object(Bucket=self.bucket, Key=self._key(key)),
        )

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Every key under ``prefix`` (relative to the archive's own prefix), a
        listing page (up to 1000 keys) at a time."""
        base = f"{self.prefix}/" if self.prefix else ""
        full = base + prefix.lstrip("/")
        paginator = self._client.get_paginator("list_objects_v2")
        pages = self._call(
            "list", prefix or "/", lambda: paginator.paginate(Bucket=self.bucket, Prefix=full)
        )
        iterator = iter(pages)
        while True:
            page = self._call("list", prefix or "/", lambda: next(iterator, None))
            if page is None:
                return
            for entry in page.get("Contents", ()):
                yield str(entry["Key"])[len(base) :]

    def ensure_bucket(self) -> None:
        """Create the bucket unless it exists (for tests and first-time setup)."""
        try:
            self._call("inspect", "/", lambda: self._client.head_bucket(Bucket=self.bucket))
        except SnapshotNotFound:
            self._call("create", "/", lambda: self._client.create_bucket(Bucket=self.bucket))

    def close(self) -> None:
        """Close the client's connection pool."""
        self._client.close()

    def _call(self, action: str, key: str, call: Any) -> Any:
        """Run one S3 call, turning botocore's errors into wfaudit's (no credentials
        in any message: botocore's messages carry codes and keys only)."""
        where = f"{self.url} key {key}"
        try:
            return call()
        except ClientError as error:
            code = str(error.response.get("Error", {}).get("Code", ""))
            if code in _MISSING or code == "NoSuchBucket":
                raise SnapshotNotFound(f"no archive object at {where} ({code})") from None
            if code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
                raise ConfigurationError(
                    f"the S3 server refused to {action} {where} ({code}): check the "
                    "archive's credentials and bucket policy"
                ) from None
            raise StoreError(f"cannot {action} {where}: S3 error {code or 'unknown'}") from None
        except NoCredentialsError:
            raise ConfigurationError(
                f"no S3 credentials to {action} {where}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
            ) from None
        except EndpointConnectionError:
            raise StoreUnavailable(f"cannot reach the S3 endpoint of {self.url}") from None
        except BotoCoreError as error:
            raise StoreError(f"cannot {action} {where}: {type(error).__name__}") from None
