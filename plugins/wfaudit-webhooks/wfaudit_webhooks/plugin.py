"""The ``webhooks`` entry point: queue a signed notification for each event.

The hook only builds the bodies and queues them (see :mod:`.dispatcher`); it
returns at once, so a slow, failing or hanging receiver never slows or fails
an audit. Without a ``[tool.wfaudit.webhooks]`` table with endpoints it does
nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import click

from wfaudit_hookspecs import ConfigurationError, SnapshotRecord, hookimpl
from wfaudit_hookspecs.retention import RetentionRun

from .config import RETENTION_FAILED, WebhookConfig
from .delivery import new_delivery, new_run_delivery
from .dispatcher import dispatcher_for

__all__ = [
    "config_of",
    "wfaudit_event",
    "wfaudit_register_commands",
    "wfaudit_retention_run",
]

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
def wfaudit_event(
    kind: str, snapshot: SnapshotRecord, data: Mapping[str, Any], settings: Mapping[str, Any]
) -> None:
    """Queue one delivery per endpoint when ``kind`` is one of the configured events."""
    config = _config(settings)
    if config is None or kind not in config.events:
        return
    dispatcher = dispatcher_for(config)
    for endpoint in config.endpoints:
        dispatcher.submit(new_delivery(endpoint, kind, snapshot, data))


@hookimpl
def wfaudit_retention_run(run: RetentionRun, settings: Mapping[str, Any]) -> None:
    """Queue a signed ``retention.failed`` delivery per endpoint for a failed cycle."""
    if run.ok:
        return
    config = _config(settings)
    if config is None or RETENTION_FAILED not in config.events:
        return
    dispatcher = dispatcher_for(config)
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
