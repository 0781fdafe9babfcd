"""Turning model objects into JSON data and back, with schema upgrades.

One cattrs converter, built by :func:`get_converter`, serves the store, the spool,
archives and ``--json`` output. Stored snapshot records carry ``schema_version``:
:func:`structure_record` upgrades older versions step by step through the
functions registered with :func:`register_upgrade`, and refuses versions newer
than :data:`~wfaudit_hookspecs.model.SCHEMA_VERSION` with
:class:`~wfaudit_hookspecs.errors.UnsupportedSchemaVersion`.
"""

from __future__ import annotations

import datetime as _dt
import functools
from collections.abc import Callable
from typing import Any

import cattrs

from .errors import InvalidRequest, UnsupportedSchemaVersion
from .model import SCHEMA_VERSION, SnapshotRecord, Status, TriggerKind

__all__ = [
    "UPGRADES",
    "get_converter",
    "parse_schema_version",
    "register_upgrade",
    "structure_record",
    "unstructure",
]

Upgrade = Callable[[dict[str, Any]], dict[str, Any]]

UPGRADES: dict[int, Upgrade] = {}
"""``UPGRADES[n]`` turns a record of schema version ``n`` into version ``n + 1``."""


def register_upgrade(from_version: int) -> Callable[[Upgrade], Upgrade]:
    """Register the function that upgrades records from ``from_version`` to the next."""

    def decorate(function: Upgrade) -> Upgrade:
        UPGRADES[from_version] = function
        return function

    return decorate


@functools.cache
def get_converter() -> cattrs.Converter:
    """The shared converter. Plugins may register hooks on it for their own types."""
    converter = cattrs.Converter(forbid_extra_keys=False)
    converter.register_unstructure_hook(_dt.datetime, lambda d: d.isoformat())
    converter.register_structure_hook(_dt.datetime, lambda v, _t: _parse_datetime(v))
    for enum_type in (Status, TriggerKind):
        converter.register_unstructure_hook(enum_type, lambda e: e.value)
    return converter


def unstructure(obj: Any) -> Any:
    """Model object → JSON data."""
    return get_converter().unstructure(obj)


def parse_schema_version(value: object) -> int:
    """Read a schema version: ``1``, ``"1"`` or Devtron's ``"V1"`` style."""
    if isinstance(value, bool):
        raise UnsupportedSchemaVersion(value, SCHEMA_VERSION)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip().upper().removeprefix("V")
        if text.isdigit():
            return int(text)
    raise UnsupportedSchemaVersion(value, SCHEMA_VERSION)


def structure_record(data: dict[str, Any]) -> SnapshotRecord:
    """JSON data of a stored record → :class:`SnapshotRecord`, upgrading old versions."""
    version = parse_schema_version(data.get("schema_version", 0))
    if version > SCHEMA_VERSION:
        raise UnsupportedSchemaVersion(data.get("schema_version"), SCHEMA_VERSION)
    while version < SCHEMA_VERSION:
        upgrade = UPGRADES.get(version)
        if upgrade is None:
            raise UnsupportedSchemaVersion(data.get("schema_version"), SCHEMA_VERSION)
        try:
            data = upgrade(dict(data))
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidRequest(
                f"stored record of schema version {version} is malformed: {_describe(exc)}"
            ) from None
        version = parse_schema_version(data["schema_version"])
    data = {**data, "schema_version": version}
    try:
        return get_converter().structure(data, SnapshotRecord)
    except (cattrs.BaseValidationError, KeyError, TypeError, ValueError) as exc:
        raise InvalidRequest(f"stored record is malformed: {_describe(exc)}") from None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, cattrs.BaseValidationError):
        notes = cattrs.transform_error(exc)
        return "; ".join(notes) if notes else str(exc)
    if isinstance(exc, KeyError):
        return f"missing field {exc.args[0]!r}"
    return type(exc).__name__


def _parse_datetime(value: object) -> _dt.datetime:
    if isinstance(value, _dt.datetime):
        parsed = value
    elif isinstance(value, str):
        parsed = _dt.datetime.fromisoformat(value)
    else:
        raise ValueError(f"not a timestamp: {type(value).__name__}")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.UTC)


@register_upgrade(0)
def _upgrade_v0(data: dict[str, Any]) -> dict[str, Any]:
    """Version 0 is the layout of the Devtron-style pre-release records.

    Flat camelCase identity keys, the masked paths as a bare list of JSON pointers
    without fingerprints, and ``createdOn`` as epoch seconds. Masked fields keep
    their paths, under the rule ``legacy`` and an empty fingerprint.
    """
    created = data.get("createdOn")
    if isinstance(created, int | float):
        created = _dt.datetime.fromtimestamp(created, _dt.UTC).isoformat()
    fields = [
        {"path": path, "rule": "legacy", "fingerprint": ""} for path in data.get("maskedPaths", [])
    ]
    upgraded: dict[str, Any] = {
        "id": data["id"],
        "workflow_id": str(data["workflowId"]),
        "workflow_type": data["workflowType"],
        "pipeline_id": str(data["pipelineId"]),
        "content_hash": data["contentHash"],
        "manifest": {"fields": fields},
        "triggered_by": None if data.get("triggeredBy") is None else str(data["triggeredBy"]),
        "schema_version": 1,
    }
    if created is not None:
        upgraded["created_on"] = created
        upgraded["updated_on"] = created
    return upgraded
