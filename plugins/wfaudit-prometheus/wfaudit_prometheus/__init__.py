"""Prometheus metrics for wfaudit, gathered by hook wrappers around the stage hooks.

The plugin (entry point ``prometheus``) counts in the process that audits;
:func:`~wfaudit_prometheus.exporter.make_registry` adds the store's sizes and
the spool's depth at scrape time, and :func:`~wfaudit_prometheus.exporter.serve`
(``wfaudit metrics serve``) exposes them over HTTP.
"""

from __future__ import annotations

from .exporter import StoreCollector, make_registry, serve
from .metrics import REGISTRY

__all__ = ["REGISTRY", "StoreCollector", "make_registry", "serve"]
