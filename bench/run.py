"""Run the benchmark suite: every benchmark, one JSON result file, docs/benchmarks.md.

    python bench/run.py            # the full suite (under 15 minutes on the 2-core machine)
    python bench/run.py --quick    # every benchmark in its quick mode (under 2 minutes)
    python bench/run.py --only audit,storage [--quick]   # a part; the page is left alone
    python bench/run.py --quick-for retention            # that one in its quick mode
    python bench/run.py --docs-from bench/results/run-full.json   # the page only
    python bench/run.py --only audit --rerun-into bench/results/run-full.json --why "..."
    tox -e bench [-- --quick]

Every benchmark is a module of this folder listed in :data:`BENCHMARKS`, exposing:

``NAME``, ``TITLE``
    its key in the result file, and its section's title in docs/benchmarks.md;
``run(quick: bool) -> dict``
    the measurements (JSON data); ``quick`` asks for a run of a few seconds;
``markdown(results) -> str``
    its section of docs/benchmarks.md (tables, and what was measured how);
``targets(results) -> list[dict]`` (optional)
    the issue's targets it measures: ``{"target", "measured", "met"}`` each.

The results go to ``bench/results/run-full.json`` (or ``run-quick.json``;
``run-<mode>-partial.json`` with ``--only``), written again after each benchmark,
and docs/benchmarks.md is rewritten from them at the end (unless ``--no-docs`` or
``--only``; ``--docs-from`` rewrites it from a saved file). A benchmark that
fails is reported as failed (the others still run) and the command exits 1.
Figures are medians over repeated runs, with p99 for latencies; the machine is
shared and noisy, so every ratio is measured within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import importlib
import json
import os
import pathlib
import platform
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"
DOC = ROOT / "docs" / "benchmarks.md"
sys.path.insert(0, str(HERE))
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"

BENCHMARKS = (
    "bench_audit",  # audit_trigger end to end, stage by stage
    "bench_storage",  # bytes per snapshot against the baselines; retrieval
    "bench_store",  # throughput (1 and 8 processes) and 1,000,000-snapshot queries
    "bench_log",  # history / diff reads (issue #6), when present
    "bench_retention",  # the retention sweep (issue #8), when present
    "bench_cli",  # wfaudit --version and trigger as whole processes (issue #18)
    "bench_http",  # the ingest API of wfaudit serve over loopback (issue #18)
)
"""The suite, in running order: module names in bench/. A listed module that does
not exist (yet) is skipped and said so."""


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        for line in pathlib.Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory = f"{int(line.split()[1]) / 1024 / 1024:.1f} GB RAM"
                break
    except OSError:
        pass
    postgres = "PostgreSQL: not reachable"
    with contextlib.suppress(Exception):  # the PostgreSQL benchmarks say why, if it is down
        from sqlalchemy import create_engine, text

        engine = create_engine(os.environ.get("WFAUDIT_TEST_PG_URL", PG_URL))
        with engine.connect() as connection:
            postgres = "PostgreSQL " + str(connection.execute(text("SHOW server_version")).scalar())
        engine.dispose()
    import sqlite3

    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "postgresql": postgres,
    }


def run_suite(
    quick: bool,
    only: set[str] | None,
    quick_for: set[str],
    command: str,
    save: Callable[[dict[str, Any]], None],
) -> dict[str, Any]:
    suite: dict[str, Any] = {
        "mode": "quick" if quick else "full",
        "command": command,
        "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "benchmarks": {},
    }
    began = time.perf_counter()
    for module_name in BENCHMARKS:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            print(f"[bench] {module_name}: not present, skipped", flush=True)
            continue
        except Exception as error:  # a broken module must not lose the others
            traceback.print_exc()
            suite["benchmarks"][module_name] = {
                "title": module_name,
                "module": module_name,
                "error": f"cannot import: {type(error).__name__}: {error}",
                "seconds": 0.0,
            }
            continue
        missing = [a for a in ("NAME", "TITLE", "run", "markdown") if not hasattr(module, a)]
        name = getattr(module, "NAME", module_name)
        if only is not None and name not in only:
            continue
        entry: dict[str, Any] = {
            "title": getattr(module, "TITLE", name),
            "module": module_name,
            "started": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        }
        started = time.perf_counter()
        if missing:
            entry["error"] = f"{module_name} lacks {', '.join(missing)} (see bench/run.py)"
            print(f"[bench] {name}: {entry['error']}", flush=True)
        else:
            mode = "quick" if quick or name in quick_for else "full"
            entry["mode"] = mode
            print(f"[bench] {name}: running ({mode})...", flush=True)
            try:
                entry["results"] = module.run(mode == "quick")
                entry["markdown"] = module.markdown(entry["results"])
                entry["targets"] = (
                    module.targets(entry["results"]) if hasattr(module, "targets") else []
                )
            except Exception as error:  # one failing benchmark must not lose the others
                traceback.print_exc()
                entry["error"] = f"{type(error).__name__}: {error}"
        entry["seconds"] = round(time.perf_counter() - started, 1)
        print(f"[bench] {name}: {entry['seconds']} s", flush=True)
        suite["benchmarks"][name] = entry
        suite["seconds"] = round(time.perf_counter() - began, 1)
        save(suite)  # what is measured is kept, whatever happens to the rest
    suite["seconds"] = round(time.perf_counter() - began, 1)
    return suite


def _headline(suite: dict[str, Any]) -> list[str]:
    """The figures a reader needs first (targets marked ``headline``), from this run."""
    found = [
        (target["headline"], target["met"])
        for bench in suite["benchmarks"].values()
        if "results" in bench
        for target in bench["targets"]
        if target.get("headline")
    ]
    if not found:
        return []
    lines = ["## Headline", ""]
    lines += [f"- {text}: **{'met' if met else 'not met'}**" for text, met in found]
    return [*lines, ""]


def document(suite: dict[str, Any]) -> str:
    m = suite["machine"]
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by `python bench/run.py`; edit bench/run.py or the benchmark "
        "modules, not this file. -->",
        "",
        "wfaudit sits on the trigger path of every workflow and its store grows with every "
        "run, so its costs are measured here, side by side with how the systems it replaces "
        "do the same job (bench/baselines.py). Benchmarks are not part of the test run.",
        "",
        "Every figure is a median over repeated runs, with p99 for latencies. The machine is "
        "shared with other work and noisy: absolute times move from run to run, so every "
        "comparison is a ratio measured within the same run.",
        "",
        *_headline(suite),
        "## How to run",
        "",
        "<!-- not-run: the benchmarks take 2 to 15 minutes; they are not part of the test run -->",
        "```sh",
        "python bench/run.py            # the full suite (budget: 15 minutes on this machine)",
        "python bench/run.py --quick    # every benchmark in its quick mode (budget: 2 minutes)",
        "python bench/run.py --only audit,storage   # a part only; leaves this page alone",
        "python bench/run.py --quick-for retention  # that benchmark in its quick mode",
        "python bench/run.py --docs-from bench/results/run-full.json   # this page only",
        "tox -e bench                   # the full suite (tox -e bench -- --quick)",
        "```",
        "",
        "Each run writes `bench/results/run-full.json` (or `run-quick.json`) with every "
        "figure, and rewrites this page. PostgreSQL: `WFAUDIT_TEST_PG_URL` (default "
        "`postgresql+psycopg://postgres@127.0.0.1:5432/test`). The benchmarks are listed in "
        "`BENCHMARKS` in bench/run.py; each module has a quick and a full mode "
        "(`run(quick)`), its section of this page (`markdown`) and the targets it measures "
        "(`targets`).",
        "",
        "## This run",
        "",
        f"- command: `{suite['command']}` ({suite['mode']} mode), started {suite['started']}, "
        f"took {suite['seconds'] / 60:.1f} minutes ("
        + ", ".join(
            f"{name} {bench['seconds']:.0f} s" for name, bench in suite["benchmarks"].items()
        )
        + ")",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory']}; {m['system']}",
        f"- Python {m['python']}, SQLite {m['sqlite']}, {m['postgresql']}",
        "",
    ]
    present = [b for b in suite["benchmarks"].values() if "results" in b]
    failed = {name: b for name, b in suite["benchmarks"].items() if "error" in b}
    lines += ["## Targets", "", "| target | measured | met |", "|---|---:|:---:|"]
    for bench in present:
        for target in bench["targets"]:
            mark = "**met**" if target["met"] else "**not met**"
            lines.append(f"| {target['target']} | {target['measured']} | {mark} |")
    lines.append("")
    if suite["mode"] == "quick":
        lines += [
            "This page was written by a quick run: smaller workloads than the targets name "
            "(the 1,000,000-snapshot targets in particular are only met by a full run).",
            "",
        ]
    for name, bench in failed.items():
        lines += [f"Benchmark `{name}` failed in this run: {bench['error']}", ""]
    for bench in present:
        lines += [f"## {bench['title']}", "", bench["markdown"].strip(), ""]
        mode = bench.get("mode", suite["mode"])
        note = "" if mode == suite["mode"] else f", {mode} mode in this {suite['mode']} run"
        if bench.get("rerun"):
            note += f"; measured again on its own at {bench['started']}: {bench['rerun']}"
        lines += [f"*(`{bench['module']}`, {bench['seconds']} s{note})*", ""]
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="every benchmark's quick mode")
    parser.add_argument("--only", help="comma-separated benchmark names (NAME of each module)")
    parser.add_argument("--no-docs", action="store_true", help="leave docs/benchmarks.md alone")
    parser.add_argument(
        "--quick-for",
        default="",
        help="comma-separated benchmarks to run in their quick mode within a full run",
    )
    parser.add_argument(
        "--docs-from", metavar="JSON", help="only rewrite the page from a saved result file"
    )
    parser.add_argument(
        "--rerun-into",
        metavar="JSON",
        help="run the --only benchmarks again and put them into a saved result file "
        "(its mode), then rewrite the page from it",
    )
    parser.add_argument("--why", default="", help="with --rerun-into: why, for the page")
    args = parser.parse_args()
    if args.docs_from:
        DOC.write_text(document(json.loads(pathlib.Path(args.docs_from).read_text())))
        print(f"[bench] rewrote {DOC.relative_to(ROOT)} from {args.docs_from}")
        return 0
    only = None if args.only is None else {name.strip() for name in args.only.split(",")}
    quick_for = {name.strip() for name in args.quick_for.split(",") if name.strip()}
    if args.rerun_into:
        if only is None or not args.why:
            parser.error("--rerun-into needs --only and --why")
        target = pathlib.Path(args.rerun_into)
        saved = json.loads(target.read_text())
        again = run_suite(saved["mode"] == "quick", only, quick_for, "", lambda _suite: None)
        for name, entry in again["benchmarks"].items():
            entry["rerun"] = args.why
            saved["benchmarks"][name] = entry
        target.write_text(json.dumps(saved, indent=2) + "\n", encoding="utf-8")
        DOC.write_text(document(saved), encoding="utf-8")
        print(f"[bench] {', '.join(sorted(only))} measured again into {target}; page rewritten")
        return 1 if any("error" in b for b in again["benchmarks"].values()) else 0
    mode = "quick" if args.quick else "full"
    out = RESULTS / f"run-{mode}{'' if only is None else '-partial'}.json"
    RESULTS.mkdir(parents=True, exist_ok=True)

    def save(suite: dict[str, Any]) -> None:
        out.write_text(json.dumps(suite, indent=2) + "\n", encoding="utf-8")

    suite = run_suite(
        args.quick, only, quick_for, " ".join(["python bench/run.py", *sys.argv[1:]]), save
    )
    save(suite)
    print(f"[bench] results: {out.relative_to(ROOT)}")
    if not args.no_docs and only is None:
        DOC.write_text(document(suite), encoding="utf-8")
        print(f"[bench] rewrote {DOC.relative_to(ROOT)}")
    for bench in suite["benchmarks"].values():
        for target in bench.get("targets", []):
            print(
                f"[bench] {'met    ' if target['met'] else 'NOT met'} {target['target']}: "
                f"{target['measured']}"
            )
    return 1 if any("error" in b for b in suite["benchmarks"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
