"""The store's tables, as SQLAlchemy Core ``Table`` objects.

These describe the schema at the head migration; the migrations under
``migrations/versions`` create it (and must be changed together with it). The
tables are never created from this metadata directly.
"""

from __future__ import annotations

import datetime as _dt

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = [
    "FAILED_PREDICATE",
    "FAILED_STATUSES",
    "UTCDateTime",
    "blobs",
    "chain_heads",
    "events",
    "metadata",
    "snapshots",
]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
"""Deterministic constraint names, so later migrations (and SQLite batch mode) can
refer to them by name on both backends."""

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[_dt.datetime]):
    """A timestamp that always comes back as a timezone-aware UTC datetime.

    PostgreSQL stores ``timestamptz`` and returns it in the session's time zone;
    SQLite stores text without a zone. Values are converted to UTC on the way in
    (and written without a zone on SQLite, in SQLAlchemy's fixed-width format, so
    text order is time order) and tagged or converted to UTC on the way out.
    A naive datetime given to the store is taken to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(
        self, value: _dt.datetime | None, dialect: Dialect
    ) -> _dt.datetime | None:
        if value is None:
            return None
        utc = value.replace(tzinfo=_dt.UTC) if value.tzinfo is None else value.astimezone(_dt.UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(
        self, value: _dt.datetime | None, dialect: Dialect
    ) -> _dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=_dt.UTC)
        return value.astimezone(_dt.UTC)


def _identity(name: str, *, nullable: bool = False) -> Column[str]:
    return Column(name, String(255), nullable=nullable)


# A content hash is a SHA-256 in hex. VARCHAR rather than CHAR: PostgreSQL pads
# CHAR values, which would silently change a shorter key read back.
_HASH_LENGTH = 64
# Engine-made ids are ULIDs (26 characters); leave room for other schemes.
_ID_LENGTH = 64

FAILED_STATUSES = ("failed", "error")
"""The statuses of a failed run, in the partial index's predicate."""
FAILED_PREDICATE = "status IN ('failed', 'error')"

blobs = Table(
    "blobs",
    metadata,
    Column("content_hash", String(_HASH_LENGTH), primary_key=True),
    Column("codec", String(32), nullable=False),
    Column("raw_size", BigInteger, nullable=False),
    Column("stored_size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_on", UTCDateTime, nullable=False),
    # A delta blob's base: the plain blob it was compressed against (0003).
    Column("base_hash", String(_HASH_LENGTH), nullable=True, index=True),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("id", String(_ID_LENGTH), primary_key=True),
    # '' is "no tenant": NULLs are distinct in a UNIQUE constraint, which would
    # let one workflow run be stored twice when no tenant is set.
    Column("tenant", String(255), nullable=False, server_default=""),
    _identity("workflow_id"),
    Column("workflow_type", String(64), nullable=False),
    _identity("pipeline_id"),
    _identity("triggered_by", nullable=True),
    Column("trigger_kind", String(32), nullable=False),
    Column("labels", Text, nullable=False),
    Column("parent_id", String(_ID_LENGTH), nullable=True),
    Column("attempt", Integer, nullable=False),
    Column("schema_version", Integer, nullable=False),
    Column(
        "content_hash",
        String(_HASH_LENGTH),
        ForeignKey("blobs.content_hash"),
        nullable=False,
    ),
    Column("manifest", Text, nullable=False),
    Column("status", String(32), nullable=False),
    Column("status_reason", Text, nullable=True),
    Column("config_size", BigInteger, nullable=False, server_default="0"),
    Column("created_on", UTCDateTime, nullable=False),
    _identity("created_by", nullable=True),
    Column("updated_on", UTCDateTime, nullable=False),
    _identity("updated_by", nullable=True),
    # The identity of a workflow run. Columns in this order (not tenant first) so
    # the same index also serves lookups across all tenants (tenant=None).
    UniqueConstraint("workflow_id", "workflow_type", "tenant"),
    Index("ix_snapshots_pipeline_history", "tenant", "pipeline_id", "created_on"),
    Index(
        "ix_snapshots_latest_failed",
        "tenant",
        "pipeline_id",
        "workflow_type",
        "status",
        "created_on",
    ),
    Index("ix_snapshots_created_on", "created_on"),
    Index("ix_snapshots_content_hash", "content_hash"),
    # A pipeline's history when no tenant is given (the tenant-first index above
    # cannot serve it in created_on order).
    Index("ix_snapshots_pipeline_created", "pipeline_id", "created_on", "id"),
    # The latest failed snapshot of a pipeline: a partial index holds only the
    # failures, so the newest one is the first entry of a backward index scan,
    # however many successful runs the pipeline has. Queries must spell the same
    # predicate with literals (see FAILED_STATUSES) for the planners to use it.
    Index(
        "ix_snapshots_failed",
        "pipeline_id",
        "created_on",
        "id",
        sqlite_where=text(FAILED_PREDICATE),
        postgresql_where=text(FAILED_PREDICATE),
    ),
)

events = Table(
    "events",
    metadata,
    # BIGINT is not a rowid alias on SQLite, so it would not autoincrement there.
    Column(
        "id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("tenant", String(255), nullable=False, server_default=""),
    # The snapshot id. No foreign key: the audit trail outlives retention.
    Column("subject", String(_ID_LENGTH), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(64), nullable=False),
    Column("at", UTCDateTime, nullable=False),
    _identity("actor", nullable=True),
    Column("data", Text, nullable=False),
    # The hash chain (one chain per tenant): the position in the chain, the hash
    # of the event before, and SHA-256 over that hash and this event's canonical
    # form (wfaudit_sql.chain).
    Column("chain_seq", BigInteger, nullable=False),
    Column("prev_hash", String(_HASH_LENGTH), nullable=False),
    Column("hash", String(_HASH_LENGTH), nullable=False),
    UniqueConstraint("subject", "seq"),
    UniqueConstraint("tenant", "chain_seq"),
)

chain_heads = Table(
    "chain_heads",
    metadata,
    # One row per tenant's chain ('' = no tenant): the last position and hash.
    # Appending an event locks this row (FOR UPDATE on PostgreSQL; SQLite's write
    # lock already serialises writers), which orders the appends of one chain;
    # the row also lets verification notice events cut off the end of a chain.
    Column("tenant", String(255), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("hash", String(_HASH_LENGTH), nullable=False),
    Column("updated_on", UTCDateTime, nullable=False),
)
