"""Archive expiry, run times of archived snapshots, scheduled retention runs.

Revision ID: 0009_archive_expiry
Revises: 0008_keyid
Create Date: 2026-12-06

Adds to ``archives``:

- ``expires_on`` and ``retention_reason`` (``ttl``, ``policy``, ``manual``):
  when the archive object may be deleted, and why that date. Existing records
  get neither (both NULL): the first archive expiry sweep after the upgrade
  gives each the date the policy of that moment says (``archive_keep``, or a
  rule's), exactly as it would a new archive. Until then nothing of theirs
  expires, and with no ``archive_keep`` configured they are kept forever, as
  before the upgrade.
- ``labels`` (JSON text), so that archive listings filter by label and legal
  holds by selector cover archives: copied from the snapshot row when the
  store still has it; for a deleted snapshot NULL, until the expiry sweep
  reads them from the archive object's header.
- ``started_on`` and ``finished_on``: when the run was reported running (else
  its trigger time) and when it ended (its terminal outcome; NULL for a run
  that never reported one), read from the audit trail's ``outcome.recorded``
  events, which outlive the snapshot row.

Adds ``retention_runs``: one row per cycle of ``wfaudit retention run``
(started, finished, ok, what it did, the error of a failed cycle), from which
the last successful sweep is read.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0009_archive_expiry"
down_revision = "0008_keyid"
branch_labels = None
depends_on = None

_TERMINAL = ("succeeded", "failed", "error", "cancelled")


def _timestamp(name: str, *, nullable: bool = True) -> sa.Column[Any]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("archives") as batch:
        batch.add_column(sa.Column("labels", sa.Text(), nullable=True))
        batch.add_column(_timestamp("started_on"))
        batch.add_column(_timestamp("finished_on"))
        batch.add_column(_timestamp("expires_on"))
        batch.add_column(sa.Column("retention_reason", sa.String(16), nullable=True))
    op.create_index("ix_archives_expires", "archives", ["expires_on", "snapshot_id"])
    op.create_table(
        "retention_runs",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("tenant", sa.String(255), nullable=False),
        _timestamp("started_on", nullable=False),
        _timestamp("finished_on"),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("counts", sa.Text(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_retention_runs"),
    )
    op.create_index("ix_retention_runs_tenant", "retention_runs", ["tenant", "ok", "finished_on"])
    _backfill(op.get_bind())


def _backfill(connection: sa.engine.Connection) -> None:
    """Labels from the snapshot rows still stored; run times from the trail."""
    sqlite = connection.dialect.name == "sqlite"
    archives = sa.table(
        "archives",
        sa.column("snapshot_id"),
        sa.column("status"),
        sa.column("created_on", sa.DateTime(timezone=True)),
        sa.column("labels"),
        sa.column("started_on", sa.DateTime(timezone=True)),
        sa.column("finished_on", sa.DateTime(timezone=True)),
    )
    snapshots = sa.table("snapshots", sa.column("id"), sa.column("labels"))
    events = sa.table(
        "events",
        sa.column("subject"),
        sa.column("seq"),
        sa.column("kind"),
        sa.column("at", sa.DateTime(timezone=True)),
        sa.column("data"),
    )
    connection.execute(
        sa.update(archives).values(
            labels=sa.select(snapshots.c.labels)
            .where(snapshots.c.id == archives.c.snapshot_id)
            .scalar_subquery()
        )
    )
    rows = connection.execute(
        sa.select(archives.c.snapshot_id, archives.c.status, archives.c.created_on)
    ).all()
    for snapshot_id, status, created_on in rows:
        started, finished = created_on, None
        outcomes = connection.execute(
            sa.select(events.c.at, events.c.data)
            .where(events.c.subject == snapshot_id, events.c.kind == "outcome.recorded")
            .order_by(events.c.seq)
        ).all()
        running_seen = False
        for at, data in outcomes:
            try:
                reported = json.loads(data).get("status")
            except (TypeError, ValueError, AttributeError):
                continue
            if reported == "running" and not running_seen:
                started, running_seen = at, True
            if reported == status and status in _TERMINAL:
                finished = at
        connection.execute(
            sa.update(archives)
            .where(archives.c.snapshot_id == snapshot_id)
            .values(started_on=_stored(started, sqlite), finished_on=_stored(finished, sqlite))
        )


def _stored(value: _dt.datetime | None, sqlite: bool) -> _dt.datetime | None:
    """A timestamp as the store writes it: UTC, without a zone on SQLite."""
    if value is None:
        return None
    utc = value.replace(tzinfo=_dt.UTC) if value.tzinfo is None else value.astimezone(_dt.UTC)
    return utc.replace(tzinfo=None) if sqlite else utc


def downgrade() -> None:
    op.drop_index("ix_retention_runs_tenant", table_name="retention_runs")
    op.drop_table("retention_runs")
    op.drop_index("ix_archives_expires", table_name="archives")
    with op.batch_alter_table("archives") as batch:
        for name in ("retention_reason", "expires_on", "finished_on", "started_on", "labels"):
            batch.drop_column(name)
