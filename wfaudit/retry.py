"""The retry settings: the built-in policy's options and the engine's attempt limit.

One parser serves the built-in policy (:mod:`wfaudit.builtin.retry`, which
votes) and the engine, which holds the same per-type limit along the parent
chain of snapshots whatever the policies vote (:mod:`wfaudit.retrigger`). The
policy checks them in ``wfaudit_configure`` (a bad value fails at start); both
read them again when they need them (the environment may change them).

Settings (see ``docs/retrigger.md``): the most specific setting wins, and at
equal specificity the environment wins over the ``[tool.wfaudit.retry]`` table:

* ``WFAUDIT_RETRIES_ENABLED`` (or Devtron's ``WORKFLOW_RETRIES_ENABLED``),
  ``enabled``: false by default. Booleans are parsed by the one parser of every
  setting (:func:`wfaudit_hookspecs.parse_bool`: Go's ``1, t, T, TRUE, true,
  True`` / ``0, f, F, FALSE, false, False``, yes/no, on/off; empty is unset); any
  other value is a ``ConfigurationError`` when the auditor starts, not a silent
  veto of every retry.
* ``MAX_CI_WORKFLOW_RETRIES`` (CI), ``MAX_CD_WORKFLOW_RUNNER_RETRIES`` (PRE_CD
  and POST_CD), ``[retry.max_retries_by_type]`` (any type), then
  ``WFAUDIT_MAX_RETRIES`` / ``max_retries`` for every type: 3 by default.
* ``retryable`` / ``not_retryable``: glob patterns matched against the failure
  reason, case-insensitively; not-retryable ones are checked first.
* ``error_is_retryable`` (true): an ``error`` outcome whose reason matches no
  pattern is retried (the orchestrator, not the workflow, failed).
* ``delay_seconds`` (0): the delay the vote suggests.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from typing import Any

import attrs

from wfaudit_hookspecs import (
    ConfigurationError,
    Failure,
    Status,
    WorkflowType,
    normalize_workflow_type,
    parse_bool,
)

__all__ = [
    "ABSOLUTE_MAX_RETRIES",
    "DEFAULT_MAX_RETRIES",
    "DEFAULT_NOT_RETRYABLE",
    "DEFAULT_RETRYABLE",
    "POLICY",
    "TABLE",
    "RetrySettings",
]

TABLE = "retry"
"""The key of the policy's table in the wfaudit settings (``[tool.wfaudit.retry]``)."""

POLICY = "wfaudit.builtin.retry"
"""The ``policy`` name of this plugin's votes."""

DEFAULT_MAX_RETRIES = 3
ABSOLUTE_MAX_RETRIES = 100
"""No setting may allow more retries than this."""

DEFAULT_RETRYABLE: tuple[str, ...] = (
    "infrastructure*",
    "infra:*",
    "*timeout*",
    "*timed out*",
    "*node lost*",
    "*node not ready*",
    "*evicted*",
    "*pod deleted*",
    "*oomkilled*",
    "*imagepullbackoff*",
    "*errimagepull*",
    "*connection refused*",
    "*connection reset*",
    "*network*",
    "*service unavailable*",
    "*rate limit*",
    "launch failed*",
)
"""Reasons worth another attempt: the run failed because of where it ran."""

DEFAULT_NOT_RETRYABLE: tuple[str, ...] = (
    "test*",
    "*tests failed*",
    "*test failed*",
    "*failing test*",
    "*assertion*",
    "*compil*",
    "*lint*",
    "*syntax error*",
    "*invalid config*",
    "*unauthorized*",
    "*forbidden*",
    "*permission denied*",
)
"""Reasons another attempt would not fix: the workflow itself failed. Checked first."""

_ENABLED_VARIABLES = ("WFAUDIT_RETRIES_ENABLED", "WORKFLOW_RETRIES_ENABLED")
_TYPE_VARIABLES: Mapping[str, str] = {
    WorkflowType.CI: "MAX_CI_WORKFLOW_RETRIES",
    WorkflowType.PRE_CD: "MAX_CD_WORKFLOW_RUNNER_RETRIES",
    WorkflowType.POST_CD: "MAX_CD_WORKFLOW_RUNNER_RETRIES",
}
_DEFAULT_VARIABLE = "WFAUDIT_MAX_RETRIES"
_KEYS = frozenset(
    {
        "enabled",
        "max_retries",
        "max_retries_by_type",
        "retryable",
        "not_retryable",
        "error_is_retryable",
        "delay_seconds",
    }
)
_WHERE = f"[tool.wfaudit.{TABLE}]"


@attrs.frozen(kw_only=True)
class RetrySettings:
    """The retry settings, resolved. Build them with :meth:`load`.

    :ivar limits: the maximum number of retries per workflow type, with a
        ``source`` for each saying which setting gave it (for messages).
    :ivar default_limit: the maximum for types without a limit of their own.
    """

    enabled: bool = False
    limits: Mapping[str, tuple[int, str]] = attrs.field(factory=dict)
    default_limit: tuple[int, str] = (DEFAULT_MAX_RETRIES, "the default")
    retryable: tuple[str, ...] = DEFAULT_RETRYABLE
    not_retryable: tuple[str, ...] = DEFAULT_NOT_RETRYABLE
    error_is_retryable: bool = True
    delay_seconds: float = 0.0

    @classmethod
    def load(
        cls, options: Mapping[str, Any], environ: Mapping[str, str] | None = None
    ) -> RetrySettings:
        """Resolve the settings from ``options`` (the wfaudit settings) and the environment.

        :raises ConfigurationError: an unknown key, a value of the wrong type or
            out of range; the message names the setting.
        """
        env = os.environ if environ is None else environ
        table = options.get(TABLE, {})
        if not isinstance(table, Mapping):
            raise ConfigurationError(f"{_WHERE} must be a table")
        unknown = sorted(set(table) - _KEYS)
        if unknown:
            raise ConfigurationError(
                f"{_WHERE}: unknown {'key' if len(unknown) == 1 else 'keys'} "
                f"{', '.join(unknown)}; known: {', '.join(sorted(_KEYS))}"
            )
        enabled = parse_bool(table.get("enabled"), f"{_WHERE} enabled", default=False)
        for variable in _ENABLED_VARIABLES:  # WFAUDIT_ first, then Devtron's name
            if env.get(variable, "").strip():  # empty is unset: the next one decides
                enabled = parse_bool(env[variable], variable, default=enabled)
                break

        default_limit = (DEFAULT_MAX_RETRIES, "the default")
        if "max_retries" in table:
            default_limit = (_count(table["max_retries"], f"{_WHERE} max_retries"), "max_retries")
        if _DEFAULT_VARIABLE in env:
            default_limit = (_count(env[_DEFAULT_VARIABLE], _DEFAULT_VARIABLE), _DEFAULT_VARIABLE)

        limits: dict[str, tuple[int, str]] = {}
        by_type = table.get("max_retries_by_type", {})
        if not isinstance(by_type, Mapping):
            raise ConfigurationError(f"{_WHERE} max_retries_by_type must be a table")
        for name, value in by_type.items():
            workflow_type = normalize_workflow_type(name)
            where = f"max_retries_by_type.{workflow_type}"
            limits[workflow_type] = (_count(value, f"{_WHERE} {where}"), where)
        for workflow_type, variable in _TYPE_VARIABLES.items():
            if variable in env:
                limits[workflow_type] = (_count(env[variable], variable), variable)

        return cls(
            enabled=enabled,
            limits=limits,
            default_limit=default_limit,
            retryable=_patterns(table.get("retryable", DEFAULT_RETRYABLE), "retryable"),
            not_retryable=_patterns(
                table.get("not_retryable", DEFAULT_NOT_RETRYABLE), "not_retryable"
            ),
            error_is_retryable=parse_bool(
                table.get("error_is_retryable"), f"{_WHERE} error_is_retryable", default=True
            ),
            delay_seconds=_delay(table.get("delay_seconds", 0)),
        )

    def max_retries(self, workflow_type: str) -> int:
        """How many times a run of ``workflow_type`` may be retried."""
        return self.limit(workflow_type)[0]

    def limit(self, workflow_type: str) -> tuple[int, str]:
        """The maximum number of retries for ``workflow_type``, and the setting that set it."""
        return self.limits.get(normalize_workflow_type(workflow_type), self.default_limit)

    def classify(self, failure: Failure) -> tuple[bool, str]:
        """Whether the failure is worth a retry, and why (quotes patterns, never the reason)."""
        reason = " ".join((failure.reason or "").split()).lower()
        if reason:
            for pattern in self.not_retryable:
                if fnmatch.fnmatchcase(reason, pattern.lower()):
                    return False, f"the reason matches the not-retryable pattern {pattern!r}"
            for pattern in self.retryable:
                if fnmatch.fnmatchcase(reason, pattern.lower()):
                    return True, f"the reason matches the retryable pattern {pattern!r}"
        if failure.status is Status.ERROR and self.error_is_retryable:
            return True, "the run errored (error_is_retryable)"
        if not reason:
            return False, "no reason was given, and only known-transient reasons are retried"
        return False, "the reason matches no retryable pattern"


def _count(value: object, name: str) -> int:
    if isinstance(value, bool):
        raise ConfigurationError(f"{name}={value!r} is not a number of retries")
    try:
        number = int(str(value).strip()) if isinstance(value, str) else int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name}={value!r} is not a number of retries") from None
    if not 0 <= number <= ABSOLUTE_MAX_RETRIES:
        raise ConfigurationError(f"{name}={number} is outside 0..{ABSOLUTE_MAX_RETRIES}")
    return number


def _patterns(value: object, key: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigurationError(f"{_WHERE} {key} must be a list of glob patterns")
    out = []
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ConfigurationError(f"{_WHERE} {key}: every pattern must be a non-empty string")
        out.append(item.strip())
    return tuple(out)


def _delay(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigurationError(f"{_WHERE} delay_seconds must be a number >= 0")
    return float(value)
