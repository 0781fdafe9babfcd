"""No planted secret reaches the store, the blobs, the logs or the command line.

Realistic CI, pre-CD and post-CD requests carrying secrets of every family
(``tests/test_secrets_requests.py``) are audited through the installed plugins
(sql, maskers, keyring) on real stores; then every byte that was written is
searched for each secret and its base64 and URL-encoded forms.
"""

from __future__ import annotations

import json
import logging
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from tests.test_secrets_requests import all_plantings, ci_request, forms
from wfaudit import Auditor
from wfaudit.codec import decompress
from wfaudit_hookspecs import Snapshot, TriggerRequest
from wfaudit_hookspecs.pointer import get_at, parse_pointer
from wfaudit_maskers import CATALOG

PLUGINS = "sql,maskers,keyring"
"""The entry points these tests load (adapters under development elsewhere are left out)."""


@pytest.fixture
def auditor(store_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Auditor]:
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", PLUGINS)
    with Auditor.from_url(store_url, strict=True) as opened:
        yield opened


def audit_everything(auditor: Auditor) -> dict[str, Snapshot]:
    snapshots: dict[str, Snapshot] = {}
    for number, (kind, planting) in enumerate(all_plantings()):
        result = auditor.audit_trigger(
            TriggerRequest(
                workflow_id=9000 + number,
                workflow_type=kind,
                pipeline_id=7,
                triggered_by="ci-bot",
                config=planting.config,
            )
        )
        assert result.ok, result.error
        assert result.masked > 0
        snapshots[kind] = auditor.get_snapshot(9000 + number, kind)
    return snapshots


def secret_forms() -> set[str]:
    out: set[str] = set()
    for _kind, planting in all_plantings():
        for secret in planting.secrets:
            out |= forms(secret)
    return out


def leaks(haystack: str | bytes, where: str) -> list[str]:
    text = haystack.decode("utf-8", "replace") if isinstance(haystack, bytes) else haystack
    return [f"{where}: {form[:12]}..." for form in secret_forms() if form in text]


def engine_for(url: str) -> sa.Engine:
    return sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))


def stored_bytes(url: str) -> list[tuple[str, str | bytes]]:
    """Every value of every table, and every blob decompressed."""
    engine = engine_for(url)
    out: list[tuple[str, str | bytes]] = []
    try:
        with engine.connect() as connection:
            for table_name in sa.inspect(connection).get_table_names():
                table = sa.Table(table_name, sa.MetaData(), autoload_with=connection)
                for row in connection.execute(sa.select(table)).mappings():
                    for column, value in row.items():
                        where = f"{table_name}.{column}"
                        if isinstance(value, bytes | memoryview):
                            raw = bytes(value)
                            out.append((where, raw))
                            if table_name == "blobs" and column == "data":
                                out.append(
                                    (f"{where} (decompressed)", decompress(row["codec"], raw))
                                )
                        else:
                            out.append((where, str(value)))
    finally:
        engine.dispose()
    return out


def test_no_secret_is_stored(
    auditor: Auditor, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        snapshots = audit_everything(auditor)
        for snapshot in snapshots.values():
            assert auditor.get_snapshot_by_id(snapshot.id).content_hash == snapshot.content_hash
    found: list[str] = []
    for where, value in stored_bytes(store_url):
        found += leaks(value, where)
    for kind, snapshot in snapshots.items():
        found += leaks(json.dumps(snapshot.config), f"{kind} masked config")
        found += leaks(repr(snapshot), f"{kind} repr")
    found += leaks(caplog.text, "log records")
    if store_url.startswith("sqlite:///"):
        database = pathlib.Path(store_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            path = database.with_name(database.name + suffix)
            if path.exists():
                found += leaks(path.read_bytes(), path.name)
    assert found == []


def test_what_a_retrigger_needs_comes_through(auditor: Auditor) -> None:
    snapshots = audit_everything(auditor)
    for kind, planting in all_plantings():
        config = snapshots[kind].config
        for pointer, value in planting.keep.items():
            assert get_at(config, parse_pointer(pointer, config)) == value, (kind, pointer)
    references = {(r.kind, r.name) for r in snapshots["CI"].manifest.references}
    assert ("github-secret", "NPM_TOKEN") in references
    assert ("github-secret", "GITHUB_TOKEN") in references
    references = {(r.kind, r.name) for r in snapshots["PRE_CD"].manifest.references}
    assert ("k8s-secret", "payments-db/password") in references
    assert ("template", "params.db-password") in references


def test_every_family_is_recorded_in_the_manifests(auditor: Auditor) -> None:
    snapshots = audit_everything(auditor)
    rules = {field.rule for s in snapshots.values() for field in s.manifest.fields}
    families = {rule.split(":", 1)[0] for rule in rules}
    assert families == {"known-field", "keyword", "pattern", "embedded", "encoded", "entropy"}
    # the named formats planted are recorded under their own names
    assert {f"pattern:{p.name}" for p in CATALOG} - rules <= {
        f"pattern:{p.name}" for p in CATALOG if p.kind == "custom"
    } | {"pattern:jwt"}  # every JWT planted here is named more precisely (kubernetes-sa-token)
    for snapshot in snapshots.values():
        for field in snapshot.manifest.fields:
            assert len(field.fingerprint) == 64
            assert field.path.startswith("/")


def test_a_changed_secret_is_told_apart_by_its_fingerprint(auditor: Auditor) -> None:
    first = ci_request()
    second = ci_request()
    second.config["dockerPassword"] = "Another-Rotated-Pa55!"
    for number, planting in ((1, first), (2, second)):
        auditor.audit_trigger(
            TriggerRequest(
                workflow_id=number, workflow_type="CI", pipeline_id=7, config=planting.config
            )
        )
    a, b = auditor.get_snapshot(1, "CI"), auditor.get_snapshot(2, "CI")
    fa, fb = a.manifest.field_at("/dockerPassword"), b.manifest.field_at("/dockerPassword")
    assert fa is not None and fb is not None
    assert fa.fingerprint != fb.fingerprint
    assert a.manifest.field_at("/runtimeEnvironmentVariables/DB_PASSWORD") == b.manifest.field_at(
        "/runtimeEnvironmentVariables/DB_PASSWORD"
    )
    assert "Another-Rotated-Pa55!" not in json.dumps(b.config)


def wfaudit(*args: str, store: str) -> str:
    env = dict(os.environ, WFAUDIT_STORE_URL=store, WFAUDIT_LOAD_PLUGINS=PLUGINS)
    result = subprocess.run(
        [sys.executable, "-m", "wfaudit", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout + result.stderr


@pytest.mark.wfaudit_backends("sqlite")
def test_no_secret_in_command_line_output(auditor: Auditor, store_url: str) -> None:
    snapshots = audit_everything(auditor)
    ci, pre, post = snapshots["CI"], snapshots["PRE_CD"], snapshots["POST_CD"]
    outputs: dict[str, str] = {
        "show --json": wfaudit("show", "--id", ci.id, "--json", store=store_url),
        "show": wfaudit("show", pre.workflow_id, "--type", "PRE_CD", store=store_url),
        "show --config-only": wfaudit(
            "show", post.workflow_id, "--type", "POST_CD", "--config-only", store=store_url
        ),
        "log --json": wfaudit("log", "--json", store=store_url),
        "log": wfaudit("log", store=store_url),
        "diff --json": wfaudit("diff", ci.id, pre.id, "--json", store=store_url),
        "diff": wfaudit("diff", pre.id, post.id, store=store_url),
    }
    found = [leak for name, text in outputs.items() for leak in leaks(text, name)]
    assert found == []
    shown: Any = json.loads(outputs["show --json"])
    assert "[masked:" in json.dumps(shown)
    assert len(json.loads(outputs["log --json"])) == 3


def test_the_leak_search_finds_unmasked_secrets(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A control: without a masker, the same search must find the secrets.
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql")
    with Auditor.from_url(store_url, strict=True, allow_unmasked=True) as unmasked:
        audit_unmasked = unmasked.audit_trigger(
            TriggerRequest(
                workflow_id=1, workflow_type="CI", pipeline_id=7, config=ci_request().config
            )
        )
        assert audit_unmasked.ok
    found = [leak for where, value in stored_bytes(store_url) for leak in leaks(value, where)]
    assert any("(decompressed)" in leak for leak in found)
