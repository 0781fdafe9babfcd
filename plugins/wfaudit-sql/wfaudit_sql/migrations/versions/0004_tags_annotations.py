"""Tags and annotations on snapshots.

Revision ID: 0004_tags_annotations
Revises: 0003_blob_base
Create Date: 2026-11-22

Adds ``tags`` (a name on a snapshot, unique within a pipeline of a tenant) and
``annotations`` (notes on a snapshot or on one node of its config, with their
author). Both reference ``snapshots.id`` with ``ON DELETE CASCADE``: they go
with their snapshot when retention deletes it, while the audit trail keeps the
events that recorded them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_tags_annotations"
down_revision = "0003_blob_base"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tags",
        sa.Column("tenant", sa.String(255), nullable=False),
        sa.Column("pipeline_id", sa.String(255), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("snapshot_id", sa.String(64), nullable=False),
        sa.Column("created_on", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(255), nullable=True),
        sa.PrimaryKeyConstraint("tenant", "pipeline_id", "name", name="pk_tags"),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["snapshots.id"],
            name="fk_tags_snapshot_id_snapshots",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_tags_snapshot_id", "tags", ["snapshot_id"])
    op.create_table(
        "annotations",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer, "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("tenant", sa.String(255), nullable=False, server_default=""),
        sa.Column("snapshot_id", sa.String(64), nullable=False),
        sa.Column("path", sa.Text, nullable=True),
        sa.Column("author", sa.String(255), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_on", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_annotations"),
        sa.ForeignKeyConstraint(
            ["snapshot_id"],
            ["snapshots.id"],
            name="fk_annotations_snapshot_id_snapshots",
            ondelete="CASCADE",
        ),
    )
    op.create_index("ix_annotations_snapshot_id", "annotations", ["snapshot_id"])


def downgrade() -> None:
    op.drop_index("ix_annotations_snapshot_id", table_name="annotations")
    op.drop_table("annotations")
    op.drop_index("ix_tags_snapshot_id", table_name="tags")
    op.drop_table("tags")
