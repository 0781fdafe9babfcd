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

    def create(self, connection: sqlite3.Connection) -> None:
        table = self.table
        connection.execute(f"DROP TABLE IF EXISTS {table}")
        if self.dedup:
            connection.execute(f"CREATE TABLE {table} (id TEXT PRIMARY KEY, body BLOB NOT NULL)")
        else:
            connection.execute(
                f"CREATE TABLE {table} (run INTEGER PRIMARY KEY, body BLOB NOT NULL)"
            )
        connection.commit()

    @property
    def table(self) -> str:
        return "bench_" + self.name.replace("-", "_").replace(" ", "_")

    def store(
        self, connection: sqlite3.Connection, run: int, canonical: bytes, *, commit: bool = True
    ) -> None:
        body = self.encode(canonical)
        if self.dedup:
            connection.execute(
                f"INSERT OR IGNORE INTO {self.table} (id, body) VALUES (?, ?)",  # noqa: S608
                (self.key(canonical), body),
            )
        else:
            connection.execute(
                f"INSERT INTO {self.table} (run, body) VALUES (?, ?)",  # noqa: S608
                (run, body),
            )
        if commit:
            connection.commit()

    def stored_bytes(self, connection: sqlite3.Connection) -> int:
        row = connection.execute(
            f"SELECT coalesce(sum(length(body)), 0) FROM {self.table}"  # noqa: S608
        ).fetchone()
        return int(row[0])


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
