"""Retention: legal holds, archived snapshots, sweep state.

Revision ID: 0006_retention
Revises: 0005_manifest_store
Create Date: 2026-11-22

Adds ``legal_holds`` (active while ``released_on`` is NULL), ``archives`` (one
record per archived snapshot, kept after the snapshot row is deleted: where its
archive object is and the hashes that check it), ``retention_sweeps`` (the
progress of a sweep, so that an interrupted one resumes), ``sweep_locks``
(SQLite's sweep lock; PostgreSQL uses an advisory lock) and an index on
``snapshots.parent_id`` (a snapshot's retriggers, which retention checks before
deleting it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_retention"
down_revision = "0005_manifest_store"
branch_labels = None
depends_on = None


def _timestamp(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "legal_holds",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(255), nullable=False, server_default=""),
        sa.Column("scope", sa.String(16), nullable=False),
        sa.Column("target", sa.String(1024), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        _timestamp("created_on"),
        sa.Column("created_by", sa.String(255), nullable=True),
        _timestamp("released_on", nullable=True),
        sa.Column("released_by", sa.String(255), nullable=True),
        sa.Column("release_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_legal_holds"),
    )
    op.create_index("ix_legal_holds_active", "legal_holds", ["released_on", "tenant"])
    op.create_table(
        "archives",
        sa.Column("snapshot_id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(255), nullable=False, server_default=""),
        sa.Column("workflow_id", sa.String(255), nullable=False),
        sa.Column("workflow_type", sa.String(64), nullable=False),
        sa.Column("pipeline_id", sa.String(255), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        _timestamp("created_on"),
        _timestamp("archived_on"),
        sa.Column("archive_url", sa.String(1024), nullable=False),
        sa.Column("object_key", sa.String(1024), nullable=False),
        sa.Column("object_sha256", sa.String(64), nullable=False),
        sa.Column("object_size", sa.BigInteger(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("record_digest", sa.String(64), nullable=False),
        _timestamp("restored_on", nullable=True),
        sa.PrimaryKeyConstraint("snapshot_id", name="pk_archives"),
    )
    op.create_index(
        "ix_archives_tenant_archived", "archives", ["tenant", "archived_on", "snapshot_id"]
    )
    op.create_index("ix_archives_archived", "archives", ["archived_on", "snapshot_id"])
    op.create_index("ix_archives_object_key", "archives", ["object_key"])
    op.create_table(
        "retention_sweeps",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(255), nullable=False),
        _timestamp("as_of"),
        _timestamp("started_on"),
        _timestamp("finished_on", nullable=True),
        sa.Column("cursor", sa.String(64), nullable=True),
        sa.Column("counts", sa.Text(), nullable=False),
        _timestamp("updated_on"),
        sa.PrimaryKeyConstraint("id", name="pk_retention_sweeps"),
    )
    op.create_index("ix_retention_sweeps_open", "retention_sweeps", ["tenant", "finished_on"])
    op.create_table(
        "sweep_locks",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("heartbeat", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_sweep_locks"),
    )
    op.create_index(
        "ix_snapshots_parent_id",
        "snapshots",
        ["parent_id"],
        unique=True,
        sqlite_where=sa.text("parent_id IS NOT NULL"),
        postgresql_where=sa.text("parent_id IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_snapshots_parent_id", table_name="snapshots")
    op.drop_table("sweep_locks")
    op.drop_index("ix_retention_sweeps_open", table_name="retention_sweeps")
    op.drop_table("retention_sweeps")
    op.drop_index("ix_archives_object_key", table_name="archives")
    op.drop_index("ix_archives_archived", table_name="archives")
    op.drop_index("ix_archives_tenant_archived", table_name="archives")
    op.drop_table("archives")
    op.drop_index("ix_legal_holds_active", table_name="legal_holds")
    op.drop_table("legal_holds")
