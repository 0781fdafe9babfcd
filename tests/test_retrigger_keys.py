"""One fingerprint key per installation: the store records its id and refuses others.

Two auditors with separate homes (two orchestrator replicas with their own data
directories) on one store: the second one's key differs, and it refuses to
write with an error that says how to share the key; with the shared key both
dedup and diff cleanly. Real SQLite and PostgreSQL stores; the ``wfaudit keys``
commands run as real processes.
"""

from __future__ import annotations

import json
import os
import pathlib
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from wfaudit import Auditor, TriggerRequest
from wfaudit.keys import (
    KEY_ID_META,
    KeyMismatch,
    export_text,
    import_keys,
    key_id,
    load_keys,
    parse_export,
    rotate_keys,
)
from wfaudit.testing import MemoryKeyring, find_secrets
from wfaudit_hookspecs import ConfigurationError, StoreMeta

PASSWORD = "Rg7!replica-Pa55word"
TOKEN = "dpl-9Qz8Lm2Xw7Rt5Kb1Nc4f"


def request(workflow_id: str) -> TriggerRequest:
    return TriggerRequest(
        workflow_id=workflow_id,
        workflow_type="CI",
        pipeline_id="payments-api",
        config={
            "registry": {"server": "registry.acme.example", "password": PASSWORD},
            "env": {"DEPLOY_TOKEN": TOKEN, "LOG_LEVEL": "info"},
        },
    )


@pytest.fixture
def replica(
    store_url: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Auditor]]:
    """Open an auditor as a replica with its own data directory (and key)."""
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql,maskers")
    opened: list[Auditor] = []

    def open_replica(name: str, *, strict: bool = True) -> Auditor:
        monkeypatch.setenv("WFAUDIT_HOME", str(tmp_path / name))
        auditor = Auditor.from_url(store_url, strict=strict)
        opened.append(auditor)
        return auditor

    yield open_replica
    for auditor in opened:
        auditor.close()


def recorded_id(auditor: Auditor) -> str | None:
    assert isinstance(auditor.store, StoreMeta)
    return auditor.store.read_meta(KEY_ID_META)


def test_a_replica_with_another_key_refuses_to_write(replica: Callable[..., Auditor]) -> None:
    first = replica("replica-a")
    assert first.audit_trigger(request("1001")).ok
    assert recorded_id(first) == first.keys.id

    second = replica("replica-b")
    assert second.keys.id != first.keys.id
    with pytest.raises(KeyMismatch) as raised:
        second.audit_trigger(request("1002"))
    message = str(raised.value)
    for fragment in (first.keys.id, second.keys.id, "WFAUDIT_FINGERPRINT_KEY", "keys import"):
        assert fragment in message
    for key in (first.keys.current, second.keys.current):
        assert key.hex() not in message
    with pytest.raises(KeyMismatch):
        second.record_outcome("1001", "CI", "failed", "infrastructure: node lost")
    # Non-blocking, it is a refused audit (not spooled: its fingerprints would be wrong).
    lenient = replica("replica-b", strict=False)
    result = lenient.audit_trigger(request("1003"))
    assert not result.ok and result.error_type == "KeyMismatch"
    assert lenient.spool.depth(None) == 0
    assert [r.workflow_id for r in first.history()] == ["1001"]
    assert first.get_snapshot("1001", "CI").status.value == "triggered"
    assert recorded_id(first) == first.keys.id


def test_with_the_shared_key_replicas_dedup_and_diff_cleanly(
    replica: Callable[..., Auditor], tmp_path: pathlib.Path
) -> None:
    first = replica("replica-a")
    assert first.audit_trigger(request("1001")).ok
    export = export_text(first.keys)
    current, retired = parse_export(export)
    import_keys(tmp_path / "replica-b" / "fingerprint.key", current, retired)

    second = replica("replica-b")
    assert second.keys.id == first.keys.id
    assert second.audit_trigger(request("1002")).ok
    a = first.get_snapshot("1001", "CI")
    b = second.get_snapshot("1002", "CI")
    assert a.content_hash == b.content_hash  # dedup: one blob for both
    diff = second.diff(a, b)
    assert diff.changes == () and diff.secrets.changed == ()
    assert set(diff.secrets.unchanged) == {"/env/DEPLOY_TOKEN", "/registry/password"}


def test_the_key_is_shared_through_the_environment_too(
    replica: Callable[..., Auditor], monkeypatch: pytest.MonkeyPatch
) -> None:
    shared = os.urandom(32)
    monkeypatch.setenv("WFAUDIT_FINGERPRINT_KEY", shared.hex())
    first, second = replica("replica-a"), replica("replica-b")
    assert first.keys.id == second.keys.id == key_id(shared)
    assert first.audit_trigger(request("1001")).ok and second.audit_trigger(request("1002")).ok
    assert second.diff(
        first.get_snapshot("1001", "CI"), second.get_snapshot("1002", "CI")
    ).identical


def test_the_key_check_is_one_query_per_process_not_per_audit(
    replica: Callable[..., Auditor],
) -> None:
    auditor = replica("replica-a")
    engine = auditor.store._engine  # type: ignore[attr-defined]
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        for number in range(5):
            assert auditor.audit_trigger(request(f"10{number}")).ok
        auditor.record_outcome("100", "CI", "failed", "infrastructure: node lost")
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    assert sum("store_meta" in text for text in statements) == 2  # the claim: insert, select


def test_rotation_moves_the_store_on_and_the_old_key_refuses(
    replica: Callable[..., Auditor], tmp_path: pathlib.Path
) -> None:
    old = replica("replica-a")
    assert old.audit_trigger(request("1001")).ok
    shared = parse_export(export_text(old.keys))
    import_keys(tmp_path / "replica-b" / "fingerprint.key", *shared)
    before, after = rotate_keys(old.settings.key_file)
    assert before.id == old.keys.id and after.retired_ids == (before.id,)

    rotated = replica("replica-a")
    assert rotated.keys.id == after.id
    assert rotated.audit_trigger(request("1002")).ok
    assert recorded_id(rotated) == after.id
    stale = replica("replica-b")  # still on the key before the rotation
    with pytest.raises(KeyMismatch):
        stale.audit_trigger(request("1003"))
    with pytest.raises(KeyMismatch):
        stale.check_key()


def test_key_sources_and_their_errors(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, wfaudit_keyring: MemoryKeyring
) -> None:
    key_file = tmp_path / "home" / "fingerprint.key"
    made = load_keys(key_file)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_keys(key_file).current == made.current
    assert made.id == key_id(made.current) and made.current.hex()[:16] != made.id
    assert made.current.hex() not in repr(made)

    monkeypatch.setenv("WFAUDIT_FINGERPRINT_KEYRING", "wfaudit/fingerprint")
    from_keyring = load_keys(key_file)
    assert from_keyring.source == "keyring wfaudit/fingerprint"
    stored = wfaudit_keyring.get_password("wfaudit", "fingerprint")
    assert stored == from_keyring.current.hex()
    assert load_keys(key_file).current == from_keyring.current
    rotate_keys(key_file)
    assert wfaudit_keyring.get_password("wfaudit", "fingerprint") != stored
    assert load_keys(key_file).retired == (from_keyring.current,)
    monkeypatch.delenv("WFAUDIT_FINGERPRINT_KEYRING")

    for name, value, fragment in (
        ("WFAUDIT_FINGERPRINT_KEY", "not hex", "hex digits"),
        ("WFAUDIT_FINGERPRINT_KEY", "abcd", "at least 16 bytes"),
        ("WFAUDIT_RETIRED_FINGERPRINT_KEYS", "00" * 16 + ",zz", "hex digits"),
        ("WFAUDIT_FINGERPRINT_KEYRING", "no-slash", "service/username"),
    ):
        with monkeypatch.context() as scoped:
            scoped.setenv(name, value)
            with pytest.raises(ConfigurationError, match=fragment):
                load_keys(key_file)
    monkeypatch.setenv("WFAUDIT_FINGERPRINT_KEY", "11" * 32)
    with pytest.raises(ConfigurationError, match="change it there"):
        rotate_keys(key_file)
    with pytest.raises(ConfigurationError, match="holds no key"):
        parse_export("# nothing\n")


def wfaudit(*args: str, home: pathlib.Path, stdin: str | None = None) -> Any:
    return subprocess.run(
        [sys.executable, "-m", "wfaudit", *args],
        capture_output=True,
        text=True,
        input=stdin,
        env={**os.environ, "WFAUDIT_HOME": str(home)},
        timeout=120,
        check=False,
    )


def test_the_keys_commands_and_two_processes_with_different_keys(
    store_url: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql,maskers")
    payload = tmp_path / "payload.json"
    payload.write_text(json.dumps(request("1").config), encoding="utf-8")
    a, b = tmp_path / "host-a", tmp_path / "host-b"

    def trigger(home: pathlib.Path, workflow_id: str) -> Any:
        return wfaudit(
            "--store", store_url, "trigger", str(payload), "--type", "CI",
            "--workflow-id", workflow_id, "--pipeline-id", "payments-api", home=home,
        )  # fmt: skip

    assert trigger(a, "1001").returncode == 0
    refused = trigger(b, "1002")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: the store at ")
    assert "WFAUDIT_FINGERPRINT_KEY" in lines[0] and "wfaudit keys import" in lines[0]

    shown = wfaudit("--store", store_url, "keys", "show", "--json", home=a)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert data["store"] == "matches" and data["store_key_id"] == data["key_id"]
    differs = wfaudit("--store", store_url, "keys", "show", home=b)
    assert (
        differs.returncode == 1 and f"store's key id: {data['key_id']} (differs)" in differs.stdout
    )

    exported = tmp_path / "keys.txt"
    done = wfaudit("keys", "export", "--output", str(exported), home=a)
    assert done.returncode == 0, done.stderr
    assert stat.S_IMODE(exported.stat().st_mode) == 0o600
    key = (a / "fingerprint.key").read_bytes().hex()
    assert key not in done.stdout + done.stderr
    imported = wfaudit("keys", "import", "-", home=b, stdin=exported.read_text())
    assert imported.returncode == 0, imported.stderr
    assert f"key {data['key_id']} imported" in imported.stdout
    assert trigger(b, "1002").returncode == 0

    rotated = wfaudit("--store", store_url, "keys", "rotate", "--json", home=b)
    assert rotated.returncode == 0, rotated.stderr
    after = json.loads(rotated.stdout)
    assert data["key_id"] in after["retired_key_ids"] and after["key_id"] != data["key_id"]
    assert trigger(a, "1003").returncode == 1  # host a has the key before the rotation
    assert trigger(b, "1004").returncode == 0
    outputs = [("out", r.stdout + r.stderr) for r in (shown, differs, done, imported, rotated)]
    assert find_secrets([key, PASSWORD, TOKEN], texts=outputs) == []


@pytest.mark.wfaudit_backends("postgresql")
def test_a_replica_that_spooled_while_the_store_was_away_does_not_drain_with_its_key(
    store_url: str, replica: Callable[..., Auditor], tcp_proxy: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = replica("replica-a")
    assert first.audit_trigger(request("1001")).ok
    proxy = tcp_proxy(store_url)
    proxy.cut()
    monkeypatch.setenv("WFAUDIT_HOME", str(pathlib.Path(str(first.settings.home)).parent / "b"))
    second = Auditor.from_url(proxy.url_for(store_url), strict=False)
    try:
        result = second.audit_trigger(request("1002"))
        assert result.ok and result.spooled  # the key could not be checked: spooled
        proxy.restore()
        deadline = time.monotonic() + 30
        report = second.drain_spool(wait=5)
        while report.store_unavailable and time.monotonic() < deadline:
            time.sleep(0.5)  # the stand-in store tries to open the real one every 2 s
            report = second.drain_spool(wait=5)
        assert report.replayed == 0 and report.remaining == 1
        assert report.error is not None and "fingerprints made with key" in report.error
        assert second.spool.depth() == 1
    finally:
        second.close()
    assert [r.workflow_id for r in first.history()] == ["1001"]


def test_the_keyring_entry_can_be_named_in_the_settings_file(
    store_url: str,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    wfaudit_keyring: MemoryKeyring,
) -> None:
    shared = os.urandom(32)
    wfaudit_keyring.set_password("wfaudit-ci", "fingerprint", shared.hex())
    settings = tmp_path / "wfaudit.toml"
    settings.write_text('fingerprint_keyring = "wfaudit-ci/fingerprint"\n', encoding="utf-8")
    monkeypatch.setenv("WFAUDIT_CONFIG", str(settings))
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql,maskers")
    with Auditor.from_url(store_url, strict=True) as auditor:
        assert auditor.keys.source == "keyring wfaudit-ci/fingerprint"
        assert auditor.keys.id == key_id(shared)
        assert auditor.audit_trigger(request("1001")).ok
        assert recorded_id(auditor) == key_id(shared)
        assert not auditor.settings.key_file.exists()  # no key file was made


def test_the_chain_and_its_anchors_stay_verifiable_across_a_rotation(
    replica: Callable[..., Auditor],
) -> None:
    """The chain key derives from the fingerprint key: after a rotation, events
    keyed (and anchors written) under the retired key still verify, and a key
    this installation never had is still reported."""
    from wfaudit.verify import load_anchor, make_anchor, verify

    old = replica("replica-a")
    assert old.audit_trigger(request("2001")).ok
    report = verify(old)
    assert report.ok, report.findings
    anchor_text = json.dumps(make_anchor(old, report).to_json(old))
    old_chain_id = old.chain_key_id
    rotate_keys(old.settings.key_file)

    rotated = replica("replica-a")
    assert rotated.chain_key_id != old_chain_id
    assert rotated.audit_trigger(request("2002")).ok
    anchor = load_anchor(anchor_text, rotated)
    after = verify(rotated, anchor=anchor)
    assert after.ok, after.findings

    stranger = replica("replica-c")  # a key of another installation
    foreign = verify(stranger)
    assert not foreign.ok
    assert any("keyed with chain key" in finding.detail for finding in foreign.findings)
