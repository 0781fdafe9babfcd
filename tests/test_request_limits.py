"""Audits that used to be lost silently (issue 16, item 3).

* A request over the size or depth limit is refused before any work (no adapter,
  masker or store sees it) with :class:`RequestTooLarge`, which names the limit.
* Deep nesting and huge integers are an :class:`InvalidRequest` on every path
  (API, CLI file, YAML), never a ``RecursionError`` or exit status 70.
* A second trigger of one run with other content is refused *and* kept as
  evidence on the stored snapshot's trail, visible in ``wfaudit show``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import KeyNameMasker
from wfaudit import Auditor, hookimpl
from wfaudit.settings import DEFAULT_MAX_REQUEST_BYTES, Settings
from wfaudit.verify import verify
from wfaudit_hookspecs import (
    ConfigurationError,
    EventKind,
    InvalidRequest,
    PluginError,
    RequestTooLarge,
    SnapshotConflict,
    TriggerRequest,
    canonical_json,
)
from wfaudit_hookspecs.canonical import check_json

SECRET = "limits-S3cret-Password-31337"


class Recorder:
    """Counts the adapter and masker calls (to prove a refusal came before them)."""

    def __init__(self) -> None:
        self.pre_trigger = 0
        self.mask = 0

    @hookimpl
    def wfaudit_pre_trigger(self, request: TriggerRequest) -> None:
        self.pre_trigger += 1

    @hookimpl
    def wfaudit_mask(self, context: Any) -> None:
        self.mask += 1


def nested(depth: int) -> Any:
    """A config of exactly ``depth`` levels of objects and arrays."""
    value: Any = "leaf"
    for level in range(depth):
        value = {"a": value} if level % 2 else [value]
    return value


def request(n: int | str, config: Any, **extra: Any) -> dict[str, Any]:
    return {
        "workflow_id": n,
        "workflow_type": "CI",
        "pipeline_id": "p",
        "triggered_by": "ci",
        "config": config,
        **extra,
    }


# -- size ---------------------------------------------------------------------------------


def test_the_default_limit_is_16_mib_of_canonical_json(
    make_auditor: Callable[..., Auditor],
) -> None:
    recorder = Recorder()
    auditor = make_auditor(KeyNameMasker(), recorder)
    assert auditor.settings.max_request_bytes == DEFAULT_MAX_REQUEST_BYTES == 16 * 1024 * 1024
    huge = {"password": SECRET, "blob": "x" * (17 * 1024 * 1024)}
    result = auditor.audit_trigger(**request(1, huge))
    assert not result.ok and result.error_type == "RequestTooLarge"
    assert "16,777,216 bytes" in (result.error or "") and "max_request_bytes" in (
        result.error or ""
    )
    assert SECRET not in (result.error or "")
    assert (recorder.pre_trigger, recorder.mask) == (0, 0)
    assert auditor.store.get_record(workflow_id="1", workflow_type="CI") is None
    assert auditor.spool.depth() == 0


def test_the_limit_is_exact_and_configurable(
    make_auditor: Callable[..., Auditor], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFAUDIT_MAX_REQUEST_BYTES", "2048")
    auditor = make_auditor(KeyNameMasker())
    assert auditor.settings.max_request_bytes == 2048
    # Escapes and non-ASCII text count as the canonical JSON writes them.
    base = {
        "password": SECRET,
        "quote": 'a"b\\c\n\x01',
        "text": "déjà vu 東京",
        "n": [1, 2.5, None],
    }
    filler = 2048 - len(canonical_json({**base, "fill": ""}))
    at_limit = {**base, "fill": "y" * filler}
    assert len(canonical_json(at_limit)) == 2048
    assert auditor.audit_trigger(**request("at", at_limit)).ok
    over = {**base, "fill": "y" * (filler + 1)}
    result = auditor.audit_trigger(**request("over", over))
    assert result.error_type == "RequestTooLarge" and "2,048 bytes" in (result.error or "")
    with pytest.raises(RequestTooLarge) as caught:
        make_auditor(KeyNameMasker(), strict=True).audit_trigger(**request("strict", over))
    assert (caught.value.limit, caught.value.maximum) == ("max_request_bytes", 2048)
    assert isinstance(caught.value, InvalidRequest)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("WFAUDIT_MAX_REQUEST_BYTES", "12"),
        ("WFAUDIT_MAX_REQUEST_BYTES", "lots"),
        ("WFAUDIT_MAX_REQUEST_DEPTH", "0"),
        ("WFAUDIT_MAX_REQUEST_DEPTH", "5000"),
    ],
)
def test_bad_limit_settings_are_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigurationError, match=variable.removeprefix("WFAUDIT_").lower()):
        Settings.load()


# -- depth and huge numbers ---------------------------------------------------------------------


def test_depth_is_limited_before_any_work(
    make_auditor: Callable[..., Auditor], store_url: str
) -> None:
    recorder = Recorder()
    auditor = make_auditor(KeyNameMasker(), recorder)
    assert auditor.settings.max_request_depth == 256
    assert auditor.audit_trigger(**request("deep-256", nested(256))).ok
    calls = (recorder.pre_trigger, recorder.mask)
    for depth in (257, 3000, 100_000):
        result = auditor.audit_trigger(**request(f"deep-{depth}", nested(depth)))
        assert result.error_type == "RequestTooLarge", result
        assert "more than 256 levels deep" in (result.error or "")
        assert "max_request_depth" in (result.error or "")
        assert len(result.error or "") < 300  # the pointer is elided, not 3,000 levels long
    assert (recorder.pre_trigger, recorder.mask) == calls
    # The stored 256-level snapshot reads back and verifies.
    assert auditor.get_snapshot("deep-256", "CI").config == nested(256)
    assert verify(auditor).ok


def test_the_deepest_setting_works_with_the_real_maskers(
    make_auditor: Callable[..., Auditor], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFAUDIT_MAX_REQUEST_DEPTH", "512")
    auditor = make_auditor(entry_points="sql,maskers")
    config: Any = {"password": SECRET}
    for _ in range(511):
        config = {"a": config}
    result = auditor.audit_trigger(**request("deepest", config))
    assert result.ok and result.masked == 1, result
    stored = json.dumps(auditor.get_snapshot("deepest", "CI").config)
    assert SECRET not in stored
    assert auditor.audit_trigger(**request("too-deep", {"a": config})).error_type == (
        "RequestTooLarge"
    )


@pytest.mark.parametrize(
    "config",
    [
        {"n": 10**5000},
        {"list": [1, -(10**4400)]},
        [{"deep": {"n": 10**10000}}],
    ],
    ids=["top", "negative", "nested"],
)
def test_huge_integers_are_invalid_requests(
    make_auditor: Callable[..., Auditor], config: Any
) -> None:
    auditor = make_auditor(KeyNameMasker())
    result = auditor.audit_trigger(**request(1, config))
    assert result.error_type == "InvalidRequest", result
    assert "more than 4,300 digits" in (result.error or "")
    # 4,300 digits is still a number JSON can carry.
    assert auditor.audit_trigger(**request(2, {"n": 10**4299})).ok


def test_check_json_measures_exactly_what_it_copies() -> None:
    samples: list[Any] = [
        {},
        [],
        "",
        0,
        {"a": [1, 2.0, -0.0, 1e300, True, False, None, 'é\u2028\x00"\\']},
        [[[{"k": {"": []}}]]],
        {"東京": {'quote"key': ["\x7f", "\ud7ff", "\U0001f600"]}},
    ]
    for sample in samples:
        size = len(canonical_json(sample))
        assert check_json(sample, max_bytes=size) == sample
        with pytest.raises(RequestTooLarge):
            check_json(sample, max_bytes=size - 1)


def wfaudit(*args: str, store: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "WFAUDIT_STORE_URL": store, "WFAUDIT_LOAD_PLUGINS": "sql,maskers"}
    return subprocess.run(
        [sys.executable, "-m", "wfaudit", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("deep.json", "[" * 3000 + "]" * 3000, "JSON nested too deeply to read"),
        ("deep.yaml", "a: " + "[" * 3000 + "]" * 3000, "YAML nested too deeply to read"),
        ("bigint.json", '{"n": ' + "9" * 5000 + "}", "number too long to read"),
        ("bigint.yaml", "n: " + "9" * 5000, "number too long to read"),
        ("d300.json", '{"a":' * 300 + "1" + "}" * 300, "more than 256 levels deep"),
        (
            "d300.yaml",
            "a:\n" + "".join("  " * i + "a:\n" for i in range(1, 300)) + "  " * 300 + "1",
            "more than 256 levels deep",
        ),
    ],
)
def test_the_cli_gives_one_line_never_exit_70(
    store_url: str, tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    result = wfaudit(
        "trigger",
        str(path),
        "--type",
        "CI",
        "--workflow-id",
        "1",
        "--pipeline-id",
        "p",
        store=store_url,
    )
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ") and message in lines[0], lines
    assert "9" * 50 not in result.stderr


# -- a conflicting second trigger is evidence ---------------------------------------------------


def conflicts(auditor: Auditor, snapshot_id: str) -> list[Any]:
    return [
        e
        for e in auditor.store.list_events(subject=snapshot_id, limit=100)
        if e.kind == EventKind.CONFLICTING_TRIGGER
    ]


def test_a_conflicting_trigger_is_kept_as_evidence(
    make_auditor: Callable[..., Auditor], store_url: str
) -> None:
    auditor = make_auditor(KeyNameMasker())
    first = auditor.audit_trigger(**request(7, {"image": "app:1", "password": SECRET}))
    assert first.ok and first.ref is not None
    # The same audit again is a no-op, and no evidence of anything.
    again = auditor.audit_trigger(**request(7, {"image": "app:1", "password": SECRET}))
    assert again.ok and not again.created
    assert conflicts(auditor, first.ref.id) == []

    other = request(7, {"image": "app:2", "password": SECRET + "-other"}, triggered_by="mallory")
    refused = auditor.audit_trigger(**other)
    assert not refused.ok and refused.error_type == "SnapshotConflict"
    assert f"recorded as evidence on the trail of snapshot {first.ref.id}" in (refused.error or "")
    with pytest.raises(SnapshotConflict):
        make_auditor(KeyNameMasker(), strict=True).audit_trigger(**{**other, "triggered_by": "eve"})

    found = conflicts(auditor, first.ref.id)
    assert [e.actor for e in found] == ["mallory", "eve"]
    data = found[0].data
    assert data["stored_content_hash"] == first.ref.content_hash
    assert data["conflicting_content_hash"] not in (first.ref.content_hash, None)
    assert data["differing"] == ["content_hash", "triggered_by"]
    assert data["triggered_by"] == "mallory" and data["spooled"] is False
    assert SECRET not in json.dumps([e.data for e in found])
    # The stored snapshot is untouched and the trail, evidence included, verifies.
    assert auditor.get_snapshot(7, "CI").config["image"] == "app:1"
    assert verify(auditor).ok

    shown = wfaudit("show", "--id", first.ref.id, "--json", store=store_url)
    assert shown.returncode == 0, shown.stderr
    listed = json.loads(shown.stdout)["conflicting_triggers"]
    assert [c["actor"] for c in listed] == ["mallory", "eve"]
    assert listed[0]["conflicting_content_hash"] == data["conflicting_content_hash"]
    text = wfaudit("show", "7:CI", store=store_url)
    assert "Conflicting triggers" in text.stdout and "mallory" in text.stdout
    assert SECRET not in shown.stdout + text.stdout


def test_a_conflicting_spooled_trigger_is_evidence_once(
    make_auditor: Callable[..., Auditor], store_url: str
) -> None:
    """A conflicting audit spooled while the store was down becomes evidence at
    drain time, and its file is kept (quarantined); retrying it adds nothing."""
    auditor = make_auditor(KeyNameMasker())
    first = auditor.audit_trigger(**request(8, {"image": "app:1"}))
    assert first.ok and first.ref is not None
    # What the spool would hold: the masked record of a second, different trigger.
    strict = make_auditor(KeyNameMasker(), strict=True)
    record, blob = strict_record(strict, request(8, {"image": "app:9"}, triggered_by="late"))
    auditor.spool.write(record, blob)

    report = auditor.drain_spool()
    assert report.rejected == 1 and report.remaining == 0
    assert "already audited with a different content_hash" in report.quarantined[0].reason
    found = conflicts(auditor, first.ref.id)
    assert len(found) == 1 and found[0].actor == "late" and found[0].data["spooled"] is True
    assert found[0].data["conflicting_snapshot_id"] == record.id

    item = auditor.spool.find_quarantined(record.id)
    auditor.spool.requeue(item)
    assert auditor.drain_spool().rejected == 1
    assert len(conflicts(auditor, first.ref.id)) == 1
    assert verify(auditor).ok


def strict_record(auditor: Auditor, fields: dict[str, Any]) -> tuple[Any, Any]:
    """The record and blob the engine builds for ``fields`` (caught at the store)."""
    captured: list[tuple[Any, Any]] = []

    class Capture:
        @hookimpl(tryfirst=True)
        def wfaudit_persist(self, snapshot: Any, payload: Any, store: Any) -> Any:
            captured.append((snapshot, payload))
            raise PluginError("captured before the store")

    auditor.plugin_manager.register(Capture())
    with pytest.raises(PluginError):
        auditor.audit_trigger(**fields)
    return captured[0]
