"""Exposing the metrics: a registry for one scrape, and an HTTP exporter.

:func:`make_registry` joins the in-process metrics of :mod:`.metrics` (or, in
multiprocess mode, every process's values from ``PROMETHEUS_MULTIPROC_DIR``)
with a :class:`StoreCollector` that reads the store's sizes and the spool's
depth when scraped. The web app serves the same registry at ``/metrics``,
through the plugin's ``wfaudit_metrics`` hook (:func:`page`).
"""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from wsgiref.simple_server import WSGIServer

import attrs
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from wfaudit import Auditor
from wfaudit_hookspecs import (
    ConfigurationError,
    Host,
    MetricsPage,
    StoreMaintenance,
    WfauditError,
)
from wfaudit_hookspecs.retention import StoreRetention

from . import metrics
from .metrics import STATUSES

__all__ = ["Exporter", "StoreCollector", "make_registry", "page", "serve"]

MULTIPROC_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"


class _ProcessMetrics(Collector):
    """This process's metrics (the plugin's own registry), forwarded."""

    def collect(self) -> Iterator[Metric]:
        yield from metrics.REGISTRY.collect()


class StoreCollector(Collector):
    """Gauges read from the store and the spool at each scrape.

    ``wfaudit_store_up`` is 0 when the store cannot be read; the other store
    gauges are then left out rather than reported as zero.

    :param auditor: the auditor whose store and spool are read, or its host
        (:attr:`Auditor.host`; the ``wfaudit_metrics`` hook is given the host).
    """

    def __init__(self, auditor: Auditor | Host) -> None:
        self.host: Host = auditor.host if isinstance(auditor, Auditor) else auditor

    def collect(self) -> Iterator[Metric]:
        tenant = self.host.tenant
        spool = GaugeMetricFamily(
            "wfaudit_spool_depth", "Snapshots waiting in the durable spool for the store."
        )
        spool.add_metric([], self.host.spool_depth())
        yield spool
        up = GaugeMetricFamily("wfaudit_store_up", "1 when the store answered this scrape.")
        store = self.host.store
        if store is None or not isinstance(store, StoreMaintenance):
            up.add_metric([], 0)
            yield up
            return
        try:
            stats = store.stats(tenant=tenant)
        except WfauditError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        by_status = GaugeMetricFamily(
            "wfaudit_store_snapshots", "Snapshots in the store by status.", labels=["status"]
        )
        counts: Counter[str] = Counter()
        for status, count in stats.by_status.items():  # a row's status is data: bounded too
            counts[STATUSES(str(status))] += count
        for status, count in sorted(counts.items()):
            by_status.add_metric([status], count)
        yield by_status
        for name, help_text, value in (
            (
                "wfaudit_store_raw_bytes",
                "Canonical JSON bytes of every snapshot's config, as if each were stored whole.",
                stats.raw_bytes,
            ),
            (
                "wfaudit_store_unique_raw_bytes",
                "Canonical JSON bytes of the distinct configs (after dedup).",
                stats.unique_raw_bytes,
            ),
            (
                "wfaudit_store_stored_bytes",
                "Compressed bytes the store holds for those configs.",
                stats.stored_bytes,
            ),
            (
                "wfaudit_store_compression_ratio",
                "Distinct configs' raw bytes per stored byte.",
                stats.compression_ratio,
            ),
            (
                "wfaudit_store_dedup_ratio",
                "Raw bytes of all snapshots per raw byte of distinct content.",
                stats.dedup_ratio,
            ),
            ("wfaudit_store_blobs", "Distinct blobs in the store.", stats.blobs),
            ("wfaudit_store_events", "Events in the audit trail.", stats.events),
        ):
            family = GaugeMetricFamily(name, help_text)
            family.add_metric([], value)
            yield family
        if isinstance(store, StoreRetention):
            yield from _retention_gauges(store, tenant)


def _retention_gauges(store: StoreRetention, tenant: str | None) -> Iterator[Metric]:
    """The archive's size and the last successful ``wfaudit retention run`` cycle."""
    try:
        objects, size = store.archive_totals(tenant=tenant)
        last = store.last_run(tenant=tenant)
    except WfauditError:
        return
    success = 0.0
    if last is not None and last.finished_on is not None:
        success = last.finished_on.timestamp()
    for name, help_text, value in (
        ("wfaudit_archive_objects", "Archive objects the store's records name.", objects),
        ("wfaudit_archive_bytes", "Bytes of those archive objects.", size),
        (
            "wfaudit_retention_last_success_timestamp_seconds",
            "When the last successful `wfaudit retention run` cycle ended (Unix time; 0: never).",
            success,
        ),
    ):
        family = GaugeMetricFamily(name, help_text)
        family.add_metric([], value)
        yield family


def make_registry(auditor: Auditor | Host | None = None) -> CollectorRegistry:
    """A registry for one exporter: the audit metrics, and the store's when an
    auditor (or its host) is given.

    In multiprocess mode (``PROMETHEUS_MULTIPROC_DIR`` set) the audit metrics
    are those every process wrote to that directory, added up.

    :raises ConfigurationError: ``PROMETHEUS_MULTIPROC_DIR`` is not a directory.
    """
    registry = CollectorRegistry(auto_describe=True)
    directory = os.environ.get(MULTIPROC_VARIABLE)
    if directory:
        if not os.path.isdir(directory):
            raise ConfigurationError(
                f"{MULTIPROC_VARIABLE}={directory} is not a directory: create it (empty and "
                "writable by every process that audits) or unset the variable"
            )
        MultiProcessCollector(registry, path=directory)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ProcessMetrics())
    if auditor is not None:
        registry.register(StoreCollector(auditor))
    return registry


def page(host: Host) -> MetricsPage:
    """One scrape of :func:`make_registry` over ``host``, in Prometheus' text format.

    :raises ConfigurationError: ``PROMETHEUS_MULTIPROC_DIR`` is not a directory.
    """
    return MetricsPage(body=generate_latest(make_registry(host)), content_type=CONTENT_TYPE_LATEST)


@attrs.define
class Exporter:
    """A running exporter: its address, and how to stop it."""

    host: str
    port: int
    server: WSGIServer
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve(registry: CollectorRegistry, *, host: str = "127.0.0.1", port: int = 9464) -> Exporter:
    """Serve ``registry`` at ``http://host:port/metrics`` from a background thread.

    ``port=0`` takes a free port (read it from the result).
    """
    if not 0 <= port <= 65535:
        raise WfauditError(f"cannot listen on {host}:{port}: a port is within 0..65535")
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise WfauditError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return Exporter(host=host, port=int(server.server_port), server=server, thread=thread)
