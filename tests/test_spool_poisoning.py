"""One audit the store can never take must not hold up any other (issue 16, item 1).

Three layers: the contract refuses identities no store can hold (too long,
control characters) the same way for ints and strings; the SQL store classes a
database's refusal of the data as permanent (:class:`StoreRejected`, never
spooled) and an outage as transient; the drain sets a file that fails
permanently aside in the quarantine with its reason and goes on with the next,
and ``wfaudit spool list/retry/discard`` manage the quarantine.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from tests.conftest import KeyNameMasker
from wfaudit import Auditor, hookimpl
from wfaudit.spool import is_spoolable
from wfaudit.testing.kit_store import make_record
from wfaudit.verify import verify
from wfaudit_hookspecs import (
    Blob,
    InvalidRequest,
    SaveResult,
    SnapshotRecord,
    Store,
    StoreRejected,
    StoreUnavailable,
    TriggerRequest,
    check_record_identities,
)
from wfaudit_sql.errors import is_permanent, translate
from wfaudit_sql.store import SqlStore
from wfaudit_sql.urls import parse_store_url

SECRET = "poison-S3cret-Password-77"

BAD_IDENTITIES: list[dict[str, Any]] = [
    {"workflow_id": 10**300},  # 301 digits: PostgreSQL's varchar(255) refuses it
    {"workflow_id": "9" * 256},
    {"workflow_id": "run\x00one"},
    {"pipeline_id": "p\x00"},
    {"triggered_by": "ci\x00bot"},
    {"tenant": "acme\x00"},
    {"triggered_by": "line\nbreak"},
    {"workflow_id": "c1\x85control"},
    {"workflow_id": "lone\ud800surrogate"},
    {"pipeline_id": -(10**300)},
    {"workflow_type": "X" * 65},
    {"parent": "p" * 256},
    {"attempt": 2**70},
    {"labels": {"k\x00": "v"}},
    {"labels": {"k": 10**300}},
]


def fields(n: int | str, **changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "workflow_id": n,
        "workflow_type": "CI",
        "pipeline_id": "p-1",
        "triggered_by": "orchestrator",
        "config": {"step": n, "password": SECRET},
    }
    base.update(changes)
    return base


# -- the contract ----------------------------------------------------------------------


@pytest.mark.parametrize("change", BAD_IDENTITIES, ids=lambda c: next(iter(c)))
def test_the_contract_refuses_identities_no_store_can_hold(change: dict[str, Any]) -> None:
    with pytest.raises(InvalidRequest) as caught:
        TriggerRequest(**fields(1, **change))
    message = str(caught.value)
    assert "\x00" not in message and "9" * 100 not in message


def test_ints_and_strings_follow_the_same_rules() -> None:
    longest = "9" * 255
    assert TriggerRequest(**fields(int(longest))).workflow_id == longest
    assert TriggerRequest(**fields(longest)).workflow_id == longest
    for too_long in (int("9" * 256), "9" * 256):
        with pytest.raises(InvalidRequest, match="at most 255 characters"):
            TriggerRequest(**fields(too_long))
    # Text a person reads as a name is fine, whatever its script.
    request = TriggerRequest(**fields("déploiement-東京", triggered_by="Zoë O'Brien"))
    assert request.triggered_by == "Zoë O'Brien"


# -- the SQL store's classification -------------------------------------------------------


def bad_records(backend: str) -> list[tuple[str, SnapshotRecord, Any]]:
    """Records (as an older wfaudit could have spooled them) the store refuses."""
    changes: list[dict[str, Any]] = [{"attempt": 2**70}]  # beyond any INTEGER column
    if backend == "postgresql":
        changes += [
            {"workflow_id": "9" * 300},
            {"triggered_by": "ci\x00bot"},
            {"workflow_id": "run\x00"},
            {"parent": "p" * 100},
        ]
    out = []
    for change in changes:
        record, blob = make_record(f"bad-{next(iter(change))}")
        out.append((next(iter(change)), attrs.evolve(record, **change), blob))
    return out


def store_refused_records(backend: str) -> list[tuple[str, SnapshotRecord, Any]]:
    """The :func:`bad_records` that pass the identity rules: only the store refuses them."""
    out = []
    for name, record, blob in bad_records(backend):
        try:
            check_record_identities(record)
        except InvalidRequest:
            continue
        out.append((name, record, blob))
    return out


def test_the_store_classes_refused_data_as_permanent(store_url: str) -> None:
    backend = parse_store_url(store_url).backend
    with SqlStore(store_url) as store:
        for name, record, blob in bad_records(backend):
            with pytest.raises(StoreRejected, match="refused the data") as caught:
                store.save(record, blob)
            assert not is_spoolable(caught.value), name
            assert "\x00" not in str(caught.value)
        # Nothing half-written: the store still takes good audits, and verifies.
        assert store.save(*make_record("good")).created
        assert store.check_trail().findings_total == 0


def test_database_errors_are_classed_from_real_drivers(store_url: str) -> None:
    target = parse_store_url(store_url)
    engine = create_engine(target.url)
    try:
        with engine.connect() as connection:
            connection.execute(
                text("CREATE TEMPORARY TABLE t (a INTEGER PRIMARY KEY, b VARCHAR(3) NOT NULL)")
            )
            connection.execute(text("INSERT INTO t VALUES (1, 'x')"))
            connection.commit()
            refusals = ["INSERT INTO t VALUES (1, 'y')", "INSERT INTO t VALUES (2, NULL)"]
            if target.backend == "postgresql":
                refusals += ["INSERT INTO t VALUES (3, 'abcd')", "SELECT 1/0"]
            for statement in refusals:
                with pytest.raises(DBAPIError) as caught:
                    connection.execute(text(statement))
                connection.rollback()
                assert is_permanent(caught.value), statement
                assert isinstance(translate(caught.value, "db"), StoreRejected)
    finally:
        engine.dispose()
    # An outage is transient, never permanent.
    if target.backend == "postgresql":
        down = create_engine("postgresql+psycopg://postgres@127.0.0.1:9/test")
    else:
        down = create_engine("sqlite:////nonexistent-dir/x/y.db")
    with pytest.raises(DBAPIError) as outage:
        down.connect()
    down.dispose()
    assert not is_permanent(outage.value)
    assert isinstance(translate(outage.value, "db"), StoreUnavailable)
    busy = sqlite3.OperationalError("database is locked")
    assert not is_permanent(busy)


# -- end to end: bad identities, then good audits -------------------------------------------


def test_a_bad_identity_never_holds_up_the_good_audits(
    make_auditor: Callable[..., Auditor], store_url: str
) -> None:
    auditor = make_auditor(KeyNameMasker())
    refused = [
        auditor.audit_trigger(**fields(1000 + i, **bad)) for i, bad in enumerate(BAD_IDENTITIES)
    ]
    good = [auditor.audit_trigger(**fields(n)) for n in range(15)]

    assert all(
        not r.ok and r.error_type in ("InvalidRequest", "UnknownWorkflowType") for r in refused
    )
    assert all(SECRET not in (r.error or "") for r in refused)
    assert all(r.ok and r.created and not r.spooled for r in good), [r.error for r in good]
    assert auditor.spool.depth() == 0 and auditor.spool.quarantined() == 0
    assert not auditor.spool_service.breaker.is_open()
    for n in range(15):
        assert auditor.store.get_record(workflow_id=str(n), workflow_type="CI") is not None
    assert verify(auditor).ok


def test_a_record_the_store_refuses_is_reported_not_spooled(
    make_auditor: Callable[..., Auditor], store_url: str
) -> None:
    """Past the contract (an adapter or a persist wrapper could hand the store
    anything): the store's refusal is the audit's error, nothing is spooled and
    the next audit goes straight to the store."""

    class Inflate:
        """A persist implementation that hands the store what no store can hold."""

        @hookimpl(tryfirst=True)
        def wfaudit_persist(
            self, snapshot: SnapshotRecord, payload: Blob, store: Store
        ) -> SaveResult | None:
            if snapshot.workflow_id != "inflated":
                return None
            return store.save(attrs.evolve(snapshot, attempt=2**70), payload)

    auditor = make_auditor(KeyNameMasker(), Inflate())
    result = auditor.audit_trigger(**fields("inflated"))
    assert not result.ok and result.error_type == "StoreRejected", result
    assert "refused the data" in (result.error or "")
    assert auditor.spool.depth() == 0
    assert not auditor.spool_service.breaker.is_open()
    after = auditor.audit_trigger(**fields("after"))
    assert after.ok and not after.spooled


# -- the drain and the quarantine ---------------------------------------------------------------


def spool_good_and_bad(auditor: Auditor, backend: str) -> tuple[list[SnapshotRecord], list[str]]:
    """Spool bad files first (the oldest, replayed first), then good ones."""
    bad_ids = []
    for _name, record, blob in store_refused_records(backend):
        auditor.spool.write(record, blob)
        bad_ids.append(record.id)
    good = []
    for n in range(5):
        record, blob = make_record(f"good-{n}", content={"n": n})
        auditor.spool.write(record, blob)
        good.append(record)
    return good, bad_ids


def test_drain_quarantines_a_permanent_failure_and_goes_on(
    make_auditor: Callable[..., Auditor], store_url: str
) -> None:
    auditor = make_auditor(KeyNameMasker())
    good, bad_ids = spool_good_and_bad(auditor, parse_store_url(store_url).backend)

    report = auditor.drain_spool()

    assert report.replayed == len(good) and report.remaining == 0
    assert report.rejected == len(bad_ids) and not report.store_unavailable
    assert not report.ok  # something was set aside: an operator should look
    assert sorted(q.name for q in report.quarantined) == sorted(f"{i}.wfspool" for i in bad_ids)
    assert all("refused the data" in q.reason for q in report.quarantined)
    assert all(q.readable and q.path.exists() for q in report.quarantined)
    assert sorted(q.snapshot_id or "" for q in report.quarantined) == sorted(bad_ids)
    for record in good:
        assert auditor.store.get_record_by_id(record.id) is not None
    listed = auditor.spool.quarantined_files()
    assert [q.snapshot_id for q in listed] == sorted(bad_ids)
    assert all(q.kind == "rejected" and q.readable for q in listed)
    assert verify(auditor).ok


SPOOLED_BY_AN_OLDER_WFAUDIT: list[dict[str, Any]] = [
    {"triggered_by": "ci\x00bot"},
    {"workflow_id": "9" * 300},
    {"pipeline_id": "p-\x1b[2J"},
    {"parent": "run\x85"},
    {"workflow_id": " padded "},
]


def test_drain_holds_spooled_identities_to_todays_rules(
    make_auditor: Callable[..., Auditor], store_url: str
) -> None:
    """A spool file written before the identity rules (or edited) is set aside with
    the field named, on every backend: SQLite would otherwise take all of them."""
    auditor = make_auditor(KeyNameMasker())
    bad: dict[str, str] = {}
    for change in SPOOLED_BY_AN_OLDER_WFAUDIT:
        field = next(iter(change))
        record, blob = make_record(f"old-{field}-{len(bad)}")
        record = attrs.evolve(record, **change)
        auditor.spool.write(record, blob)
        bad[record.id] = field
    good, good_blob = make_record("good-after-old-files")
    auditor.spool.write(good, good_blob)

    report = auditor.drain_spool()

    assert report.replayed == 1 and report.remaining == 0, report
    reasons = {
        q.snapshot_id or q.name.removesuffix(".wfspool"): q.reason for q in report.quarantined
    }
    assert sorted(reasons) == sorted(bad)
    for snapshot_id, field in bad.items():
        assert reasons[snapshot_id].count(field) >= 1, reasons[snapshot_id]
        assert "\x00" not in reasons[snapshot_id] and "\x1b" not in reasons[snapshot_id]
        assert auditor.store.get_record_by_id(snapshot_id) is None
    assert auditor.store.get_record_by_id(good.id) is not None
    assert verify(auditor).ok


def test_the_background_drain_is_not_poisoned(
    make_auditor: Callable[..., Auditor], store_url: str
) -> None:
    """The bug as reported: after one bad spooled file the breaker stayed open and
    every later audit went to the spool. Now the drainer sets it aside, replays
    the rest, closes the breaker, and audits reach the store again."""
    auditor = make_auditor(KeyNameMasker())
    good, bad_ids = spool_good_and_bad(auditor, parse_store_url(store_url).backend)
    breaker = auditor.spool_service.breaker
    breaker.trip()  # as after the failure that spooled them
    auditor.spool_service.drainer.kick()
    deadline = time.monotonic() + 60
    while (auditor.spool.depth() or breaker.is_open()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert auditor.spool.depth() == 0 and not breaker.is_open()
    assert auditor.spool.quarantined() == len(bad_ids)
    results = [auditor.audit_trigger(**fields(f"later-{n}")) for n in range(5)]
    assert all(r.ok and not r.spooled for r in results)
    for record in good:
        assert auditor.store.get_record_by_id(record.id) is not None


# -- the commands ----------------------------------------------------------------------------------


def wfaudit(*args: str, store: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "WFAUDIT_STORE_URL": store,
        "WFAUDIT_HOME": str(home),
        "WFAUDIT_LOAD_PLUGINS": "sql",
    }
    return subprocess.run(
        [sys.executable, "-m", "wfaudit", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_drain_and_spool_commands_manage_the_quarantine(
    make_auditor: Callable[..., Auditor], store_url: str, tmp_path: Path
) -> None:
    auditor = make_auditor(KeyNameMasker())
    home = auditor.settings.home
    _name, bad, bad_blob = bad_records(parse_store_url(store_url).backend)[0]
    auditor.spool.write(bad, bad_blob)
    kept, kept_blob = make_record("kept", content={"kept": 1})
    auditor.spool.write(kept, kept_blob)
    corrupt = auditor.spool.write(*make_record("corrupt", content={"c": 1}))
    corrupt.write_bytes(corrupt.read_bytes()[:-3])

    drained = wfaudit("drain", store=store_url, home=home)
    assert drained.returncode == 1, drained.stderr
    assert "replayed 1, already stored 0, remaining 0" in drained.stdout
    assert "quarantined 2: 1 refused by the store, 1 corrupt" in drained.stdout
    assert f"{bad.id}.wfspool (rejected): the store at" in drained.stdout
    assert "refused the data" in drained.stdout and "Traceback" not in drained.stderr

    listed = wfaudit("spool", "list", "--json", store=store_url, home=home)
    assert listed.returncode == 0, listed.stderr
    data = json.loads(listed.stdout)
    assert data["waiting"] == 0
    by_kind = {item["kind"]: item for item in data["quarantined"]}
    assert by_kind["rejected"]["snapshot_id"] == bad.id
    assert by_kind["rejected"]["workflow_id"] == bad.workflow_id
    assert "refused the data" in by_kind["rejected"]["reason"]
    assert by_kind["corrupt"]["snapshot_id"] is None
    text_list = wfaudit("spool", "list", store=store_url, home=home)
    assert "0 waiting, 2 quarantined" in text_list.stdout and bad.id in text_list.stdout

    # Retrying a file whose cause is not fixed sets it aside again (exit 1);
    # a corrupt file cannot be retried; neither is ever dropped.
    again = wfaudit("spool", "retry", bad.id, store=store_url, home=home)
    assert again.returncode == 1 and "put back 1 file" in again.stdout
    assert "quarantined 1: 1 refused by the store" in again.stdout
    no = wfaudit("spool", "retry", corrupt.name, store=store_url, home=home)
    assert no.returncode == 1 and "corrupt and cannot be replayed" in no.stderr
    unknown = wfaudit("spool", "discard", "nope", "--yes", store=store_url, home=home)
    assert unknown.returncode == 1 and "no quarantined spool file 'nope'" in unknown.stderr
    assert auditor.spool.quarantined() == 2

    # A file set aside for a cause since fixed goes through on retry.
    fixed, fixed_blob = make_record("fixed", content={"fixed": 1})
    auditor.spool.quarantine(auditor.spool.write(fixed, fixed_blob), "rejected", "was refused")
    retried = wfaudit("spool", "retry", fixed.id, store=store_url, home=home)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert "replayed 1" in retried.stdout
    assert auditor.store.get_record_by_id(fixed.id) is not None

    discarded = wfaudit("spool", "discard", "--all", "--yes", store=store_url, home=home)
    assert discarded.returncode == 0, discarded.stderr
    assert "discarded 2 files" in discarded.stdout and bad.id in discarded.stdout
    assert auditor.spool.quarantined() == 0
    assert wfaudit("drain", store=store_url, home=home).returncode == 0


# -- docs/operations.md: the quarantine section replayed -------------------------------------------

OPERATIONS = Path(__file__).resolve().parents[1] / "docs" / "operations.md"


def quarantine_examples() -> list[tuple[str, list[str]]]:
    """The ``$ wfaudit ...`` lines of the section's console block, each with the
    lines shown under it."""
    section = OPERATIONS.read_text(encoding="utf-8").split("### The quarantine", 1)[1]
    block = section.split("```console\n", 1)[1].split("```", 1)[0]
    examples: list[tuple[str, list[str]]] = []
    for line in block.splitlines():
        if line.startswith("$ "):
            examples.append((line[2:], []))
        else:
            examples[-1][1].append(line)
    return examples


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line by line; ``...`` stands for any number of lines."""
    if not expected:
        return not actual
    if expected[0] == "...":
        return any(matches(expected[1:], actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and actual[0] == expected[0] and matches(expected[1:], actual[1:])


@pytest.mark.wfaudit_backends("sqlite")
def test_the_quarantine_section_of_operations_md_runs(
    make_auditor: Callable[..., Auditor], store_url: str
) -> None:
    auditor = make_auditor(KeyNameMasker())
    (_name, bad, bad_blob), *_ = bad_records("sqlite")
    auditor.spool.write(bad, bad_blob)
    for n in range(2):
        auditor.spool.write(*make_record(f"docs-{n}", content={"n": n}))
    examples = quarantine_examples()
    assert [command.split()[:3] for command, _ in examples] == [
        ["wfaudit", "drain"],
        ["wfaudit", "spool", "list"],
        ["wfaudit", "spool", "retry"],
        ["wfaudit", "spool", "discard"],
    ]
    names = {
        bad.id: "<id>",
        parse_store_url(store_url).display: "<store>",
        store_url: "<store>",
        str(auditor.spool.directory): "<spool>",
    }
    for command, expected in examples:
        args = command.replace("<id>", bad.id).split()[1:]
        result = wfaudit(*args, store=store_url, home=auditor.settings.home)
        output = result.stdout  # standard error has the same as log records
        for real, shown in names.items():
            output = output.replace(real, shown)
        assert matches(expected, output.splitlines()), f"$ {command}\n{output}"
    assert auditor.spool.quarantined() == 0 and auditor.spool.depth() == 0


def test_outcomes_follow_the_same_identity_rules(
    make_auditor: Callable[..., Auditor], store_url: str
) -> None:
    auditor = make_auditor(KeyNameMasker())
    assert auditor.audit_trigger(**fields(1)).ok
    for call in (
        {"workflow_id": 10**300},
        {"workflow_id": 10**5000},  # past Python's own int-to-text limit
        {"workflow_id": "1\x00"},
        {"by": "ops\x00"},
        {"by": "o" * 256},
        {"reason": "exit 1\x00"},
    ):
        arguments: dict[str, Any] = {"workflow_id": 1, "reason": "exit 1", **call}
        with pytest.raises(InvalidRequest):
            auditor.record_outcome(
                arguments.pop("workflow_id"), "CI", "failed", arguments.pop("reason"), **arguments
            )
    outcome = auditor.record_outcome(1, "CI", "failed", "exit 1\nstep 3", by="ops")
    assert outcome.record.status_reason == "exit 1\nstep 3"
    assert verify(auditor).ok
