"""The small helpers every part of wfaudit shares, written once.

The engine and the plugins use these instead of their own copies:

* :class:`LRU`, the one bounded least-recently-used cache (by count, by weight or
  both; thread-safe);
* :func:`parse_key_value`, the one ``KEY=VALUE`` parser (labels, label filters
  and label selectors);
* :func:`fsync_directory`, to make a rename or unlink in a directory durable.

The boolean parser is :func:`wfaudit_hookspecs.parse_bool` (``flags.py``).
Only the standard library is imported here.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from .errors import InvalidRequest

__all__ = ["LRU", "fsync_directory", "parse_key_value"]

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A bounded mapping that forgets the least recently used entries first.

    :param max_items: keep at most this many entries (None: no bound by count).
    :param max_weight: keep the entries' weights (given to :meth:`put`) at most
        this much in total (None: no bound by weight). The newest entry is kept
        even when it alone weighs more: a cache of one big value still spares
        the next lookup of it.

    Every method takes a lock, so one instance may be shared by threads. A value
    is made outside the lock (:meth:`get_or_make`): two threads may both make a
    missing value, and the second one put wins; values must be immutable or
    interchangeable for that to be harmless, as they are in a cache.
    """

    def __init__(self, max_items: int | None = None, *, max_weight: int | None = None) -> None:
        if max_items is not None and max_items < 0:
            raise ValueError("max_items must be 0 or more")
        if max_weight is not None and max_weight < 0:
            raise ValueError("max_weight must be 0 or more")
        self.max_items = max_items
        self.max_weight = max_weight
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._weight = 0
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        """The value of ``key``, now the most recently used; None when absent."""
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[0]

    def put(self, key: K, value: V, weight: int = 1) -> None:
        """Remember ``value`` for ``key`` (the most recently used), then forget the
        least recently used entries beyond the bounds."""
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._weight -= old[1]
            self._items[key] = (value, weight)
            self._weight += weight
            if self.max_items is not None:
                while len(self._items) > self.max_items:
                    self._drop_oldest()
            if self.max_weight is not None:
                while self._weight > self.max_weight and len(self._items) > 1:
                    self._drop_oldest()

    def get_or_make(self, key: K, make: Callable[[], V], weight: int = 1) -> V:
        """The value of ``key``; made by ``make()`` (outside the lock) and put when absent."""
        found = self.get(key)
        if found is None:
            found = make()
            self.put(key, found, weight)
        return found

    def discard(self, key: K, value: V | None = None) -> None:
        """Forget ``key`` (only if it still holds ``value``, when given: the
        value is compared by identity)."""
        with self._lock:
            found = self._items.get(key)
            if found is not None and (value is None or found[0] is value):
                del self._items[key]
                self._weight -= found[1]

    def values(self) -> list[V]:
        """The values held, least recently used first (a copy)."""
        with self._lock:
            return [value for value, _ in self._items.values()]

    def clear(self) -> None:
        """Forget every entry."""
        with self._lock:
            self._items.clear()
            self._weight = 0

    @property
    def weight(self) -> int:
        """The total weight of the entries held."""
        return self._weight

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __repr__(self) -> str:
        # The keys and values may be data: the sizes only.
        return (
            f"LRU(items={len(self._items)}, max_items={self.max_items}, "
            f"weight={self._weight}, max_weight={self.max_weight})"
        )

    def _drop_oldest(self) -> None:
        _, (_, weight) = self._items.popitem(last=False)
        self._weight -= weight


def parse_key_value(text: str, *, what: str = "", strip_value: bool = False) -> tuple[str, str]:
    """``"env=prod"`` → ``("env", "prod")``: the one ``KEY=VALUE`` parser.

    The key is the text before the first ``=``, without surrounding white space;
    the value is the rest, as given (``strip_value``: without surrounding white
    space). A value may be empty and may hold ``=``.

    :param what: what the text is, for the error (``"label filter"``).
    :raises InvalidRequest: no ``=``, or an empty key. The message quotes the
        text (a label, never a secret) and says ``is not KEY=VALUE``.
    """
    key, sep, value = text.partition("=")
    key = key.strip()
    if not sep or not key:
        prefix = f"{what} " if what else ""
        raise InvalidRequest(f"{prefix}{text!r} is not KEY=VALUE")
    return key, value.strip() if strip_value else value


def fsync_directory(path: str | os.PathLike[str]) -> None:
    """Make the renames and unlinks done in the directory ``path`` durable.

    Skipped where it is not possible: a platform that cannot open a directory
    (Windows), a file system that refuses to sync one.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - Windows cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - some file systems refuse
        pass
    finally:
        os.close(fd)
