"""The ``webhooks`` entry point: queue a signed notification for each event.

The hook only builds the bodies and queues them (see :mod:`.dispatcher`); it
returns at once, so a slow, failing or hanging receiver never slows or fails
an audit. Without a ``[tool.wfaudit.webhooks]`` table with endpoints it does
nothing.

Lifecycle: ``wfaudit_configure`` parses the host's webhooks table once and
takes the dispatcher of that configuration (:func:`.dispatcher.acquire`),
kept in the host's stash; the observers read it from there;
``wfaudit_unconfigure`` gives it back (:func:`.dispatcher.release`). Hosts of
one process with the same configuration share one dispatcher, counted: one
worker thread and one dead-letter writer per configuration, whatever the
number of auditors (``wfaudit serve`` opens one per tenant and worker), and
the last host to close it waits for its deliveries (or dead-letters them). A
hook called without a host (a test calling it alone) parses the settings it
is given and uses the process's dispatcher, closed at exit.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import click

from wfaudit_hookspecs import ConfigurationError, Host, SnapshotRecord, StashKey, hookimpl
from wfaudit_hookspecs.retention import RetentionRun

from .config import RETENTION_FAILED, WebhookConfig
from .delivery import new_delivery, new_run_delivery
from .dispatcher import Dispatcher, acquire, dispatcher_for, release

__all__ = [
    "DISPATCHER",
    "config_of",
    "wfaudit_configure",
    "wfaudit_event",
    "wfaudit_register_commands",
    "wfaudit_retention_run",
    "wfaudit_unconfigure",
]

DISPATCHER: StashKey[tuple[WebhookConfig, Dispatcher] | None] = StashKey("wfaudit-webhooks")
"""A host's webhook config and the dispatcher it holds; None when it sends none."""

log = logging.getLogger("wfaudit.webhooks")

_configs: dict[int, tuple[Mapping[str, Any], WebhookConfig | None]] = {}
_reported: set[str] = set()


def config_of(settings: Mapping[str, Any]) -> WebhookConfig | None:
    """The webhook config of a settings mapping, parsed once per mapping."""
    cached = _configs.get(id(settings))
    if cached is not None and cached[0] is settings:
        return cached[1]
    config = WebhookConfig.from_options(settings)
    if len(_configs) > 64:
        _configs.clear()
    _configs[id(settings)] = (settings, config)
    return config


@hookimpl
def wfaudit_configure(host: Host) -> None:
    """Parse the host's webhooks table and hold the dispatcher of that configuration.

    An invalid table is logged (once per process and problem) and the host
    sends nothing: a notification problem never stops audits.
    """
    config = _config(host.settings)
    host.stash[DISPATCHER] = None if config is None else (config, acquire(config))


@hookimpl
def wfaudit_unconfigure(host: Host) -> None:
    """Release the host's dispatcher (the last holder waits for its deliveries)."""
    held = host.stash.pop(DISPATCHER, None)
    if held is not None:
        release(*held)


def _dispatching(
    settings: Mapping[str, Any], host: Host | None
) -> tuple[WebhookConfig, Dispatcher] | None:
    """The config and dispatcher of the host (configured), or of the settings."""
    if host is not None and DISPATCHER in host.stash:
        return host.stash[DISPATCHER]
    config = _config(settings)
    return None if config is None else (config, dispatcher_for(config))


@hookimpl
def wfaudit_event(
    kind: str,
    snapshot: SnapshotRecord,
    data: Mapping[str, Any],
    settings: Mapping[str, Any],
    host: Host | None,
) -> None:
    """Queue one delivery per endpoint when ``kind`` is one of the configured events."""
    held = _dispatching(settings, host)
    if held is None or kind not in held[0].events:
        return
    config, dispatcher = held
    for endpoint in config.endpoints:
        dispatcher.submit(new_delivery(endpoint, kind, snapshot, data))


@hookimpl
def wfaudit_retention_run(
    run: RetentionRun, settings: Mapping[str, Any], host: Host | None
) -> None:
    """Queue a signed ``retention.failed`` delivery per endpoint for a failed cycle."""
    if run.ok:
        return
    held = _dispatching(settings, host)
    if held is None or RETENTION_FAILED not in held[0].events:
        return
    config, dispatcher = held
    for endpoint in config.endpoints:
        dispatcher.submit(new_run_delivery(endpoint, RETENTION_FAILED, run))


def _config(settings: Mapping[str, Any]) -> WebhookConfig | None:
    try:
        return config_of(settings)
    except ConfigurationError as exc:
        message = str(exc)
        if message not in _reported:  # once per process and problem, not per audit
            _reported.add(message)
            log.error("webhooks are not sent: %s", message)
        return None


@hookimpl
def wfaudit_register_commands(cli: click.Group) -> None:
    """Add ``wfaudit webhooks dlq list|replay``."""
    from .cli import webhooks

    cli.add_command(webhooks)
