"""``S3Archive`` against a real SeaweedFS server."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from wfaudit import make_plugin_manager, open_archive
from wfaudit.testing import ArchiveStoreConformance
from wfaudit_hookspecs import BadStoreURL, ConfigurationError, SnapshotNotFound
from wfaudit_objectstore import S3Archive
from wfaudit_objectstore.testing import S3Endpoint


def test_objects_are_written_read_listed_and_deleted(seaweedfs: S3Endpoint) -> None:
    prefix = f"t-{uuid.uuid4().hex[:8]}"
    archive = seaweedfs.archive(prefix)
    try:
        keys = [f"wfaudit/v1/-/p/2026/0{n}/ID{n}.wfa" for n in range(1, 4)]
        for number, key in enumerate(keys):
            archive.put(key, bytes([number]) * (number + 1))
        assert archive.get(keys[2]) == b"\x02\x02\x02"
        assert archive.size(keys[1]) == 2
        assert sorted(archive.iter_keys("wfaudit/")) == keys
        assert list(archive.iter_keys("wfaudit/v1/-/p/2026/02/")) == [keys[1]]
        archive.put(keys[0], b"replaced")
        assert archive.get(keys[0]) == b"replaced"
        archive.delete(keys[0])
        archive.delete(keys[0])  # gone already: no error
        assert archive.size(keys[0]) is None
        with pytest.raises(SnapshotNotFound, match="no archive object"):
            archive.get(keys[0])
        # Keys are under the archive's prefix in the bucket.
        assert sorted(seaweedfs.archive().iter_keys(prefix + "/")) == [
            f"{prefix}/{key}" for key in keys[1:]
        ]
    finally:
        archive.close()


def test_wrong_credentials_are_a_clear_error(seaweedfs: S3Endpoint) -> None:
    archive = S3Archive(
        seaweedfs.bucket,
        endpoint=seaweedfs.url,
        access_key_id=seaweedfs.access_key_id,
        secret_access_key="not-the-secret-4711",
    )
    try:
        with pytest.raises(ConfigurationError, match="refused") as raised:
            archive.put("x", b"y")
        assert "not-the-secret-4711" not in str(raised.value)
        assert "not-the-secret-4711" not in repr(archive)
    finally:
        archive.close()


def test_urls(seaweedfs: S3Endpoint, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in seaweedfs.environment().items():
        monkeypatch.setenv(name, value)
    archive = open_archive(seaweedfs.archive_url("some/prefix"), make_plugin_manager())
    try:
        assert isinstance(archive, S3Archive)
        assert archive.prefix == "some/prefix"
        assert archive.url == seaweedfs.archive_url("some/prefix")
        archive.put("k", b"v")
        assert archive.get("k") == b"v"
    finally:
        archive.close()
    for url in (
        "s3://key:sekrit3@bucket/x",
        "s3://bucket/x?endpoint=http://key:sekrit3@127.0.0.1:8333",
        "s3://bucket/x?region=us-east-1&endpoint=https://sekrit3@s3.example",
        "s3://bucket/x?endpoint=http:/key:sekrit3@127.0.0.1",
    ):
        with pytest.raises(BadStoreURL, match="must not hold credentials") as raised:
            S3Archive.from_url(url)
        assert "sekrit3" not in str(raised.value)
    with pytest.raises(BadStoreURL, match="must not hold credentials") as raised:
        S3Archive("bucket", endpoint="http://key:sekrit3@127.0.0.1:8333")
    assert "sekrit3" not in str(raised.value)
    with pytest.raises(BadStoreURL, match="unknown S3 archive URL options: tls"):
        S3Archive.from_url("s3://bucket/x?tls=1")
    with pytest.raises(BadStoreURL, match="no plugin opens archive URLs of scheme 'gs'"):
        open_archive("gs://bucket", make_plugin_manager())


class TestS3ArchiveConformance(ArchiveStoreConformance):
    """The archive store kit on SeaweedFS, each test under a fresh prefix."""

    @pytest.fixture
    def archive(self, seaweedfs: S3Endpoint) -> Iterator[S3Archive]:
        archive = seaweedfs.archive(f"kit-{uuid.uuid4().hex[:8]}")
        yield archive
        archive.close()
