"""``wfaudit import devtron``: Devtron's history, from its own table on real PostgreSQL.

The source is Devtron's ``workflow_config_snapshot`` table created by Devtron's
migration in a throw-away schema, its rows encoded by Go as Devtron encodes
them (tests/devtron_table.py); the target is a store on each backend.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from tests.devtron_table import (
    DevtronTable,
    GoEncoder,
    Planted,
    Row,
    gzip_b64,
    realistic_requests,
    rows_of,
)
from wfaudit import Auditor
from wfaudit.cli import cli
from wfaudit.devtron_import import (
    BLANKED_FIELDS,
    decode_request,
    encode_request,
    import_rows,
)
from wfaudit.retrigger import BLANKED_AT_SOURCE
from wfaudit.testing import assert_no_secret
from wfaudit_hookspecs import SnapshotRecord, StoreNotFound

PLUGINS = "sql,ci,cd,maskers,keyring"


@pytest.fixture(scope="session")
def go_encoder(tmp_path_factory: pytest.TempPathFactory) -> GoEncoder:
    return GoEncoder(tmp_path_factory.mktemp("go-encoder"))


@pytest.fixture
def devtron() -> Iterator[DevtronTable]:
    try:
        table = DevtronTable()
    except Exception as error:  # the same rule as the store_url fixture
        import os

        if os.environ.get("WFAUDIT_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL unreachable: {type(error).__name__}")
        pytest.skip(f"PostgreSQL unreachable: {type(error).__name__}")
    try:
        yield table
    finally:
        table.drop()


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", PLUGINS)


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def bad_rows() -> list[Row]:
    when = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)
    good_ci = {"workflowId": 901, "pipelineId": 9, "Type": "CI", "triggeredBy": 3}
    rows = [
        Row(901, "CI", 9, "not base64 at all!", when, 3),
        Row(902, "CI", 9, "aGVsbG8gd29ybGQ=", when, 3),  # base64 of "hello world": not gzip
        Row(903, "CI", 9, gzip_b64(b"{this is not json"), when, 3),
        Row(904, "C\x01I", 9, encode_request({**good_ci, "workflowId": 904}), when, 3),
        Row(905, "BUILD", 9, encode_request({**good_ci, "workflowId": 905}), when, 3),
        Row(906, "CI", 9, encode_request({**good_ci, "stageType": "POST"}), when, 3),
        Row(907, "CI", 9, encode_request(good_ci), when, 3, schema_version="V9"),
        Row(0, "CI", 9, encode_request(good_ci), when, 3),
    ]
    for row in rows:  # the table's id: the workflow id, plus 100000
        row.id = 100_000 + row.workflow_id
    return rows


BAD_REASONS = {
    901: "bad base64",
    902: "bad gzip",
    903: "is not JSON",
    904: "control characters",
    905: "unknown workflow type",
    906: "POST stage request but was triggered as CI",
    907: "schema_version 'V9'",
    0: "workflow_id must be a positive integer",
}


def test_rows_encoded_by_go_import_and_bad_rows_are_refused_with_reasons(
    devtron: DevtronTable, go_encoder: GoEncoder, store_url: str, plugins: None
) -> None:
    planted = list(realistic_requests(30))
    minimal = Planted(
        workflow_id=777,
        workflow_type="CI",
        pipeline_id=5,
        request={"workflowId": 777, "pipelineId": 5, "Type": "CI", "triggeredBy": 1},
        secrets=(),
        created_on=dt.datetime(2026, 1, 5, 9, 30, tzinfo=dt.UTC),
        created_by=1,
    )
    devtron.insert([*rows_of([*planted, minimal], go_encoder), *bad_rows()])

    first = run("import", "devtron", "--from", devtron.url, "--store", store_url)
    assert first.exit_code == 1, first.output  # rows were refused
    lines = first.output.splitlines()
    assert "39 rows; imported 31, already present 0, refused 8" in lines[0]
    for row_id, reason in BAD_REASONS.items():
        (line,) = [x for x in lines if x.startswith(f"refused row id={100_000 + row_id} ")]
        assert reason in line, line

    with Auditor.from_url(store_url, strict=True) as auditor:
        # Original times and identities; the minimal shape of Devtron's tests is recognised.
        record = auditor.store.get_record(workflow_id="777", workflow_type="CI")
        assert record is not None
        assert record.created_on == minimal.created_on and record.created_by == "1"
        assert record.triggered_by == "1" and record.labels["imported-from"] == "devtron"
        assert record.manifest.adapter == "devtron"
        for p in planted:
            found = auditor.store.get_record(
                workflow_id=str(p.workflow_id), workflow_type=p.workflow_type
            )
            assert found is not None and found.pipeline_id == str(p.pipeline_id)
            assert found.created_on == p.created_on
            assert found.triggered_by == str(p.created_by)
            _masks_at_least_what_devtron_masked(auditor, found)
        assert_no_secret(
            [s for p in planted for s in p.secrets],
            auditor=auditor,
            database_url=store_url,
            texts=[("output", first.output)],
        )

    again = run("import", "devtron", "--from", devtron.url, "--store", store_url)
    assert "imported 0, already present 31, refused 8" in again.output.splitlines()[0]


def _masks_at_least_what_devtron_masked(auditor: Auditor, record: SnapshotRecord) -> None:
    """Each of Devtron's eight fields is masked, or holds what Devtron left: nothing."""
    snapshot = auditor.load(record)
    for pointer in BLANKED_FIELDS:
        holder: Any = snapshot.config
        for token in pointer.split("/")[1:]:
            holder = holder.get(token) if isinstance(holder, dict) else None
        if holder is None:
            continue
        field = snapshot.manifest.field_at(pointer)
        assert field is not None, f"{pointer} is not masked"
        assert holder == "" or holder.startswith("[masked:")
        if holder == "":
            assert field.rule == BLANKED_AT_SOURCE and field.fingerprint == ""


def test_an_unsanitised_row_is_masked_by_the_current_maskers(
    devtron: DevtronTable, store_url: str, plugins: None
) -> None:
    """A row written before Devtron's sanitiser (its eight fields still set): masked now."""
    (planted,) = realistic_requests(1, seed=5)
    request = dict(planted.request)
    secrets = {
        "docker password": "Dk7-unsanitised-pw-4471",
        "registry secret key": "RgSk/unsanitised+key/99",
    }
    request["dockerPassword"] = secrets["docker password"]
    request["secretKey"] = secrets["registry secret key"]
    devtron.insert(
        [
            Row(
                planted.workflow_id,
                "CI",
                planted.pipeline_id,
                encode_request(request),
                planted.created_on,
                2,
            )
        ]
    )
    result = run("import", "devtron", "--from", devtron.url, "--store", store_url)
    assert result.exit_code == 0, result.output
    with Auditor.from_url(store_url, strict=True) as auditor:
        snapshot = auditor.get_snapshot(planted.workflow_id, "CI")
        for pointer in ("/dockerPassword", "/secretKey"):
            field = snapshot.manifest.field_at(pointer)
            assert field is not None and field.rule != BLANKED_AT_SOURCE and field.fingerprint
        assert_no_secret(secrets, auditor=auditor, database_url=store_url)


class Interrupted(Exception):
    pass


def test_an_interrupted_import_continues_and_a_dry_run_writes_nothing(
    devtron: DevtronTable, go_encoder: GoEncoder, store_url: str, plugins: None
) -> None:
    planted = list(realistic_requests(25, seed=9))
    devtron.insert(rows_of(planted, go_encoder))

    # A dry run reads the store (what is present) but never creates one.
    dry = run(
        "import", "devtron", "--from", devtron.url, "--store", store_url, "--dry-run", "--json"
    )
    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.output)
    assert (report["imported"], report["present"], report["dry_run"]) == (25, 0, True)

    def stop_after_ten(done: int, total: int) -> None:
        assert total == 25
        if done == 10:
            raise Interrupted

    with pytest.raises(StoreNotFound):
        Auditor.from_url(store_url, strict=True, create=False)
    with Auditor.from_url(store_url, strict=True) as auditor:
        with pytest.raises(Interrupted):
            import_rows(auditor, devtron.url, progress=stop_after_ten, page=4)
        assert len(auditor.history(limit=100)) == 10

    rest = run("import", "devtron", "--from", devtron.url, "--store", store_url, "--json")
    assert rest.exit_code == 0, rest.output
    report = json.loads(rest.output)
    assert (report["rows"], report["imported"], report["present"]) == (25, 15, 10)
    assert report["refused"] == []


def test_bad_sources_are_one_line_errors(devtron: DevtronTable, tmp_path: pathlib.Path) -> None:
    store = f"sqlite:///{tmp_path / 's.sqlite3'}"
    cases = [
        (["--from", "mysql://devtron@db/orchestrator"], "must be a PostgreSQL URL"),
        (["--from", devtron.url, "--table", "x; drop table y"], "is not a table name"),
        (["--from", devtron.url, "--table", "no_such_table"], "has no table"),
        (
            ["--from", "postgresql://devtron:hunter2-secret@127.0.0.1:1/orchestrator"],
            "cannot connect to Devtron's database postgresql://devtron@127.0.0.1:1/orchestrator",
        ),
    ]
    for args, expected in cases:
        result = CliRunner().invoke(cli, ["import", "devtron", *args, "--store", store])
        assert result.exit_code == 1, result.output
        assert result.output.startswith("Error: ") and expected in result.output, result.output
        assert len(result.output.splitlines()) == 1 and "hunter2" not in result.output


def test_decode_refuses_a_gzip_bomb_before_inflating_it() -> None:
    bomb = encode_request({"workflowId": 1, "padding": "x" * 200_000})
    with pytest.raises(Exception, match="inflates beyond max_request_bytes"):
        decode_request(bomb, max_bytes=10_000)
    assert decode_request(bomb, max_bytes=1_000_000)["workflowId"] == 1


def test_a_run_audited_live_already_is_present_and_left_as_it_is(
    devtron: DevtronTable, go_encoder: GoEncoder, store_url: str, plugins: None
) -> None:
    """Devtron audited by wfaudit live for a while before its history is imported."""
    planted = list(realistic_requests(3, seed=4))
    devtron.insert(rows_of(planted, go_encoder))
    live = planted[1]
    with Auditor.from_url(store_url, strict=True) as auditor:
        audited = auditor.audit_trigger(
            workflow_id="-",
            pipeline_id="-",
            workflow_type=live.workflow_type,
            config=live.request,
            labels={"source": "live"},
        )
        assert audited.ok and audited.created
    for dry in (["--dry-run"], []):
        result = run("import", "devtron", "--from", devtron.url, "--store", store_url, *dry)
        assert result.exit_code == 0, result.output
        assert "imported 2, already present 1, refused 0" in result.output.replace(
            "would import", "imported"
        )
    with Auditor.from_url(store_url, strict=True) as auditor:
        record = auditor.store.get_record(
            workflow_id=str(live.workflow_id), workflow_type=live.workflow_type
        )
        assert record is not None and record.labels["source"] == "live"
        events = auditor.store.list_events(subject=record.id, tenant=None, limit=100)
        assert [event.kind for event in events] == ["snapshot.audited"]  # no conflict evidence
