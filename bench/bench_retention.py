"""Benchmark: a retention sweep over 1,000,000 snapshots, with its memory profile.

Bulk-loads a store (SQL inserts, as bench/bench_store.py does: 1,000 pipelines,
mostly succeeded runs, one a second from 2026-01-01), then, in the same process:

1. ``retention plan``: the policy judged for every snapshot (streamed newest
   first, a page of 500 rows at a time), nothing written;
2. ``retention apply``: the same sweep carried out, archiving each due snapshot to
   a local-directory archive (one fsynced file each) and deleting it, with the
   orphan cleanup at the end.

The process's resident memory (VmRSS) is sampled every 10,000 snapshots of each
pass, so the profile over time is in the results: a sweep that streams holds
one page at a time and its memory stays flat however many snapshots it covers.

    python bench/bench_retention.py [--quick] [--snapshots N] [--backends sqlite,postgresql]
    python bench/run.py [--quick]             # the whole suite
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import pathlib
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

NAME = "retention"
TITLE = "Retention sweep over 1,000,000 snapshots"

QUICK = {"snapshots": 20_000, "due": 500}
FULL = {"snapshots": 1_000_000, "due": 5_000}
"""Snapshots in the store, and about how many of them are due (archived and deleted)."""

SAMPLE_EVERY = 10_000
_START = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def rss_mb() -> float:
    """The process's resident memory now, in MB (Linux /proc)."""
    try:
        for line in pathlib.Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Profile:
    """RSS samples over one pass: (snapshots done, seconds, MB)."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.samples: list[tuple[int, float, float]] = [(0, 0.0, round(rss_mb(), 1))]

    def tick(self, done: int) -> None:
        if done % SAMPLE_EVERY == 0:
            self.sample(done)

    def sample(self, done: int) -> None:
        self.samples.append(
            (done, round(time.perf_counter() - self.started, 2), round(rss_mb(), 1))
        )

    def summary(self) -> dict[str, Any]:
        values = [mb for _, _, mb in self.samples]
        # Growth after the first tenth of the pass: what streaming must keep near zero.
        settled = [
            mb for done, _, mb in self.samples if done >= self.samples[-1][0] // 10
        ] or values
        return {
            "seconds": self.samples[-1][1],
            "rss_start_mb": values[0],
            "rss_max_mb": max(values),
            "rss_end_mb": values[-1],
            "growth_after_first_tenth_mb": round(max(settled) - min(settled), 1),
            "samples": self.samples,
        }


@contextlib.contextmanager
def fresh_store(backend: str, tmp: pathlib.Path) -> Iterator[str]:
    if backend == "sqlite":
        path = tmp / "retention.sqlite3"
        yield f"sqlite:///{path}"
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f"{path}{suffix}")
        return
    from bench_store import fresh_store as pg_store

    with pg_store(backend, tmp) as url:
        yield url


def bench_backend(backend: str, snapshots: int, due: int, tmp: pathlib.Path) -> dict[str, Any]:
    from bench_store import bulk_load

    from wfaudit.archive import FileArchive
    from wfaudit.retention import RetentionPolicy, Sweeper
    from wfaudit.testing.clock import Clock
    from wfaudit_sql import SqlStore

    result: dict[str, Any] = {}
    with fresh_store(backend, tmp) as url:
        print(f"[retention:{backend}] bulk-loading {snapshots:,} snapshots...", flush=True)
        result["load"] = bulk_load(url, snapshots)
        # Row g is updated at 2026-01-01 + g seconds: with succeeded kept 30 days,
        # the succeeded ones among the first `due` rows are due at this time.
        clock = Clock(_START + dt.timedelta(days=30, seconds=due))
        clock.install()
        archive_dir = tmp / f"archive-{backend}"
        try:
            store = SqlStore(url)
            sweeper = Sweeper(store, RetentionPolicy(), archive=FileArchive(archive_dir))
            print(f"[retention:{backend}] plan...", flush=True)
            plan = Profile()
            counts: dict[str, int] = {}
            for done, item in enumerate(sweeper.plan(), start=1):
                counts[item.action.value] = counts.get(item.action.value, 0) + 1
                plan.tick(done)
            plan.sample(sum(counts.values()))
            result["plan"] = {**plan.summary(), "counts": counts}
            print(f"[retention:{backend}] apply...", flush=True)
            apply = Profile()
            report = sweeper.apply(on_item=lambda done, _total: apply.tick(done))
            apply.sample(snapshots)
            result["apply"] = {
                **apply.summary(),
                "archived": report.archived,
                "deleted": report.deleted,
                "counts": dict(report.counts),
                "archive_bytes": sum(p.stat().st_size for p in archive_dir.rglob("*.wfa")),
            }
            result["remaining"] = store.count_snapshots()
            store.close()
        finally:
            clock.uninstall()
            shutil.rmtree(archive_dir, ignore_errors=True)
    result["peak_rss_mb"] = round(peak_rss_mb(), 1)
    print(json.dumps({k: v for k, v in result.items() if k not in ("plan", "apply")}), flush=True)
    return result


def measure(snapshots: int, due: int, backends: str = "sqlite") -> dict[str, Any]:
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="wfaudit-bench-retention-"))
    try:
        results = {
            "snapshots": snapshots,
            "due": due,
            "backends": {
                name.strip(): bench_backend(name.strip(), snapshots, due, tmp)
                for name in backends.split(",")
            },
        }
        results["cores"] = os.cpu_count()
        results["load_average"] = round(os.getloadavg()[0], 1)
        return results
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def run(quick: bool) -> dict[str, Any]:
    """SQLite; quick mode with 20,000 snapshots instead of 1,000,000."""
    settings = QUICK if quick else FULL
    return measure(settings["snapshots"], settings["due"])


def _profile(samples: list[list[float]] | list[tuple[int, float, float]], points: int = 6) -> str:
    step = max(1, (len(samples) - 1) // (points - 1))
    chosen = list(samples[::step])
    if chosen[-1] != samples[-1]:
        chosen.append(samples[-1])
    return ", ".join(f"{int(done):,}: {mb:.0f} MB" for done, _, mb in chosen)


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"A store of {results['snapshots']:,} snapshots (bulk-loaded, 1,000 pipelines) swept "
        "with the default policy at a time when about "
        f"{results['due']:,} succeeded runs are due: `plan` judges every snapshot; `apply` "
        "archives each due one to a local-directory archive (one fsynced `.wfa` file each), "
        "then records the archives and deletes the rows, with their `snapshot.archived` and "
        "`snapshot.deleted` events, 100 snapshots per store transaction, and cleans orphans. "
        "Resident memory (VmRSS) is sampled every 10,000 snapshots in the same process. "
        f"Load average of the (shared, {results.get('cores', '?')}-core) machine at the end: "
        f"{results.get('load_average', '?')}.",
        "",
        "| backend | pass | time | snapshots/s | archived / deleted | RSS start | RSS max "
        "| growth after the first tenth |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for backend, r in results["backends"].items():
        for name in ("plan", "apply"):
            p = r[name]
            rate = results["snapshots"] / p["seconds"] if p["seconds"] else 0
            done = f"{p['archived']:,} / {p['deleted']:,}" if name == "apply" else "-"
            lines.append(
                f"| {backend} | {name} | {p['seconds']:.0f} s | {rate:,.0f} | {done} | "
                f"{p['rss_start_mb']:.0f} MB | {p['rss_max_mb']:.0f} MB | "
                f"{p['growth_after_first_tenth_mb']:.1f} MB |"
            )
    lines += ["", "Memory over time (snapshots done: RSS):", ""]
    for backend, r in results["backends"].items():
        for name in ("plan", "apply"):
            lines.append(f"- {backend} {name}: {_profile(r[name]['samples'])}")
    lines += [
        "",
        "Peak RSS of the whole process (loading included): "
        + ", ".join(f"{b} {r['peak_rss_mb']:.0f} MB" for b, r in results["backends"].items())
        + ". The sweep reads a page of 500 candidate rows at a time (keyset paging on the "
        "snapshot id), asks the store about references only for due snapshots, and keeps "
        "counters, never lists, so its memory does not grow with the store.",
    ]
    return "\n".join(lines)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for backend, r in results["backends"].items():
        growth = max(
            r["plan"]["growth_after_first_tenth_mb"], r["apply"]["growth_after_first_tenth_mb"]
        )
        out.append(
            {
                "target": f"sweep over {results['snapshots']:,} snapshots ({backend}): flat memory "
                "(RSS growth after the first tenth <= 20 MB)",
                "measured": f"{growth:.1f} MB",
                "met": growth <= 20 and results["snapshots"] >= 1_000_000,
            }
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--snapshots", type=int, default=None)
    parser.add_argument("--due", type=int, default=None)
    parser.add_argument("--backends", default="sqlite")
    parser.add_argument("--no-docs", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    results = measure(
        args.snapshots or settings["snapshots"], args.due or settings["due"], args.backends
    )
    print(json.dumps(results, indent=1, default=str)[:4000])
    section = markdown(results)
    print(section)
    if not args.no_docs:
        from docs_section import write_section

        write_section(
            NAME, TITLE, f"<!-- bench:{NAME}:start -->\n{section}\n<!-- bench:{NAME}:end -->"
        )


if __name__ == "__main__":
    main()
