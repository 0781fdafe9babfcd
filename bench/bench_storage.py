"""Benchmark: bytes on disk per snapshot and retrieval latency, against the baselines.

Runs the workloads of bench/workloads.py through wfaudit (real auditor, real
store, masking on) and, in the same run and on the same backend, through the
baselines of bench/baselines.py, fed the same masked canonical JSON; on SQLite
and on PostgreSQL. Reports bytes per snapshot **on disk** (the headline: SQLite,
each system's own file after a WAL checkpoint and VACUUM, with ``dbstat`` per
table and index; PostgreSQL, ``pg_total_relation_size`` of every table, indexes
and TOAST included), the ratio of each baseline to wfaudit, the body-only
figure as a secondary column, audit latency, and the retrieval latency of a
snapshot as a retrigger reads it (delta chains included). ``--growth`` measures
bytes on disk and audit latency as one store grows (see :func:`growth`).

    python bench/bench_storage.py [--quick] [--pipelines N --triggers M] [--backends sqlite]
    python bench/bench_storage.py --growth 10000,100000,1000000 --out growth.json
    python bench/run.py [--quick]             # the whole suite (results and docs)
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pathlib
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from baselines import BASELINES
from workloads import generated_stream, history_series

NAME = "storage"
TITLE = "Storage per snapshot and retrieval"

QUICK = (20, 50)
FULL = (1000, 100)
"""Pipelines x triggers of the generated stream in the full run: the issue's size,
1,000 pipelines x 100 triggers, on each backend. That is 100,000 audits (each a
durable commit), the four baselines' writes and a decode per trigger, per backend:
about an hour per backend on the 2-core development machine when it is idle, far
more when it is shared. QUICK is the issue's own stream of 1,000 audits
(20 pipelines x 50 triggers). Bytes per snapshot hardly depend on the number of
pipelines (the growth curve, ``--growth``, shows how they go with the store's size)."""

TIMED_EVERY = 10
"""In the generated stream, each baseline's write is timed on its own, with a
durable commit (synchronous=FULL) as wfaudit's, on every 10th trigger; the other
triggers' baseline rows (the same bytes) are written in one transaction per
trigger with synchronous=NORMAL, no fsync. Four fsyncs per trigger were a third
of the full run's time, and 2,000 timed writes per baseline give its median and
p99 all the same. The corpus history (176 triggers) times every one."""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def ms(values: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(values) * 1000, 3),
        "p99_ms": round(percentile(values, 99) * 1000, 3),
        "runs": len(values),
    }


class Capture:
    """A persist wrapper that hands the bench the blob of each audit."""

    def __init__(self) -> None:
        self.last: Any = None

    from wfaudit import hookimpl

    @hookimpl(wrapper=True)
    def wfaudit_persist(self, snapshot: Any, payload: Any, store: Any) -> Any:
        result = yield
        self.last = payload
        return result


PG_URL = os.environ.get("WFAUDIT_BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
"""The PostgreSQL server of the on-disk measurement; each run makes (and drops) a
database of its own there."""


class Target:
    """Where one workload is stored: wfaudit's store and each baseline's table, on
    SQLite (a file each, so that every file holds one system only) or on
    PostgreSQL (one scratch database; tables measured one by one)."""

    def __init__(self, backend: str, name: str, tmp: pathlib.Path) -> None:
        self.backend = backend
        self.tmp = tmp
        self.name = name
        self.database: str | None = None
        if backend == "sqlite":
            self.store_url = f"sqlite:///{tmp / f'{name}.sqlite3'}"
            self.connections: dict[str, Any] = {
                b.name: sqlite3.connect(tmp / f"{name}-{b.name}.sqlite3") for b in BASELINES
            }
        else:
            import psycopg

            self.database = f"wfaudit_bench_bytes_{os.getpid()}_{name}"
            with psycopg.connect(PG_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.database}"')
                admin.execute(f'CREATE DATABASE "{self.database}"')
            base, _, _ = PG_URL.rpartition("/")
            self.store_url = f"{base}/{self.database}"
            shared = psycopg.connect(self.store_url)
            self.connections = {b.name: shared for b in BASELINES}

    def durable(self, on: bool) -> None:
        for connection in set(self.connections.values()):
            if self.backend == "sqlite":
                connection.execute(f"PRAGMA synchronous = {'FULL' if on else 'NORMAL'}")
            else:
                connection.execute(f"SET synchronous_commit = {'on' if on else 'off'}")
                connection.commit()

    def on_disk(self, store_tables: Iterable[str]) -> dict[str, Any]:
        """Bytes on disk of wfaudit's store and of each baseline, with their parts.

        SQLite: each file's size after a WAL checkpoint and VACUUM, and ``dbstat``
        (pages per table and index). PostgreSQL: ``pg_total_relation_size`` of
        every table (its heap, indexes, TOAST and their forks), after ANALYZE.
        """
        for connection in set(self.connections.values()):
            connection.commit()
        if self.backend == "sqlite":
            out = {"wfaudit": _sqlite_on_disk(pathlib.Path(self.store_url[len("sqlite:///") :]))}
            for b in BASELINES:
                self.connections[b.name].close()
                out[b.name] = _sqlite_on_disk(self.tmp / f"{self.name}-{b.name}.sqlite3")
            return out
        connection = self.connections[BASELINES[0].name]
        wanted = set(store_tables) | {"wfaudit_alembic_version"}
        sizes = dict(
            connection.execute(
                "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
                "WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace"
            ).fetchall()
        )
        indexes = dict(
            connection.execute(
                "SELECT i.relname, pg_relation_size(i.oid) FROM pg_index x "
                "JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid "
                "WHERE t.relnamespace = 'public'::regnamespace"
            ).fetchall()
        )
        parts = {k: int(v) for k, v in sorted(sizes.items()) if k in wanted}
        out = {
            "wfaudit": {
                "bytes": sum(parts.values()),
                "parts": parts,
                "indexes": {
                    k: int(v) for k, v in sorted(indexes.items()) if not k.startswith("bench_")
                },
            }
        }
        for b in BASELINES:
            out[b.name] = {"bytes": int(sizes.get(b.table, 0)), "parts": {}}
        connection.close()
        return out

    def close(self) -> None:
        for connection in set(self.connections.values()):
            with contextlib.suppress(Exception):
                connection.close()
        if self.database is not None:
            import psycopg

            with psycopg.connect(PG_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')


def _sqlite_on_disk(path: pathlib.Path) -> dict[str, Any]:
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        connection.execute("VACUUM")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        parts = dict(
            connection.execute(
                "SELECT name, sum(pgsize) FROM dbstat GROUP BY name ORDER BY name"
            ).fetchall()
        )
    finally:
        connection.close()
    size = path.stat().st_size
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        size += wal.stat().st_size
    return {"bytes": size, "parts": {k: int(v) for k, v in parts.items()}}


def run_workload(
    name: str,
    triggers: Iterable[tuple[str, str, dict[str, Any]]],
    tmp: pathlib.Path,
    timed_every: int = 1,
    backend: str = "sqlite",
) -> dict[str, Any]:
    from wfaudit_sql.schema import metadata

    target = Target(backend, name, tmp)
    try:
        return _run_workload(target, triggers, timed_every, metadata.tables)
    finally:
        target.close()


def _run_workload(
    target: Target,
    triggers: Iterable[tuple[str, str, dict[str, Any]]],
    timed_every: int,
    store_tables: Iterable[str],
) -> dict[str, Any]:
    from wfaudit import Auditor, TriggerRequest
    from wfaudit.codec import decode_blob

    capture = Capture()
    auditor = Auditor.from_url(target.store_url, plugins=[capture], strict=True)
    for baseline in BASELINES:
        baseline.create(target.connections[baseline.name])
    target.durable(True)
    durable = True
    audit_times: list[float] = []
    baseline_times: dict[str, list[float]] = {b.name: [] for b in BASELINES}
    ids: list[str] = []
    latest: dict[str, str] = {}  # each pipeline's newest snapshot: what a retrigger reads
    raw_bytes = 0
    count = 0
    for run, (pipeline, workflow_id, config) in enumerate(triggers):
        request = TriggerRequest(
            workflow_id=workflow_id, workflow_type="CI", pipeline_id=pipeline, config=config
        )
        start = time.perf_counter()
        result = auditor.audit_trigger(request)
        audit_times.append(time.perf_counter() - start)
        snapshot_id = result.ref.id
        ids.append(snapshot_id)
        latest[pipeline] = snapshot_id
        blob = capture.last
        canonical = decode_blob(blob, auditor.store.get_blob)
        raw_bytes += len(canonical)
        count += 1
        if run % timed_every == 0:
            if not durable:
                target.durable(True)
                durable = True
            for baseline in BASELINES:
                start = time.perf_counter()
                baseline.store(target.connections[baseline.name], run, canonical)
                baseline_times[baseline.name].append(time.perf_counter() - start)
        else:
            if durable:
                target.durable(False)
                durable = False
            for baseline in BASELINES:
                baseline.store(target.connections[baseline.name], run, canonical, commit=False)
            for connection in set(target.connections.values()):
                connection.commit()

    body_per = {b.name: b.stored_bytes(target.connections[b.name]) / count for b in BASELINES}
    with sqlalchemy_connection(auditor) as connection:
        blob_bytes = int(
            connection.exec_driver_sql(
                "SELECT coalesce(sum(stored_size), 0) FROM blobs"
            ).scalar_one()
        )
        manifest_rows, manifest_bytes, manifest_raw = connection.exec_driver_sql(
            "SELECT count(*), coalesce(sum(length(data)), 0), coalesce(sum(raw_size), 0) "
            "FROM manifests"
        ).one()
        codecs = dict(
            connection.exec_driver_sql("SELECT codec, count(*) FROM blobs GROUP BY codec").all()
        )
    wfaudit_body = blob_bytes + int(manifest_bytes)
    retrieval = measure_retrieval(auditor, ids, list(latest.values()))
    auditor.close()
    disk = target.on_disk(store_tables)
    wfaudit_disk = disk["wfaudit"]["bytes"] / count
    disk_per = {b.name: disk[b.name]["bytes"] / count for b in BASELINES}
    return {
        "backend": target.backend,
        "snapshots": count,
        "raw_bytes_per_snapshot": round(raw_bytes / count),
        "wfaudit_disk_bytes_per_snapshot": round(wfaudit_disk, 1),
        "baseline_disk_bytes_per_snapshot": {k: round(v, 1) for k, v in disk_per.items()},
        "ratio_baseline_to_wfaudit_on_disk": {
            k: round(v / wfaudit_disk, 1) for k, v in disk_per.items()
        },
        "wfaudit_disk_parts_per_snapshot": {
            k: round(v / count, 1) for k, v in disk["wfaudit"]["parts"].items()
        },
        "wfaudit_disk_indexes_per_snapshot": {
            k: round(v / count, 1) for k, v in disk["wfaudit"].get("indexes", {}).items()
        },
        "wfaudit_body_bytes_per_snapshot": round(wfaudit_body / count, 1),
        "wfaudit_blob_bytes_per_snapshot": round(blob_bytes / count, 1),
        "wfaudit_manifest_bytes_per_snapshot": round(int(manifest_bytes) / count, 1),
        "manifests": {
            "rows": int(manifest_rows),
            "stored_bytes": int(manifest_bytes),
            "raw_bytes": int(manifest_raw),
        },
        "wfaudit_blob_codecs": {str(k): int(v) for k, v in codecs.items()},
        "baseline_body_bytes_per_snapshot": {k: round(v, 1) for k, v in body_per.items()},
        "ratio_baseline_to_wfaudit_body_only": {
            k: round(v / (wfaudit_body / count), 1) for k, v in body_per.items()
        },
        "audit": ms(audit_times),
        "baseline_write": {k: ms(v) for k, v in baseline_times.items()},
        "retrieval": retrieval,
        "baseline_timed_every": timed_every,
    }


@contextlib.contextmanager
def sqlalchemy_connection(auditor: Any) -> Iterator[Any]:
    """A connection of the auditor's own store (the bench reads a few sums)."""
    with auditor.store._engine.connect() as connection:
        yield connection


def measure_retrieval(auditor: Any, ids: list[str], latest: list[str]) -> dict[str, Any]:
    """``get_snapshot_by_id`` (record and manifest, blob, its base for a delta,
    decompress, hash check, parse) three ways: random snapshots, and each pipeline's
    newest one, in the auditing process (its caches warm, as an orchestrator that
    retriggers); and random snapshots with every cache emptied before each read (a
    fresh ``wfaudit retrigger`` process: record, blob and base read, dictionary loaded)."""
    from wfaudit import codec

    rng = random.Random(7)
    sample = rng.sample(ids, min(500, len(ids)))
    newest = [latest[rng.randrange(len(latest))] for _ in range(500)]

    def timed(snapshot_ids: list[str], cold: bool = False) -> dict[str, float]:
        samples = []
        for snapshot_id in snapshot_ids:
            if cold:
                codec._local.__dict__.pop("dicts", None)
                auditor.store._manifests.clear()
            start = time.perf_counter()
            auditor.get_snapshot_by_id(snapshot_id)
            samples.append(time.perf_counter() - start)
        return ms(samples)

    return {
        "random snapshot": timed(sample),
        "newest snapshot of a pipeline": timed(newest),
        "random snapshot, caches emptied": timed(sample, cold=True),
    }


def history_triggers() -> Iterable[tuple[str, str, dict[str, Any]]]:
    for series, versions in history_series().items():
        for index, version in enumerate(versions):
            yield series, f"{series}-{index}", version


def stream_triggers(pipelines: int, triggers: int) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for pipeline, _trigger, request in generated_stream(pipelines, triggers, rotate_password=True):
        yield str(pipeline), str(request["workflowId"]), request


BACKENDS = ("sqlite", "postgresql")


def measure(pipelines: int, triggers: int, backends: Iterable[str] = BACKENDS) -> dict[str, Any]:
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="wfaudit-bench-storage-"))
    home = os.environ.get("WFAUDIT_HOME")
    os.environ["WFAUDIT_HOME"] = str(tmp / "home")
    workloads: dict[str, Any] = {}
    try:
        for backend in backends:
            label = "SQLite" if backend == "sqlite" else "PostgreSQL"
            workloads[f"corpus history, {label}"] = run_workload(
                "history", history_triggers(), tmp, backend=backend
            )
            workloads[f"generated stream {pipelines:,} x {triggers}, {label}"] = run_workload(
                "stream", stream_triggers(pipelines, triggers), tmp, TIMED_EVERY, backend
            )
        return {"pipelines": pipelines, "triggers": triggers, "workloads": workloads}
    finally:
        if home is None:
            os.environ.pop("WFAUDIT_HOME", None)
        else:
            os.environ["WFAUDIT_HOME"] = home
        shutil.rmtree(tmp, ignore_errors=True)


def run(quick: bool) -> dict[str, Any]:
    """The benchmark: the corpus history, and the generated stream (see QUICK, FULL),
    on SQLite and on PostgreSQL."""
    return measure(*(QUICK if quick else FULL))


def _streams(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in results["workloads"].items() if k.startswith("generated")}


_BASELINE_NAMES = ("devtron", "dagster", "argo", "per-snapshot-zstd")


def markdown(results: dict[str, Any]) -> str:
    sampled = {
        name: r["baseline_timed_every"]
        for name, r in results["workloads"].items()
        if r.get("baseline_timed_every", 1) > 1
    }
    timed = "".join(
        f" ({name}: on every {every}th trigger; the other triggers' rows, the same bytes, are "
        "written without an fsync, see `TIMED_EVERY` in bench/bench_storage.py)"
        for name, every in sampled.items()
    )
    lines = [
        "The generated stream: "
        f"{results['pipelines']:,} pipelines x {results['triggers']} triggers "
        "(bench/workloads.py, seed 20261122: every trigger a new commit SHA and a rotated "
        "registry password; see `FULL` in bench/bench_storage.py for the size of the full "
        "run). Every baseline stores the same masked canonical JSON as wfaudit, in the same "
        "run, on the same backend.",
        "",
        "**Bytes on disk per snapshot** (the headline): SQLite, each system's own file after a "
        "WAL checkpoint and VACUUM (every table, index and free page); PostgreSQL, "
        "`pg_total_relation_size` of every table of the system (heap, indexes, TOAST). "
        "Ratios are baseline bytes ÷ wfaudit bytes (higher is better for wfaudit). The "
        "fixed cost of a store's empty tables (a page or two each) is included, so small "
        "workloads pay it per snapshot.",
        "",
        "| workload | snapshots | raw JSON / snapshot | wfaudit on disk / snapshot | Devtron "
        "| Dagster | Argo | per-snapshot zstd |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results["workloads"].items():
        ratio = r["ratio_baseline_to_wfaudit_on_disk"]
        per = r["baseline_disk_bytes_per_snapshot"]
        lines.append(
            f"| {name} | {r['snapshots']:,} | {r['raw_bytes_per_snapshot']:,} B | "
            f"{r['wfaudit_disk_bytes_per_snapshot']:,.0f} B | "
            + " | ".join(f"{per[k]:,.0f} B ({ratio[k]}x)" for k in _BASELINE_NAMES)
            + " |"
        )
    lines += [
        "",
        "Where wfaudit's bytes on disk go, per snapshot of the generated stream (SQLite: "
        "`dbstat` pages of each table and index; PostgreSQL: `pg_total_relation_size` of "
        "each table, and `pg_relation_size` of each index, which the table's figure includes):",
        "",
    ]
    for name, r in _streams(results).items():
        parts = sorted(r["wfaudit_disk_parts_per_snapshot"].items(), key=lambda kv: -kv[1])
        lines.append(
            f"- {name}: "
            + ", ".join(f"`{k}` {v:,.0f} B" for k, v in parts if v >= 10)
            + _rest([v for _k, v in parts if v < 10], "empty tables and indexes")
        )
        indexes = sorted(r["wfaudit_disk_indexes_per_snapshot"].items(), key=lambda kv: -kv[1])
        if indexes:
            lines.append(
                "  Indexes: "
                + ", ".join(f"`{k}` {v:,.0f} B" for k, v in indexes if v >= 10)
                + _rest([v for _k, v in indexes if v < 10], "under 10 B each")
            )
    lines += [
        "",
        "Secondary, **body-only** (not the headline): the stored bodies alone, wfaudit's blobs "
        "and manifests against each baseline's bodies, no row, key or index counted:",
        "",
        "| workload | wfaudit bodies / snapshot | blobs | manifests | distinct manifests "
        "| blob codecs | Devtron (body-only) | per-snapshot zstd (body-only) |",
        "|---|---:|---:|---:|---:|---|---:|---:|",
    ]
    for name, r in results["workloads"].items():
        body = r["ratio_baseline_to_wfaudit_body_only"]
        lines.append(
            f"| {name} | {r['wfaudit_body_bytes_per_snapshot']:,.0f} B | "
            f"{r['wfaudit_blob_bytes_per_snapshot']:,.0f} B | "
            f"{r['wfaudit_manifest_bytes_per_snapshot']:,.0f} B | "
            f"{r['manifests']['rows']:,} | "
            + ", ".join(f"{k}: {v:,}" for k, v in sorted(r["wfaudit_blob_codecs"].items()))
            + f" | {body['devtron']}x | {body['per-snapshot-zstd']}x |"
        )
    lines += [
        "",
        "Latencies (median / p99). Retrieval is `Auditor.get_snapshot_by_id`: the record with "
        "its manifest, the blob and, for a delta, its base; decompressed, checked against the "
        "content hash and parsed. *Warm*: in the auditing process (an orchestrator "
        "retriggering); *caches emptied*: every cache cleared before each read (a fresh "
        "`wfaudit retrigger` process). Audit: every trigger, each with its durable commit. "
        "Baseline write: the insert and its durable commit, timed on "
        f"their own for every trigger{timed}.",
        "",
        "| workload | audit | baseline write: Devtron | retrieval, random snapshot (warm) "
        "| retrieval, newest of a pipeline (warm) | retrieval, caches emptied |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in results["workloads"].items():
        retrieval = r["retrieval"]
        cells = [
            r["audit"],
            r["baseline_write"]["devtron"],
            retrieval["random snapshot"],
            retrieval["newest snapshot of a pipeline"],
            retrieval["random snapshot, caches emptied"],
        ]
        lines.append(
            f"| {name} | "
            + " | ".join(f"{c['median_ms']:.2f} / {c['p99_ms']:.2f} ms" for c in cells)
            + " |"
        )
    for key in ("growth", "growth_postgresql"):
        if results.get(key):
            lines += ["", growth_markdown(results[key])]
    return "\n".join(lines)


def _rest(small: list[float], what: str) -> str:
    """``"; 32 more (what, 131 B together)."`` for the parts too small to list."""
    if not small:
        return "."
    return f"; {len(small)} more ({what}, {sum(small):,.0f} B together)."


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for name, stream in _streams(results).items():
        ratio = stream["ratio_baseline_to_wfaudit_on_disk"]
        out += [
            {
                "target": f"bytes on disk per snapshot ({name}): >= 20x fewer than Devtron",
                "measured": f"{ratio['devtron']}x",
                "met": ratio["devtron"] >= 20,
                "headline": f"bytes on disk per snapshot ({name}, whole database: every "
                f"table and index): {ratio['devtron']}x fewer than a Devtron-style table; "
                "target >= 20x",
            },
            {
                "target": f"bytes on disk per snapshot ({name}): "
                ">= 5x fewer than per-snapshot zstd",
                "measured": f"{ratio['per-snapshot-zstd']}x",
                "met": ratio["per-snapshot-zstd"] >= 5,
                "headline": f"bytes on disk per snapshot ({name}): {ratio['per-snapshot-zstd']}x "
                "fewer than per-snapshot zstd; target >= 5x",
            },
        ]
        for kind, figures in stream["retrieval"].items():
            out.append(
                {
                    "target": f"retrieval for a retrigger ({name}, {kind}): "
                    "median <= 1 ms, p99 <= 5 ms",
                    "measured": f"{figures['median_ms']:.2f} ms / {figures['p99_ms']:.2f} ms",
                    "met": figures["median_ms"] <= 1 and figures["p99_ms"] <= 5,
                }
            )
    return out


_BACKEND_NAMES = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
GROWTH_SIZES = (10_000, 100_000, 1_000_000)
GROWTH_TIMED = 200
"""Real audits timed at each size of the growth curve."""
GROWTH_BLOB = 250
"""Bytes of each loaded snapshot's blob: about the stream's mean delta blob."""
GROWTH_BATCH = 1_000
"""Loader saves per transaction (the loader's connection also runs with synchronous=off)."""


def growth(
    sizes: Iterable[int] = GROWTH_SIZES,
    out: pathlib.Path | None = None,
    backend: str = "sqlite",
) -> dict[str, Any]:
    """Bytes on disk per snapshot and audit latency as a store grows (SQLite, or
    PostgreSQL in a scratch database: ``pg_total_relation_size`` of every table,
    the loader's batches committed with ``synchronous_commit = off``).

    A loader fills the store between the sizes through the real store API
    (``SqlStore.save``: the snapshot row, its blob, its manifest and patch, the
    ``snapshot.audited`` event and the chain head, the saves batched
    :data:`GROWTH_BATCH` to a transaction, with ``synchronous=off``: no fsync, so
    the loaded part is not durable against a power cut); it skips masking, canonical JSON and compression:
    a loaded snapshot is a copy of one of 20 audited records with a new id,
    workflow id and blob, :data:`GROWTH_BLOB` bytes of random data under its own
    content hash (the stream's mean delta size, but no delta base). At each size, :data:`GROWTH_TIMED`
    real audits of the generated stream (masking, deltas, durable commits) are
    timed, and the file is measured after a WAL checkpoint (no VACUUM: the store
    only grew, so it has no free pages to reclaim; ``freelist_count`` is reported).
    Results are written to ``out`` after each size, so a long run can be read while
    it goes on.
    """
    import attrs

    from wfaudit import Auditor, TriggerRequest
    from wfaudit.ids import new_id
    from wfaudit_hookspecs import Blob, utcnow
    from wfaudit_hookspecs.canonical import content_hash
    from wfaudit_sql import SqlStore

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="wfaudit-bench-growth-"))
    home = os.environ.get("WFAUDIT_HOME")
    os.environ["WFAUDIT_HOME"] = str(tmp / "home")
    database = tmp / "growth.sqlite3"
    store_url, loader_url = f"sqlite:///{database}", f"sqlite:///{database}?synchronous=off"
    scratch = None
    if backend == "postgresql":
        import psycopg

        scratch = f"wfaudit_bench_growth_{os.getpid()}"
        with psycopg.connect(PG_URL, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
            admin.execute(f'CREATE DATABASE "{scratch}"')
        store_url = loader_url = f"{PG_URL.rpartition('/')[0]}/{scratch}"
    results: dict[str, Any] = {
        "backend": backend,
        "loader_blob_bytes": GROWTH_BLOB,
        "timed": GROWTH_TIMED,
        "points": [],
    }
    try:
        auditor = Auditor.from_url(store_url, strict=True)
        loader = SqlStore(loader_url)
        triggers = iter(stream_triggers(20, 1_000_000))
        templates: dict[str, Any] = {}
        pool: list[Any] = []
        rng = random.Random(11)
        stored = 0
        for size in sorted(sizes):
            load_started = time.perf_counter()
            loaded = 0
            while stored < size - GROWTH_TIMED:
                if len(templates) < 20:
                    pipeline, workflow_id, config = next(triggers)
                    result = auditor.audit_trigger(
                        TriggerRequest(
                            workflow_id=workflow_id,
                            workflow_type="CI",
                            pipeline_id=pipeline,
                            config=config,
                        )
                    )
                    templates[pipeline] = auditor.store.get_record_by_id(result.ref.id)
                    pool = list(templates.values())
                    stored += 1
                    continue
                batch = min(GROWTH_BATCH, size - GROWTH_TIMED - stored)
                with loader._writer.begin() as batch_connection:
                    # Every save of the batch runs in this one transaction.
                    if backend == "postgresql":
                        batch_connection.exec_driver_sql("SET LOCAL synchronous_commit = off")

                    def in_batch(work: Any, _c: Any = batch_connection, **_options: Any) -> Any:
                        return work(_c)

                    loader._run = in_batch  # type: ignore[method-assign]
                    try:
                        for _ in range(batch):
                            template = pool[stored % len(pool)]
                            data = rng.randbytes(GROWTH_BLOB)
                            key = content_hash(data)
                            now = utcnow()
                            record = attrs.evolve(
                                template,
                                id=new_id(),
                                workflow_id=f"load-{stored}",
                                content_hash=key,
                                created_on=now,
                                updated_on=now,
                            )
                            loader.save(
                                record,
                                Blob(
                                    content_hash=key,
                                    codec="zstd",
                                    raw_size=GROWTH_BLOB * 4,
                                    data=data,
                                ),
                            )
                            stored += 1
                            loaded += 1
                    finally:
                        del loader._run
            load_seconds = time.perf_counter() - load_started
            times = []
            for _ in range(GROWTH_TIMED):
                pipeline, workflow_id, config = next(triggers)
                start = time.perf_counter()
                auditor.audit_trigger(
                    TriggerRequest(
                        workflow_id=workflow_id,
                        workflow_type="CI",
                        pipeline_id=pipeline,
                        config=config,
                    )
                )
                times.append(time.perf_counter() - start)
                stored += 1
            if scratch is None:
                connection = sqlite3.connect(database)
                try:
                    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    pages, free, page_size = (
                        connection.execute(f"PRAGMA {name}").fetchone()[0]
                        for name in ("page_count", "freelist_count", "page_size")
                    )
                    count = connection.execute("SELECT count(*) FROM snapshots").fetchone()[0]
                finally:
                    connection.close()
                size_on_disk = database.stat().st_size
                pages_of: dict[str, int] = {
                    "free_pages": int(free),
                    "page_size": int(page_size),
                    "pages": int(pages),
                }
            else:
                import psycopg

                with psycopg.connect(store_url, autocommit=True) as pg:
                    count = pg.execute("SELECT count(*) FROM snapshots").fetchone()[0]  # type: ignore[index]
                    size_on_disk = int(
                        pg.execute(  # type: ignore[index]
                            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
                            "WHERE c.relkind = 'r' AND c.relnamespace = 'public'::regnamespace"
                        ).fetchone()[0]
                    )
                pages_of = {}
            results["points"].append(
                {
                    "snapshots": int(count),
                    "bytes_on_disk": size_on_disk,
                    "bytes_per_snapshot": round(size_on_disk / count, 1),
                    **pages_of,
                    "audit": ms(times),
                    "loaded": loaded,
                    "load_seconds": round(load_seconds, 1),
                }
            )
            if out is not None:
                out.write_text(json.dumps(results, indent=2) + "\n")
        loader.close()
        auditor.close()
        return results
    finally:
        if home is None:
            os.environ.pop("WFAUDIT_HOME", None)
        else:
            os.environ["WFAUDIT_HOME"] = home
        shutil.rmtree(tmp, ignore_errors=True)
        if scratch is not None:
            import psycopg

            with psycopg.connect(PG_URL, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')


def growth_markdown(growth: dict[str, Any]) -> str:
    lines = [
        f"**Growth** ({_BACKEND_NAMES[growth.get('backend', 'sqlite')]}, bench_storage.py "
        "`growth`): a loader fills one store through "
        f"`SqlStore.save`, {GROWTH_BATCH:,} saves to a transaction with synchronous=off "
        "(synchronous_commit=off on PostgreSQL: the loaded rows are not fsynced) (rows, blob, manifest, audited event, chain; no masking, canonical "
        f"JSON or compression: each loaded blob is {growth['loader_blob_bytes']} random bytes, "
        "no delta base), and at each size "
        f"{growth['timed']} real audits of the generated stream are timed (durable commits). "
        "Bytes on disk: the file after a WAL checkpoint (PostgreSQL: pg_total_relation_size "
        "of every table), divided by the snapshots in it "
        "(lower than the stream's above: a loaded snapshot is a copy of one of 20 audited "
        "records, manifest and patch included, with a new id, workflow id and blob, so there "
        "are no keyframes, and the empty tables' pages are spread over more snapshots). "
        + growth.get("note", ""),
        "",
        "| snapshots | bytes on disk / snapshot | audit median / p99 |",
        "|---:|---:|---:|",
    ]
    for point in growth["points"]:
        lines.append(
            f"| {point['snapshots']:,} | {point['bytes_per_snapshot']:,.0f} B | "
            f"{point['audit']['median_ms']:.2f} / {point['audit']['p99_ms']:.2f} ms |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK[0]} x {QUICK[1]}")
    parser.add_argument("--pipelines", type=int, default=FULL[0])
    parser.add_argument("--triggers", type=int, default=FULL[1])
    parser.add_argument(
        "--growth",
        metavar="SIZES",
        help="only the growth curve, at these comma-separated sizes (e.g. 10000,100000)",
    )
    parser.add_argument("--growth-backend", default="sqlite", choices=("sqlite", "postgresql"))
    parser.add_argument("--out", type=pathlib.Path, help="--growth: write results here as it goes")
    parser.add_argument("--backends", default=",".join(BACKENDS))
    args = parser.parse_args()
    if args.growth:
        sizes = [int(size) for size in args.growth.split(",")]
        found = growth(sizes, args.out, args.growth_backend)
        sys.stdout.write(json.dumps(found, indent=2) + "\n\n" + growth_markdown(found) + "\n")
        return
    backends = args.backends.split(",")
    results = (
        measure(*QUICK, backends)
        if args.quick
        else measure(args.pipelines, args.triggers, backends)
    )
    sys.stdout.write(json.dumps(results, indent=2) + "\n\n" + markdown(results) + "\n")


if __name__ == "__main__":
    main()
