"""An :class:`~wfaudit_hookspecs.retention.ArchiveStore` in memory, for tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from wfaudit_hookspecs import SnapshotNotFound, StoreError

__all__ = ["MemoryArchive"]


class MemoryArchive:
    """Archive objects in a dict, lost with the process (``memory-archive://NAME``)."""

    def __init__(self, name: str = "test") -> None:
        self.url = f"memory-archive://{name}"
        self._objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"MemoryArchive({self.url!r})"

    @staticmethod
    def _check(key: str) -> str:
        if not key or any(part in ("", ".", "..") for part in key.split("/")):
            raise StoreError(f"archive key {key!r} is not a relative path of plain segments")
        return key

    def put(self, key: str, data: bytes) -> None:
        """Write (or replace) an object."""
        with self._lock:
            self._objects[self._check(key)] = bytes(data)

    def get(self, key: str) -> bytes:
        """An object's bytes; ``SnapshotNotFound`` if absent."""
        with self._lock:
            found = self._objects.get(self._check(key))
        if found is None:
            raise SnapshotNotFound(f"archive object {key} is not in {self.url}")
        return found

    def size(self, key: str) -> int | None:
        """An object's size, or None."""
        with self._lock:
            found = self._objects.get(self._check(key))
        return None if found is None else len(found)

    def delete(self, key: str) -> None:
        """Delete an object (no error if it is gone)."""
        with self._lock:
            self._objects.pop(self._check(key), None)

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        """Every key under ``prefix``, in key order."""
        with self._lock:
            keys = sorted(k for k in self._objects if k.startswith(prefix))
        yield from keys

    def close(self) -> None:
        """Nothing to release."""
