"""The store's tables, as SQLAlchemy Core ``Table`` objects.

These describe the schema at the head migration; the migrations under
``migrations/versions`` create it (and must be changed together with it). The
tables are never created from this metadata directly.
"""

from __future__ import annotations

import datetime as _dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
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
    "HOLD_EVENT_PREDICATE",
    "Digest",
    "UTCDateTime",
    "archives",
    "blobs",
    "chain_heads",
    "digest_bytes",
    "digest_text",
    "events",
    "legal_holds",
    "manifests",
    "metadata",
    "retention_runs",
    "retention_sweeps",
    "snapshot_annotations",
    "snapshots",
    "store_meta",
    "sweep_locks",
    "tags",
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


_DIGEST_BYTES = 32
_HEX = frozenset("0123456789abcdef")


def digest_bytes(value: str) -> bytes:
    """The stored form of a digest key: a SHA-256 in lowercase hex as its 32 bytes.

    Any other text (keys are not validated: a test or an older writer may use
    short ones) is stored as its UTF-8 bytes, followed by a NUL byte when those
    are 32 long, so that only a hex digest is ever stored as 32 bytes and every
    value reads back as the text it was written as. Migration 0010 has a frozen
    copy of this encoding (SQLite and PostgreSQL): change neither without the other.
    """
    if len(value) == 2 * _DIGEST_BYTES and _HEX.issuperset(value):
        return bytes.fromhex(value)
    raw = value.encode("utf-8")
    return raw + b"\0" if len(raw) == _DIGEST_BYTES else raw


def digest_text(value: bytes | str) -> str:
    """The key :func:`digest_bytes` stored (text found there, e.g. written by hand, as it is)."""
    if isinstance(value, str):
        return value
    raw = bytes(value)
    if len(raw) == _DIGEST_BYTES:
        return raw.hex()
    if len(raw) == _DIGEST_BYTES + 1 and raw.endswith(b"\0"):
        raw = raw[:-1]
    return raw.decode("utf-8", errors="replace")


class Digest(TypeDecorator[str]):
    """A digest key (content hash, manifest hash, chain hash): hex text to and
    from the store, 32 bytes in it (revision 0010; :func:`digest_bytes`).

    The column is BYTEA on PostgreSQL. On SQLite its declared type stays
    VARCHAR(64), as before 0010 (changing a declared type means rebuilding the
    table, which would fire the foreign-key actions of the tables referring to
    it); SQLite stores a value as the type it is given, so the keys are BLOBs
    all the same, compared byte by byte.
    """

    impl = LargeBinary
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(_HASH_LENGTH))
        return dialect.type_descriptor(LargeBinary())

    def process_bind_param(self, value: str | None, dialect: Dialect) -> bytes | None:
        return None if value is None else digest_bytes(value)

    def process_result_value(self, value: bytes | str | None, dialect: Dialect) -> str | None:
        return None if value is None else digest_text(value)


def _identity(name: str, *, nullable: bool = False) -> Column[str]:
    return Column(name, String(255), nullable=nullable)


# A content hash is a SHA-256 in hex (stored as its 32 bytes since 0010: Digest).
_HASH_LENGTH = 64
# Engine-made ids are ULIDs (26 characters); leave room for other schemes.
_ID_LENGTH = 64

FAILED_STATUSES = ("failed", "error")
"""The statuses of a failed run, in the partial index's predicate."""
FAILED_PREDICATE = "status IN ('failed', 'error')"
HOLD_EVENT_PREDICATE = "kind IN ('legal_hold.set', 'legal_hold.released')"
"""The events of the partial index ``ix_events_holds``; queries spell it alike."""

blobs = Table(
    "blobs",
    metadata,
    Column("content_hash", Digest, primary_key=True),
    Column("codec", String(32), nullable=False),
    Column("raw_size", BigInteger, nullable=False),
    Column("stored_size", BigInteger, nullable=False),
    Column("data", LargeBinary, nullable=False),
    Column("created_on", UTCDateTime, nullable=False),
    # A delta blob's base: the plain blob it was compressed against (0003).
    Column("base_hash", Digest, nullable=True, index=True),
)

manifests = Table(
    "manifests",
    metadata,
    # Content-addressed manifests (0005; wfaudit_sql.manifests): SHA-256 of the
    # manifest's canonical JSON text, the codec (json, zstd), the text's length,
    # the stored bytes. Immutable, shared by every snapshot with that manifest;
    # only orphan cleanup deletes a row, once no snapshots.manifest_hash names it.
    Column("manifest_hash", Digest, primary_key=True),
    Column("codec", String(32), nullable=False),
    Column("raw_size", BigInteger, nullable=False),
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
        Digest,
        ForeignKey("blobs.content_hash"),
        nullable=False,
    ),
    # The masked-field manifest, stored once per distinct content in `manifests`
    # (0005). Nullable only because SQLite cannot add a NOT NULL column with a
    # foreign key in place (rebuilding `snapshots` would fire the foreign-key
    # actions of the tables that refer to it); the store always sets it, and
    # `wfaudit verify` reports a row whose manifest is missing.
    Column(
        "manifest_hash",
        Digest,
        ForeignKey("manifests.manifest_hash"),
        nullable=True,
    ),
    # What the run's manifest changes against the base manifest_hash names (0010;
    # wfaudit_sql.manifests): a zstd frame with the base as its dictionary. NULL:
    # the base is the run's manifest.
    Column("manifest_patch", LargeBinary, nullable=True),
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
    # (0010 dropped ix_snapshots_pipeline_history and ix_snapshots_latest_failed:
    # ix_snapshots_pipeline_created and ix_snapshots_failed serve their queries;
    # docs/design.md, "What a snapshot costs on disk", justifies every index kept.)
    Index("ix_snapshots_created_on", "created_on"),
    Index("ix_snapshots_content_hash", "content_hash"),
    # Whether a manifest is still named (retention's orphan cleanup, the foreign key).
    Index("ix_snapshots_manifest_hash", "manifest_hash"),
    # A snapshot's retrigger, which retention must not orphan (0006). Unique: a
    # run is retriggered once (two retriggers racing cannot both record a child).
    # Partial: most rows have no parent, and a full index's statistics (all
    # those NULLs) would make SQLite's planner scan the table instead of probing it.
    Index(
        "ix_snapshots_parent_id",
        "parent_id",
        unique=True,
        sqlite_where=text("parent_id IS NOT NULL"),
        postgresql_where=text("parent_id IS NOT NULL"),
    ),
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
    Column("prev_hash", Digest, nullable=False),
    Column("hash", Digest, nullable=False),
    # The id of the chain key ``hash`` is an HMAC under (0007); NULL: a plain
    # SHA-256, as every event written before the chain was keyed.
    Column("key_id", String(32), nullable=True),
    UniqueConstraint("subject", "seq"),
    UniqueConstraint("tenant", "chain_seq"),
    # The legal-hold events of a tenant, which retention decides from (0007).
    Index(
        "ix_events_holds",
        "tenant",
        "chain_seq",
        sqlite_where=text(HOLD_EVENT_PREDICATE),
        postgresql_where=text(HOLD_EVENT_PREDICATE),
    ),
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
    Column("hash", Digest, nullable=False),
    Column("updated_on", UTCDateTime, nullable=False),
)

tags = Table(
    "tags",
    metadata,
    # A tag name is unique within a pipeline of a tenant ('' = no tenant):
    # tagging another snapshot of the pipeline moves the tag (0004).
    Column("tenant", String(255), primary_key=True),
    Column("pipeline_id", String(255), primary_key=True),
    Column("name", String(64), primary_key=True),
    # Retention never deletes a tagged snapshot: a tag is a reference, so the
    # snapshot stays until it is untagged (the trail keeps the tagged/untagged
    # events). The cascade is for a snapshot row deleted by other means.
    Column(
        "snapshot_id",
        String(_ID_LENGTH),
        ForeignKey("snapshots.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    Column("created_on", UTCDateTime, nullable=False),
    _identity("created_by", nullable=True),
)

# Not named `annotations`: that name is the __future__ import of every module here.
snapshot_annotations = Table(
    "annotations",
    metadata,
    Column(
        "id",
        BigInteger().with_variant(Integer, "sqlite"),
        primary_key=True,
        autoincrement=True,
    ),
    Column("tenant", String(255), nullable=False, server_default=""),
    Column(
        "snapshot_id",
        String(_ID_LENGTH),
        ForeignKey("snapshots.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
    # The JSON pointer of the node the note is about; NULL: the whole snapshot.
    Column("path", Text, nullable=True),
    _identity("author"),
    Column("note", Text, nullable=False),
    Column("created_on", UTCDateTime, nullable=False),
)

# -- retention (0006) ----------------------------------------------------------------

legal_holds = Table(
    "legal_holds",
    metadata,
    Column("id", String(_ID_LENGTH), primary_key=True),
    Column("tenant", String(255), nullable=False, server_default=""),
    # snapshot | pipeline | selector; target is a snapshot id, a pipeline id or
    # a label selector (key=value,key2=value2).
    Column("scope", String(16), nullable=False),
    Column("target", String(1024), nullable=False),
    Column("reason", Text, nullable=True),
    Column("created_on", UTCDateTime, nullable=False),
    _identity("created_by", nullable=True),
    # NULL while the hold is active.
    Column("released_on", UTCDateTime, nullable=True),
    _identity("released_by", nullable=True),
    Column("release_reason", Text, nullable=True),
    Index("ix_legal_holds_active", "released_on", "tenant"),
)

archives = Table(
    "archives",
    metadata,
    # No foreign key: the record outlives the snapshot row it describes.
    Column("snapshot_id", String(_ID_LENGTH), primary_key=True),
    Column("tenant", String(255), nullable=False, server_default=""),
    _identity("workflow_id"),
    Column("workflow_type", String(64), nullable=False),
    _identity("pipeline_id"),
    Column("status", String(32), nullable=False),
    Column("created_on", UTCDateTime, nullable=False),
    Column("archived_on", UTCDateTime, nullable=False),
    Column("archive_url", String(1024), nullable=False),
    Column("object_key", String(1024), nullable=False),
    Column("object_sha256", String(_HASH_LENGTH), nullable=False),
    Column("object_size", BigInteger, nullable=False),
    Column("content_hash", String(_HASH_LENGTH), nullable=False),
    Column("record_digest", String(_HASH_LENGTH), nullable=False),
    # When the snapshot was last brought back from its archive (retention keeps a
    # restored snapshot a while before it may go again).
    Column("restored_on", UTCDateTime, nullable=True),
    # The snapshot's labels (JSON), for filters and legal holds by selector; NULL
    # for a record made before 0009 whose snapshot row was gone by then, until
    # the expiry sweep reads them from the object's header.
    Column("labels", Text, nullable=True),
    # When the run was reported running (else its trigger) and when it ended
    # (its terminal outcome; NULL if it never reported one), from the trail (0009).
    Column("started_on", UTCDateTime, nullable=True),
    Column("finished_on", UTCDateTime, nullable=True),
    # When the archive object may be deleted (NULL: kept indefinitely) and why
    # that date: ttl, policy or manual; both NULL for a record made before 0009
    # until the next expiry sweep gives it the policy's date.
    Column("expires_on", UTCDateTime, nullable=True),
    Column("retention_reason", String(16), nullable=True),
    Index("ix_archives_tenant_archived", "tenant", "archived_on", "snapshot_id"),
    Index("ix_archives_archived", "archived_on", "snapshot_id"),
    Index("ix_archives_object_key", "object_key"),
    Index("ix_archives_expires", "expires_on", "snapshot_id"),
)

retention_sweeps = Table(
    "retention_sweeps",
    metadata,
    Column("id", String(_ID_LENGTH), primary_key=True),
    # '*' is a sweep of every tenant, '' of the snapshots without a tenant.
    Column("tenant", String(255), nullable=False),
    Column("as_of", UTCDateTime, nullable=False),
    Column("started_on", UTCDateTime, nullable=False),
    Column("finished_on", UTCDateTime, nullable=True),
    # The last snapshot id fully processed (descending id order).
    Column("cursor", String(_ID_LENGTH), nullable=True),
    Column("counts", Text, nullable=False),
    Column("updated_on", UTCDateTime, nullable=False),
    Index("ix_retention_sweeps_open", "tenant", "finished_on"),
)

sweep_locks = Table(
    "sweep_locks",
    metadata,
    # SQLite's sweep lock (PostgreSQL uses an advisory lock): one row while a
    # sweep runs; a row whose owner process is gone (same host) or whose
    # heartbeat is older than the lease is taken over.
    Column("name", String(64), primary_key=True),
    Column("owner", String(255), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("heartbeat", BigInteger, nullable=False),
)

retention_runs = Table(
    "retention_runs",
    metadata,
    # One cycle of `wfaudit retention run` (0009): the sweep of the store, the
    # expiry of the archive and the orphan cleanup, under the sweep lock.
    Column("id", String(_ID_LENGTH), primary_key=True),
    # '*' is a run over every tenant, '' over the snapshots without a tenant.
    Column("tenant", String(255), nullable=False),
    Column("started_on", UTCDateTime, nullable=False),
    Column("finished_on", UTCDateTime, nullable=True),
    Column("ok", Boolean, nullable=False),
    Column("owner", String(255), nullable=False),
    # What it did (JSON: archived, deleted, expired, bytes_freed, failed ...).
    Column("counts", Text, nullable=False),
    # Why a failed cycle failed (an error message: never data).
    Column("error", Text, nullable=True),
    Index("ix_retention_runs_tenant", "tenant", "ok", "finished_on"),
)

# -- store facts (0008) -----------------------------------------------------------------

store_meta = Table(
    "store_meta",
    metadata,
    # Named facts about the whole store: "fingerprint_key_id", the id of the key
    # its fingerprints are made with (wfaudit.keys; never the key itself).
    Column("name", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
    Column("updated_on", UTCDateTime, nullable=False),
)
