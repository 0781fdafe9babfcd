"""The host a plugin is configured by: :class:`Host` and its :class:`Stash`.

The engine passes a host to :func:`~wfaudit_hookspecs.hookspecs.wfaudit_configure`
and :func:`~wfaudit_hookspecs.hookspecs.wfaudit_unconfigure`, as pytest passes its
``Config``: the parsed settings, where wfaudit keeps its files, the tenant and
store the host serves, a way to tell the observers of an operation, and a
:class:`Stash` where each plugin keeps the state it builds in ``configure`` and
releases in ``unconfigure`` (a masker compiled from the settings, a delivery
thread, a metrics registry). Nothing here depends on the engine.
"""

from __future__ import annotations

import pathlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar, cast, runtime_checkable

import attrs

if TYPE_CHECKING:
    from .model import SnapshotRecord
    from .protocols import Store

__all__ = ["Host", "MetricsPage", "Stash", "StashKey"]

T = TypeVar("T")
D = TypeVar("D")


class StashKey(Generic[T]):
    """A key of a :class:`Stash`, typed by the value it holds.

    Create one per kind of state, at module level (``MASKER = StashKey[Masker]()``):
    a key is its own identity, so two plugins' keys never collide.
    """

    __slots__ = ("name",)

    def __init__(self, name: str = "") -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<StashKey {self.name or hex(id(self))}>"


class Stash:
    """Plugin state kept on a host, by :class:`StashKey` (pytest's ``Stash``).

    ``stash[KEY] = value``, ``stash[KEY]``, ``stash.get(KEY, default)``,
    ``stash.setdefault(KEY, value)``, ``del stash[KEY]``, ``KEY in stash``.
    A type checker knows the type of each value from its key.
    """

    __slots__ = ("_items",)

    def __init__(self) -> None:
        self._items: dict[StashKey[Any], object] = {}

    def __setitem__(self, key: StashKey[T], value: T) -> None:
        self._items[key] = value

    def __getitem__(self, key: StashKey[T]) -> T:
        return cast("T", self._items[key])

    def get(self, key: StashKey[T], default: D) -> T | D:
        """The value of ``key``, or ``default`` when it holds none."""
        try:
            return self[key]
        except KeyError:
            return default

    def setdefault(self, key: StashKey[T], default: T) -> T:
        """The value of ``key``; ``default`` (stored) when it held none."""
        try:
            return self[key]
        except KeyError:
            self[key] = default
            return default

    def pop(self, key: StashKey[T], default: D) -> T | D:
        """Remove the value of ``key`` and return it (``default`` when none)."""
        return cast("T | D", self._items.pop(key, default))

    def __delitem__(self, key: StashKey[T]) -> None:
        del self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:  # names only: a value may hold a secret
        return f"<Stash {len(self._items)} item(s)>"


@attrs.frozen
class MetricsPage:
    """One scrape of the metrics (:func:`~wfaudit_hookspecs.hookspecs.wfaudit_metrics`).

    :ivar body: the metrics, encoded as ``content_type`` says.
    :ivar content_type: the media type to serve ``body`` with (Prometheus'
        text format: ``text/plain; version=0.0.4; charset=utf-8``).
    """

    body: bytes
    content_type: str


@runtime_checkable
class Host(Protocol):
    """What the engine offers a plugin between ``configure`` and ``unconfigure``.

    One host per auditor (and one for the command line): a plugin configured
    twice, by two auditors of one process, keeps each one's state in that
    host's :attr:`stash`, never in a module global.
    """

    @property
    def settings(self) -> Mapping[str, Any]:
        """The parsed ``[tool.wfaudit]`` / ``wfaudit.toml`` settings (read only)."""
        ...

    @property
    def home(self) -> pathlib.Path:
        """The data directory (``WFAUDIT_HOME``): a plugin's files go under it."""
        ...

    @property
    def tenant(self) -> str | None:
        """The tenant every read and write of this host is scoped to, or None."""
        ...

    @property
    def store_url(self) -> str:
        """The store URL as configured (it may hold a password: never log it)."""
        ...

    @property
    def strict(self) -> bool:
        """Whether audit errors are raised instead of returned (test suites)."""
        ...

    @property
    def store(self) -> Store | None:
        """The store this host writes to, or None (the command line before a
        command opened one)."""
        ...

    @property
    def stash(self) -> Stash:
        """Where plugins keep their state, by :class:`StashKey`."""
        ...

    @property
    def workflow_types(self) -> Mapping[str, str]:
        """The declared workflow types and their descriptions (command options
        offer them as choices)."""
        ...

    def notify(
        self, kind: str, record: SnapshotRecord, data: Mapping[str, Any] | None = None
    ) -> None:
        """Tell the ``wfaudit_event`` observers that ``kind`` happened to ``record``
        (after the audit trail recorded it). ``data`` never holds a secret."""
        ...

    def spool_depth(self) -> int:
        """How many snapshots of this host's tenant wait in its spool for the store
        (0 for a host that spools nothing, as the command line's)."""
        ...
