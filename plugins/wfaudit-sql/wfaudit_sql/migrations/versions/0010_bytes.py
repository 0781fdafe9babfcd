"""Fewer bytes per snapshot: per-run manifest patches, two indexes fewer.

Revision ID: 0010_bytes
Revises: 0009_archive_expiry
Create Date: 2026-12-06

- Adds ``snapshots.manifest_patch`` (binary, NULL): what a run's manifest
  changes against the base manifest ``manifest_hash`` names, a zstd frame with
  the base text as its dictionary (``wfaudit_sql.manifests``). Existing rows get
  NULL, which means what every row meant before: the named manifest is the
  run's. Nothing is rewritten, so every content hash, manifest hash, seal and
  chain hash stays as it was and ``wfaudit verify`` checks old rows as before.
- Drops ``ix_snapshots_pipeline_history`` (tenant, pipeline_id, created_on) and
  ``ix_snapshots_latest_failed`` (tenant, pipeline_id, workflow_type, status,
  created_on): ``ix_snapshots_pipeline_created`` serves a pipeline's history
  (the tenant is a filter on its few rows) and the partial
  ``ix_snapshots_failed`` the latest failure. docs/design.md ("What a snapshot
  costs on disk") lists every index kept, the query it serves and its cost.

- Stores every digest key as its 32 bytes instead of 64 hex characters:
  ``blobs.content_hash`` and ``base_hash``, ``manifests.manifest_hash``,
  ``snapshots.content_hash`` and ``manifest_hash``, ``events.prev_hash`` and
  ``hash``, ``chain_heads.hash`` (``wfaudit_sql.schema.Digest``; the store still
  hands out hex). BYTEA on PostgreSQL; on SQLite the declared type stays
  VARCHAR(64) and the values become BLOBs. The digests are the same numbers,
  so every seal and chain hash still verifies.

New ``snapshot.audited`` events record the row's digest, a 64-character
signature of its sealed columns and its state, not a copy of its values; older
events keep theirs (their hashes cover them) and verify as before.
"""

from __future__ import annotations

import datetime as _dt
import hashlib

import sqlalchemy as sa
import zstandard
from alembic import op

revision = "0010_bytes"
down_revision = "0009_archive_expiry"
branch_labels = None
depends_on = None


_DIGESTS = {
    "blobs": ("content_hash", "base_hash"),
    "manifests": ("manifest_hash",),
    "snapshots": ("content_hash", "manifest_hash"),
    "events": ("prev_hash", "hash"),
    "chain_heads": ("hash",),
}
"""The digest columns 0010 stores as bytes."""
_FOREIGN_KEYS = (
    ("fk_snapshots_content_hash_blobs", "blobs", "content_hash"),
    ("fk_snapshots_manifest_hash_manifests", "manifests", "manifest_hash"),
)


def _to_bytes(value: object) -> object:
    """A frozen copy of wfaudit_sql.schema.digest_bytes (change neither alone)."""
    if not isinstance(value, str):
        return value
    if len(value) == 64 and all(c in "0123456789abcdef" for c in value):
        return bytes.fromhex(value)
    raw = value.encode("utf-8")
    return raw + b"\0" if len(raw) == 32 else raw


def _to_text(value: object) -> object:
    """A frozen copy of wfaudit_sql.schema.digest_text."""
    if value is None or isinstance(value, str):
        return value
    raw = bytes(value)  # type: ignore[call-overload]
    if len(raw) == 32:
        return raw.hex()
    if len(raw) == 33 and raw.endswith(b"\0"):
        raw = raw[:-1]
    return raw.decode("utf-8", errors="replace")


# PostgreSQL: the same encoding in SQL.
_PG_TO_BYTES = (
    "CASE WHEN {c} ~ '^[0-9a-f]{{64}}$' THEN decode({c}, 'hex') "
    "WHEN octet_length({c}) = 32 THEN convert_to({c}, 'UTF8') || '\\x00'::bytea "
    "ELSE convert_to({c}, 'UTF8') END"
)
_PG_TO_TEXT = (
    "CASE WHEN length({c}) = 32 THEN encode({c}, 'hex') "
    "WHEN length({c}) = 33 AND get_byte({c}, 32) = 0 "
    "THEN convert_from(substring({c} from 1 for 32), 'UTF8') "
    "ELSE convert_from({c}, 'UTF8') END"
)


def _convert_digests(*, to_bytes: bool) -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        # The values change in place (the declared type stays): the foreign keys
        # are checked at the commit, when both sides are converted.
        raw = connection.connection.driver_connection
        raw.create_function(  # type: ignore[union-attr]
            "wfaudit_digest", 1, _to_bytes if to_bytes else _to_text, deterministic=True
        )
        connection.exec_driver_sql("PRAGMA defer_foreign_keys = ON")
        for table, columns in _DIGESTS.items():
            sets = ", ".join(f"{c} = wfaudit_digest({c})" for c in columns)
            connection.exec_driver_sql(f"UPDATE {table} SET {sets}")  # noqa: S608 (fixed names)
        return
    for name, _referred, _column in _FOREIGN_KEYS:
        op.drop_constraint(name, "snapshots", type_="foreignkey")
    for table, columns in _DIGESTS.items():
        for column in columns:
            using = (_PG_TO_BYTES if to_bytes else _PG_TO_TEXT).format(c=column)
            op.alter_column(
                table,
                column,
                type_=sa.LargeBinary() if to_bytes else sa.String(64),
                postgresql_using=using,
            )
    for name, referred, column in _FOREIGN_KEYS:
        op.create_foreign_key(name, "snapshots", referred, [column], [column])


def upgrade() -> None:
    _convert_digests(to_bytes=True)
    # A nullable column with no default: added in place on both backends (no
    # table rebuild on SQLite, no rewrite on PostgreSQL).
    op.add_column("snapshots", sa.Column("manifest_patch", sa.LargeBinary(), nullable=True))
    op.drop_index("ix_snapshots_pipeline_history", table_name="snapshots")
    op.drop_index("ix_snapshots_latest_failed", table_name="snapshots")


def downgrade() -> None:
    _convert_digests(to_bytes=False)
    # Each patched run gets its whole manifest back as a row of its own (what it
    # was before 0010), then the column goes. A frozen copy of the encoding of
    # wfaudit_sql.manifests: change neither without the other.
    connection = op.get_bind()
    snapshots = sa.table(
        "snapshots",
        sa.column("id", sa.String),
        sa.column("manifest_hash", sa.String),
        sa.column("manifest_patch", sa.LargeBinary),
    )
    manifests = sa.table(
        "manifests",
        sa.column("manifest_hash", sa.String),
        sa.column("codec", sa.String),
        sa.column("raw_size", sa.BigInteger),
        sa.column("data", sa.LargeBinary),
        sa.column("created_on", sa.DateTime(timezone=True)),
    )
    rows = connection.execute(
        sa.select(snapshots.c.id, snapshots.c.manifest_hash, snapshots.c.manifest_patch).where(
            snapshots.c.manifest_patch.is_not(None)
        )
    ).all()
    bases: dict[str, str] = {}
    known: set[str] = set()
    now = _dt.datetime.now(_dt.UTC)
    if connection.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # as the store writes timestamps there
    for snapshot_id, base_key, patch in rows:
        if base_key not in bases:
            codec, data = connection.execute(
                sa.select(manifests.c.codec, manifests.c.data).where(
                    manifests.c.manifest_hash == base_key
                )
            ).one()
            raw = bytes(data)
            bases[base_key] = (
                zstandard.ZstdDecompressor().decompress(raw) if codec == "zstd" else raw
            ).decode("utf-8")
        dictionary = zstandard.ZstdCompressionDict(
            bases[base_key].encode("utf-8"), dict_type=zstandard.DICT_TYPE_RAWCONTENT
        )
        text = zstandard.ZstdDecompressor(dict_data=dictionary).decompress(bytes(patch))
        key = hashlib.sha256(text).hexdigest()
        if (
            key not in known
            and connection.execute(
                sa.select(manifests.c.manifest_hash).where(manifests.c.manifest_hash == key)
            ).first()
            is None
        ):
            packed = zstandard.ZstdCompressor(level=12, write_content_size=True).compress(text)
            codec, data = ("zstd", packed) if len(packed) < len(text) else ("json", text)
            connection.execute(
                sa.insert(manifests).values(
                    manifest_hash=key, codec=codec, raw_size=len(text), data=data, created_on=now
                )
            )
        known.add(key)
        connection.execute(
            sa.update(snapshots)
            .where(snapshots.c.id == snapshot_id)
            .values(manifest_hash=key, manifest_patch=None)
        )
    op.create_index(
        "ix_snapshots_latest_failed",
        "snapshots",
        ["tenant", "pipeline_id", "workflow_type", "status", "created_on"],
    )
    op.create_index(
        "ix_snapshots_pipeline_history", "snapshots", ["tenant", "pipeline_id", "created_on"]
    )
    op.drop_column("snapshots", "manifest_patch")
