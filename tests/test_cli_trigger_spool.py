"""``wfaudit trigger`` follows the non-blocking policy (issue #18, the CLI).

With the store down the audit is spooled: exit 0 and one line saying so and how
to drain; ``wfaudit drain`` later stores it. ``--strict`` fails instead and
spools nothing. Bad input still fails in both modes, with one line. Every case
runs the real command in a subprocess, on SQLite (locked by another connection
past the store's deadline) and on PostgreSQL (a port that refuses connections).
"""

from __future__ import annotations

import json
import os
import pathlib
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.test_cli import SECRET, ok, one_line_error, wfaudit


def _with_options(url: str, **options: str) -> str:
    separator = "&" if "?" in url else "?"
    return url + separator + "&".join(f"{key}={value}" for key, value in options.items())


@pytest.fixture
def down(store_url: str, tcp_proxy: Any) -> Iterator[tuple[str, Callable[[], Any]]]:
    """A store URL, and a context manager during which that store is down."""
    if store_url.startswith("sqlite"):
        url = _with_options(store_url, busy_timeout="100", retry_deadline="0.5")
        path = store_url.removeprefix("sqlite:///")

        @contextmanager
        def outage() -> Iterator[None]:
            holder = sqlite3.connect(path, isolation_level=None)
            holder.execute("BEGIN EXCLUSIVE")
            try:
                yield
            finally:
                holder.execute("ROLLBACK")
                holder.close()

        yield url, outage
        return
    proxy = tcp_proxy(store_url)

    @contextmanager
    def cut() -> Iterator[None]:
        proxy.cut()  # the port refuses connections, as a closed port does
        try:
            yield
        finally:
            proxy.restore()

    yield proxy.url_for(store_url), cut


@pytest.fixture
def request_file(tmp_path: pathlib.Path) -> pathlib.Path:
    path = tmp_path / "request.json"
    path.write_text(json.dumps({"pipelineName": "ci-7", "dockerPassword": SECRET}))
    return path


def _trigger(url: str, path: pathlib.Path, workflow_id: str, *extra: str) -> Any:
    return wfaudit(
        "trigger",
        str(path),
        "--type",
        "CI",
        "--workflow-id",
        workflow_id,
        "--pipeline-id",
        "7",
        *extra,
        store=url,
    )


def _spooled_files() -> list[pathlib.Path]:
    return sorted((pathlib.Path(os.environ["WFAUDIT_HOME"]) / "spool").rglob("*.wfspool"))


def test_store_down_spools_with_one_line_then_drain_stores(
    down: tuple[str, Callable[[], Any]], request_file: pathlib.Path
) -> None:
    url, outage = down
    ok(_trigger(url, request_file, "1"))  # the store exists and answers

    with outage():
        result = _trigger(
            url, request_file, "2", "--parent", "01PARENT", "--attempt", "2", "--label", "app=pay"
        )
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        [line] = result.stdout.strip().splitlines()
        assert line.startswith("spooled: ") and "wfaudit drain" in line and "CI 2" in line
        as_json = _trigger(url, request_file, "3", "--json")
        assert as_json.returncode == 0, as_json.stderr
        assert json.loads(as_json.stdout)["spooled"] is True
        assert as_json.stderr.startswith("spooled: ")
        assert len(_spooled_files()) == 2

        strict = _trigger(url, request_file, "4", "--strict")
        one_line_error(strict)
        assert len(_spooled_files()) == 2  # strict mode keeps nothing

    for each in (result, as_json, strict):
        assert SECRET not in each.stdout + each.stderr
    assert all(SECRET.encode() not in path.read_bytes() for path in _spooled_files())

    drained = wfaudit("drain", store=url)
    assert drained.returncode == 0, drained.stdout + drained.stderr
    assert _spooled_files() == []
    shown = json.loads(ok(wfaudit("show", "2", "--type", "CI", "--json", store=url)))
    assert shown["parent"] == "01PARENT" and shown["attempt"] == 2
    assert shown["labels"] == {"app": "pay"}
    assert ok(wfaudit("show", "3", "--type", "CI", "--json", store=url))
    missing = wfaudit("show", "4", "--type", "CI", "--json", store=url)
    assert missing.returncode != 0


@pytest.mark.parametrize("strict", [(), ("--strict",)], ids=["non-blocking", "strict"])
def test_bad_input_still_fails_with_one_line(
    store_url: str, request_file: pathlib.Path, tmp_path: pathlib.Path, strict: tuple[str, ...]
) -> None:
    ok(_trigger(store_url, request_file, "1", *strict))

    # A second, different trigger of an audited run: a conflict, kept as evidence.
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"pipelineName": "ci-7", "dockerPassword": SECRET + "-other"}))
    one_line_error(_trigger(store_url, other, "1", *strict), "already audited")
    # Same content, other attempt: a conflict too.
    one_line_error(_trigger(store_url, request_file, "1", "--attempt", "3", *strict), "attempt")
    # An identity the contract refuses.
    one_line_error(_trigger(store_url, request_file, "x" * 300, *strict), "255")
    # A request over the size limit.
    large = tmp_path / "large.json"
    large.write_text(json.dumps({"pipelineName": "ci-7", "steps": ["make test"] * 500}))
    big = wfaudit(
        "trigger",
        str(large),
        "--type",
        "CI",
        "--workflow-id",
        "5",
        "--pipeline-id",
        "7",
        *strict,
        store=store_url,
        env={"WFAUDIT_MAX_REQUEST_BYTES": "1024"},
    )
    one_line_error(big, "limit")
    # A payload format nobody declares.
    one_line_error(_trigger(store_url, request_file, "6", "--format", "nope", *strict), "nope")
    assert _spooled_files() == []


def test_parent_attempt_and_labels_are_recorded(store_url: str, request_file: pathlib.Path) -> None:
    ok(
        _trigger(
            store_url,
            request_file,
            "10",
            "--parent",
            "01PARENTSNAPSHOT",
            "--attempt",
            "4",
            "--label",
            "app=pay",
            "--label",
            "team=core=ops",
        )
    )
    shown = json.loads(ok(wfaudit("show", "10", "--type", "CI", "--json", store=store_url)))
    assert shown["parent"] == "01PARENTSNAPSHOT"
    assert shown["attempt"] == 4
    assert shown["labels"] == {"app": "pay", "team": "core=ops"}

    for bad in (("--attempt", "0"), ("--attempt", "two"), ("--label", "novalue")):
        result = _trigger(store_url, request_file, "11", *bad)
        assert result.returncode == 2 and "Traceback" not in result.stderr
        assert "Invalid value" in result.stderr
