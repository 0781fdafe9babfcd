"""Restoring secrets from the keyring and the environment."""

from __future__ import annotations

import importlib.metadata
import logging
from typing import Any

import pluggy
import pytest

from wfaudit_hookspecs import PROJECT_NAME, RestoreRef, SecretRequest, Snapshot, hookspecs
from wfaudit_keyring import Restorer, plugin

SNAPSHOT = Snapshot(
    id="01HV6Z3QK9M8X7W6V5T4S3R2Q1",
    workflow_id="42",
    workflow_type="CI",
    pipeline_id="7",
    content_hash="00" * 32,
    config={},
)


def request(path: str, span: tuple[int, int] | None = None, **kw: Any) -> SecretRequest:
    return SecretRequest(path=path, rule="keyword", fingerprint="ab" * 32, span=span, **kw)


def restore(requests: list[SecretRequest], table: dict[str, Any] | None = None) -> Any:
    settings = {"restore": table} if table is not None else {}
    return plugin.wfaudit_restore_secrets(snapshot=SNAPSHOT, requests=requests, settings=settings)


def test_from_the_keyring_and_the_environment(
    memory_keyring: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    memory_keyring.set_password("ci-registry", "robot", "Rg9!registry")
    memory_keyring.set_password("deploy-7", "ci", "Dp7#deploy")
    monkeypatch.setenv("S3_PASSKEY", "S3k!passkey")
    monkeypatch.setenv("DB_PASSWORD", "Db5$password")
    requests = [
        request("/dockerPassword"),
        request("/blobStorageS3Config/passkey"),
        request("/env/DB_PASSWORD", restore=RestoreRef(kind="env", target="DB_PASSWORD")),
        request("/deploy/token"),
        request("/steps/0/script", (10, 36)),
        request("/missing"),
    ]
    table = {
        "keyring": {"/dockerPassword": "ci-registry/robot", "/deploy/*": "deploy-{pipeline_id}/ci"},
        "env": {
            "/blobStorageS3Config/passkey": "S3_PASSKEY",
            "/steps/0/script#10:36": "DB_PASSWORD",
        },
    }
    assert restore(requests, table) == {
        "/dockerPassword": "Rg9!registry",
        "/blobStorageS3Config/passkey": "S3k!passkey",
        "/env/DB_PASSWORD": "Db5$password",
        "/deploy/token": "Dp7#deploy",
        "/steps/0/script#10:36": "Db5$password",
    }


def test_the_first_source_with_a_value_wins(
    memory_keyring: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("UNSET_VARIABLE", raising=False)
    memory_keyring.set_password("wfaudit", "/token", "from-the-default-service")
    table = {"env": {"/token": "UNSET_VARIABLE"}, "keyring_service": "wfaudit"}
    assert restore([request("/token")], table) == {"/token": "from-the-default-service"}


def test_nothing_found_is_none(memory_keyring: Any) -> None:
    assert restore([request("/a"), request("/b", (0, 4))]) is None
    assert memory_keyring.reads == []  # no mapping, no reference: the keyring is not asked


def test_json_fields_must_restore_to_json_text(
    memory_keyring: Any, caplog: pytest.LogCaptureFixture
) -> None:
    memory_keyring.set_password("gcp", "ci", '{"type": "service_account"}')
    memory_keyring.set_password("num", "ci", "not json at all")
    requests = [request("/gcp", encoding="json"), request("/number", encoding="json")]
    table = {"keyring": {"/gcp": "gcp/ci", "/number": "num/ci"}}
    with caplog.at_level(logging.DEBUG, logger="wfaudit.keyring"):
        assert restore(requests, table) == {"/gcp": '{"type": "service_account"}'}
    assert "/number: the value in keyring num/ci is not JSON text" in caplog.text
    assert "not json at all" not in caplog.text
    assert "service_account" not in caplog.text


def test_values_are_never_logged(
    memory_keyring: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    memory_keyring.set_password("svc", "user", "Kr8!never-logged")
    monkeypatch.setenv("WFA_TEST_SECRET", "Ev3!never-logged")
    with caplog.at_level(logging.DEBUG, logger="wfaudit.keyring"):
        found = restore(
            [request("/a"), request("/b"), request("/c")],
            {"keyring": {"/a": "svc/user"}, "env": {"/b": "WFA_TEST_SECRET"}},
        )
    assert found == {"/a": "Kr8!never-logged", "/b": "Ev3!never-logged"}
    assert "/a restored from keyring svc/user" in caplog.text
    assert "/c: not found" in caplog.text
    assert "never-logged" not in caplog.text


def test_an_unavailable_keyring_is_a_miss_not_a_crash(
    broken_keyring: Any, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WFA_TEST_B", "from-env")
    table = {"keyring": {"/a": "s/a", "/c": "s/c"}, "env": {"/b": "WFA_TEST_B"}}
    with caplog.at_level(logging.WARNING, logger="wfaudit.keyring"):
        found = restore([request("/a"), request("/b"), request("/c")], table)
    assert found == {"/b": "from-env"}
    assert broken_keyring.reads == [("s", "a")]  # given up after the first failure
    assert "the keyring is not available (KeyringLocked)" in caplog.text


def test_braces_in_references_are_literal(memory_keyring: Any) -> None:
    memory_keyring.set_password("svc{x}", "user", "v")
    ref = RestoreRef(kind="keyring", target="svc{x}/user")
    assert restore([request("/a", restore=ref)]) == {"/a": "v"}


def test_an_instance_configured_in_code(memory_keyring: Any) -> None:
    memory_keyring.set_password("ci", "robot", "in-code")
    pm = pluggy.PluginManager(PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(Restorer(keyring={"/dockerPassword": "ci/robot"}), name="restore")
    pm.check_pending()
    answers = pm.hook.wfaudit_restore_secrets(
        snapshot=SNAPSHOT, requests=[request("/dockerPassword")], settings={}
    )
    assert answers == [{"/dockerPassword": "in-code"}]


def test_entry_point() -> None:
    found = {ep.name: ep for ep in importlib.metadata.entry_points(group="wfaudit")}
    assert found["keyring"].value == "wfaudit_keyring.plugin"
    assert found["keyring"].dist is not None
    assert found["keyring"].dist.name == "wfaudit-keyring"
    assert found["keyring"].load() is plugin


def test_a_whole_string_value_is_cut_span_by_span(monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = "[masked:" + "1" * 16 + "]", "[masked:" + "2" * 16 + "]"
    masked = f"curl -u admin:{a} https://{b}@nexus.example/x"
    snapshot = Snapshot(
        id="01HV6Z3QK9M8X7W6V5T4S3R2Q1", workflow_id="42", workflow_type="CI",
        pipeline_id="7", content_hash="00" * 32, config={"script": masked},
    )  # fmt: skip
    first = (14, 14 + len(a))
    second = (masked.index(b), masked.index(b) + len(b))
    requests = [request("/script", first), request("/script", second)]
    monkeypatch.setenv("WHOLE", "curl -u admin:Adm1n!pw https://tok-9Qz8@nexus.example/x")
    monkeypatch.setenv("ONLY", "tok-9Qz8")
    table = {"env": {"/script#14:39": "WHOLE", f"/script#{second[0]}:{second[1]}": "ONLY"}}
    found = plugin.wfaudit_restore_secrets(
        snapshot=snapshot, requests=requests, settings={"restore": table}
    )
    assert found == {"/script#14:39": "Adm1n!pw", f"/script#{second[0]}:{second[1]}": "tok-9Qz8"}
    # A value that is not the whole string (another host) is passed on as it is:
    # the engine refuses it against the span's fingerprint.
    monkeypatch.setenv("WHOLE", "curl -u admin:Adm1n!pw https://tok@other.example/x")
    found = plugin.wfaudit_restore_secrets(
        snapshot=snapshot, requests=requests, settings={"restore": table}
    )
    assert found["/script#14:39"] == "curl -u admin:Adm1n!pw https://tok@other.example/x"
