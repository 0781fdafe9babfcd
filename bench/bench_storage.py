"""Benchmark: stored bytes per snapshot and retrieval latency, against the baselines.

Runs the workloads of bench/workloads.py through wfaudit (real auditor, real
SQLite store, masking on) and, in the same run and the same database, through the
baselines of bench/baselines.py, fed the same masked canonical JSON. Reports bytes
per snapshot, the ratio of each baseline to wfaudit, audit latency, and the
retrieval latency of a snapshot as a retrigger reads it (delta chains included).

Bytes are bodies, counted alike for everyone: wfaudit's blobs and its manifests
table (the baselines store no manifest at all), each baseline's stored bodies.
References are counted for no one (wfaudit's ``content_hash`` and ``manifest_hash``
in the snapshot row, Dagster's snapshot id in its run row); wfaudit's manifest
reference is reported on its own, with the ratios it would give if counted.

    python bench/bench_storage.py [--quick] [--pipelines N --triggers M]
    python bench/run.py [--quick]             # the whole suite (results and docs)
"""

from __future__ import annotations

import argparse
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
from collections.abc import Iterable
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from baselines import BASELINES
from workloads import generated_stream, history_series

NAME = "storage"
TITLE = "Storage per snapshot and retrieval"

QUICK = (20, 20)
FULL = (200, 100)
"""Pipelines x triggers of the generated stream. The issue's default is 1,000 x 100;
the full run keeps the depth of 100 triggers per pipeline (what deltas, rebasing
and manifest dedup depend on) with 200 pipelines, so that the whole suite stays
under 15 minutes on the 2-core development machine: 20,000 audits (each a
durable commit), the four baselines' writes and a decode per trigger take ~3 to
4 minutes there, and 1,000 x 100 would take five times that, the whole budget.
Bytes per snapshot do not depend on the number of pipelines."""

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


def run_workload(
    name: str,
    triggers: Iterable[tuple[str, str, dict[str, Any]]],
    tmp: pathlib.Path,
    timed_every: int = 1,
) -> dict[str, Any]:
    from wfaudit import Auditor, TriggerRequest
    from wfaudit.codec import decode_blob

    database = tmp / f"{name}.sqlite3"
    capture = Capture()
    auditor = Auditor.from_url(f"sqlite:///{database}", plugins=[capture], strict=True)
    connection = sqlite3.connect(database)
    for baseline in BASELINES:
        baseline.create(connection)
    connection.execute("PRAGMA synchronous = FULL")
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
                connection.execute("PRAGMA synchronous = FULL")
                durable = True
            for baseline in BASELINES:
                start = time.perf_counter()
                baseline.store(connection, run, canonical)
                baseline_times[baseline.name].append(time.perf_counter() - start)
        else:
            if durable:
                connection.execute("PRAGMA synchronous = NORMAL")
                durable = False
            for baseline in BASELINES:
                baseline.store(connection, run, canonical, commit=False)
            connection.commit()  # before the next audit: one writer at a time

    blob_bytes = int(
        connection.execute("SELECT coalesce(sum(stored_size), 0) FROM blobs").fetchone()[0]
    )
    manifest_rows, manifest_bytes, manifest_raw = connection.execute(
        "SELECT count(*), coalesce(sum(length(data)), 0), coalesce(sum(raw_size), 0) FROM manifests"
    ).fetchone()
    references = int(
        connection.execute(
            "SELECT coalesce(sum(length(manifest_hash)), 0) FROM snapshots"
        ).fetchone()[0]
    )
    codecs = dict(connection.execute("SELECT codec, count(*) FROM blobs GROUP BY codec").fetchall())
    wfaudit_bytes = blob_bytes + int(manifest_bytes)
    retrieval = measure_retrieval(auditor, ids, list(latest.values()))

    per = {b.name: b.stored_bytes(connection) / count for b in BASELINES}
    wfaudit_per = wfaudit_bytes / count
    auditor.close()
    connection.close()
    return {
        "snapshots": count,
        "raw_bytes_per_snapshot": round(raw_bytes / count),
        "wfaudit_bytes_per_snapshot": round(wfaudit_per, 1),
        "wfaudit_blob_bytes_per_snapshot": round(blob_bytes / count, 1),
        "wfaudit_manifest_bytes_per_snapshot": round(int(manifest_bytes) / count, 1),
        "manifests": {
            "rows": int(manifest_rows),
            "stored_bytes": int(manifest_bytes),
            "raw_bytes": int(manifest_raw),
            "reference_bytes_per_snapshot": round(references / count, 1),
        },
        "wfaudit_blob_codecs": codecs,
        "baseline_bytes_per_snapshot": {k: round(v, 1) for k, v in per.items()},
        "ratio_baseline_to_wfaudit": {k: round(v / wfaudit_per, 1) for k, v in per.items()},
        "ratio_baseline_to_wfaudit_with_manifest_reference": {
            k: round(v / (wfaudit_per + references / count), 1) for k, v in per.items()
        },
        "audit": ms(audit_times),
        "baseline_write": {k: ms(v) for k, v in baseline_times.items()},
        "retrieval": retrieval,
        "baseline_timed_every": timed_every,
    }


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
    for pipeline, _trigger, request in generated_stream(pipelines, triggers):
        yield str(pipeline), str(request["workflowId"]), request


def measure(pipelines: int, triggers: int) -> dict[str, Any]:
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="wfaudit-bench-storage-"))
    home = os.environ.get("WFAUDIT_HOME")
    os.environ["WFAUDIT_HOME"] = str(tmp / "home")
    try:
        return {
            "pipelines": pipelines,
            "triggers": triggers,
            "workloads": {
                "corpus history": run_workload("history", history_triggers(), tmp),
                f"generated stream {pipelines:,} x {triggers}": run_workload(
                    "stream", stream_triggers(pipelines, triggers), tmp, TIMED_EVERY
                ),
            },
        }
    finally:
        if home is None:
            os.environ.pop("WFAUDIT_HOME", None)
        else:
            os.environ["WFAUDIT_HOME"] = home
        shutil.rmtree(tmp, ignore_errors=True)


def run(quick: bool) -> dict[str, Any]:
    """The benchmark: the corpus history, and the generated stream (see QUICK, FULL)."""
    return measure(*(QUICK if quick else FULL))


def _stream(results: dict[str, Any]) -> dict[str, Any]:
    return next(v for k, v in results["workloads"].items() if k.startswith("generated"))


def markdown(results: dict[str, Any]) -> str:
    baselines = ("devtron", "dagster", "argo", "per-snapshot-zstd")
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
        "(bench/workloads.py, seed 20261122; the issue's default is 1,000 x 100, see "
        "`FULL` in bench/bench_storage.py for why the full run uses fewer pipelines). "
        "Every baseline stores the same masked canonical JSON as wfaudit, in the same "
        "SQLite file, in the same run.",
        "",
        "| workload | snapshots | raw JSON / snapshot | wfaudit / snapshot | Devtron | Dagster "
        "| Argo | per-snapshot zstd |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results["workloads"].items():
        ratio = r["ratio_baseline_to_wfaudit"]
        per = r["baseline_bytes_per_snapshot"]
        lines.append(
            f"| {name} | {r['snapshots']:,} | {r['raw_bytes_per_snapshot']:,} B | "
            f"{r['wfaudit_bytes_per_snapshot']:,.0f} B | "
            + " | ".join(f"{per[k]:,.0f} B ({ratio[k]}x)" for k in baselines)
            + " |"
        )
    lines += [
        "",
        "Ratios are baseline bytes ÷ wfaudit bytes (higher is better for wfaudit). Bytes are "
        "stored bodies, for everyone: wfaudit's blobs and manifests (which no baseline "
        "stores), each baseline's bodies; references from a run's row to its body are counted "
        "for no one. wfaudit's parts, and the ratios if its 64-character manifest reference "
        "in each snapshot row were counted too:",
        "",
        "| workload | blobs / snapshot | manifests / snapshot | distinct manifests "
        "| blob codecs | manifest reference / snapshot | Devtron, per-snapshot zstd "
        "(reference counted) |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    for name, r in results["workloads"].items():
        blobs = r["wfaudit_blob_bytes_per_snapshot"]
        counted = r["ratio_baseline_to_wfaudit_with_manifest_reference"]
        lines.append(
            f"| {name} | {blobs:,.0f} B | {r['wfaudit_manifest_bytes_per_snapshot']:,.0f} B | "
            f"{r['manifests']['rows']:,} ({r['manifests']['stored_bytes']:,} B stored) | "
            + ", ".join(f"{k}: {v:,}" for k, v in sorted(r["wfaudit_blob_codecs"].items()))
            + f" | {r['manifests']['reference_bytes_per_snapshot']:.0f} B | "
            f"{counted['devtron']}x, {counted['per-snapshot-zstd']}x |"
        )
    lines += [
        "",
        "Latencies (median / p99). Retrieval is `Auditor.get_snapshot_by_id`: the record with "
        "its manifest, the blob and, for a delta, its base; decompressed, checked against the "
        "content hash and parsed. *Warm*: in the auditing process (an orchestrator "
        "retriggering); *caches emptied*: every cache cleared before each read (a fresh "
        "`wfaudit retrigger` process). Audit: every trigger, each with its durable commit. "
        "Baseline write: the insert and its durable commit (synchronous=FULL), timed on "
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
    return "\n".join(lines)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    stream = _stream(results)
    ratio = stream["ratio_baseline_to_wfaudit"]
    out = [
        {
            "target": "stored bytes per snapshot (generated stream): >= 20x fewer than Devtron",
            "measured": f"{ratio['devtron']}x",
            "met": ratio["devtron"] >= 20,
        },
        {
            "target": "stored bytes per snapshot (generated stream): "
            ">= 5x fewer than per-snapshot zstd",
            "measured": f"{ratio['per-snapshot-zstd']}x",
            "met": ratio["per-snapshot-zstd"] >= 5,
        },
    ]
    for kind, figures in stream["retrieval"].items():
        out.append(
            {
                "target": f"retrieval for a retrigger ({kind}): median <= 1 ms, p99 <= 5 ms",
                "measured": f"{figures['median_ms']:.2f} ms / {figures['p99_ms']:.2f} ms",
                "met": figures["median_ms"] <= 1 and figures["p99_ms"] <= 5,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=f"{QUICK[0]} x {QUICK[1]}")
    parser.add_argument("--pipelines", type=int, default=FULL[0])
    parser.add_argument("--triggers", type=int, default=FULL[1])
    args = parser.parse_args()
    results = run(True) if args.quick else measure(args.pipelines, args.triggers)
    sys.stdout.write(json.dumps(results, indent=2) + "\n\n" + markdown(results) + "\n")


if __name__ == "__main__":
    main()
