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
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

__all__ = ["UTCDateTime", "blobs", "events", "metadata", "snapshots"]

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

blobs = Table(
    "blobs",
    metadata,
    Column("content_hash", String(_HASH_LENGTH), primary_key=True),
    Column("codec", String(32), nullable=False),
    Column("raw_size", BigInteger, nullable=False),
    Column("stored_size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_on", UTCDateTime, nullable=False),
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
    UniqueConstraint("subject", "seq"),
)
