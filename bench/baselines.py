"""How the systems wfaudit replaces store the same snapshots, implemented here so
that they run over the same workloads, on the same store, in the same run.

- **Devtron**: canonical JSON, gzip at Go's default level (6), base64, one row
  per run, no deduplication (``workflow_config_snapshot.workflow_request_json``).
- **Dagster**: JSON, zlib at the default level, a SHA-1 content id, identical
  bodies stored once (its snapshot tables).
- **Argo**: zstd level 3, base64, one row per run (offloaded node status).
- **per-snapshot zstd**: wfaudit's own codec without deltas: zstd level 3 per
  distinct content, content-addressed (the floor the delta codec must beat 5x).

Each baseline writes into its own table of the benchmark's database, so its
write cost includes a real insert and commit like wfaudit's (bench/bench_storage.py
times that on every 10th trigger; see ``TIMED_EVERY`` there).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import sqlite3
import zlib
from collections.abc import Callable
from typing import Any

import attrs
import zstandard

__all__ = ["BASELINES", "Baseline"]

_zstd = zstandard.ZstdCompressor(level=3)


@attrs.frozen
class Baseline:
    """One way of storing a snapshot: its encoding and whether it deduplicates."""

    name: str
    encode: Callable[[bytes], bytes]
    dedup: bool
    key: Callable[[bytes], str] = attrs.field(default=lambda data: hashlib.sha256(data).hexdigest())

    def create(self, connection: Any) -> None:
        """Create the baseline's table (``connection``: sqlite3 or psycopg)."""
        table = self.table
        binary = "BYTEA" if _is_postgresql(connection) else "BLOB"
        connection.execute(f"DROP TABLE IF EXISTS {table}")
        if self.dedup:
            connection.execute(
                f"CREATE TABLE {table} (id TEXT PRIMARY KEY, body {binary} NOT NULL)"
            )
        else:
            connection.execute(
                f"CREATE TABLE {table} (run INTEGER PRIMARY KEY, body {binary} NOT NULL)"
            )
        connection.commit()

    @property
    def table(self) -> str:
        return "bench_" + self.name.replace("-", "_").replace(" ", "_")

    def store(self, connection: Any, run: int, canonical: bytes, *, commit: bool = True) -> None:
        body = self.encode(canonical)
        mark = "%s" if _is_postgresql(connection) else "?"
        if self.dedup:
            connection.execute(
                f"INSERT INTO {self.table} (id, body) VALUES ({mark}, {mark}) "  # noqa: S608
                "ON CONFLICT DO NOTHING",
                (self.key(canonical), body),
            )
        else:
            connection.execute(
                f"INSERT INTO {self.table} (run, body) VALUES ({mark}, {mark})",  # noqa: S608
                (run, body),
            )
        if commit:
            connection.commit()

    def stored_bytes(self, connection: Any) -> int:
        """The bodies' bytes (not what the table takes on disk: see bench_storage)."""
        row = connection.execute(
            f"SELECT coalesce(sum(length(body)), 0) FROM {self.table}"  # noqa: S608
        ).fetchone()
        return int(row[0])


def _is_postgresql(connection: Any) -> bool:
    return not isinstance(connection, sqlite3.Connection)


BASELINES = (
    Baseline(
        "devtron",
        lambda data: base64.b64encode(gzip.compress(data, compresslevel=6, mtime=0)),
        dedup=False,
    ),
    Baseline(
        "dagster",
        lambda data: zlib.compress(data),
        dedup=True,
        key=lambda data: hashlib.sha1(data).hexdigest(),  # noqa: S324 (Dagster's content id)
    ),
    Baseline("argo", lambda data: base64.b64encode(_zstd.compress(data)), dedup=False),
    Baseline("per-snapshot-zstd", lambda data: _zstd.compress(data), dedup=True),
)
