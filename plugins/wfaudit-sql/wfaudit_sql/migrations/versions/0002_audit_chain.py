"""Hash-chain the audit trail; indexes for pipeline history and the latest failure.

Revision ID: 0002_audit_chain
Revises: 0001_initial
Create Date: 2026-11-23

Adds ``chain_seq``, ``prev_hash`` and ``hash`` to ``events`` (one chain per
tenant, unique on tenant and position), the ``chain_heads`` table, and two
indexes on ``snapshots``: ``(pipeline_id, created_on)`` and a partial index of
the failed runs.

Events written before this revision are chained here, in the order of their
ids, with a frozen copy of the algorithm of ``wfaudit_sql.chain`` (a migration
must keep producing the same rows when that module moves on). Their data is left
as it was: the ``snapshot.audited`` events of that time carry no seal of their
snapshot row, and ``wfaudit verify`` checks those rows on the fields they do carry.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

import sqlalchemy as sa
from alembic import op

from wfaudit_hookspecs import canonical_json

revision = "0002_audit_chain"
down_revision = "0001_initial"
branch_labels = None
depends_on = None

_GENESIS = "0" * 64
_FAILED = "status IN ('failed', 'error')"
_BATCH = 1000


def _timestamp_text(value: dt.datetime) -> str:
    utc = value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    return utc.isoformat(timespec="microseconds")


def _event_hash(prev_hash: str, row: Any) -> str:
    form = {
        "tenant": row.tenant,
        "subject": row.subject,
        "seq": int(row.seq),
        "kind": row.kind,
        "at": _timestamp_text(row.at),
        "actor": row.actor,
        "data": row.data,
    }
    digest = hashlib.sha256(prev_hash.encode("ascii"))
    digest.update(b"\n")
    digest.update(canonical_json(form))
    return digest.hexdigest()


def _chain_existing_events() -> None:
    connection = op.get_bind()
    events = sa.table(
        "events",
        sa.column("id", sa.BigInteger()),
        sa.column("tenant", sa.String()),
        sa.column("subject", sa.String()),
        sa.column("seq", sa.Integer()),
        sa.column("kind", sa.String()),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("actor", sa.String()),
        sa.column("data", sa.Text()),
        sa.column("chain_seq", sa.BigInteger()),
        sa.column("prev_hash", sa.String()),
        sa.column("hash", sa.String()),
    )
    heads = sa.table(
        "chain_heads",
        sa.column("tenant", sa.String()),
        sa.column("seq", sa.BigInteger()),
        sa.column("hash", sa.String()),
        sa.column("updated_on", sa.DateTime(timezone=True)),
    )
    tenants = [row[0] for row in connection.execute(sa.select(events.c.tenant).distinct())]
    now = dt.datetime.now(dt.UTC)
    for tenant in tenants:
        position, prev_hash, last_id = 0, _GENESIS, None
        while True:
            query = sa.select(events).where(events.c.tenant == tenant)
            if last_id is not None:
                query = query.where(events.c.id > last_id)
            rows = connection.execute(query.order_by(events.c.id).limit(_BATCH)).all()
            if not rows:
                break
            for row in rows:
                position += 1
                digest = _event_hash(prev_hash, row)
                connection.execute(
                    events.update()
                    .where(events.c.id == row.id)
                    .values(chain_seq=position, prev_hash=prev_hash, hash=digest)
                )
                prev_hash, last_id = digest, row.id
        connection.execute(
            heads.insert().values(tenant=tenant, seq=position, hash=prev_hash, updated_on=now)
        )


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("chain_seq", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("prev_hash", sa.String(64), nullable=True))
        batch.add_column(sa.Column("hash", sa.String(64), nullable=True))
    op.create_table(
        "chain_heads",
        sa.Column("tenant", sa.String(255), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("updated_on", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tenant", name="pk_chain_heads"),
    )
    _chain_existing_events()
    with op.batch_alter_table("events") as batch:
        batch.alter_column("chain_seq", existing_type=sa.BigInteger(), nullable=False)
        batch.alter_column("prev_hash", existing_type=sa.String(64), nullable=False)
        batch.alter_column("hash", existing_type=sa.String(64), nullable=False)
        batch.create_unique_constraint("uq_events_tenant_chain_seq", ["tenant", "chain_seq"])
    op.create_index(
        "ix_snapshots_pipeline_created", "snapshots", ["pipeline_id", "created_on", "id"]
    )
    op.create_index(
        "ix_snapshots_failed",
        "snapshots",
        ["pipeline_id", "created_on", "id"],
        sqlite_where=sa.text(_FAILED),
        postgresql_where=sa.text(_FAILED),
    )


def downgrade() -> None:
    op.drop_index("ix_snapshots_failed", table_name="snapshots")
    op.drop_index("ix_snapshots_pipeline_created", table_name="snapshots")
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint("uq_events_tenant_chain_seq", type_="unique")
        batch.drop_column("hash")
        batch.drop_column("prev_hash")
        batch.drop_column("chain_seq")
    op.drop_table("chain_heads")
