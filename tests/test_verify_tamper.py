"""``wfaudit verify`` reports every row changed behind the store's back.

A store is filled through the API (audits and outcomes), checked clean, then
changed directly in SQL, one way per test: a snapshot row edited, deleted or
inserted; an event edited, deleted, reordered or inserted; a blob's bytes
changed; the chain head rewritten. Each change must be reported, with the right
kind of problem and the row it concerns, by the API and by the command (exit 1).
The systematic matrix (every table, the keyed chain, anchors) is
tests/test_verify_matrix.py.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine

from tests.conftest import KeyNameMasker
from wfaudit import Auditor, codec
from wfaudit.cli import cli
from wfaudit.verify import VerifyReport, verify
from wfaudit_hookspecs import canonical_json
from wfaudit_sql.schema import digest_bytes, digest_text
from wfaudit_sql.urls import parse_store_url


@pytest.fixture
def sql(store_url: str) -> Iterator[Engine]:
    engine = create_engine(parse_store_url(store_url).url)
    yield engine
    engine.dispose()


@pytest.fixture
def filled(make_auditor: Callable[..., Auditor]) -> Auditor:
    """Six runs in two pipelines, two outcomes each for runs 3 and 5."""
    auditor = make_auditor(KeyNameMasker())
    for n in range(1, 7):
        result = auditor.audit_trigger(
            workflow_id=n,
            workflow_type="CI",
            pipeline_id=f"p{n % 2}",
            triggered_by="ci",
            labels={"app": "payments"},
            config={"step": n, "password": "pw", "shared": n % 3},
        )
        assert result.ok, result.error
    for n in (3, 5):
        auditor.record_outcome(n, "CI", "running", by="runner")
        auditor.record_outcome(n, "CI", "failed", reason="exit 1", by="runner")
    report = verify(auditor)
    assert report.ok, report.findings
    assert (report.snapshots, report.events, report.chains) == (6, 10, 1)
    assert report.blobs == 6
    return auditor


def found(report: VerifyReport) -> set[tuple[str, str]]:
    return {(f.problem, f.table) for f in report.findings}


def one(connection: Connection, sql: str, **params: Any) -> Any:
    return connection.execute(text(sql), params).scalar_one()


def snapshot_id(connection: Connection, workflow_id: str) -> str:
    return str(one(connection, "SELECT id FROM snapshots WHERE workflow_id = :w", w=workflow_id))


def edit_sealed_column(c: Connection) -> str:
    c.execute(text("UPDATE snapshots SET pipeline_id = 'elsewhere' WHERE workflow_id = '2'"))
    return snapshot_id(c, "2")


def edit_labels(c: Connection) -> str:
    c.execute(text("""UPDATE snapshots SET labels = '{"app":"other"}' WHERE workflow_id = '4'"""))
    return snapshot_id(c, "4")


def edit_status(c: Connection) -> str:
    c.execute(text("UPDATE snapshots SET status = 'succeeded' WHERE workflow_id = '3'"))
    return snapshot_id(c, "3")


def delete_snapshot(c: Connection) -> str:
    key = snapshot_id(c, "6")
    c.execute(text("DELETE FROM snapshots WHERE workflow_id = '6'"))
    return key


def insert_snapshot(c: Connection) -> str:
    columns = (
        "tenant, workflow_id, workflow_type, pipeline_id, triggered_by, trigger_kind, labels, "
        "parent_id, attempt, schema_version, content_hash, manifest_hash, status, status_reason, "
        "config_size, created_on, created_by, updated_on, updated_by"
    )
    c.execute(
        text(
            f"INSERT INTO snapshots (id, {columns}) SELECT 'FORGED0000000000000000000X', "  # noqa: S608
            f"{columns.replace('workflow_id', quote_forged())} FROM snapshots WHERE workflow_id = '1'"
        )
    )
    return "FORGED0000000000000000000X"


def quote_forged() -> str:
    return "'999'"


def edit_event(c: Connection) -> str:
    c.execute(text("UPDATE events SET actor = 'mallory' WHERE chain_seq = 3"))
    return "-#3"


def delete_middle_event(c: Connection) -> str:
    c.execute(text("DELETE FROM events WHERE chain_seq = 4"))
    return "-#4"


def delete_last_event(c: Connection) -> str:
    c.execute(text("DELETE FROM events WHERE chain_seq = 10"))
    return "-#10"


def reorder_events(c: Connection) -> str:
    # Swap two positions through a free one (the unique key forbids a plain swap).
    c.execute(text("UPDATE events SET chain_seq = 1000 WHERE chain_seq = 7"))
    c.execute(text("UPDATE events SET chain_seq = 7 WHERE chain_seq = 8"))
    c.execute(text("UPDATE events SET chain_seq = 8 WHERE chain_seq = 1000"))
    return "-#7"


def insert_event(c: Connection) -> str:
    last = c.execute(text("SELECT hash, subject FROM events WHERE chain_seq = 10")).one()
    c.execute(
        text(
            "INSERT INTO events (tenant, subject, seq, kind, at, actor, data, chain_seq, "
            "prev_hash, hash) VALUES ('', :subject, 99, 'outcome.recorded', :at, 'mallory', "
            """'{"status":"succeeded"}', 11, :prev, :hash)"""
        ),
        {
            "subject": last.subject,
            "at": dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
            "prev": last.hash,
            "hash": digest_bytes("f" * 64),
        },
    )
    return "-#11"


def change_blob_bytes(c: Connection) -> str:
    digest = digest_text(one(c, "SELECT content_hash FROM snapshots WHERE workflow_id = '1'"))
    _, forged = codec.compress(
        canonical_json({"step": 1, "password": "forged-value-xyz", "shared": 1})
    )
    c.execute(
        text("UPDATE blobs SET data = :data, stored_size = :size WHERE content_hash = :h"),
        {"data": forged, "size": len(forged), "h": digest_bytes(digest)},
    )
    return digest


def rewrite_head(c: Connection) -> str:
    c.execute(text("UPDATE chain_heads SET hash = :h"), {"h": digest_bytes("0" * 64)})
    return "-"


CASES: dict[str, tuple[Callable[[Connection], str], tuple[str, str]]] = {
    "edit-snapshot-column": (edit_sealed_column, ("modified", "snapshots")),
    "edit-snapshot-labels": (edit_labels, ("modified", "snapshots")),
    "edit-snapshot-status": (edit_status, ("modified", "snapshots")),
    "delete-snapshot": (delete_snapshot, ("deleted", "snapshots")),
    "insert-snapshot": (insert_snapshot, ("inserted", "snapshots")),
    "edit-event": (edit_event, ("modified", "events")),
    "delete-event": (delete_middle_event, ("deleted", "events")),
    "delete-last-event": (delete_last_event, ("deleted", "events")),
    "reorder-events": (reorder_events, ("reordered", "events")),
    "insert-event": (insert_event, ("inserted", "events")),
    "change-blob-bytes": (change_blob_bytes, ("modified", "blobs")),
    "rewrite-chain-head": (rewrite_head, ("modified", "chain_heads")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_tampering_is_reported(filled: Auditor, sql: Engine, case: str) -> None:
    tamper, expected = CASES[case]
    with sql.begin() as connection:
        key = tamper(connection)
    report = verify(filled)
    assert not report.ok
    assert expected in found(report), report.findings
    assert any(f.key.startswith(key) for f in report.findings if (f.problem, f.table) == expected)
    # Findings name rows and columns, never values.
    assert "mallory" not in repr(report) and "forged-value-xyz" not in repr(report)


def test_command_exits_1_with_the_findings(filled: Auditor, sql: Engine, store_url: str) -> None:
    runner = CliRunner()
    clean = runner.invoke(cli, ["--store", store_url, "verify", "--json"])
    assert clean.exit_code == 0, clean.output
    assert json.loads(clean.output)["ok"] is True

    with sql.begin() as connection:
        edit_sealed_column(connection)
        delete_middle_event(connection)
    result = runner.invoke(cli, ["--store", store_url, "verify", "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    assert report["ok"] is False
    problems = {(f["problem"], f["table"]) for f in report["findings"]}
    assert {("modified", "snapshots"), ("deleted", "events")} <= problems

    text_out = runner.invoke(cli, ["--store", store_url, "verify"])
    assert text_out.exit_code == 1
    assert "verify: FAILED" in text_out.output
    assert "MODIFIED" in text_out.output and "DELETED" in text_out.output


def test_outcomes_and_appended_events_keep_the_store_verifiable(filled: Auditor) -> None:
    """Events other issues append (tags, holds, deletions) keep the chain whole."""
    store = filled.store
    first = filled.history(limit=10)[-1]
    store.append_event(subject=first.id, kind="snapshot.tagged", tenant=None, data={"tag": "v1"})
    store.append_event(subject="pipeline:p1", kind="legal_hold.set", tenant=None, actor="legal")
    filled.record_outcome(first.workflow_id, "CI", "succeeded", by="runner")
    assert verify(filled).ok


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("labels", '{"app":"forged-value-xyz"}'),
        ("triggered_by", "mallory"),
        ("created_by", "mallory"),
        ("config_size", 1),
        ("schema_version", 7),
        ("trigger_kind", "schedule"),
        ("pipeline_id", "forged-value-xyz"),
    ],
)
def test_a_changed_sealed_column_is_named(
    filled: Auditor, sql: Engine, store_url: str, column: str, value: object
) -> None:
    """``verify`` names the column (and the table and row) changed behind the
    store's back, never its value (issue 21, item 10)."""
    with sql.begin() as connection:
        key = snapshot_id(connection, "4")
        connection.execute(
            text(f"UPDATE snapshots SET {column} = :v WHERE id = :id"),  # noqa: S608 - a test's own names
            {"v": value, "id": key},
        )
    report = verify(filled)
    (finding,) = [f for f in report.findings if f.table == "snapshots"]
    assert (finding.problem, finding.key) == ("modified", key)
    assert finding.detail == f"{column} differs from what the audit recorded"
    shown = CliRunner().invoke(cli, ["--store", store_url, "verify"])
    assert shown.exit_code == 1
    assert f"snapshots/{key}: {column} differs from what the audit recorded" in shown.output
    assert "forged-value-xyz" not in shown.output and "mallory" not in shown.output
