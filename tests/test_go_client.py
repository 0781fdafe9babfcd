"""The Go client (clients/go/wfaudit) and its Devtron example, compiled with the
system's Go toolchain and run against a live ``wfaudit serve`` over a real store
(SQLite and PostgreSQL): what they send is stored, masked, idempotent; a
failed run is retriggered with its secrets restored by the server; with the
store down the answer is 202 and the trigger goes on; a server that never
answers costs the client its timeout and no more.

Skipped with the reason where ``go`` is absent, unless ``WFAUDIT_REQUIRE_GO=1``.
"""

from __future__ import annotations

import json
import pathlib
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.ingest_server import (
    GO_MODULE,
    INGEST_TOKEN,
    RETRIGGER_TOKEN,
    LiveServer,
    go,
    go_env,
    go_toolchain,
    live_server,
)
from wfaudit import Auditor
from wfaudit.testing.scan import find_secrets

# The secrets newCiWorkflowRequest (clients/go/examples/devtron/main.go) puts in
# the request, and the variables the server restores them from at retrigger.
SECRETS = {
    "DEVTRON_DOCKER_PASSWORD": "example-docker-password-1",
    "DEVTRON_S3_ACCESS_KEY": "AKIAEXAMPLEEXAMPLE01",
    "DEVTRON_S3_PASSKEY": "exampleBlobPasskey/ExampleExampleExample01",
    "DEVTRON_GIT_PASSWORD": "example-git-password-1",
}
RESTORE = """\
[restore.env]
"/dockerPassword" = "DEVTRON_DOCKER_PASSWORD"
"/blobStorageS3Config/accessKey" = "DEVTRON_S3_ACCESS_KEY"
"/blobStorageS3Config/passkey" = "DEVTRON_S3_PASSKEY"
"/ciProjectDetails/*/gitOptions/password" = "DEVTRON_GIT_PASSWORD"
"""


@pytest.fixture(scope="module")
def go_work(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    """The Go caches of this module's builds (offline, nothing outside tmp)."""
    go_toolchain()
    return tmp_path_factory.mktemp("go")


@pytest.fixture(scope="module")
def devtron(go_work: pathlib.Path) -> pathlib.Path:
    """The Devtron example, built."""
    binary = go_work / "bin" / "devtron"
    go(go_work, "build", "-o", str(binary), "./examples/devtron")
    return binary


def test_without_go_the_tests_skip_unless_go_is_required(
    monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no `go` there
    monkeypatch.delenv("WFAUDIT_REQUIRE_GO", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no Go toolchain"):
        go_toolchain()
    monkeypatch.setenv("WFAUDIT_REQUIRE_GO", "1")
    with pytest.raises(pytest.fail.Exception, match="WFAUDIT_REQUIRE_GO=1"):
        go_toolchain()


def test_the_go_module_is_vetted_formatted_and_its_unit_tests_pass(go_work: pathlib.Path) -> None:
    version = go(go_work, "version")
    assert "go1." in version
    go(go_work, "vet", "./...")
    gofmt = pathlib.Path(go(go_work, "env", "GOROOT").strip()) / "bin" / "gofmt"
    unformatted = subprocess.run(
        [str(gofmt), "-l", "."],
        cwd=GO_MODULE,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert unformatted == "", f"gofmt would change: {unformatted}"
    output = go(go_work, "test", "-count=1", "./...")
    assert "ok  \twfaudit/clients/go/wfaudit" in output, output
    # The module needs nothing beyond the standard library.
    assert "require" not in (GO_MODULE / "go.mod").read_text()


def run_devtron(
    binary: pathlib.Path, url: str, launched: pathlib.Path, *args: str, timeout: float = 120
) -> tuple[subprocess.CompletedProcess[str], float]:
    launched.mkdir(exist_ok=True)
    env = {
        "PATH": "/usr/bin:/bin",
        "WFAUDIT_URL": url,
        "WFAUDIT_INGEST_TOKEN": INGEST_TOKEN,
        "WFAUDIT_RETRIGGER_TOKEN": RETRIGGER_TOKEN,
    }
    started = time.monotonic()
    done = subprocess.run(
        [str(binary), "-launch-dir", str(launched), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return done, time.monotonic() - started


@pytest.fixture
def served(store_url: str, tmp_path: pathlib.Path) -> Iterator[LiveServer]:
    (tmp_path / "wfaudit.toml").write_text(RESTORE)
    env = {
        **SECRETS,
        "WFAUDIT_CONFIG": str(tmp_path / "wfaudit.toml"),
        "WORKFLOW_RETRIES_ENABLED": "true",
    }
    with live_server(store_url, extra_env=env) as server:
        yield server


def _secrets() -> dict[str, str]:
    return {name.lower(): value for name, value in SECRETS.items()}


def test_the_devtron_example_is_audited_masked_retriggered_and_idempotent(
    devtron: pathlib.Path, served: LiveServer, tmp_path: pathlib.Path
) -> None:
    launched = tmp_path / "launched"
    done, _ = run_devtron(
        devtron, served.url, launched, "-outcome", "failed", "-reason", "infrastructure: node lost"
    )
    assert done.returncode == 0, done.stderr
    log = done.stderr.splitlines()
    assert log[0].startswith("devtron: audit: CI 4711 stored as snapshot ")
    assert "(201, 4 secrets masked)" in log[0]
    assert log[1:] == [
        "devtron: launched CI workflow 4711",
        "devtron: outcome: CI 4711 failed",
        "devtron: retrigger: CI 4711 -> 4712 (attempt 2)",
        "devtron: launched CI workflow 4712",
    ]

    with Auditor.from_url(served.store_url, strict=True) as auditor:
        records = {r.workflow_id: r for r in auditor.history()}
        assert set(records) == {"4711", "4712"}
        first, retry = records["4711"], records["4712"]
        assert str(first.status) == "failed" and first.status_reason == "infrastructure: node lost"
        assert first.pipeline_id == "12" and first.triggered_by == "7"
        assert first.labels["app"] == "checkout-api"
        assert (
            retry.parent == first.id and retry.attempt == 2 and str(retry.trigger_kind) == "retry"
        )
        assert {field.path for field in first.manifest.fields} == {
            "/dockerPassword",
            "/blobStorageS3Config/accessKey",
            "/blobStorageS3Config/passkey",
            "/ciProjectDetails/0/gitOptions/password",
        }
        masked = auditor.get_snapshot_by_id(first.id).config
        assert masked["dockerImageTag"] == "9b1d3f0c-4711"
        assert masked["dockerPassword"].startswith("[masked:")
        assert find_secrets(_secrets(), auditor=auditor, texts=[("log", done.stderr)]) == []

    # The retriggered run got the request the failed run was launched with,
    # secrets restored by the server: only its identity differs.
    original = json.loads((launched / "4711.json").read_text())
    relaunched = json.loads((launched / "4712.json").read_text())
    assert relaunched["dockerPassword"] == SECRETS["DEVTRON_DOCKER_PASSWORD"]
    assert relaunched["ciProjectDetails"][0]["gitOptions"]["password"] == "example-git-password-1"
    assert {**relaunched, "workflowId": 4711, "triggeredBy": 7} == original

    # The same trigger again (a retry of the audit): 200, the same snapshot.
    again, _ = run_devtron(devtron, served.url, launched, "-outcome", "succeeded")
    assert again.returncode == 0, again.stderr
    assert f"stored as snapshot {first.id} (200, 4 secrets masked)" in again.stderr
    with Auditor.from_url(served.store_url, strict=True) as auditor:
        assert sorted(r.workflow_id for r in auditor.history()) == ["4711", "4712"]
        assert str(auditor.get_snapshot("4711", "CI").status) == "succeeded"


def test_the_clients_live_tests_pass_against_the_server_and_store_what_they_sent(
    go_work: pathlib.Path, served: LiveServer
) -> None:
    """clients/go/wfaudit/live_test.go against the live server: batches, refusals,
    outcomes and a retrigger plan; then what the store holds."""
    done = subprocess.run(
        [go_toolchain(), "test", "-count=1", "-v", "-run", "^TestLive", "./wfaudit"],
        cwd=GO_MODULE,
        env={
            **go_env(go_work),
            "WFAUDIT_LIVE_URL": served.url,
            "WFAUDIT_INGEST_TOKEN": INGEST_TOKEN,
            "WFAUDIT_RETRIGGER_TOKEN": RETRIGGER_TOKEN,
        },
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("--- PASS: TestLive") == 3, done.stdout
    assert "SKIP" not in done.stdout
    with Auditor.from_url(served.store_url, strict=True) as auditor:
        found = {r.workflow_id: r for r in auditor.history()}
        assert set(found) == {"go-1", "go-3"}
        assert str(found["go-3"].status) == "failed" and str(found["go-1"].status) == "triggered"
        assert found["go-1"].labels["branch"] == "main"
        assert found["go-1"].triggered_by == "go-client"
        assert find_secrets({"password": "Go-live-Pa55word-Vx71"}, auditor=auditor) == []


def test_a_changed_request_for_the_same_run_is_a_logged_conflict(
    devtron: pathlib.Path, served: LiveServer, tmp_path: pathlib.Path
) -> None:
    """Workflow 4711's request audited first with other content: the example's
    audit is refused (409, a typed error logged), the run is launched anyway."""
    import httpx

    other = {
        "workflow_id": "4711",
        "workflow_type": "CI",
        "pipeline_id": "12",
        "config": {"workflowId": 4711, "pipelineId": 12, "ciProjectDetails": []},
    }
    answer = httpx.post(
        f"{served.url}/api/v1/triggers",
        json=other,
        headers={"Authorization": f"Bearer {INGEST_TOKEN}"},
        timeout=60,
    )
    assert answer.status_code == 201, answer.text
    done, _ = run_devtron(devtron, served.url, tmp_path / "launched")
    assert done.returncode == 0, done.stderr
    first = done.stderr.splitlines()[0]
    assert first.startswith(
        "devtron: audit failed, the trigger goes on: wfaudit: POST /api/v1/triggers: "
        "409 SnapshotConflict: "
    ), first
    assert "devtron: launched CI workflow 4711" in done.stderr
    assert find_secrets(_secrets(), texts=[("log", done.stderr)]) == []


@pytest.mark.wfaudit_backends("postgresql")
def test_with_the_store_down_the_trigger_is_spooled_202_and_goes_on(
    devtron: pathlib.Path,
    store_url: str,
    tcp_proxy: Callable[[str], Any],
    tmp_path: pathlib.Path,
) -> None:
    proxy = tcp_proxy(store_url)
    proxied = proxy.url_for(store_url)
    with live_server(store_url, served_url=proxied) as server:
        proxy.cut()
        done, elapsed = run_devtron(
            devtron, server.url, tmp_path / "launched", "-outcome", "failed", "-timeout", "20s"
        )
        assert done.returncode == 0, done.stderr
        log = done.stderr.splitlines()
        assert log[0] == "devtron: audit: CI 4711 spooled by the server (202): its store is down"
        assert log[1] == "devtron: launched CI workflow 4711"
        # Outcomes are not spooled: the server says 503, the example logs it and goes on.
        assert log[2].startswith("devtron: outcome not recorded (the run is not affected): ")
        assert " 503 " in log[2]
        assert elapsed < 2 * 20 + 10
        proxy.restore()
        with Auditor.from_url(proxied, strict=True) as auditor:
            deadline = time.monotonic() + 60
            while auditor.spool.depth(None) and time.monotonic() < deadline:
                auditor.drain_spool(wait=5)
                time.sleep(0.2)
            assert auditor.spool.depth(None) == 0
        with Auditor.from_url(store_url, strict=True) as auditor:
            (record,) = auditor.history()
            assert record.workflow_id == "4711" and record.pipeline_id == "12"
            assert find_secrets(_secrets(), auditor=auditor) == []


def _black_hole() -> tuple[socket.socket, str]:
    """A port that takes connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    host, port = listener.getsockname()
    return listener, f"http://{host}:{port}"


@pytest.mark.parametrize("timeout", [1.0, 3.0])
def test_a_server_that_never_answers_costs_the_timeout_and_no_more(
    devtron: pathlib.Path, tmp_path: pathlib.Path, timeout: float
) -> None:
    listener, url = _black_hole()
    with listener:
        done, elapsed = run_devtron(
            devtron, url, tmp_path / "launched", "-timeout", f"{timeout}s", "-outcome", "failed"
        )
    assert done.returncode == 0, done.stderr
    log = done.stderr.splitlines()
    assert log[0].startswith("devtron: audit failed, the trigger goes on: ")
    assert "context deadline exceeded" in log[0]
    assert log[1] == "devtron: launched CI workflow 4711"
    assert log[2].startswith("devtron: outcome not recorded (the run is not affected): ")
    assert (tmp_path / "launched" / "4711.json").exists()
    # Two calls (the audit, the outcome), each bounded by the timeout.
    assert 2 * timeout <= elapsed < 2 * timeout + 3, elapsed


def test_a_server_that_is_down_fails_fast(devtron: pathlib.Path, tmp_path: pathlib.Path) -> None:
    listener, url = _black_hole()
    listener.close()  # nothing listens there now: connections are refused
    done, elapsed = run_devtron(devtron, url, tmp_path / "launched", "-timeout", "30s")
    assert done.returncode == 0, done.stderr
    assert "connection refused" in done.stderr.splitlines()[0]
    assert "devtron: launched CI workflow 4711" in done.stderr
    # Refused connections are retried (3 attempts, backoff under a second), not waited out.
    assert elapsed < 10, elapsed
