"""The ``[tool.wfaudit.webhooks]`` settings, checked once per distinct table.

::

    [tool.wfaudit.webhooks]
    endpoints = ["https://hooks.example.com/wfaudit"]
    allow = ["hooks.example.com"]          # hosts (or host:port) deliveries may go to
    secret_env = "WFAUDIT_WEBHOOK_SECRET"  # the variable holding the signing key
    events = ["snapshot.audited", "outcome.recorded"]  # default: the six below
    max_attempts = 5
    backoff = 1.0                          # seconds before the 2nd attempt, doubled after
    backoff_max = 60.0
    timeout = 5.0                          # seconds per HTTP request
    dead_letters = "/var/lib/wfaudit/webhooks.sqlite3"  # default: $WFAUDIT_HOME/...

The signing key is read from the environment only, never from a file that is
checked in, and never appears in a log line, an error or a repr.
"""

from __future__ import annotations

import math
import os
import pathlib
import urllib.parse
from collections.abc import Mapping
from typing import Any

import attrs

from wfaudit_hookspecs import ConfigurationError, EventKind

__all__ = [
    "DEFAULT_EVENTS",
    "DEFAULT_SECRET_ENV",
    "RETENTION_FAILED",
    "WebhookConfig",
    "redact_url",
]

DEFAULT_SECRET_ENV = "WFAUDIT_WEBHOOK_SECRET"  # noqa: S105 - the name of a variable
RETENTION_FAILED = "retention.failed"
"""A cycle of ``wfaudit retention run`` failed (the ``wfaudit_retention_run`` hook)."""
DEFAULT_EVENTS = (
    EventKind.AUDITED,
    EventKind.OUTCOME,
    EventKind.RETRIGGERED,
    EventKind.ARCHIVED,
    EventKind.DELETED,
    RETENTION_FAILED,
)
_KEYS = {
    "endpoints",
    "allow",
    "secret_env",
    "events",
    "max_attempts",
    "backoff",
    "backoff_max",
    "timeout",
    "dead_letters",
}


def redact_url(url: str) -> str:
    """``scheme://host[:port]/…``: enough to tell endpoints apart in a log line or
    a listing, without a path or query that may itself be a credential."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    rest = "/…" if parts.path.strip("/") or parts.query else ""
    return f"{parts.scheme}://{host}{port}{rest}"


def _host_port(url: str) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(url)
    default = 443 if parts.scheme == "https" else 80
    return (parts.hostname or "").lower(), parts.port or default


def _allowed(url: str, allow: tuple[str, ...]) -> bool:
    host, port = _host_port(url)
    for entry in allow:
        name, separator, wanted = entry.lower().rpartition(":")
        if not separator or not wanted.isdigit():
            name, wanted = entry.lower(), ""
        if name.strip("[]") == host and (not wanted or int(wanted) == port):
            return True
    return False


def _number(table: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    raw = table.get(key, default)
    if isinstance(raw, bool) or not isinstance(raw, int | float) or not math.isfinite(raw):
        raise ConfigurationError(f"webhooks.{key} must be a number, not {type(raw).__name__}")
    if not low <= raw <= high:
        raise ConfigurationError(f"webhooks.{key} = {raw} is outside {low:g}..{high:g}")
    return float(raw)


def _strings(table: Mapping[str, Any], key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    raw = table.get(key, default)
    if isinstance(raw, str) or not isinstance(raw, list | tuple):
        raise ConfigurationError(f"webhooks.{key} must be a list of strings")
    if not all(isinstance(item, str) and item.strip() for item in raw):
        raise ConfigurationError(f"webhooks.{key} must hold non-empty strings only")
    return tuple(item.strip() for item in raw)


@attrs.frozen(kw_only=True)
class WebhookConfig:
    """Where notifications go and how hard to try. Build it with :meth:`from_options`."""

    endpoints: tuple[str, ...] = attrs.field(repr=lambda urls: repr([redact_url(u) for u in urls]))
    allow: tuple[str, ...] = ()
    secret_env: str = DEFAULT_SECRET_ENV
    events: frozenset[str] = frozenset(DEFAULT_EVENTS)
    max_attempts: int = 5
    backoff: float = 1.0
    backoff_max: float = 60.0
    timeout: float = 5.0
    dead_letters: pathlib.Path

    @classmethod
    def from_options(
        cls, options: Mapping[str, Any], *, home: pathlib.Path | None = None
    ) -> WebhookConfig | None:
        """The config in ``options["webhooks"]``, or None when there is none.

        :raises ConfigurationError: when the table is invalid, or an endpoint is
            not on the allowlist (the message names the host, never the path).
        """
        table = options.get("webhooks")
        if table is None:
            return None
        if not isinstance(table, Mapping):
            raise ConfigurationError("[tool.wfaudit.webhooks] must be a table")
        unknown = sorted(set(table) - _KEYS)
        if unknown:
            raise ConfigurationError(
                f"unknown webhooks {'setting' if len(unknown) == 1 else 'settings'} "
                f"{', '.join(unknown)}; "
                f"known: {', '.join(sorted(_KEYS))}"
            )
        endpoints = _strings(table, "endpoints", ())
        if not endpoints:
            return None
        allow = _strings(table, "allow", ())
        for url in endpoints:
            parts = urllib.parse.urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigurationError(
                    f"webhook endpoint {redact_url(url)} is not an http(s) URL with a host"
                )
            if parts.username or parts.password:
                raise ConfigurationError(
                    f"webhook endpoint {redact_url(url)} carries credentials in its URL; "
                    "receivers authenticate wfaudit by the signature instead"
                )
            if not _allowed(url, allow):
                host, port = _host_port(url)
                raise ConfigurationError(
                    f"webhook endpoint {redact_url(url)} is not on the allowlist; add "
                    f"{host!r} (or '{host}:{port}') to webhooks.allow"
                )
        events = frozenset(_strings(table, "events", DEFAULT_EVENTS))
        secret_env = table.get("secret_env", DEFAULT_SECRET_ENV)
        if not isinstance(secret_env, str) or not secret_env.strip():
            raise ConfigurationError("webhooks.secret_env must name an environment variable")
        dead_letters = table.get("dead_letters")
        if dead_letters is not None and not isinstance(dead_letters, str):
            raise ConfigurationError("webhooks.dead_letters must be a file path")
        if dead_letters is None:
            if home is None:
                from wfaudit import Settings

                home = Settings.load().home
            path = home / "webhooks.sqlite3"
        else:
            path = pathlib.Path(dead_letters).expanduser()
        return cls(
            endpoints=endpoints,
            allow=allow,
            secret_env=secret_env.strip(),
            events=events,
            max_attempts=int(_number(table, "max_attempts", 5, 1, 100)),
            backoff=_number(table, "backoff", 1.0, 0.0, 3600.0),
            backoff_max=_number(table, "backoff_max", 60.0, 0.0, 86400.0),
            timeout=_number(table, "timeout", 5.0, 0.1, 600.0),
            dead_letters=path,
        )

    def secret(self) -> bytes | None:
        """The signing key from the environment, or None when it is not set."""
        value = os.environ.get(self.secret_env, "")
        return value.encode() if value else None

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based)."""
        return float(min(self.backoff * 2 ** (attempt - 1), self.backoff_max))

    def is_allowed(self, url: str) -> bool:
        """Whether ``url`` is one of the endpoints and its host is on the allowlist."""
        return url in self.endpoints and _allowed(url, self.allow)
