"""The conformance kit for archive stores (:class:`~wfaudit_hookspecs.retention.ArchiveStore`,
opened by ``wfaudit_open_archive``).

Subclass :class:`ArchiveStoreConformance` and override its ``archive`` fixture
to return an empty archive (a fresh prefix of a bucket will do)::

    class TestMyArchive(ArchiveStoreConformance):
        @pytest.fixture
        def archive(self, tmp_path):
            archive = MyArchive(f"myarchive://{tmp_path}")
            yield archive
            archive.close()
"""

from __future__ import annotations

import os
import urllib.parse
from typing import Any

import pytest

from wfaudit_hookspecs import SnapshotNotFound
from wfaudit_hookspecs.retention import ArchiveStore

__all__ = ["ArchiveStoreConformance"]

_KEYS = (
    "wfaudit/v1/-/7/2026/03/01JD3FA.wfa",
    "wfaudit/v1/-/7/2026/04/01JD3FB.wfa",
    "wfaudit/v1/team-a/8/2026/04/01JD3FC.wfa",
)


class ArchiveStoreConformance:
    """Objects written, read, sized, replaced, listed by prefix and deleted, with
    errors that are ``StoreError`` subclasses. Override :meth:`archive`."""

    @pytest.fixture
    def archive(self) -> ArchiveStore:
        """A fresh, empty archive store. Override this fixture in your subclass."""
        pytest.fail("override the `archive` fixture to return a fresh archive store")

    def test_archive_implements_the_protocol(self, archive: Any) -> None:
        assert isinstance(archive, ArchiveStore), (
            "the archive lacks methods of wfaudit_hookspecs.retention.ArchiveStore"
        )
        parts = urllib.parse.urlsplit(archive.url)
        assert parts.scheme, f"the archive's url {archive.url!r} has no scheme"
        assert parts.password is None and "@" not in parts.netloc, (
            "the archive's url must not show credentials"
        )

    def test_archive_round_trip(self, archive: Any) -> None:
        data = os.urandom(3000) + b"\x00end"
        archive.put(_KEYS[0], data)
        assert archive.get(_KEYS[0]) == data, "the bytes read back differ from those written"
        assert archive.size(_KEYS[0]) == len(data), "size() must be the object's byte count"
        archive.put(_KEYS[0], b"replaced")
        assert archive.get(_KEYS[0]) == b"replaced", "put() must replace an object of the same key"
        assert archive.size(_KEYS[0]) == len(b"replaced")
        archive.put(_KEYS[1], b"")
        assert archive.get(_KEYS[1]) == b"" and archive.size(_KEYS[1]) == 0, (
            "an empty object is an object"
        )

    def test_archive_missing_objects(self, archive: Any) -> None:
        assert archive.size(_KEYS[0]) is None, "size() of a missing object must be None"
        with pytest.raises(SnapshotNotFound) as raised:
            archive.get(_KEYS[0])
        assert _KEYS[0] in str(raised.value), "the error for a missing object names its key"
        archive.delete(_KEYS[0])  # nothing there: no error

    def test_archive_lists_keys_by_prefix(self, archive: Any) -> None:
        for number, key in enumerate(_KEYS):
            archive.put(key, bytes([number]))
        assert sorted(archive.iter_keys()) == sorted(_KEYS), "iter_keys() must list every key"
        assert sorted(archive.iter_keys("wfaudit/")) == sorted(_KEYS)
        assert list(archive.iter_keys("wfaudit/v1/-/7/2026/04/")) == [_KEYS[1]], (
            "iter_keys(prefix) must list the keys under that prefix only"
        )
        assert sorted(archive.iter_keys("wfaudit/v1/-/")) == sorted(_KEYS[:2])
        assert list(archive.iter_keys("elsewhere/")) == []

    def test_archive_lists_many_keys(self, archive: Any) -> None:
        keys = [f"many/{number:04d}.wfa" for number in range(120)]
        for key in keys:
            archive.put(key, b"x")
        listed = list(archive.iter_keys("many/"))
        assert sorted(listed) == keys, (
            f"iter_keys lost or repeated keys across listing pages ({len(listed)} of 120)"
        )

    def test_archive_deletes(self, archive: Any) -> None:
        archive.put(_KEYS[0], b"one")
        archive.put(_KEYS[1], b"two")
        archive.delete(_KEYS[0])
        archive.delete(_KEYS[0])  # gone already: no error
        assert archive.size(_KEYS[0]) is None, "a deleted object is still there"
        assert list(archive.iter_keys()) == [_KEYS[1]], "delete() removed another object"
        assert archive.get(_KEYS[1]) == b"two"
