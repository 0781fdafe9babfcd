"""Benchmark: the HTTP ingest API of ``wfaudit serve`` over loopback (issue #18).

The requests are bench_audit's: a ~50 KB Devtron-shaped CI request (the demo's,
with its fake secrets, around two real workflow files), a new run (workflow
id, commit SHA, image tag) each time, so every audit writes a new snapshot.

1. **HTTP overhead.** ``POST /api/v1/triggers`` of ``wfaudit serve --workers 2``
   against the in-process ``Auditor.audit_trigger`` of the same request, both on a
   fresh SQLite store of their own, interleaved one by one in the same run (one
   request at a time: latency, not load). The client is ``http.client`` on a
   kept-alive connection, as an orchestrator's client keeps one; the body is
   serialised before the clock starts (the in-process call is handed the dict).
   Median and p99 of each, the overhead in ms (difference of the medians) and as
   a ratio.
2. **Sustained audits per second** with ``--workers 2``: single triggers and
   batches of 50 (``POST /api/v1/triggers/batch``), from 1, 8 and 64 concurrent
   clients. The load comes from a separate process (threads, each with its own
   kept-alive connection), so the server's processes are not slowed by the
   client's interpreter; each configuration sends a fixed number of audits and
   is timed from the first request to the last answer. Every answer must be
   ``2xx``. On SQLite and, when reachable, PostgreSQL.

The machine is a 2-core one shared with other work: the two workers, the load
generator and the database all take their CPU from those 2 cores.

    python bench/bench_http.py [--quick] [--no-write]
    python bench/bench_http.py --section-from bench/results/http.json   # the page only
    python bench/run.py --only http [--quick]

Writes bench/results/http.json and the "http" section of docs/benchmarks.md
(when run alone without ``--no-write``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import http.client
import json
import os
import pathlib
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from typing import Any

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

NAME = "http"
TITLE = "HTTP ingest (wfaudit serve)"
RESULTS = HERE / "results" / "http.json"
TOKEN = "bench-ingest-token-" + "0123456789abcdef"
WORKERS = 2
BATCH = 50
CLIENTS = (1, 8, 64)
OVERHEAD_TARGET_MS = 1.0
BATCH_TARGET = 1000.0
PLACEHOLDER = "__WFAUDIT_BENCH_RUN__"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(samples: list[float]) -> dict[str, float]:
    return {
        "median_ms": round(statistics.median(samples) * 1000, 3),
        "p99_ms": round(percentile(samples, 99) * 1000, 3),
        "runs": len(samples),
    }


# -- the requests -----------------------------------------------------------------------------


def template() -> str:
    """One trigger's JSON body with :data:`PLACEHOLDER` where the run's number goes
    (its workflow id, commit SHA, image tag, run name): a new run is a string
    replacement, cheap enough not to load the client."""
    from bench_audit import build_request_config

    config = build_request_config()
    details = [dict(config["ciProjectDetails"][0])]
    details[0]["commitHash"] = PLACEHOLDER
    config["ciProjectDetails"] = details
    config["workflowNamePrefix"] = f"{PLACEHOLDER}-ci-7-payments-api"
    config["dockerImageTag"] = PLACEHOLDER
    body = {
        "workflow_id": PLACEHOLDER,
        "workflow_type": "CI",
        "pipeline_id": "7",
        "triggered_by": "bench",
        "config": config,
    }
    return json.dumps(body, separators=(",", ":"))


def body_for(text: str, run: int) -> bytes:
    return text.replace(PLACEHOLDER, f"{run:040x}").encode()


# -- the server ---------------------------------------------------------------------------------


def _wfaudit() -> list[str]:
    script = pathlib.Path(sys.executable).with_name("wfaudit")
    return [str(script)] if script.exists() else [sys.executable, "-m", "wfaudit"]


def environment(home: pathlib.Path, store_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WFAUDIT_")}
    env.update(
        WFAUDIT_HOME=str(home),
        WFAUDIT_STORE_URL=store_url,
        WFAUDIT_INGEST_TOKEN=TOKEN,
        # The same plugins as the in-process auditor of this process.
        **{k: v for k, v in os.environ.items() if k == "WFAUDIT_LOAD_PLUGINS"},
    )
    return env


@contextlib.contextmanager
def served(home: pathlib.Path, store_url: str) -> Iterator[tuple[str, int]]:
    """``wfaudit serve --workers 2`` on a free loopback port: (host, port)."""
    env = environment(home, store_url)
    subprocess.run([*_wfaudit(), "db", "upgrade"], env=env, check=True, capture_output=True)
    process = subprocess.Popen(
        [*_wfaudit(), "serve", "--port", "0", "--workers", str(WORKERS)],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        address = line.split("http://", 1)[1].split("/", 1)[0]
        host, port = address.rsplit(":", 1)
        deadline = time.monotonic() + 120
        ready = 0
        while ready < 20:  # both workers up: 20 answers in a row
            try:
                connection = http.client.HTTPConnection(host, int(port), timeout=5)
                connection.request("GET", "/readyz")
                ready = ready + 1 if connection.getresponse().status == 200 else 0
                connection.close()
            except OSError:
                ready = 0
                time.sleep(0.1)
            if time.monotonic() > deadline:
                raise RuntimeError("wfaudit serve did not start")
        time.sleep(1.0)  # the second worker's start-up drain, and its imports
        yield host, int(port)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def post(connection: http.client.HTTPConnection, path: str, body: bytes) -> tuple[int, bytes]:
    connection.request(
        "POST",
        path,
        body=body,
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
    )
    answer = connection.getresponse()
    return answer.status, answer.read()


# -- 1. the HTTP overhead -----------------------------------------------------------------------


def overhead(runs: int, work: pathlib.Path) -> dict[str, Any]:
    from wfaudit import Auditor, TriggerRequest

    text = template()
    bodies = [body_for(text, run) for run in range(runs + 40)]
    home = work / "home-latency"
    with served(home, f"sqlite:///{work / 'http-latency.sqlite3'}") as (host, port):
        connection = http.client.HTTPConnection(host, port, timeout=60)
        saved = os.environ.get("WFAUDIT_HOME")
        os.environ["WFAUDIT_HOME"] = str(work / "home-inprocess")
        try:
            auditor = Auditor.from_url(f"sqlite:///{work / 'in-process.sqlite3'}", strict=True)
        finally:
            if saved is None:
                os.environ.pop("WFAUDIT_HOME", None)
            else:
                os.environ["WFAUDIT_HOME"] = saved
        in_process: list[float] = []
        over_http: list[float] = []
        floor: list[float] = []
        with auditor:
            for run in range(runs + 40):
                # Parsed here, one at a time: hundreds of parsed 50 KB requests kept
                # alive would make the garbage collector of this process (and only
                # of this one) slower than the server's.
                request = TriggerRequest(**json.loads(bodies[run]))
                start = time.perf_counter()
                auditor.audit_trigger(request)
                elapsed = time.perf_counter() - start
                start = time.perf_counter()
                status, answer = post(connection, "/api/v1/triggers", bodies[run])
                remote = time.perf_counter() - start
                if status != 201:
                    raise RuntimeError(f"POST /api/v1/triggers answered {status}: {answer[:200]!r}")
                start = time.perf_counter()
                connection.request("GET", "/healthz")
                connection.getresponse().read()
                empty = time.perf_counter() - start
                if run >= 40:  # 40 warm-up runs (imports, caches, both workers)
                    in_process.append(elapsed)
                    over_http.append(remote)
                    floor.append(empty)
        connection.close()
    inside, outside = summary(in_process), summary(over_http)
    # Each request against the in-process audit just before it: the median of the
    # differences follows the machine's load from moment to moment, as the
    # difference of the two medians does not.
    paired = [remote - local for remote, local in zip(over_http, in_process, strict=True)]
    return {
        "request_bytes": len(bodies[0]),
        "in_process": inside,
        "http": outside,
        "overhead_ms": round(statistics.median(paired) * 1000, 3),
        "overhead_of_medians_ms": round(outside["median_ms"] - inside["median_ms"], 3),
        "ratio": round(outside["median_ms"] / inside["median_ms"], 2),
        "healthz": summary(floor),
    }


# -- 2. sustained audits per second ------------------------------------------------------------


def load(host: str, port: int, clients: int, batch: int, audits: int, first: int) -> dict[str, Any]:
    """Run in the load process: ``clients`` threads send ``audits`` audits in all,
    singly (``batch`` 1) or ``batch`` per request; runs numbered from ``first``."""
    text = template()
    requests = audits // batch
    path = "/api/v1/triggers" if batch == 1 else "/api/v1/triggers/batch"
    bodies: list[bytes] = []
    for number in range(requests):
        runs = range(first + number * batch, first + (number + 1) * batch)
        if batch == 1:
            bodies.append(body_for(text, runs[0]))
        else:
            bodies.append(b"[" + b",".join(body_for(text, run) for run in runs) + b"]")
    statuses: dict[str, int] = {}
    busy = [0]
    lock = threading.Lock()
    queue = iter(range(requests))
    go = threading.Barrier(clients + 1)
    failures: list[str] = []

    def client() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=600)
        go.wait()
        while True:
            with lock:
                number = next(queue, None)
            if number is None:
                break
            status, answer = post(connection, path, bodies[number])
            while status == 503:  # busy: as a client should, retry after Retry-After
                with lock:
                    busy[0] += 1
                time.sleep(1.0)
                status, answer = post(connection, path, bodies[number])
            seen = [status]
            if batch > 1 and status == 200:
                seen = [item["status"] for item in json.loads(answer)["results"]]
            with lock:
                for each in seen:
                    statuses[str(each)] = statuses.get(str(each), 0) + 1
                if any(not 200 <= each < 300 for each in seen):
                    failures.append(f"{status}: {answer[:200]!r}")
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    go.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - start
    return {
        "clients": clients,
        "batch": batch,
        "audits": requests * batch,
        "seconds": round(seconds, 3),
        "audits_per_second": round(requests * batch / seconds, 1),
        "statuses": statuses,
        "busy_retries": busy[0],
        "failures": failures[:3],
    }


def throughput(backend: str, quick: bool, work: pathlib.Path) -> list[dict[str, Any]]:
    from bench_store import fresh_store

    found = []
    with fresh_store(backend, work) as url, served(work / f"home-{backend}", url) as (host, port):
        first = 0
        for batch in (1, BATCH):
            for clients in CLIENTS if not quick else CLIENTS[:2]:
                if batch == 1:
                    audits = max(clients * 4, 60 if quick else 600)
                else:
                    audits = max(clients, 2 if quick else 8) * BATCH
                command = [
                    sys.executable,
                    str(pathlib.Path(__file__).resolve()),
                    "--load",
                    json.dumps([host, port, clients, batch, audits, first]),
                ]
                done = subprocess.run(command, capture_output=True, text=True, check=False)
                if done.returncode != 0:
                    raise RuntimeError(f"the load process failed: {done.stderr[-2000:]}")
                result = json.loads(done.stdout)
                if result["failures"]:
                    raise RuntimeError(f"answers that are not 2xx: {result['failures']}")
                result["store"] = backend
                found.append(result)
                first += audits
                print(
                    f"[bench http] {backend}: {clients} clients, batch {batch}: "
                    f"{result['audits_per_second']} audits/s",
                    flush=True,
                )
    return found


def postgres_reachable() -> bool:
    try:
        from bench_store import PG_URL
        from sqlalchemy import create_engine, text

        engine = create_engine(PG_URL, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
    except Exception:
        return False
    return True


def run(quick: bool) -> dict[str, Any]:
    load_before = os.getloadavg()
    work = pathlib.Path(tempfile.mkdtemp(prefix="wfaudit-bench-http-"))
    try:
        latency = overhead(60 if quick else 400, work)
        print(
            f"[bench http] overhead: {latency['overhead_ms']} ms (x{latency['ratio']})", flush=True
        )
        backends = ["sqlite"] if quick or not postgres_reachable() else ["sqlite", "postgresql"]
        sustained = [item for backend in backends for item in throughput(backend, quick, work)]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "when": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
        "python": platform.python_version(),
        "quick": quick,
        # The machine's load average (1 min) when the run began and ended: how much
        # of its 2 cores other work was taking.
        "load_average": [round(load_before[0], 1), round(os.getloadavg()[0], 1)],
        "workers": WORKERS,
        "latency": latency,
        "throughput": sustained,
    }


# -- the page -----------------------------------------------------------------------------------


def _best_batch(results: dict[str, Any]) -> dict[str, Any]:
    batches = [item for item in results["throughput"] if item["batch"] > 1]
    return max(batches, key=lambda item: item["audits_per_second"])


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    latency = results["latency"]
    best = _best_batch(results)
    return [
        {
            "target": (
                "HTTP overhead of `POST /api/v1/triggers` (50 KB, loopback) over the "
                f"in-process audit: ≤ {OVERHEAD_TARGET_MS:g} ms median"
            ),
            "measured": f"{latency['overhead_ms']:.2f} ms ({latency['ratio']:.2f}x)",
            "met": latency["overhead_ms"] <= OVERHEAD_TARGET_MS,
        },
        {
            "target": (
                f"sustained audits/s in batches of {BATCH} with `--workers {WORKERS}`: "
                f"≥ {BATCH_TARGET:,.0f}"
            ),
            "measured": (
                f"{best['audits_per_second']:,.0f}/s (best: {best['store']}, "
                f"{best['clients']} clients)"
            ),
            "met": best["audits_per_second"] >= BATCH_TARGET,
        },
    ]


def _published_audit_ms() -> float | None:
    """The in-process audit's median in the saved full run of the suite (the
    `audit_trigger end to end` section), to compare this run's machine with."""
    try:
        saved = json.loads((HERE / "results" / "run-full.json").read_text(encoding="utf-8"))
        return float(saved["benchmarks"]["audit"]["results"]["audit_new_blob"]["median_ms"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def markdown(results: dict[str, Any]) -> str:
    latency = results["latency"]
    published = _published_audit_ms()
    slower = (
        []
        if published is None
        else [
            f"The in-process audit took {latency['in_process']['median_ms']:.1f} ms (median) "
            f"in this run, against {published:.2f} ms in the suite's saved run of "
            "`audit_trigger end to end` (the same request and code path): the machine was "
            f"about {latency['in_process']['median_ms'] / published:.1f}x slower while this "
            "ran, and every figure here is slowed alike.",
            "",
        ]
    )
    inside, outside = latency["in_process"], latency["http"]
    rows = []
    for item in results["throughput"]:
        kind = "single" if item["batch"] == 1 else f"batches of {item['batch']}"
        rows.append(
            f"| {item['store']} | {kind} | {item['clients']} | {item['audits']:,} "
            f"| {item['seconds']:.1f} s | {item['audits_per_second']:,.0f} "
            f"| {item.get('busy_retries', 0)} |"
        )
    overhead_target, batch_target = targets(results)
    lines = [
        f"<!-- bench:{NAME}:start -->",
        f"Measured on {results['machine']}, Python {results['python']}, at {results['when']} "
        f"(`python bench/bench_http.py{' --quick' if results['quick'] else ''}`). The machine "
        "has 2 cores and is shared with other engineers' work while this ran (load average "
        f"{results['load_average'][0]:g} when the run began, {results['load_average'][1]:g} "
        "when it ended, against 2 cores): the server's "
        f"{results['workers']} workers, the load generator and the database all run on those "
        "2 cores, so the figures are a floor for a host of its own, not a ceiling.",
        "",
        f"Requests: bench_audit's {latency['request_bytes']:,}-byte Devtron-shaped CI request "
        "(JSON body), a new run (workflow id, commit SHA, image tag) each time, so every audit "
        "stores a new snapshot (SQLite: WAL, synchronous=FULL, a durable commit per audit "
        "or per batch item). Server: `wfaudit serve --workers 2` over loopback (uvicorn with "
        "its pure-Python HTTP parser, h11).",
        "",
        "**HTTP overhead**: the same requests, one at a time, interleaved with the in-process "
        "`Auditor.audit_trigger` (on a store of its own of the same kind); the client keeps "
        "its connection alive (`http.client`) and serialises the body before the clock "
        "starts.",
        "",
        "| | median | p99 |",
        "|---|---:|---:|",
        f"| in-process `audit_trigger` | {inside['median_ms']:.2f} ms | {inside['p99_ms']:.2f} ms |",
        f"| `POST /api/v1/triggers` | {outside['median_ms']:.2f} ms | {outside['p99_ms']:.2f} ms |",
        f"| overhead: median of the differences, request by request (ratio of the medians) "
        f"| {latency['overhead_ms']:.2f} ms ({latency['ratio']:.2f}x) | |",
        f"| `GET /healthz` (the floor: an HTTP round trip with nothing in it) "
        f"| {latency['healthz']['median_ms']:.2f} ms | {latency['healthz']['p99_ms']:.2f} ms |",
        "",
        f"{inside['runs']} requests each after 40 warm-up ones. The overhead is the body's "
        "trip through the loopback, HTTP parsing, JSON parsing of the body (the in-process "
        "call gets the dict), the token check, a thread hop from the event loop to the "
        "audit and back, and the JSON answer. Parsing the 50 KB body alone (`json.loads`) "
        "takes about 0.45 ms on this machine when it is idle. An HTTP request also waits "
        "for the scheduler four times (the server's event loop, the audit's thread, the "
        "event loop again, the client), which on a machine loaded well beyond its 2 cores "
        "costs milliseconds: the `GET /healthz` row is that cost with nothing else in it.",
        "",
        *slower,
        "**Sustained audits per second** (load from a separate process: one thread and one "
        "kept-alive connection per client; a fixed number of audits per row, timed from "
        "the first request to the last answer; every answer `2xx` in the end: a `503` "
        "(busy: no audit slot free within `request_timeout`, 30 s) is sent again after its "
        "`Retry-After`, as a client should, and counted):",
        "",
        "| store | requests | clients | audits | time | audits/s | 503 retried |",
        "|---|---|---:|---:|---:|---:|---:|",
        *rows,
        "",
        "An audit is CPU work in Python (masking a 50 KB tree, canonical JSON, SHA-256, "
        "zstd with a delta against the pipeline's previous snapshot) plus a durable commit: "
        "about what `audit_trigger end to end` measures in-process, per audit. Two workers "
        "on two shared cores give at most about twice one core's rate whatever the number "
        "of clients; batches save the HTTP round trip and the per-request work, not the "
        "audits'. 1,000 audits/s on 2 cores needs an audit of 2 ms of CPU at most, and "
        "the audit alone takes more (see `audit_trigger end to end`): the batch target "
        "waits on the audit's own cost, not on HTTP. Until then, more audits per second "
        "come from more cores (workers) and more hosts "
        "([ingest](ingest.md#several-workers-several-hosts)).",
        "",
        f"Targets (issue #18): {overhead_target['target']}: "
        f"**{'met' if overhead_target['met'] else 'not met'}** ({overhead_target['measured']}); "
        f"{batch_target['target']}: **{'met' if batch_target['met'] else 'not met'}** "
        f"({batch_target['measured']}).",
        f"<!-- bench:{NAME}:end -->",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a run of well under a minute")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("--load", help=argparse.SUPPRESS)  # the load process
    parser.add_argument(
        "--section-from", metavar="JSON", help="only rewrite the page's section from saved results"
    )
    args = parser.parse_args(argv)
    if args.section_from:
        from docs_section import write_section

        saved = json.loads(pathlib.Path(args.section_from).read_text(encoding="utf-8"))
        write_section(NAME, TITLE, markdown(saved))
        return 0
    if args.load:
        host, port, clients, batch, audits, first = json.loads(args.load)
        sys.stdout.write(json.dumps(load(host, port, clients, batch, audits, first)))
        return 0
    results = run(args.quick)
    section = markdown(results)
    sys.stdout.write(json.dumps(results, indent=2) + "\n\n" + section + "\n")
    if not args.no_write:
        from docs_section import write_section

        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        write_section(NAME, TITLE, section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
