"""Test support for orchestrator teams and plugin authors.

- Assertions: :func:`assert_audited`, :func:`assert_masked`,
  :func:`assert_no_secret`, :func:`assert_differ_exactly`, :func:`assert_restored`.
- Conformance kits to subclass: :class:`StoreConformance` (``Store`` and
  ``StoreMeta``), :class:`StoreHistoryConformance`,
  :class:`StoreMaintenanceConformance`, :class:`StoreSchemaConformance`,
  :class:`KeyedTrailConformance`,
  :class:`StoreRetentionConformance`, :class:`ArchiveStoreConformance`,
  :class:`MaskerConformance`, :class:`RestorerConformance`,
  :class:`AdapterConformance`.
- Tools: :class:`Clock`, :class:`HookRecorder`, :class:`MemoryKeyring`,
  :func:`find_secrets`, :func:`invoke_cli` (``wfaudit ...`` in process),
  :class:`StoreOutage` (a store down and up again, on
  SQLite or through a cut :class:`TcpProxy` on PostgreSQL).
- The reference storage backend :class:`MemoryStore` (``memory://``, registered
  with the engine, so ``Auditor.from_url("memory://")`` works anywhere), and
  :class:`MemoryArchive`, an archive store in memory.

The pytest fixtures (``wfaudit``, ``wfaudit_auditor``, ...) come with the
plugin ``wfaudit.pytest_plugin``, registered automatically.
"""

from __future__ import annotations

from wfaudit.builtin.memory import MemoryStore

from .assertions import (
    assert_audited,
    assert_differ_exactly,
    assert_masked,
    assert_no_secret,
    assert_restored,
)
from .cli import invoke_cli
from .clock import Clock
from .kit_archive import ArchiveStoreConformance
from .kit_history import (
    KeyedTrailConformance,
    StoreHistoryConformance,
    StoreMaintenanceConformance,
    StoreSchemaConformance,
)
from .kit_plugins import (
    DEFAULT_PLANTED,
    NON_SECRETS,
    AdapterCase,
    AdapterConformance,
    MaskerConformance,
    Planted,
    RestorerConformance,
    url_encode,
)
from .kit_retention import StoreRetentionConformance, kit_archive_record
from .kit_store import StoreConformance, make_record
from .memory_archive import MemoryArchive
from .memory_keyring import MemoryKeyring
from .network import TcpProxy
from .outage import StoreOutage
from .recorder import HookCall, HookRecorder
from .scan import Finding, Secrets, find_secrets, secret_forms

__all__ = [
    "DEFAULT_PLANTED",
    "NON_SECRETS",
    "AdapterCase",
    "AdapterConformance",
    "ArchiveStoreConformance",
    "Clock",
    "Finding",
    "HookCall",
    "HookRecorder",
    "KeyedTrailConformance",
    "MaskerConformance",
    "MemoryArchive",
    "MemoryKeyring",
    "MemoryStore",
    "Planted",
    "RestorerConformance",
    "Secrets",
    "StoreConformance",
    "StoreHistoryConformance",
    "StoreMaintenanceConformance",
    "StoreOutage",
    "StoreRetentionConformance",
    "StoreSchemaConformance",
    "TcpProxy",
    "assert_audited",
    "assert_differ_exactly",
    "assert_masked",
    "assert_no_secret",
    "assert_restored",
    "find_secrets",
    "invoke_cli",
    "kit_archive_record",
    "make_record",
    "secret_forms",
    "url_encode",
]
