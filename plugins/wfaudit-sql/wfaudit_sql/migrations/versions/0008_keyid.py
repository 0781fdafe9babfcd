"""Store facts: the id of the fingerprint key.

Revision ID: 0008_keyid
Revises: 0007_chain
Create Date: 2026-12-06

Adds ``store_meta`` (``name`` → ``value``): named facts about the whole store.
The engine records there the id of the key its fingerprints are made with
(``fingerprint_key_id``, an HMAC of a fixed label under the key, never the key)
and refuses writes from a process whose key has another id. An existing store
gets the table empty: the first process that writes records its key's id.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_keyid"
down_revision = "0007_chain"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "store_meta",
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("value", sa.String(255), nullable=False),
        sa.Column("updated_on", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_store_meta"),
    )


def downgrade() -> None:
    op.drop_table("store_meta")
