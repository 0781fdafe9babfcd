"""``wfaudit trigger --server URL``: the trigger sent to a live ``wfaudit serve``
(a real server process on SQLite), with the local command's lines and exit
statuses (issue #18, the CLI).

201 and 200 say "audited:", 202 (the server's store down) "spooled:", a 409 or
another 4xx fails with one line; an unreachable server says "not audited:" with
exit 0 (``--strict``: exit 1) and keeps nothing. The command imports neither the
engine nor a plugin on this path.
"""

from __future__ import annotations

import json
import os
import pathlib
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.test_cli import SECRET, ok, one_line_error, wfaudit
from tests.test_cli_startup import _loaded, modules_after
from wfaudit import Auditor
from wfaudit.testing import find_secrets

TOKEN = "cli-server-token-0123456789abcdef-write"
PREFIX = "serving the wfaudit web view on "


class Server:
    def __init__(self, url: str, store_url: str, home: pathlib.Path) -> None:
        self.url = url
        self.store_url = store_url
        self.home = home


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """``wfaudit serve`` on a fresh SQLite store (port 0), with a write token; one for
    the module's tests, which use workflow ids of their own.

    The store's lock deadlines are short, so that a store held locked by the test
    is down for the server within a second (its answers turn 202).
    """
    tmp_path = tmp_path_factory.mktemp("served")
    path = tmp_path / "served.sqlite3"
    store_url = f"sqlite:///{path}?busy_timeout=100&retry_deadline=0.5"
    Auditor.from_url(store_url, create=True).close()  # serve never creates a store
    home = tmp_path / "server-home"
    home.mkdir()
    log = tmp_path / "serve.log"
    env = {
        **os.environ,
        "WFAUDIT_HOME": str(home),
        "WFAUDIT_INGEST_TOKEN": TOKEN,
        "WFAUDIT_LOAD_PLUGINS": "sql,maskers,ci,cd,web",
    }
    with log.open("w", encoding="utf-8") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "wfaudit", "--store", store_url, "serve", "--port", "0"],
            env=env,
            stderr=stderr,
        )
    try:
        deadline = time.monotonic() + 90
        url = None
        while url is None:
            assert process.poll() is None, log.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, log.read_text(encoding="utf-8")
            for line in log.read_text(encoding="utf-8").splitlines():
                if line.startswith(PREFIX):
                    url = line[len(PREFIX) :].removesuffix("/ui")
            time.sleep(0.05)
        port = int(url.rsplit(":", 1)[1])
        while True:  # the socket listens already; uvicorn answers once started
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        yield Server(url, store_url, home)
    finally:
        process.terminate()
        process.wait(timeout=30)
    assert TOKEN not in log.read_text(encoding="utf-8")
    assert SECRET not in log.read_text(encoding="utf-8")


@pytest.fixture
def request_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "request.json"
    path.write_text(
        json.dumps(
            {"pipelineName": "ci-7", "dockerPassword": SECRET, "env": {"DB_PASSWORD": SECRET}}
        )
    )
    return path


def send(
    server_url: str,
    path: pathlib.Path,
    workflow_id: str,
    *extra: str,
    pipeline_id: str = "7",
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    return wfaudit(
        "trigger",
        str(path),
        "--type",
        "CI",
        "--workflow-id",
        workflow_id,
        "--pipeline-id",
        pipeline_id,
        "--server",
        server_url,
        *extra,
        env={"WFAUDIT_INGEST_TOKEN": TOKEN, **(env or {})},
    )


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _local_spool() -> list[pathlib.Path]:
    return sorted((pathlib.Path(os.environ["WFAUDIT_HOME"]) / "spool").rglob("*"))


def _no_secret(*results: subprocess.CompletedProcess[str]) -> None:
    for result in results:
        assert SECRET not in result.stdout + result.stderr
        assert TOKEN not in result.stdout + result.stderr


def test_stored_then_already_stored_with_labels_parent_and_attempt(
    server: Server, request_file: pathlib.Path
) -> None:
    options = ("--label", "app=pay", "--label", "env=prod", "--parent", "01PARENT")
    first = send(server.url, request_file, "1", *options, "--attempt", "2")
    [line] = ok(first).splitlines()
    assert line.startswith("audited: CI 1, snapshot ") and line.endswith("(new snapshot, 2 masked)")
    again = send(server.url, request_file, "1", *options, "--attempt", "2", "--json")
    result = json.loads(ok(again))
    assert result["ok"] is True and result["created"] is False and result["spooled"] is False
    assert result["ref"]["id"] == line.split("snapshot ")[1].split(" ")[0]
    assert again.stderr == ""
    _no_secret(first, again)

    with Auditor.from_url(server.store_url, create=False) as auditor:
        record = auditor.get_snapshot("1", "CI")
        assert record.labels == {"app": "pay", "env": "prod"}
        assert record.parent == "01PARENT" and record.attempt == 2
        stored = json.dumps(record.config)
    assert not find_secrets([SECRET], texts=[("stored config", stored)])
    assert _local_spool() == []  # nothing was written on the client's side


def test_a_token_file_replaces_the_environment(
    server: Server, request_file: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n")
    result = send(
        server.url,
        request_file,
        "2",
        "--token-file",
        str(token_file),
        env={"WFAUDIT_INGEST_TOKEN": ""},
    )
    assert ok(result).startswith("audited: CI 2, ")


def test_a_conflict_and_refusals_fail_with_one_line(
    server: Server, request_file: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    ok(send(server.url, request_file, "3"))
    conflict = send(server.url, request_file, "3", pipeline_id="8")
    line = one_line_error(conflict, "already audited with a different pipeline_id")
    assert "recorded as evidence" in line

    unknown = wfaudit(
        "trigger",
        str(request_file),
        "--type",
        "NOPE",
        "--workflow-id",
        "4",
        "--pipeline-id",
        "7",
        "--server",
        server.url,
        env={"WFAUDIT_INGEST_TOKEN": TOKEN},
    )
    one_line_error(unknown, "(422)", "unknown workflow type 'NOPE'")

    wrong = send(server.url, request_file, "5", env={"WFAUDIT_INGEST_TOKEN": "not-the-token"})
    one_line_error(wrong, "(401)")
    missing = send(server.url, request_file, "5", env={"WFAUDIT_INGEST_TOKEN": ""})
    one_line_error(missing, "WFAUDIT_INGEST_TOKEN", "--token-file")
    empty = tmp_path / "empty-token"
    empty.write_text("\n")
    one_line_error(send(server.url, request_file, "5", "--token-file", str(empty)), "is empty")
    for bad in ("ftp://127.0.0.1:1", "http://user:pw@127.0.0.1:1", "not a url"):
        one_line_error(send(bad, request_file, "5"), "--server")
    # Bad input is refused before anything is sent, as locally.
    garbage = tmp_path / "garbage.json"
    garbage.write_text("{not json")
    one_line_error(send(server.url, garbage, "5"), "invalid JSON")
    _no_secret(conflict, unknown, wrong, missing)

    with Auditor.from_url(server.store_url, create=False) as auditor:
        stored = {r.workflow_id for r in auditor.history(pipeline_id="7")}
    assert "3" in stored and not stored & {"4", "5"}


def test_a_yaml_payload_and_a_tenant(server: Server, tmp_path: pathlib.Path) -> None:
    """The payload is read here (YAML too) and sent as JSON; --tenant goes in the body."""
    path = tmp_path / "request.yaml"
    path.write_text(f"pipelineName: ci-7\ndockerPassword: {SECRET}\non: push\n")
    result = wfaudit(
        "--tenant",
        "team-a",
        "trigger",
        str(path),
        "--type",
        "CI",
        "--workflow-id",
        "11",
        "--pipeline-id",
        "7",
        "--server",
        server.url,
        env={"WFAUDIT_INGEST_TOKEN": TOKEN},
    )
    assert ok(result).startswith("audited: CI 11, ")
    with Auditor.from_url(server.store_url, create=False, tenant="team-a") as auditor:
        record = auditor.get_snapshot("11", "CI")
    assert record.tenant == "team-a"
    assert record.config["on"] == "push" and SECRET not in json.dumps(record.config)
    _no_secret(result)


def test_the_servers_store_down_is_spooled_on_the_server(
    server: Server, request_file: pathlib.Path
) -> None:
    ok(send(server.url, request_file, "6"))  # the store answers
    holder = sqlite3.connect(server.store_url.split("?")[0].removeprefix("sqlite:///"))
    holder.isolation_level = None
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = send(server.url, request_file, "7")
        as_json = send(server.url, request_file, "8", "--json")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    [line] = ok(result).splitlines()
    assert line.startswith("spooled: ") and "CI 7" in line and "server's durable spool" in line
    data = json.loads(ok(as_json))
    assert data["ok"] is True and data["spooled"] is True and data["ref"]["workflow_id"] == "8"
    assert as_json.stderr.startswith("spooled: ")
    spooled = sorted((server.home / "spool").rglob("*.wfspool"))
    assert len(spooled) == 2
    assert all(SECRET.encode() not in path.read_bytes() for path in spooled)
    assert _local_spool() == []
    _no_secret(result, as_json)


def test_an_unreachable_server_says_not_audited_and_keeps_nothing(
    request_file: pathlib.Path,
) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    result = send(url, request_file, "9", "--timeout", "0.5")
    assert result.returncode == 0, result.stderr
    [line] = result.stdout.splitlines()
    assert line.startswith(f"not audited: the wfaudit server at {url} cannot take the trigger")
    assert "connection refused" in line and "NOT kept anywhere" in line
    as_json = send(url, request_file, "9", "--timeout", "0.5", "--json")
    assert as_json.returncode == 0
    data: dict[str, Any] = json.loads(as_json.stdout)
    assert data["ok"] is False and data["error_type"] == "ServerUnavailable"
    assert as_json.stderr.startswith("not audited: ")

    strict = send(url, request_file, "9", "--timeout", "0.5", "--strict")
    one_line_error(strict, "cannot take the trigger", "connection refused")
    also_strict = send(url, request_file, "9", "--timeout", "0.5", env={"WFAUDIT_STRICT": "1"})
    one_line_error(also_strict, "connection refused")
    assert _local_spool() == []  # the request holds secrets: never written here
    _no_secret(result, as_json, strict)


def test_server_mode_loads_neither_the_engine_nor_a_plugin(
    request_file: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFAUDIT_INGEST_TOKEN", TOKEN)
    url = f"http://127.0.0.1:{_closed_port()}"
    args = ("trigger", str(request_file), "--type", "CI", "--workflow-id", "1")
    code, modules, out = modules_after(
        *args, "--pipeline-id", "7", "--server", url, "--timeout", "0.2"
    )
    assert code == 0 and "not audited: " in out, out
    heavy = (
        "wfaudit.auditor",
        "wfaudit.plugins",
        "wfaudit.spool",
        "wfaudit.render",
        "wfaudit_hookspecs.converter",
        "rich",
        "sqlalchemy",
        "zstandard",
        "yaml",
        "importlib.metadata",
        "wfaudit_sql",
        "wfaudit_maskers",
        "wfaudit_web",
        # Nor the contract's model, the settings class or the HTTP library: the
        # process stays about as light as `wfaudit --version` (bench/bench_cli.py).
        "wfaudit_hookspecs.model",
        "wfaudit.settings",
        "attr",
        "attrs",
        "pluggy",
        "logging",
        "http.client",
        "email",
        "platformdirs",
    )
    assert _loaded(modules, *heavy) == []


def test_the_answer_reader_takes_what_http_servers_send() -> None:
    """The plain-HTTP reader (no http.client on this path): lengths, chunks, junk."""
    from wfaudit.remote import _parse_answer

    plain = b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\nRetry-After: 3\r\n\r\n{}junk"
    assert _parse_answer(plain) == (201, {"content-length": "2", "retry-after": "3"}, b"{}")
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'3\r\n{"a\r\n5;x=y\r\n": 1}\r\n0\r\n\r\n'
    )
    assert _parse_answer(chunked)[2] == b'{"a": 1}'
    for junk in (b"", b"SSH-2.0-OpenSSH\r\n", b"HTTP/1.1 abc\r\n\r\n", b"HTTP/1.1 200 OK\r\n"):
        with pytest.raises(ValueError, match=r"incomplete answer|not an HTTP answer"):
            _parse_answer(junk)


def test_a_server_that_is_not_http_is_not_audited(request_file: pathlib.Path) -> None:
    """A port that answers something else: "not audited", nothing kept, no traceback."""
    import threading

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def answer() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection:
                connection.recv(65536)
                connection.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")

    threading.Thread(target=answer, daemon=True).start()
    try:
        result = send(f"http://127.0.0.1:{port}", request_file, "10", "--timeout", "0.5")
    finally:
        listener.close()
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("not audited: ") and "malformed answer" in result.stdout
    assert "Traceback" not in result.stderr
    _no_secret(result)
