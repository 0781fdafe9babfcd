"""Benchmark: stored bytes per snapshot and retrieval latency, against the baselines.

Runs the workloads of bench/workloads.py through wfaudit (real auditor, real
SQLite store, masking on) and, in the same run and the same database, through the
baselines of bench/baselines.py, fed the same masked canonical JSON. Reports bytes
per snapshot, the ratio of each baseline to wfaudit, audit latency, and the
retrieval latency of a snapshot as a retrigger reads it (delta chains included).

    python bench/bench_storage.py [--quick] [--pipelines N --triggers M] [--no-write]

Writes bench/results/storage.json and the "storage" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import platform
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Iterable
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from baselines import BASELINES
from docs_section import write_section
from workloads import generated_stream, history_series

ROOT = pathlib.Path(__file__).resolve().parent.parent


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
    """A persist wrapper that hands the bench the masked canonical JSON of each audit."""

    def __init__(self) -> None:
        self.last: bytes | None = None

    from wfaudit import hookimpl

    @hookimpl(wrapper=True)
    def wfaudit_persist(self, snapshot: Any, payload: Any, store: Any) -> Any:
        result = yield
        self.last = payload
        return result


def run_workload(
    name: str, triggers: Iterable[tuple[str, str, dict[str, Any]]], tmp: pathlib.Path
) -> dict[str, Any]:
    from wfaudit import Auditor, TriggerRequest
    from wfaudit.codec import decode_blob

    database = tmp / f"{name}.sqlite3"
    capture = Capture()
    auditor = Auditor.from_url(f"sqlite:///{database}", plugins=[capture], strict=True)
    connection = sqlite3.connect(database)
    for baseline in BASELINES:
        baseline.create(connection)
    audit_times: list[float] = []
    baseline_times: dict[str, list[float]] = {b.name: [] for b in BASELINES}
    ids: list[tuple[str, str]] = []
    raw_bytes = 0
    count = 0
    for run, (pipeline, workflow_id, config) in enumerate(triggers):
        request = TriggerRequest(
            workflow_id=workflow_id, workflow_type="CI", pipeline_id=pipeline, config=config
        )
        start = time.perf_counter()
        result = auditor.audit_trigger(request)
        audit_times.append(time.perf_counter() - start)
        ids.append((workflow_id, result.snapshot_id or ""))
        blob = capture.last
        canonical = decode_blob(blob, auditor.store.get_blob) if blob is not None else b""
        raw_bytes += len(canonical)
        count += 1
        for baseline in BASELINES:
            start = time.perf_counter()
            baseline.store(connection, run, canonical)
            baseline_times[baseline.name].append(time.perf_counter() - start)

    stored = dict(
        connection.execute("SELECT 'blobs', coalesce(sum(stored_size), 0) FROM blobs").fetchall()
    )
    manifests = connection.execute(
        "SELECT coalesce(sum(length(manifest)), 0) FROM snapshots"
    ).fetchone()[0]
    codecs = dict(connection.execute("SELECT codec, count(*) FROM blobs GROUP BY codec").fetchall())
    wfaudit_bytes = int(stored["blobs"]) + int(manifests)
    blob_bytes = int(stored["blobs"])

    sample = random.Random(7).sample(ids, min(500, len(ids)))
    retrieval: list[float] = []
    for _workflow_id, snapshot_id in sample:
        start = time.perf_counter()
        auditor.get_snapshot_by_id(snapshot_id)
        retrieval.append(time.perf_counter() - start)

    per = {b.name: b.stored_bytes(connection) / count for b in BASELINES}
    wfaudit_per = wfaudit_bytes / count
    auditor.close()
    connection.close()
    return {
        "snapshots": count,
        "raw_bytes_per_snapshot": round(raw_bytes / count),
        "wfaudit_bytes_per_snapshot": round(wfaudit_per, 1),
        "wfaudit_blob_bytes_per_snapshot": round(blob_bytes / count, 1),
        "wfaudit_manifest_bytes_per_snapshot": round(int(manifests) / count, 1),
        "wfaudit_blob_codecs": codecs,
        "baseline_bytes_per_snapshot": {k: round(v, 1) for k, v in per.items()},
        "ratio_baseline_to_wfaudit": {k: round(v / wfaudit_per, 1) for k, v in per.items()},
        "audit": ms(audit_times),
        "baseline_write": {k: ms(v) for k, v in baseline_times.items()},
        "retrieval": ms(retrieval),
    }


def history_triggers() -> Iterable[tuple[str, str, dict[str, Any]]]:
    for series, versions in history_series().items():
        for index, version in enumerate(versions):
            yield series, f"{series}-{index}", version


def stream_triggers(pipelines: int, triggers: int) -> Iterable[tuple[str, str, dict[str, Any]]]:
    for pipeline, _trigger, request in generated_stream(pipelines, triggers):
        yield str(pipeline), str(request["workflowId"]), request


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "<!-- bench:storage:start -->",
        f"Measured on {results['machine']} at {results['when']} (`{results['command']}`).",
        "",
        "| workload | snapshots | raw JSON / snapshot | wfaudit / snapshot | Devtron | Dagster | Argo | per-snapshot zstd |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results["workloads"].items():
        ratio = r["ratio_baseline_to_wfaudit"]
        per = r["baseline_bytes_per_snapshot"]
        lines.append(
            f"| {name} | {r['snapshots']:,} | {r['raw_bytes_per_snapshot']:,} B | {r['wfaudit_bytes_per_snapshot']:,.0f} B | "
            + " | ".join(
                f"{per[k]:,.0f} B ({ratio[k]}x)"
                for k in ("devtron", "dagster", "argo", "per-snapshot-zstd")
            )
            + " |"
        )
    lines += [
        "",
        "| workload | wfaudit blobs / snapshot | wfaudit manifest / snapshot | Devtron ÷ blobs | per-snapshot zstd ÷ blobs | blob codecs |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name, r in results["workloads"].items():
        blobs = r["wfaudit_blob_bytes_per_snapshot"]
        per = r["baseline_bytes_per_snapshot"]
        lines.append(
            f"| {name} | {blobs:,.0f} B | {r['wfaudit_manifest_bytes_per_snapshot']:,.0f} B | "
            f"{per['devtron'] / blobs:.1f}x | {per['per-snapshot-zstd'] / blobs:.1f}x | "
            + ", ".join(f"{k}: {v}" for k, v in sorted(r["wfaudit_blob_codecs"].items()))
            + " |"
        )
    lines += [
        "",
        "Ratios are baseline bytes ÷ wfaudit bytes (higher is better for wfaudit); wfaudit's bytes "
        "include its blobs and each snapshot's manifest.",
        "",
        "| workload | audit median | audit p99 | retrieval median | retrieval p99 | Devtron write median |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in results["workloads"].items():
        lines.append(
            f"| {name} | {r['audit']['median_ms']:.2f} ms | {r['audit']['p99_ms']:.2f} ms | "
            f"{r['retrieval']['median_ms']:.2f} ms | {r['retrieval']['p99_ms']:.2f} ms | "
            f"{r['baseline_write']['devtron']['median_ms']:.2f} ms |"
        )
    stream = results["workloads"].get("generated stream")
    if stream:
        devtron = stream["ratio_baseline_to_wfaudit"]["devtron"]
        zstd = stream["ratio_baseline_to_wfaudit"]["per-snapshot-zstd"]
        retrieval = stream["retrieval"]
        lines += [
            "",
            "Targets on the generated stream:",
            f"- at least 20x fewer bytes than Devtron: **{'met' if devtron >= 20 else 'not met'}** ({devtron}x)",
            f"- at least 5x fewer bytes than per-snapshot zstd: **{'met' if zstd >= 5 else 'not met'}** ({zstd}x)",
            f"- retrieval median ≤ 1 ms and p99 ≤ 5 ms: **{'met' if retrieval['median_ms'] <= 1 and retrieval['p99_ms'] <= 5 else 'not met'}** "
            f"({retrieval['median_ms']:.2f} ms, {retrieval['p99_ms']:.2f} ms)",
        ]
    lines.append("<!-- bench:storage:end -->")
    return "\n".join(lines)


def write_docs(section: str) -> None:
    write_section("storage", "Storage per snapshot and retrieval", section)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipelines", type=int, default=1000)
    parser.add_argument("--triggers", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="50 pipelines x 20 triggers")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    pipelines, triggers = (50, 20) if args.quick else (args.pipelines, args.triggers)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="wfaudit-bench-storage-"))
    os.environ["WFAUDIT_HOME"] = str(tmp / "home")
    results: dict[str, Any] = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "command": "python bench/bench_storage.py"
        + (" --quick" if args.quick else f" --pipelines {pipelines} --triggers {triggers}"),
        "workloads": {},
    }
    results["workloads"]["corpus history"] = run_workload("history", history_triggers(), tmp)
    results["workloads"]["generated stream"] = run_workload(
        "stream", stream_triggers(pipelines, triggers), tmp
    )
    section = markdown(results)
    sys.stdout.write(json.dumps(results, indent=2) + "\n\n" + section + "\n")
    if not args.no_write:
        out = ROOT / "bench" / "results"
        out.mkdir(parents=True, exist_ok=True)
        (out / "storage.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        write_docs(section)


if __name__ == "__main__":
    main()
