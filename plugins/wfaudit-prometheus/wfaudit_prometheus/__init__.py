"""Prometheus metrics for wfaudit, gathered by hook wrappers around the stage hooks.

The plugin (entry point ``prometheus``) counts in the process that audits;
:func:`~wfaudit_prometheus.exporter.make_registry` adds the store's sizes and
the spool's depth at scrape time, and :func:`~wfaudit_prometheus.exporter.serve`
(``wfaudit metrics serve``) exposes them over HTTP.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .metrics import REGISTRY

if TYPE_CHECKING:
    from .exporter import StoreCollector, make_registry, serve

__all__ = ["REGISTRY", "RULES_FILE", "StoreCollector", "make_registry", "serve"]

RULES_FILE = Path(__file__).resolve().parent / "rules" / "wfaudit-retention.rules.yml"
"""The shipped Prometheus alert rules: no successful retention sweep in 24 hours,
the store or the archive over a size threshold."""

_LAZY = {"StoreCollector": "exporter", "make_registry": "exporter", "serve": "exporter"}
"""Imported on first use: loading the ``prometheus`` entry point (every ``wfaudit``
start) needs the metrics, not the HTTP exporter."""


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
