"""``wfaudit metrics serve``: the standalone exporter adds up the counters of other
processes (multiprocess mode) and reads the store at each scrape."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
from collections.abc import Callable

import pytest

from .conftest import parse, value

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
        line = server.stderr.readline()
        assert line.startswith("serving metrics on http://127.0.0.1:"), line
        samples = parse(scrape_text(line.split(" on ", 1)[1].strip()))
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
