"""A metric that cannot be updated never fails, slows or loses an audit: the
audit is stored, the other observers still hear of it, and the error is
logged once per type."""

from __future__ import annotations

import json
import logging
import os
import pathlib
import subprocess
import sys
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from wfaudit import Auditor
from wfaudit_hookspecs import EventKind, SnapshotRecord, TriggerRequest, hookimpl
from wfaudit_prometheus import metrics, plugin
from wfaudit_prometheus.exporter import MULTIPROC_VARIABLE

METRICS = (
    "SNAPSHOTS",
    "STAGE_SECONDS",
    "AUDIT_FAILURES",
    "AUDITED_RAW_BYTES",
    "AUDITED_COMPRESSED_BYTES",
    "OUTCOMES",
    "RETRIGGER_ATTEMPTS",
    "RETRIGGER_OUTCOMES",
    "RETRY_DECISIONS",
    "RETENTION_ACTIONS",
    "EVENTS",
)


class BrokenMetric:
    """A metric whose every update raises, as a broken collector would."""

    def __init__(self) -> None:
        self.calls = 0

    def labels(self, *values: str) -> BrokenMetric:
        self.calls += 1
        raise RuntimeError("the metric is broken")


class Events:
    """Another ``wfaudit_event`` observer (as wfaudit-webhooks is)."""

    def __init__(self) -> None:
        self.kinds: list[str] = []

    @hookimpl
    def wfaudit_event(
        self,
        kind: str,
        snapshot: SnapshotRecord,
        data: Mapping[str, Any],
        settings: Mapping[str, Any],
    ) -> None:
        self.kinds.append(kind)


def ci(workflow_id: str, **changes: object) -> TriggerRequest:
    fields: dict[str, object] = {
        "workflow_id": workflow_id,
        "workflow_type": "CI",
        "pipeline_id": "pipe-1",
        "config": {"image": f"app:{workflow_id}", "password": "s3cr3t-value-here"},
    }
    fields.update(changes)
    return TriggerRequest(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize("strict", [False, True], ids=["non-blocking", "strict"])
def test_a_failing_metric_never_fails_or_loses_an_audit(
    make_auditor: Callable[..., Auditor],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    strict: bool,
) -> None:
    broken = {name: BrokenMetric() for name in METRICS}
    for name, metric in broken.items():
        monkeypatch.setattr(metrics, name, metric)
    monkeypatch.setattr(plugin, "_reported", set())
    events = Events()
    auditor = make_auditor(strict=strict, plugins=[events])

    results = [auditor.audit_trigger(ci("w1")), auditor.audit_trigger(ci("w2"))]
    repeated = auditor.audit_trigger(ci("w1"))
    failed = auditor.audit_trigger(ci("w3", workflow_type="NOPE")) if not strict else None
    auditor.record_outcome("w1", "CI", "failed", "exit 1")  # the on-failure stage too
    auditor.notify(EventKind.ARCHIVED, auditor.get_snapshot("w2", "CI"))

    assert all(r.ok and r.created and not r.spooled for r in results), results
    assert repeated.ok and not repeated.created
    assert failed is None or failed.error_type == "UnknownWorkflowType"  # its own error
    assert auditor.get_snapshot("w1", "CI").status == "failed"
    assert auditor.get_snapshot("w2", "CI").config["image"] == "app:w2"
    assert auditor.spool.depth(None) == 0
    assert events.kinds == [
        EventKind.AUDITED,
        EventKind.AUDITED,
        EventKind.OUTCOME,
        EventKind.ARCHIVED,
    ]
    # Each wrapper and observer tried its metrics; the error was logged once, by type.
    tried = {name for name, metric in broken.items() if metric.calls}
    assert {"STAGE_SECONDS", "SNAPSHOTS", "RETRY_DECISIONS", "EVENTS"} <= tried
    logged = [r for r in caplog.records if r.name == "wfaudit.prometheus"]
    assert len(logged) == 1, [r.getMessage() for r in logged]
    assert logged[0].levelno == logging.ERROR
    assert "RuntimeError" in logged[0].getMessage()
    assert "the metric is broken" not in caplog.text  # messages of non-OSErrors are left out
    assert "s3cr3t-value-here" not in caplog.text


AUDITS = """
import json, logging, sys
from wfaudit import Auditor
logging.basicConfig(level=logging.WARNING, format="%(name)s %(levelname)s %(message)s")
with Auditor.from_url(sys.argv[1]) as auditor:
    results = [
        auditor.audit_trigger(
            workflow_id=f"w{n}", workflow_type="CI", pipeline_id="p",
            config={"image": f"app:{n}", "password": "s3cr3t-value-here"},
        )
        for n in range(3)
    ]
    auditor.record_outcome("w0", "CI", "succeeded")
    print(json.dumps({
        "results": [[r.ok, r.created, r.spooled, r.error] for r in results],
        "stored": [auditor.get_snapshot(f"w{n}", "CI").status for n in range(3)],
        "spooled": auditor.spool.depth(None),
    }))
"""


@pytest.mark.wfaudit_backends("sqlite")
@pytest.mark.parametrize("where", ["missing", "a-file"])
def test_a_bad_multiproc_directory_never_fails_an_audit(
    store_url: str, tmp_path: pathlib.Path, where: str
) -> None:
    """PROMETHEUS_MULTIPROC_DIR naming a directory that is not there (or a file,
    under which nothing can be created): prometheus_client cannot write its
    values, and every audit is still stored."""
    directory = tmp_path / "prometheus"
    if where == "a-file":
        file = tmp_path / "a-file"
        file.write_text("")
        directory = file / "prometheus"
    env = {
        **os.environ,
        MULTIPROC_VARIABLE: str(directory),
        "WFAUDIT_LOAD_PLUGINS": "sql,maskers,prometheus",
    }
    done = subprocess.run(
        [sys.executable, "-c", AUDITS, store_url],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["results"] == [[True, True, False, None]] * 3
    assert report["stored"] == ["succeeded", "triggered", "triggered"]
    assert report["spooled"] == 0
    logged = [line for line in done.stderr.splitlines() if line.startswith("wfaudit.prometheus")]
    expected = "FileNotFoundError" if where == "missing" else "NotADirectoryError"
    assert len(logged) == 1, done.stderr
    assert expected in logged[0] and str(directory) in logged[0]
    assert "s3cr3t-value-here" not in done.stderr
