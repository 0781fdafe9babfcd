"""Benchmark: a retention sweep over 1,000,000 snapshots, with its memory profile.

The store is bulk-loaded with SQL (bench/bench_store.py's :func:`bulk_load`:
1,000 pipelines, mostly succeeded runs, one a second from 2026-01-01). In a
suite run the 1,000,000-snapshot SQLite store bench_store loaded for its query
latencies is reused (its queries only read; :func:`bench_store.take_loaded`),
so the suite loads it once; alone, this benchmark loads its own. Then, in a
process of its own (so that what it holds is the sweep's, not what the suite's
other benchmarks left in the interpreter):

1. ``retention plan``: the policy judged for every snapshot (streamed newest
   first, a page of 500 rows at a time), nothing written;
2. ``retention apply``: the same sweep carried out, archiving each due snapshot to
   a local-directory archive (one fsynced file each) and deleting it, with the
   orphan cleanup at the end.

The sweep process's resident memory (VmRSS) is sampled every 10,000 snapshots of
each pass, and its peak (VmHWM, reset before each pass) read after it, so the
profile over time and the peak are in the results: a sweep that streams holds
one page at a time and its memory stays flat however many snapshots it covers.

    python bench/bench_retention.py [--quick] [--snapshots N] [--due N] [--backends sqlite,postgresql]
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
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import Any

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

NAME = "retention"
TITLE = "Retention sweep over 1,000,000 snapshots"

QUICK = {"snapshots": 20_000, "due": 500}
FULL = {"snapshots": 1_000_000, "due": 2_000}
"""Snapshots in the store, and about how many of them are due (archived and
deleted). The 1,000,000 is the issue's. The due ones are the oldest rows, so the
sweep reaches them at its end; 2,000 (20 store transactions of 100, 2,000
fsynced archive files) exercise the writing side at that scale and keep the
suite within its budget: measured alone on the 2-core machine (busy), a sweep
of 1,000,000 with 4,501 due took 36 s to plan and 116 s to apply, ~18 ms per
archived snapshot against ~36 us per judged one."""

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
    """The process's peak resident memory (VmHWM) since the last :func:`reset_peak`."""
    try:
        for line in pathlib.Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux 4.0+); False where that is not possible."""
    try:
        pathlib.Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class Profile:
    """RSS samples over one pass: (snapshots done, seconds, MB), and its peak."""

    def __init__(self) -> None:
        self.peak_reset = reset_peak()
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
            # VmHWM since the pass began (since the process began where it cannot be reset).
            "rss_peak_mb": round(max(peak_rss_mb(), *values), 1),
            "peak_since_pass_start": self.peak_reset,
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


@contextlib.contextmanager
def loaded_store(
    backend: str, snapshots: int, tmp: pathlib.Path
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The URL of a bulk-loaded store, and how it was loaded: bench_store's, when it
    left one of this size in this process (SQLite), else one loaded here."""
    from bench_store import bulk_load, take_loaded

    taken = take_loaded(snapshots) if backend == "sqlite" else None
    if taken is not None:
        path, load = taken
        print(f"[retention:{backend}] the {snapshots:,}-snapshot store of bench_store", flush=True)
        try:
            yield f"sqlite:///{path}", {**load, "by": "bench_store"}
        finally:
            shutil.rmtree(path.parent, ignore_errors=True)
        return
    with fresh_store(backend, tmp) as url:
        print(f"[retention:{backend}] bulk-loading {snapshots:,} snapshots...", flush=True)
        yield url, {**bulk_load(url, snapshots), "by": "bench_retention"}


def sweep(url: str, snapshots: int, due: int, archive_dir: pathlib.Path) -> dict[str, Any]:
    """Plan, then apply, over the store at ``url``, in this process (the child)."""
    from wfaudit.archive import FileArchive
    from wfaudit.retention import RetentionPolicy, Sweeper
    from wfaudit.testing.clock import Clock
    from wfaudit_sql import SqlStore

    result: dict[str, Any] = {}
    # Row g is updated at 2026-01-01 + g seconds: with succeeded kept 30 days,
    # the succeeded ones among the first `due` rows are due at this time.
    clock = Clock(_START + dt.timedelta(days=30, seconds=due))
    clock.install()
    try:
        store = SqlStore(url)
        sweeper = Sweeper(store, RetentionPolicy(), archive=FileArchive(archive_dir))
        result["rss_before_mb"] = round(rss_mb(), 1)  # interpreter, imports, store open
        startup_peak = peak_rss_mb()  # VmHWM of this program: before the passes reset it
        print("[retention] plan...", file=sys.stderr, flush=True)
        plan = Profile()
        counts: dict[str, int] = {}
        for done, item in enumerate(sweeper.plan(), start=1):
            counts[item.action.value] = counts.get(item.action.value, 0) + 1
            plan.tick(done)
        plan.sample(sum(counts.values()))
        result["plan"] = {**plan.summary(), "counts": counts}
        print("[retention] apply...", file=sys.stderr, flush=True)
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
    # Not getrusage's ru_maxrss: after fork and exec it counts the parent's memory too.
    result["peak_rss_mb"] = round(
        max(
            startup_peak,
            peak_rss_mb(),
            result["plan"]["rss_peak_mb"],
            result["apply"]["rss_peak_mb"],
        ),
        1,
    )
    return result


def sweep_in_child(
    url: str, snapshots: int, due: int, archive_dir: pathlib.Path, home: pathlib.Path
) -> dict[str, Any]:
    """:func:`sweep` in a fresh interpreter; its results (JSON on its last line)."""
    command = [
        sys.executable,
        str(pathlib.Path(__file__).resolve()),
        "--sweep",
        url,
        "--snapshots",
        str(snapshots),
        "--due",
        str(due),
        "--archive",
        str(archive_dir),
    ]
    env = {**os.environ, "WFAUDIT_HOME": str(home)}
    began = time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"the sweep process failed (exit {done.returncode})")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = round(time.perf_counter() - began, 1)
    return result


def bench_backend(backend: str, snapshots: int, due: int, tmp: pathlib.Path) -> dict[str, Any]:
    archive_dir = tmp / f"archive-{backend}"
    with loaded_store(backend, snapshots, tmp) as (url, load):
        try:
            result = {"load": load, **sweep_in_child(url, snapshots, due, archive_dir, tmp)}
        finally:
            shutil.rmtree(archive_dir, ignore_errors=True)
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
    loads = []
    for backend, r in results["backends"].items():
        load = r["load"]
        where = (
            "by bench_store in this run, which only queried it since"
            if load.get("by") == "bench_store"
            else "for this benchmark"
        )
        loads.append(f"{backend}: {load['load_seconds']:.0f} s, {where}")
    lines = [
        f"A store of {results['snapshots']:,} snapshots (1,000 pipelines; bulk-loaded with SQL, "
        + "; ".join(loads)
        + ") swept with the default policy at a time when about "
        f"{results['due']:,} succeeded runs (the oldest) are due: `plan` judges every snapshot; "
        "`apply` archives each due one to a local-directory archive (one fsynced `.wfa` file "
        "each), then records the archives and deletes the rows, with their `snapshot.archived` "
        "and `snapshot.deleted` events, 100 snapshots per store transaction, and cleans "
        "orphans. The sweep runs in a process of its own (a fresh interpreter, so its memory "
        "is the sweep's, not what other benchmarks left): resident memory (VmRSS) is sampled "
        "every 10,000 snapshots, and the peak (VmHWM, reset when each pass starts) read at "
        "its end. Load average of the (shared, "
        f"{results.get('cores', '?')}-core) machine at the end: "
        f"{results.get('load_average', '?')}.",
        "",
        "| backend | pass | time | snapshots/s | archived / deleted | RSS start | RSS peak "
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
                f"{p['rss_start_mb']:.0f} MB | {p['rss_peak_mb']:.0f} MB | "
                f"{p['growth_after_first_tenth_mb']:.1f} MB |"
            )
    lines += ["", "Memory over time (snapshots done: RSS):", ""]
    for backend, r in results["backends"].items():
        for name in ("plan", "apply"):
            lines.append(f"- {backend} {name}: {_profile(r[name]['samples'])}")
    lines += [
        "",
        "Peak RSS of the sweep process (whole life: interpreter, imports, both passes): "
        + ", ".join(
            f"{b} {r['peak_rss_mb']:.0f} MB ({r['rss_before_mb']:.0f} MB before the sweep began)"
            for b, r in results["backends"].items()
        )
        + ". The sweep reads a page of 500 candidate rows at a time (keyset paging on the "
        "snapshot id), asks the store about references only for due snapshots, and keeps "
        "counters, never lists, so its memory does not grow with the store.",
    ]
    return "\n".join(lines)


def _flat(r: dict[str, Any]) -> float:
    return float(
        max(r["plan"]["growth_after_first_tenth_mb"], r["apply"]["growth_after_first_tenth_mb"])
    )


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue #8: a sweep over 1,000,000 snapshots with a flat memory profile (its time
    and peak memory stated)."""
    out = []
    for backend, r in results["backends"].items():
        growth = _flat(r)
        out.append(
            {
                "target": f"sweep over {results['snapshots']:,} snapshots ({backend}): flat memory "
                "(RSS growth after the first tenth of each pass <= 20 MB)",
                "measured": f"{growth:.1f} MB growth; plan {r['plan']['seconds']:.0f} s, "
                f"apply {r['apply']['seconds']:.0f} s; peak RSS {r['peak_rss_mb']:.0f} MB",
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
    parser.add_argument("--sweep", metavar="URL", help=argparse.SUPPRESS)  # the child process
    parser.add_argument("--archive", help=argparse.SUPPRESS)
    args = parser.parse_args()
    settings = QUICK if args.quick else FULL
    if args.sweep:
        result = sweep(
            args.sweep,
            args.snapshots or settings["snapshots"],
            args.due or settings["due"],
            pathlib.Path(args.archive),
        )
        sys.stdout.write(json.dumps(result) + "\n")
        return
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
