"""Benchmark: the store at scale, on SQLite and on PostgreSQL.

1. **Audit throughput**, end to end through ``Auditor.audit_trigger`` (a ~4 KB
   request with three secrets, a new content hash every time, so every audit
   writes a blob, a snapshot and a chained event and commits durably): one
   process, then 8 processes auditing into the same store at once.
2. **Query latency with 1,000,000 snapshots**: the store is bulk-loaded with SQL
   (``INSERT ... SELECT`` over a generated series, not through the audit path),
   then ``SqlStore.history`` (the 50 newest of a pipeline, with and without a
   tenant; the failed ones of a pipeline) and ``SqlStore.find_latest_failed``
   (a pipeline failing often, one whose last failure is 100,000 runs back, one
   that never failed) are timed over random pipelines: median and p99. In a
   suite run (``run``), the loaded SQLite store is then handed on to
   bench_retention, which sweeps those same rows instead of loading its own.

The machine is shared and noisy: compare figures taken in the same run.

    python bench/bench_store.py [--backends sqlite,postgresql] [--audits N]
        [--per-process N] [--snapshots N] [--queries N]
    python bench/run.py [--quick]             # the whole suite (results and docs)

PostgreSQL: ``WFAUDIT_TEST_PG_URL`` (default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``);
the benchmark works in a schema of its own and drops it at the end.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import hashlib
import json
import os
import pathlib
import random
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

ROOT = pathlib.Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("WFAUDIT_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

PIPELINES = 1000
"""Pipelines of the bulk-loaded store: 1,000 snapshots each at 1,000,000."""

_LOADED: dict[int, tuple[pathlib.Path, dict[str, Any]]] = {}
"""SQLite stores this process bulk-loaded and only read since, by snapshot count:
handed on to bench_retention (:func:`take_loaded`), which sweeps the same rows
(same :func:`bulk_load`), so that one run loads 1,000,000 rows once."""


def take_loaded(snapshots: int) -> tuple[pathlib.Path, dict[str, Any]] | None:
    """A bulk-loaded SQLite store of ``snapshots`` rows left by :func:`bench_backend`,
    untouched but for the read-only queries, with its load figures; the caller owns
    (and deletes) the file. None when there is none."""
    return _LOADED.pop(snapshots, None)


def _drop_unclaimed() -> None:
    for path, _load in _LOADED.values():
        shutil.rmtree(path.parent, ignore_errors=True)
    _LOADED.clear()


atexit.register(_drop_unclaimed)

WORKER = textwrap.dedent(
    """
    import json, sys, time
    from wfaudit import Auditor, hookimpl
    from wfaudit_hookspecs.pointer import iter_nodes

    SECRET_KEYS = {"password", "token", "secretKey"}

    class Masker:
        @hookimpl
        def wfaudit_mask(self, context):
            for path, _ in iter_nodes(context.config):
                if path and path[-1] in SECRET_KEYS:
                    context.mask(path, rule="bench.key")

    def request(worker, n):
        return {
            "pipeline": f"p{worker}", "run": n, "image": f"registry/app:{worker}-{n}",
            "password": f"pw-{worker}", "token": "t0k3n", "env": {"secretKey": "sk"},
            "steps": [{"name": f"step-{i}", "run": f"make target-{i} RUN={n}"} for i in range(40)],
        }

    url, worker, count, start = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    auditor = Auditor.from_url(url, plugins=[Masker()])
    for n in range(20):  # warm up: connections, caches
        auditor.audit_trigger(workflow_id=f"warm-{worker}-{n}", workflow_type="CI",
                              pipeline_id="warm", config=request(worker, -n - 1))
    while time.time() < start:
        time.sleep(0.001)
    began = time.perf_counter()
    errors = spooled = 0
    for n in range(count):
        result = auditor.audit_trigger(workflow_id=f"{worker}-{n}", workflow_type="CI",
                                       pipeline_id=f"p{worker}", config=request(worker, n))
        errors += not result.ok
        spooled += result.spooled
    seconds = time.perf_counter() - began
    auditor.close()
    print(json.dumps({"seconds": seconds, "errors": errors, "spooled": spooled, "count": count}))
    """
)


# -- stores ------------------------------------------------------------------------------


@contextmanager
def fresh_store(backend: str, tmp: pathlib.Path) -> Iterator[str]:
    """A URL of an empty store; a PostgreSQL schema of its own, dropped afterwards."""
    if backend == "sqlite":
        path = tmp / f"store-{secrets.token_hex(4)}.sqlite3"
        yield f"sqlite:///{path}"
        return
    from sqlalchemy import create_engine, text

    schema = f"wfa_bench_{secrets.token_hex(4)}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    separator = "&" if "?" in PG_URL else "?"
    try:
        yield f"{PG_URL}{separator}options={quote(f'-csearch_path={schema}', safe='')}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def run_workers(url: str, processes: int, per_process: int, home: pathlib.Path) -> dict[str, Any]:
    env = {**os.environ, "WFAUDIT_HOME": str(home), "WFAUDIT_LOAD_PLUGINS": "sql"}
    env.pop("WFAUDIT_STORE_URL", None)
    start = time.time() + 3.0 + processes * 0.3  # every interpreter up before the race
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(worker), str(per_process), str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for worker in range(processes)
    ]
    outputs = [child.communicate(timeout=1800) for child in children]
    for child, (_, err) in zip(children, outputs, strict=True):
        if child.returncode != 0:
            raise SystemExit(f"a worker failed:\n{err[-3000:]}")
    reports = [json.loads(out.strip().splitlines()[-1]) for out, _ in outputs]
    slowest = max(r["seconds"] for r in reports)
    total = sum(r["count"] for r in reports)
    return {
        "processes": processes,
        "audits": total,
        "seconds": round(slowest, 2),
        "audits_per_second": round(total / slowest, 1),
        "errors": sum(r["errors"] for r in reports),
        "spooled": sum(r["spooled"] for r in reports),
    }


# -- bulk load ----------------------------------------------------------------------------


def _blob_rows(count: int) -> list[dict[str, Any]]:
    from wfaudit import codec
    from wfaudit_hookspecs import canonical_json, content_hash

    rows = []
    for n in range(count):
        raw = canonical_json({"pipeline": n, "steps": [f"make target-{i}" for i in range(40)]})
        codec_name, data = codec.compress(raw)
        rows.append(
            {
                "content_hash": content_hash(raw),
                "codec": codec_name,
                "raw_size": len(raw),
                "stored_size": len(data),
                "data": data,
                "created_on": dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
            }
        )
    return rows


# Pipelines whose number is a multiple of 10 failed once, early in their history
# (run {rare}: at 1,000,000 snapshots, 900 runs and 900,000 rows back; the partial
# index finds it in one step where an index on status would walk those runs),
# odd ones fail one run in ten, the others never fail.
_STATUS_SQL = (
    "CASE WHEN {p} % 10 = 0 AND {n} = {rare} THEN 'failed' "
    "WHEN {p} % 2 = 1 AND {n} % 10 = 3 THEN 'failed' "
    "WHEN {p} % 2 = 1 AND {n} % 97 = 5 THEN 'error' "
    "ELSE 'succeeded' END"
)


def _manifest(pipeline: int) -> dict[str, Any]:
    """A manifest's JSON data, as a Devtron CI request's (fingerprints per pipeline)."""
    fields = [
        {
            "encoding": "text",
            "fingerprint": hashlib.sha256(f"{pipeline}/{n}".encode()).hexdigest(),
            "path": f"/secret/{n}",
            "restore": None,
            "rule": "known-field",
            "span": None,
        }
        for n in range(9)
    ]
    references = [
        {
            "kind": "k8s-secret",
            "name": f"cred-{n}/key",
            "path": f"/defs/{n}/secretKeyRef",
            "rule": "devtron.secretKeyRef",
        }
        for n in range(13)
    ]
    return {
        "adapter": "devtron",
        "fields": fields,
        "maskers": ["maskers"],
        "references": references,
    }


def bulk_load(url: str, snapshots: int) -> dict[str, Any]:
    """Fill an empty store with ``snapshots`` rows (and a few distinct blobs) in SQL."""
    from sqlalchemy import create_engine, insert, text

    from wfaudit_sql import SqlStore
    from wfaudit_sql.manifests import ManifestCache
    from wfaudit_sql.records import dump_json

    # Digest keys as the store keeps them (32 bytes since revision 0010).
    from wfaudit_sql.schema import blobs, digest_bytes, manifests
    from wfaudit_sql.urls import parse_store_url

    SqlStore(url).close()  # the schema
    rare = max(1, snapshots // PIPELINES // 10)
    engine = create_engine(parse_store_url(url).url)
    hashes = _blob_rows(PIPELINES)
    # A manifest per pipeline, as a Devtron CI request's: nine masked secrets and
    # thirteen references (a record read decodes and shares it).
    cache, at = ManifestCache(), dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    manifest_rows = [cache.row(dump_json(_manifest(n)), at) for n in range(PIPELINES)]
    started = time.perf_counter()
    with engine.begin() as connection:
        connection.execute(insert(blobs), hashes)
        connection.execute(insert(manifests), manifest_rows)
        backend = connection.dialect.name
        columns = (
            "id, tenant, workflow_id, workflow_type, pipeline_id, triggered_by, trigger_kind, "
            "labels, parent_id, attempt, schema_version, content_hash, manifest_hash, status, "
            "status_reason, config_size, created_on, created_by, updated_on, updated_by"
        )
        if backend == "postgresql":
            connection.execute(text("CREATE TEMP TABLE bench_hashes (i int, h bytea, m bytea)"))
            connection.execute(
                text("INSERT INTO bench_hashes VALUES (:i, :h, :m)"),
                [
                    {
                        "i": i,
                        "h": digest_bytes(row["content_hash"]),
                        "m": digest_bytes(m["manifest_hash"]),
                    }
                    for i, (row, m) in enumerate(zip(hashes, manifest_rows, strict=True))
                ],
            )
            p, n = "(g % 1000)", "(g / 1000)"
            connection.execute(
                text(
                    f"INSERT INTO snapshots ({columns}) "  # noqa: S608 - constants only
                    "SELECT 'B' || lpad(g::text, 25, '0'), '', 'wf-' || g, 'CI', 'p-' || "
                    f"{p}, 'ci', 'webhook', '{{}}', NULL, 1, 1, h.h, h.m, "
                    f"{_STATUS_SQL.format(p=p, n=n, rare=rare)}, NULL, 4000, "
                    "timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second', 'ci', "
                    "timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second', 'ci' "
                    f"FROM generate_series(0, {snapshots - 1}) AS g "
                    f"JOIN bench_hashes h ON h.i = {p}"
                )
            )
            connection.execute(text("ANALYZE snapshots"))
        else:
            connection.exec_driver_sql("PRAGMA cache_size = -262144")
            connection.execute(
                text("CREATE TEMP TABLE bench_hashes (i INTEGER PRIMARY KEY, h BLOB, m BLOB)")
            )
            connection.execute(
                text("INSERT INTO bench_hashes VALUES (:i, :h, :m)"),
                [
                    {
                        "i": i,
                        "h": digest_bytes(row["content_hash"]),
                        "m": digest_bytes(m["manifest_hash"]),
                    }
                    for i, (row, m) in enumerate(zip(hashes, manifest_rows, strict=True))
                ],
            )
            p, n = "(g % 1000)", "(g / 1000)"
            stamp = "datetime('2026-01-01', '+' || g || ' seconds') || '.000000'"
            connection.execute(
                text(
                    "WITH RECURSIVE series(g) AS (SELECT 0 UNION ALL SELECT g + 1 FROM series "  # noqa: S608 - constants only
                    f"WHERE g < {snapshots - 1}) "
                    f"INSERT INTO snapshots ({columns}) "
                    "SELECT 'B' || printf('%025d', g), '', 'wf-' || g, 'CI', 'p-' || "
                    f"{p}, 'ci', 'webhook', '{{}}', NULL, 1, 1, h.h, h.m, "
                    f"{_STATUS_SQL.format(p=p, n=n, rare=rare)}, NULL, 4000, {stamp}, 'ci', {stamp}, 'ci' "
                    f"FROM series JOIN bench_hashes h ON h.i = {p}"
                )
            )
            connection.exec_driver_sql("ANALYZE")
    seconds = time.perf_counter() - started
    engine.dispose()
    return {"snapshots": snapshots, "load_seconds": round(seconds, 1)}


# -- timing --------------------------------------------------------------------------------


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def timed(function: Callable[[int], object], runs: int) -> dict[str, float]:
    for i in range(10):
        function(i)
    samples = []
    for i in range(runs):
        began = time.perf_counter()
        function(i)
        samples.append(time.perf_counter() - began)
    return {
        "median_ms": round(statistics.median(samples) * 1000, 3),
        "p99_ms": round(percentile(samples, 99) * 1000, 3),
        "runs": runs,
    }


def query_latencies(url: str, runs: int) -> dict[str, dict[str, float]]:
    from wfaudit_hookspecs import HistoryQuery, Status
    from wfaudit_sql import SqlStore

    rng = random.Random(7)
    picks = [rng.randrange(PIPELINES) for _ in range(runs + 10)]

    def of(parity: int, modulus: int = 2) -> list[int]:
        return [p - p % modulus + parity for p in picks]

    often, rarely = of(1), [p - p % 10 for p in picks]
    never = [p - p % 10 + 2 for p in picks]
    out: dict[str, dict[str, float]] = {}
    with SqlStore(url) as store:

        def history(i: int) -> None:
            assert store.history(HistoryQuery(pipeline_id=f"p-{picks[i]}", limit=50))

        def history_tenant(i: int) -> None:
            query = HistoryQuery(pipeline_id=f"p-{picks[i]}", tenant="", limit=50)
            store.history(query)

        def history_failed(i: int) -> None:
            query = HistoryQuery(pipeline_id=f"p-{often[i]}", status=Status.FAILED, limit=50)
            assert store.history(query)

        def latest(pipelines: list[int], expect: bool) -> Callable[[int], None]:
            def run(i: int) -> None:
                found = store.find_latest_failed(pipeline_id=f"p-{pipelines[i]}")
                assert (found is not None) == expect

            return run

        out["history, 50 newest of a pipeline"] = timed(history, runs)
        out["history, 50 newest of a pipeline, one tenant"] = timed(history_tenant, runs)
        out["history, failed runs of a pipeline"] = timed(history_failed, runs)
        out["find_latest_failed, pipeline failing often"] = timed(latest(often, True), runs)
        out["find_latest_failed, last failure 90% of the history back"] = timed(
            latest(rarely, True), runs
        )
        out["find_latest_failed, pipeline that never failed"] = timed(latest(never, False), runs)
    return out


# -- the run ---------------------------------------------------------------------------------


def bench_backend(backend: str, args: argparse.Namespace, tmp: pathlib.Path) -> dict[str, Any]:
    result: dict[str, Any] = {}
    print(f"[{backend}] single-process audits...", flush=True)
    with fresh_store(backend, tmp) as url:
        result["single"] = run_workers(url, 1, args.audits, tmp / f"home-{backend}-1")
    print(f"[{backend}] {args.processes}-process audits...", flush=True)
    with fresh_store(backend, tmp) as url:
        result["multi"] = run_workers(
            url, args.processes, args.per_process, tmp / f"home-{backend}-n"
        )
    print(f"[{backend}] bulk-loading {args.snapshots:,} snapshots...", flush=True)
    keep = backend == "sqlite" and getattr(args, "hand_on", False)
    with fresh_store(backend, tmp) as url:
        result["bulk"] = bulk_load(url, args.snapshots)
        print(f"[{backend}] queries...", flush=True)
        result["queries"] = query_latencies(url, args.queries)
        if keep:  # the queries only read: the rows are as loaded, for bench_retention
            path = pathlib.Path(url.removeprefix("sqlite:///"))
            kept = pathlib.Path(tempfile.mkdtemp(prefix="wfaudit-bench-loaded-")) / path.name
            for suffix in ("", "-wal", "-shm"):
                if pathlib.Path(f"{path}{suffix}").exists():
                    shutil.move(f"{path}{suffix}", f"{kept}{suffix}")
            _LOADED[args.snapshots] = (kept, dict(result["bulk"]))
    print(json.dumps(result, indent=1), flush=True)
    return result


def markdown(results: dict[str, Any]) -> str:
    names = {"sqlite": "SQLite (WAL, synchronous=FULL)", "postgresql": "PostgreSQL 15 (local)"}
    backends = [b for b in ("sqlite", "postgresql") if b in results["backends"]]
    cells = lambda key: " | ".join(key(results["backends"][b]) for b in backends)  # noqa: E731
    lines = [
        "Audit throughput: `Auditor.audit_trigger` end to end, a ~4 KB request with three "
        "secrets and a new content hash each time (every audit writes a blob, a snapshot and "
        "a hash-chained event, and commits durably).",
        "",
        "| measurement | " + " | ".join(names[b] for b in backends) + " |",
        "|---|" + "---:|" * len(backends),
        "| 1 process | "
        + cells(lambda r: f"{r['single']['audits_per_second']:,.0f} audits/s")
        + " |",
        f"| {results['processes']} processes, one store | "
        + cells(
            lambda r: (
                f"{r['multi']['audits_per_second']:,.0f} audits/s "
                f"({r['multi']['audits']:,} audits, {r['multi']['errors']} errors, "
                f"{r['multi']['spooled']} spooled)"
            )
        )
        + " |",
        "",
        f"Query latency with {results['snapshots']:,} snapshots in the store "
        f"({PIPELINES:,} pipelines; bulk-loaded with SQL in "
        + ", ".join(
            f"{results['backends'][b]['bulk']['load_seconds']:.0f} s ({b})" for b in backends
        )
        + "), through `SqlStore`, median / p99:",
        "",
        "| query | " + " | ".join(names[b] for b in backends) + " |",
        "|---|" + "---:|" * len(backends),
    ]
    first = results["backends"][backends[0]]["queries"]
    for query in first:
        lines.append(
            f"| `{query.split(',')[0]}`{',' + query.split(',', 1)[1] if ',' in query else ''} | "
            + cells(
                lambda r, q=query: (
                    f"{r['queries'][q]['median_ms']:.2f} ms / {r['queries'][q]['p99_ms']:.2f} ms"
                )
            )
            + " |"
        )
    lines += [
        "",
        f"This machine has {os.cpu_count()} cores: {results['processes']} processes share "
        "them (with the database server, for PostgreSQL), so the multi-process figure shows "
        "that contention (SQLite's write lock, PostgreSQL's chain-head row lock) costs little "
        "and loses nothing, not a parallel speed-up. Latencies include building the records "
        "(`SnapshotRecord` objects, each with its manifest) from the rows.",
    ]
    return "\n".join(lines)


NAME = "store"
TITLE = "The store at scale"
QUICK = {"audits": 200, "processes": 8, "per_process": 50, "snapshots": 20_000, "queries": 50}
FULL = {"audits": 2000, "processes": 8, "per_process": 1000, "snapshots": 1_000_000, "queries": 300}
"""The full run's sizes. The 1,000,000 snapshots are the issue's; the throughput
runs (2,000 audits in one process, 8 x 1,000 at once) are long enough for a
steady rate (the 8-process run takes ~30 s per backend here) and short enough
for the suite's 15-minute budget."""


def run(quick: bool) -> dict[str, Any]:
    """Both backends; quick mode with 20,000 snapshots instead of 1,000,000. The
    loaded SQLite store is handed on to bench_retention (:func:`take_loaded`)."""
    settings = QUICK if quick else FULL
    return measure(argparse.Namespace(backends="sqlite,postgresql", hand_on=True, **settings))


def measure(args: argparse.Namespace) -> dict[str, Any]:
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="wfaudit-bench-store-"))
    results: dict[str, Any] = {
        "processes": args.processes,
        "snapshots": args.snapshots,
        "settings": dict(vars(args)),
        "backends": {},
    }
    try:
        for backend in args.backends.split(","):
            results["backends"][backend.strip()] = bench_backend(backend.strip(), args, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return results


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for backend, figures in results["backends"].items():
        multi = figures["multi"]
        durable = multi["errors"] == 0 and multi["spooled"] == 0
        out.append(
            {
                "target": f"{multi['processes']} processes on one store, {backend}: "
                ">= 1,000 audits/s, every audit durable (committed, none spooled)",
                "measured": f"{multi['audits_per_second']:,.0f} audits/s "
                f"({multi['errors']} errors, {multi['spooled']} spooled)",
                "met": multi["audits_per_second"] >= 1000 and durable,
            }
        )
        for query, timing in figures["queries"].items():
            if query.startswith(("history, 50 newest of a pipeline", "find_latest_failed")):
                out.append(
                    {
                        "target": f"{results['snapshots']:,} snapshots, {backend}: {query}: "
                        "median <= 5 ms",
                        "measured": f"{timing['median_ms']:.2f} ms",
                        "met": timing["median_ms"] <= 5 and results["snapshots"] >= 1_000_000,
                    }
                )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--audits", type=int, default=FULL["audits"], help="single-process audits")
    parser.add_argument("--processes", type=int, default=FULL["processes"])
    parser.add_argument("--per-process", type=int, default=FULL["per_process"])
    parser.add_argument("--snapshots", type=int, default=FULL["snapshots"])
    parser.add_argument("--queries", type=int, default=FULL["queries"])
    args = parser.parse_args()
    results = measure(args)
    print(json.dumps(results, indent=2))
    print(markdown(results))


if __name__ == "__main__":
    main()
