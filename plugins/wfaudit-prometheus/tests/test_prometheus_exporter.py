"""``wfaudit metrics serve``: the standalone exporter adds up the counters of other
processes (multiprocess mode) and reads the store at each scrape."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import urllib.parse
from collections.abc import Callable

import pytest

from wfaudit_prometheus.exporter import MULTIPROC_VARIABLE as MULTIPROC

from .conftest import parse, value, wait_for_line

AUDITS = """
import sys
from wfaudit import Auditor
with Auditor.from_url(sys.argv[1], strict=True) as auditor:
    for n in range(3):
        auditor.audit_trigger(
            workflow_id=f"w{n}", workflow_type="CI", pipeline_id="p",
            config={"image": f"app:{n}", "password": "s3cr3t-value-here"},
        )
    auditor.record_outcome("w0", "CI", "succeeded")
"""


@pytest.mark.wfaudit_backends("sqlite")
def test_standalone_exporter_serves_the_counters_of_the_auditing_processes(
    store_url: str, tmp_path: pathlib.Path, scrape_text: Callable[[str], str]
) -> None:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(directory),
        "WFAUDIT_LOAD_PLUGINS": "sql,maskers,prometheus",
    }
    for _ in range(2):  # two orchestrator processes, one after the other
        subprocess.run([sys.executable, "-c", AUDITS, store_url], env=env, check=True, timeout=120)
    assert list(directory.iterdir())  # the processes wrote their values there

    command = [sys.executable, "-m", "wfaudit", "--store", store_url]
    server = subprocess.Popen(
        [*command, "metrics", "serve", "--port", "0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stderr is not None
        line = wait_for_line(server.stderr, "serving metrics on http://127.0.0.1:")
        url = line.split(" on ", 1)[1].strip()
        assert urllib.parse.urlsplit(url).port not in (None, 0)  # the port it took
        samples = parse(scrape_text(url))
    finally:
        server.kill()
        server.wait(timeout=30)

    # Second process: the same three triggers again, stored already.
    assert value(samples, "wfaudit_snapshots_total", workflow_type="CI", outcome="created") == 3
    assert value(samples, "wfaudit_snapshots_total", workflow_type="CI", outcome="repeated") == 3
    assert value(samples, "wfaudit_stage_duration_seconds_count", stage="persist") == 6
    assert value(samples, "wfaudit_outcomes_total", workflow_type="CI", status="succeeded") == 2
    assert value(samples, "wfaudit_store_snapshots", status="triggered") == 2
    assert value(samples, "wfaudit_store_snapshots", status="succeeded") == 1
    assert value(samples, "wfaudit_spool_depth") == 0


def test_waiting_for_the_serving_line_skips_warnings_and_never_hangs() -> None:
    """What the exporter test reads its address with: warnings before the line
    are skipped, and a process that never prints it fails the test in time."""
    read, write = os.pipe()
    with open(read, encoding="utf-8") as reader, open(write, "w", encoding="utf-8") as writer:
        writer.write("DeprecationWarning: something\nserving metrics on http://x:1/metrics\n")
        writer.flush()
        assert (
            wait_for_line(reader, "serving metrics on") == "serving metrics on http://x:1/metrics\n"
        )
    read, write = os.pipe()
    with open(read, encoding="utf-8") as silent, open(write, "w", encoding="utf-8") as writer:
        writer.write("a warning, and then nothing\n")
        writer.flush()  # the writer stays open: a bare readline() would block for ever
        with pytest.raises(pytest.fail.Exception, match=r"within 0.2 s; got \[.a warning"):
            wait_for_line(silent, "serving metrics on", timeout=0.2)
        writer.close()
    read, write = os.pipe()
    os.close(write)
    with open(read, encoding="utf-8") as ended, pytest.raises(pytest.fail.Exception, match="ended"):
        wait_for_line(ended, "serving metrics on", timeout=30)


def _wfaudit(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wfaudit", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.wfaudit_backends("sqlite")
def test_serve_refuses_a_port_out_of_range_or_a_missing_multiproc_directory(
    store_url: str, tmp_path: pathlib.Path
) -> None:
    env = {**os.environ, "WFAUDIT_LOAD_PLUGINS": "sql,maskers,prometheus"}
    env.pop(MULTIPROC, None)
    for port in ("99999", "-1"):
        result = _wfaudit("--store", store_url, "metrics", "serve", "--port", port, env=env)
        assert result.returncode == 2, result.stderr
        assert f"Invalid value for '--port': {port} is not in the range 0<=x<=65535" in (
            result.stderr
        )
        assert "Traceback" not in result.stderr and "unexpected" not in result.stderr

    missing = tmp_path / "no-such-directory"
    created = _wfaudit("--store", store_url, "db", "upgrade", env=env)  # the store exists
    assert created.returncode == 0, created.stderr
    result = _wfaudit(
        "--store",
        store_url,
        "metrics",
        "serve",
        "--port",
        "0",
        env={**env, MULTIPROC: str(missing)},
    )
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"Error: {MULTIPROC}={missing} is not a directory: create it (empty and writable by "
        "every process that audits) or unset the variable"
    ]
