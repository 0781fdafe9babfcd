"""The hash chain of the audit trail, and the seal of a snapshot row.

Every event is hashed with the hash of the event before it in its tenant's
chain::

    hash = SHA-256( prev_hash (64 hex digits) + "\\n" + canonical_json(form) )

where ``form`` holds the event's columns (tenant, subject, seq, kind, at, actor
and the ``data`` text exactly as stored) and the first event of a chain has
``prev_hash`` :data:`GENESIS`. Changing, removing or moving any event therefore
breaks the link to the next one; the position in the chain (``chain_seq``) is
deliberately left out of the form, so that an event moved to another position
still verifies on its own and shows up as *reordered* rather than *modified*.

With a chain key (:meth:`~wfaudit_sql.SqlStore.use_chain_key`, which the engine
derives from the installation's fingerprint key, kept outside the database) the
hash is an HMAC-SHA256 under that key over the same text, and the event's
``key_id`` column names the key. Nobody without the key can then recompute the
hashes of a rewritten chain. Events written before the chain was keyed have no
``key_id`` and keep their plain SHA-256, which verification still checks.

The ``snapshot.audited`` event seals its snapshot row: its data holds
:func:`record_digest` (SHA-256 over the canonical JSON of every column that never
changes after the audit), a short digest of each of those columns (so that a
changed row's column can be named) and the row's initial mutable state. Later events that
change the row carry the new state, so the row must always equal its newest
recorded state.

``migrations/versions/0002_audit_chain.py`` carries a frozen copy of this
algorithm; change neither without the other and a migration.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from wfaudit_hookspecs import STATE_FIELDS, canonical_json

__all__ = [
    "GENESIS",
    "SEALED_COLUMNS",
    "column_digests",
    "column_signature",
    "event_form",
    "event_hash",
    "record_digest",
    "state_of",
    "timestamp_text",
]

GENESIS = "0" * 64
"""The ``prev_hash`` of the first event of a chain."""

SEALED_COLUMNS = (
    "id",
    "tenant",
    "workflow_id",
    "workflow_type",
    "pipeline_id",
    "triggered_by",
    "trigger_kind",
    "labels",
    "parent_id",
    "attempt",
    "schema_version",
    "content_hash",
    "manifest",
    "config_size",
    "created_on",
    "created_by",
)
"""The ``snapshots`` columns fixed at audit time, covered by :func:`record_digest`."""


def timestamp_text(value: _dt.datetime) -> str:
    """A timestamp as hashed: UTC, ISO 8601, always with microseconds.

    A naive value is UTC already (as the store's ``UTCDateTime`` reads it), so the
    text is the same whether the value came from Python or back from either backend.
    """
    utc = value.replace(tzinfo=_dt.UTC) if value.tzinfo is None else value.astimezone(_dt.UTC)
    return utc.isoformat(timespec="microseconds")


def _plain(value: Any) -> Any:
    return timestamp_text(value) if isinstance(value, _dt.datetime) else value


def event_form(
    *,
    tenant: str,
    subject: str,
    seq: int,
    kind: str,
    at: _dt.datetime,
    actor: str | None,
    data: str,
) -> dict[str, Any]:
    """The JSON form of an event that its hash covers (``data`` is the stored text)."""
    return {
        "tenant": tenant,
        "subject": subject,
        "seq": int(seq),
        "kind": kind,
        "at": timestamp_text(at),
        "actor": actor,
        "data": data,
    }


def event_hash(prev_hash: str, form: Mapping[str, Any], key: bytes | None = None) -> str:
    """SHA-256 (hex) over the previous event's hash and this event's canonical form;
    with ``key``, HMAC-SHA256 under that key over the same text."""
    digest = hashlib.sha256() if key is None else hmac.new(key, digestmod=hashlib.sha256)
    digest.update(prev_hash.encode("ascii", "replace"))
    digest.update(b"\n")
    digest.update(canonical_json(dict(form)))
    return digest.hexdigest()


def record_digest(row: Mapping[Any, Any]) -> str:
    """SHA-256 (hex) over the sealed columns of a ``snapshots`` row."""
    return hashlib.sha256(
        canonical_json({name: _plain(row[name]) for name in SEALED_COLUMNS})
    ).hexdigest()


COLUMN_DIGEST_LENGTH = 12
"""Hex digits of each column's digest: enough to name a changed column (the
whole row's integrity rests on :func:`record_digest`)."""


def column_digests(row: Mapping[Any, Any]) -> dict[str, str]:
    """A short SHA-256 of each sealed column, by name: with them, verification
    names the column of a row changed behind the store's back."""
    return {name: column_digest(row, name) for name in SEALED_COLUMNS}


COLUMN_SIGNATURE_LENGTH = 4
"""Hex digits per column in :func:`column_signature` (revision 0010): 16 bits are
plenty to name the changed column (a collision only loses the name: the row is
still reported, by :func:`record_digest`)."""


def column_signature(row: Mapping[Any, Any]) -> str:
    """The short digests of the sealed columns as one string, in
    :data:`SEALED_COLUMNS` order, :data:`COLUMN_SIGNATURE_LENGTH` hex digits each:
    what a ``snapshot.audited`` event records since revision 0010 (64 characters,
    where the named 12-digit digests took some 400)."""
    return "".join(column_digest(row, name)[:COLUMN_SIGNATURE_LENGTH] for name in SEALED_COLUMNS)


def column_digest(row: Mapping[Any, Any], name: str) -> str:
    text = canonical_json({name: _plain(row[name])})
    return hashlib.sha256(text).hexdigest()[:COLUMN_DIGEST_LENGTH]


def state_of(row: Mapping[Any, Any]) -> dict[str, Any]:
    """The mutable columns of a ``snapshots`` row, as events record them."""
    return {name: _plain(row[name]) for name in STATE_FIELDS}
