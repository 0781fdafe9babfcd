"""Content-addressed manifests.

Revision ID: 0005_manifest_store
Revises: 0004_tags_annotations
Create Date: 2026-11-22

Moves each snapshot's masked-field manifest out of ``snapshots.manifest`` (its
JSON text, a few KB repeated by every trigger of a pipeline) into the
``manifests`` table, keyed by the SHA-256 of that text and stored once per
distinct text; ``snapshots.manifest_hash`` names it. The text is carried over
byte for byte, so the ``record_digest`` of every ``snapshot.audited`` event,
which covers it, still verifies. The downgrade puts every text back.

On SQLite ``snapshots`` is altered in place (``ADD COLUMN``, ``DROP COLUMN``,
SQLite 3.35 or later), never rebuilt: a rebuild drops the table, which fires the
foreign-key actions of the tables that refer to it. That is also why the new
column is nullable (SQLite adds a column with a foreign key only as nullable).

The encoding is a frozen copy of ``wfaudit_sql.manifests`` (a migration must keep
producing the same rows when that module moves on).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
import zstandard
from alembic import op

revision = "0005_manifest_store"
down_revision = "0004_tags_annotations"
branch_labels = None
depends_on = None

_BATCH = 1000
_FK = "fk_snapshots_manifest_hash_manifests"
_INDEX = "ix_snapshots_manifest_hash"

_snapshots = sa.table(
    "snapshots",
    sa.column("id", sa.String()),
    sa.column("manifest", sa.Text()),
    sa.column("manifest_hash", sa.String()),
)
_manifests = sa.table(
    "manifests",
    sa.column("manifest_hash", sa.String()),
    sa.column("codec", sa.String()),
    sa.column("raw_size", sa.BigInteger()),
    sa.column("data", sa.LargeBinary()),
    sa.column("created_on", sa.DateTime(timezone=True)),
)


def _encode(text: str) -> tuple[str, str, int, bytes]:
    """``(hash, codec, raw_size, data)`` of a manifest's text."""
    raw = text.encode("utf-8")
    packed = zstandard.ZstdCompressor(level=12, write_content_size=True).compress(raw)
    codec, data = ("zstd", packed) if len(packed) < len(raw) else ("json", raw)
    return hashlib.sha256(raw).hexdigest(), codec, len(raw), data


def _decode(codec: str, data: bytes) -> str:
    if codec == "zstd":
        return zstandard.ZstdDecompressor().decompress(bytes(data)).decode("utf-8")
    return bytes(data).decode("utf-8")


def _pages(connection: sa.Connection, *columns: sa.ColumnClause[Any]) -> Iterator[list[Any]]:
    """The snapshot rows, a page of ids at a time (each page is read whole before
    the caller updates it; the key, ``id``, never changes)."""
    last = None
    while True:
        query = sa.select(_snapshots.c.id, *columns).order_by(_snapshots.c.id).limit(_BATCH)
        if last is not None:
            query = query.where(_snapshots.c.id > last)
        rows = list(connection.execute(query).all())
        if not rows:
            return
        yield rows
        last = rows[-1].id


def _move_manifests_out() -> None:
    connection = op.get_bind()
    now = dt.datetime.now(dt.UTC)
    if connection.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # as the store's UTCDateTime writes it there
    stored: set[str] = set()
    for page in _pages(connection, _snapshots.c.manifest):
        updates, new = [], []
        for row in page:
            key, codec, size, data = _encode(row.manifest)
            if key not in stored:
                stored.add(key)
                new.append(
                    {
                        "manifest_hash": key,
                        "codec": codec,
                        "raw_size": size,
                        "data": data,
                        "created_on": now,
                    }
                )
            updates.append({"row_id": row.id, "key": key})
        if new:
            connection.execute(_manifests.insert(), new)
        connection.execute(
            _snapshots.update()
            .where(_snapshots.c.id == sa.bindparam("row_id"))
            .values(manifest_hash=sa.bindparam("key")),
            updates,
        )


def _move_manifests_back() -> None:
    connection = op.get_bind()
    texts: dict[str, str] = {}
    for page in _pages(connection, _snapshots.c.manifest_hash):
        wanted = sorted({row.manifest_hash for row in page} - set(texts))
        if wanted:
            for key, codec, data in connection.execute(
                sa.select(_manifests.c.manifest_hash, _manifests.c.codec, _manifests.c.data).where(
                    _manifests.c.manifest_hash.in_(wanted)
                )
            ):
                texts[key] = _decode(codec, data)
        missing = [row.id for row in page if row.manifest_hash not in texts]
        if missing:
            raise RuntimeError(
                f"cannot downgrade: the manifest of snapshot {missing[0]} is missing "
                "(restore it from a backup first)"
            )
        connection.execute(
            _snapshots.update()
            .where(_snapshots.c.id == sa.bindparam("row_id"))
            .values(manifest=sa.bindparam("text")),
            [{"row_id": row.id, "text": texts[row.manifest_hash]} for row in page],
        )


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.create_table(
        "manifests",
        sa.Column("manifest_hash", sa.String(64), nullable=False),
        sa.Column("codec", sa.String(32), nullable=False),
        sa.Column("raw_size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_on", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("manifest_hash", name="pk_manifests"),
    )
    if sqlite:
        # A foreign key can be added in place only with its column, and only raw:
        # Alembic would emit it as a separate ALTER, which SQLite lacks.
        op.execute(
            "ALTER TABLE snapshots ADD COLUMN manifest_hash VARCHAR(64) "
            f"CONSTRAINT {_FK} REFERENCES manifests (manifest_hash)"
        )
    else:
        op.add_column("snapshots", sa.Column("manifest_hash", sa.String(64), nullable=True))
    _move_manifests_out()
    if not sqlite:
        op.create_foreign_key(_FK, "snapshots", "manifests", ["manifest_hash"], ["manifest_hash"])
    op.create_index(_INDEX, "snapshots", ["manifest_hash"])
    op.drop_column("snapshots", "manifest")


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    if sqlite:
        # NOT NULL needs a default to be added in place; every row gets its text below.
        op.add_column(
            "snapshots", sa.Column("manifest", sa.Text(), nullable=False, server_default="")
        )
    else:
        op.add_column("snapshots", sa.Column("manifest", sa.Text(), nullable=True))
    _move_manifests_back()
    if not sqlite:
        op.alter_column("snapshots", "manifest", existing_type=sa.Text(), nullable=False)
        op.drop_constraint(_FK, "snapshots", type_="foreignkey")
    op.drop_index(_INDEX, table_name="snapshots")
    op.drop_column("snapshots", "manifest_hash")
    op.drop_table("manifests")
