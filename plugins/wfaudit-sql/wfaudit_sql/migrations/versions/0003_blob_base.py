"""Delta blobs: a blob may be compressed against another blob, its base.

Revision ID: 0003_blob_base
Revises: 0002_audit_chain
Create Date: 2026-11-22

Adds ``blobs.base_hash`` (nullable: plain blobs have no base) with an index, so
that retention can find the deltas that still need a base before removing it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_blob_base"
down_revision = "0002_audit_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("blobs", sa.Column("base_hash", sa.String(64), nullable=True))
    op.create_index("ix_blobs_base_hash", "blobs", ["base_hash"])


def downgrade() -> None:
    op.drop_index("ix_blobs_base_hash", table_name="blobs")
    op.drop_column("blobs", "base_hash")
