"""An orchestrator process for the fault-injection test (tests/test_fault_injection.py).

Run as ``python fault_worker.py JOBS LOG GATE STORE_URL``. It audits the jobs of
the JSON file ``JOBS`` one after the other through the public API
(``Auditor.from_url``, the default non-blocking mode, with the durable spool of
``$WFAUDIT_HOME``), as an orchestrator would at trigger time, and appends one
line per audit that returned to ``LOG`` (JSON, flushed and fsynced before the
next audit starts): what the API told it (``ok``, ``spooled``, the error type and
message). The test may SIGKILL it at any moment; restarted, it resumes at the
first job without a line in ``LOG``, so the audit that was in flight is sent
again, as an orchestrator retrying a trigger would.

``GATE`` holds an integer: the worker audits job ``n`` (its position in
``JOBS``) only when ``n < gate``, and waits (polling the file) otherwise; the
test opens the gate round by round, so which jobs run while the store is up or
down is fixed by the schedule, not by timing.

A job is ``{"job": name, "fields": {...audit_trigger keyword arguments...}}``;
``"build"`` replaces the config by one that JSON cannot carry through the file
or that would be too big for it: ``oversize`` (17 MiB of canonical JSON),
``deep:N`` (lists nested N levels) or ``hugeint`` (an integer of 5,000 digits).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import wfaudit_hookspecs
from wfaudit import Auditor
from wfaudit_hookspecs import InvalidRequest


def build_config(build: str) -> Any:
    if build == "oversize":
        # 17 strings of 1 MiB: 17 MiB of canonical JSON, over the 16 MiB default.
        return {"chunks": ["x" * (1 << 20)] * 17}
    if build.startswith("deep:"):
        config: Any = "bottom"
        for _ in range(int(build.split(":", 1)[1])):
            config = [config]
        return {"nested": config}
    if build == "hugeint":
        return {"replicas": 10**5000}
    raise SystemExit(f"unknown build {build!r}")


def is_invalid_request(error_type: str | None) -> bool:
    """Whether the error the API reported is an :class:`InvalidRequest` (or a subclass)."""
    found = getattr(wfaudit_hookspecs, error_type or "", None)
    if found is None:
        found = getattr(wfaudit_hookspecs.errors, error_type or "", None)
    return isinstance(found, type) and issubclass(found, InvalidRequest)


def done_jobs(log: Path) -> set[str]:
    """The jobs ``log`` has a whole line for; a line torn by a kill is cut off."""
    try:
        raw = log.read_bytes()
    except FileNotFoundError:
        return set()
    whole = raw[: raw.rfind(b"\n") + 1]
    if len(whole) != len(raw):
        with log.open("r+b") as handle:
            handle.truncate(len(whole))
            handle.flush()
            os.fsync(handle.fileno())
    return {json.loads(line)["job"] for line in whole.decode("utf-8").splitlines()}


def wait_for_gate(gate: Path, position: int) -> None:
    # The test kills a worker that hangs; this loop needs no deadline of its own.
    while True:
        try:
            if position < int(gate.read_text(encoding="ascii") or "0"):
                return
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.02)


def main(jobs_file: str, log_file: str, gate_file: str, store_url: str) -> int:
    jobs: list[dict[str, Any]] = json.loads(Path(jobs_file).read_text(encoding="utf-8"))
    log, gate = Path(log_file), Path(gate_file)
    done = done_jobs(log)
    auditor = Auditor.from_url(store_url)
    try:
        with log.open("a", encoding="utf-8") as out:
            for position, job in enumerate(jobs):
                if job["job"] in done:
                    continue
                wait_for_gate(gate, position)
                fields = dict(job["fields"])
                if "build" in job:
                    fields["config"] = build_config(job["build"])
                result = auditor.audit_trigger(**fields)
                line = {
                    "job": job["job"],
                    "ok": result.ok,
                    "spooled": result.spooled,
                    "created": result.created,
                    "error_type": result.error_type,
                    "error": result.error,
                    "invalid": is_invalid_request(result.error_type),
                    "pid": os.getpid(),
                }
                out.write(json.dumps(line, sort_keys=True) + "\n")
                out.flush()
                os.fsync(out.fileno())
    finally:
        auditor.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:5]))
