"""The initial schema: blobs, snapshots and events.

Revision ID: 0001_initial
Revises:
Create Date: 2024-11-22

Written out in full rather than from ``wfaudit_sql.schema``: a migration must
keep creating the same schema when the models move on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001_initial"
down_revision = None
branch_labels = None
depends_on = None


def _timestamp(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("codec", sa.String(32), nullable=False),
        sa.Column("raw_size", sa.BigInteger(), nullable=False),
        sa.Column("stored_size", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        _timestamp("created_on"),
        sa.PrimaryKeyConstraint("content_hash", name="pk_blobs"),
    )
    op.create_table(
        "snapshots",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(255), nullable=False, server_default=""),
        sa.Column("workflow_id", sa.String(255), nullable=False),
        sa.Column("workflow_type", sa.String(64), nullable=False),
        sa.Column("pipeline_id", sa.String(255), nullable=False),
        sa.Column("triggered_by", sa.String(255), nullable=True),
        sa.Column("trigger_kind", sa.String(32), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("parent_id", sa.String(64), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("manifest", sa.Text(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("config_size", sa.BigInteger(), nullable=False, server_default="0"),
        _timestamp("created_on"),
        sa.Column("created_by", sa.String(255), nullable=True),
        _timestamp("updated_on"),
        sa.Column("updated_by", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_snapshots"),
        sa.ForeignKeyConstraint(
            ["content_hash"],
            ["blobs.content_hash"],
            name="fk_snapshots_content_hash_blobs",
        ),
        sa.UniqueConstraint(
            "workflow_id",
            "workflow_type",
            "tenant",
            name="uq_snapshots_workflow_id_workflow_type_tenant",
        ),
    )
    op.create_index(
        "ix_snapshots_pipeline_history",
        "snapshots",
        ["tenant", "pipeline_id", "created_on"],
    )
    op.create_index(
        "ix_snapshots_latest_failed",
        "snapshots",
        ["tenant", "pipeline_id", "workflow_type", "status", "created_on"],
    )
    op.create_index("ix_snapshots_created_on", "snapshots", ["created_on"])
    op.create_index("ix_snapshots_content_hash", "snapshots", ["content_hash"])
    op.create_table(
        "events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tenant", sa.String(255), nullable=False, server_default=""),
        sa.Column("subject", sa.String(64), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        _timestamp("at"),
        sa.Column("actor", sa.String(255), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
        sa.UniqueConstraint("subject", "seq", name="uq_events_subject_seq"),
    )


def downgrade() -> None:
    op.drop_table("events")
    op.drop_index("ix_snapshots_content_hash", table_name="snapshots")
    op.drop_index("ix_snapshots_created_on", table_name="snapshots")
    op.drop_index("ix_snapshots_latest_failed", table_name="snapshots")
    op.drop_index("ix_snapshots_pipeline_history", table_name="snapshots")
    op.drop_table("snapshots")
    op.drop_table("blobs")
