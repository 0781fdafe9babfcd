"""The dead-letter queue: deliveries that kept failing, kept for a replay.

A SQLite file of the plugin's own (``webhooks.dead_letters``, by default
``$WFAUDIT_HOME/webhooks.sqlite3``), not a table of the store: the store may be
the thing that is down, and its migrations belong to the store plugin. Rows
hold the body (ids, hashes, types: never a secret) and the endpoint; never a
signature or the key. A replay signs again with the key of that moment.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import pathlib
import sqlite3
from collections.abc import Iterator, Sequence

import attrs

from wfaudit_hookspecs import WfauditError

__all__ = ["DeadLetter", "DeadLetterError", "DeadLetters"]

SCHEMA = """
CREATE TABLE IF NOT EXISTS webhook_dead_letters (
    id TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    kind TEXT NOT NULL,
    subject TEXT NOT NULL,
    body BLOB NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL,
    first_failed_at TEXT NOT NULL,
    last_failed_at TEXT NOT NULL
)
"""


class DeadLetterError(WfauditError):
    """The dead-letter file cannot be opened or written."""


@attrs.frozen(kw_only=True)
class DeadLetter:
    """One delivery that kept failing.

    :ivar id: the delivery id (also in the body and the ``X-Wfaudit-Delivery`` header).
    :ivar subject: the snapshot id the event is about.
    :ivar attempts: attempts made so far, replays included.
    """

    id: str
    endpoint: str = attrs.field(repr=False)
    kind: str
    subject: str
    body: bytes = attrs.field(repr=False)
    attempts: int
    last_error: str
    first_failed_at: str
    last_failed_at: str


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


class DeadLetters:
    """The dead-letter table in its SQLite file (created on first use)."""

    def __init__(self, path: pathlib.Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise DeadLetterError(f"cannot open the dead-letter file {self.path}: {exc}") from None
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(SCHEMA)
            yield connection
        except sqlite3.Error as exc:
            raise DeadLetterError(f"dead-letter file {self.path}: {exc}") from None
        finally:
            connection.close()

    def add(
        self,
        *,
        delivery_id: str,
        endpoint: str,
        kind: str,
        subject: str,
        body: bytes,
        attempts: int,
        error: str,
    ) -> None:
        """Record a delivery that failed for good (again, for a failed replay)."""
        now = _now()
        with self._connect() as connection:
            connection.execute(
                "INSERT INTO webhook_dead_letters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET attempts = excluded.attempts, "
                "last_error = excluded.last_error, last_failed_at = excluded.last_failed_at",
                (delivery_id, endpoint, kind, subject, body, attempts, error, now, now),
            )

    def list(self, ids: Sequence[str] = ()) -> list[DeadLetter]:
        """The dead letters (those of ``ids`` when given), oldest first."""
        if not self.path.exists():
            return []
        query = "SELECT * FROM webhook_dead_letters"
        if ids:
            query += f" WHERE id IN ({', '.join('?' * len(ids))})"
        with self._connect() as connection:
            rows = connection.execute(query + " ORDER BY first_failed_at, rowid", tuple(ids))
            return [DeadLetter(**dict(zip(_COLUMNS, row, strict=True))) for row in rows]

    def remove(self, delivery_id: str) -> None:
        """Forget a dead letter (it was delivered on a replay)."""
        with self._connect() as connection:
            connection.execute("DELETE FROM webhook_dead_letters WHERE id = ?", (delivery_id,))


_COLUMNS = tuple(field.name for field in attrs.fields(DeadLetter))
