"""A keyed audit chain, and an index of the legal-hold events.

Revision ID: 0007_chain
Revises: 0006_retention
Create Date: 2026-12-06

Adds ``events.key_id``: the id of the chain key an event's hash was computed
with (HMAC-SHA256, :mod:`wfaudit_sql.chain`), NULL for the events written
before (plain SHA-256, still verified as such). Existing rows are not changed:
their hashes stay what they were, so the chains of an upgraded store verify
as before and go on keyed from their next event.

Adds a partial index of the ``legal_hold.set`` / ``legal_hold.released``
events by tenant: retention decides what is held from those chained events
(not from the ``legal_holds`` rows alone) and reads them once per tenant and
batch. Partial, so it costs nothing on the appends of every other kind.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_chain"
down_revision = "0006_retention"
branch_labels = None
depends_on = None

# Keep in step with wfaudit_sql.schema.HOLD_EVENT_PREDICATE.
_HOLD_EVENTS = "kind IN ('legal_hold.set', 'legal_hold.released')"


def upgrade() -> None:
    op.add_column("events", sa.Column("key_id", sa.String(32), nullable=True))
    op.create_index(
        "ix_events_holds",
        "events",
        ["tenant", "chain_seq"],
        sqlite_where=sa.text(_HOLD_EVENTS),
        postgresql_where=sa.text(_HOLD_EVENTS),
    )


def downgrade() -> None:
    op.drop_index("ix_events_holds", table_name="events")
    with op.batch_alter_table("events") as batch:  # SQLite cannot drop in place
        batch.drop_column("key_id")
