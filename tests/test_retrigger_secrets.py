"""A retrigger launches only with the secrets the snapshot was taken with.

Every restored value is checked against the keyed fingerprint stored for it:
empty values, ``[masked:...]`` placeholders, rotated or wrong values, a whole
string given for the span of a secret inside it, and missing secrets are
refused (``SecretsMismatch`` / ``SecretsUnavailable``, naming paths only),
unless the caller accepts a rotated secret explicitly, which the trail
records. Real maskers, the real keyring restorer (environment variables), real
SQLite and PostgreSQL stores.
"""

from __future__ import annotations

import json
import logging
import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from wfaudit import Auditor, hookimpl
from wfaudit.keys import rotate_keys
from wfaudit.retrigger import ROTATION_ACCEPTED
from wfaudit.testing import find_secrets
from wfaudit_hookspecs import (
    InvalidRequest,
    SecretsMismatch,
    SecretsUnavailable,
    TriggerRequest,
    canonical_json,
)

PASSWORD = "Rg7!check-Pa55word"
ROTATED = "Rg7!rotated-Pa55word"
GH_TOKEN = "ghp_" + "Qw3rTy6uIo9pAs2dFg5hJk8lZx1cVb4nM7qW"
OTHER_GH_TOKEN = "ghp_" + "Zz9yXx8wWv7uUt6sSr5qQp4oOn3mMl2kKj1i"
REPO_URL = f"https://ci:{GH_TOKEN}@github.com/acme/app.git"
API_TOKEN = "Xk2pQ9vM4tR8wZ1b"
ADMIN = "Adm1n!Pa55-word"
SECRETS = [PASSWORD, ROTATED, GH_TOKEN, OTHER_GH_TOKEN, API_TOKEN, ADMIN]
ENV = {
    "T_REGISTRY_PASSWORD": PASSWORD,
    "T_REPO_URL": REPO_URL,  # the whole URL, under the bare pointer: cut span by span
    "T_API_TOKEN": API_TOKEN,
    "T_ADMIN": ADMIN,
    "T_MIGRATION": "98765432",
}


def config() -> dict[str, Any]:
    return {
        "registry": {"server": "registry.acme.example", "password": PASSWORD},
        "repoUrl": REPO_URL,
        "inputVariables": [{"name": "MIGRATION_TOKEN", "value": 98765432}],
        "script": f"export API_TOKEN={API_TOKEN}\n"
        f"curl -u admin:{ADMIN} https://nexus.acme.example/\n",
    }


class Launches:
    def __init__(self) -> None:
        self.requests: list[TriggerRequest] = []

    def __call__(self, request: TriggerRequest) -> str:
        self.requests.append(request)
        return "launched"


@pytest.fixture
def failed(
    store_url: str, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Auditor]:
    """CI run 1001 audited and failed; the restorer maps every secret to a variable."""
    settings = tmp_path / "wfaudit.toml"
    settings.write_text(  # the spans are the placeholders' in the masked strings (checked)
        "[restore.env]\n"
        '"/registry/password" = "T_REGISTRY_PASSWORD"\n'
        '"/repoUrl" = "T_REPO_URL"\n'
        '"/script#17:42" = "T_API_TOKEN"\n'
        '"/script#57:82" = "T_ADMIN"\n'
        '"/inputVariables/0/value" = "T_MIGRATION"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("WFAUDIT_CONFIG", str(settings))
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", "sql,maskers,keyring")
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    with Auditor.from_url(store_url, strict=True) as auditor:
        request = TriggerRequest(
            workflow_id=1001, workflow_type="CI", pipeline_id="app", config=config()
        )
        assert auditor.audit_trigger(request).ok
        auditor.record_outcome(1001, "CI", "failed", "infrastructure: node lost")
        keys = [field.key for field in auditor.get_snapshot(1001, "CI").manifest.fields]
        assert keys == [
            "/inputVariables/0/value",
            "/registry/password",
            "/repoUrl#11:36",
            "/script#17:42",
            "/script#57:82",
        ]
        yield auditor


def assert_refused(auditor: Auditor, launches: Launches, error: BaseException) -> None:
    assert find_secrets(SECRETS, texts=[("error", str(error)), ("repr", repr(error))]) == []
    assert launches.requests == []
    assert [r.workflow_id for r in auditor.history()] == ["1001"]


def test_the_original_values_launch_and_every_check_matches(failed: Auditor) -> None:
    launches = Launches()
    result = failed.retrigger("1001", "CI", None, launches)
    assert canonical_json(launches.requests[0].config) == canonical_json(config())
    assert {c.key: c.state for c in result.plan.secret_checks} == {
        "/inputVariables/0/value": "matching",
        "/registry/password": "matching",
        "/repoUrl#11:36": "matching",  # the whole URL was cut to its span
        "/script#17:42": "matching",
        "/script#57:82": "matching",
    }
    child = failed.get_snapshot("1001-retry1", "CI")
    kinds = [e.kind for e in failed.store.list_events(subject=child.id, tenant=None)]
    assert ROTATION_ACCEPTED not in kinds


@pytest.mark.parametrize(
    "value", ["", "   ", "[masked:a2a8b23a97968601]", f"x[masked:{'0' * 16}]"], ids=repr
)
def test_empty_values_and_placeholders_are_never_used(
    failed: Auditor, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("T_REGISTRY_PASSWORD", value)
    launches = Launches()
    for accept in ((), ["/registry/password"]):  # not even when accepted as rotated
        with pytest.raises(SecretsMismatch) as raised:
            failed.retrigger("1001", "CI", None, launches, accept_rotated=accept)
        assert raised.value.invalid == ("/registry/password",)
        assert raised.value.rotated == ()
        assert "/registry/password" in str(raised.value)
        assert_refused(failed, launches, raised.value)
    with pytest.raises(SecretsMismatch):
        failed.retrigger_request("1001", "CI")


def test_a_rotated_secret_is_refused_unless_accepted_and_the_trail_says_so(
    failed: Auditor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_REGISTRY_PASSWORD", ROTATED)
    launches = Launches()
    with pytest.raises(SecretsMismatch) as raised:
        failed.retrigger("1001", "CI", None, launches)
    assert raised.value.rotated == ("/registry/password",) and raised.value.invalid == ()
    assert isinstance(raised.value, SecretsUnavailable)  # callers catching it still do
    assert "--accept-rotated" in str(raised.value)
    assert_refused(failed, launches, raised.value)

    result = failed.retrigger("1001", "CI", None, launches, accept_rotated=["/registry/password"])
    assert launches.requests[0].config["registry"]["password"] == ROTATED
    check = {c.key: c for c in result.plan.secret_checks}["/registry/password"]
    assert (check.state, check.accepted) == ("rotated", True)
    events = failed.store.list_events(subject=result.record.id, tenant=None)
    accepted = [e for e in events if e.kind == ROTATION_ACCEPTED]
    assert len(accepted) == 1
    assert accepted[0].data == {"paths": ["/registry/password"], "parent": result.plan.parent.id}
    trail = json.dumps([e.data for e in events])
    assert find_secrets(SECRETS, texts=[("trail", trail)]) == []


def test_a_wrong_value_is_rotated_and_text_that_is_not_json_is_invalid(
    failed: Auditor, monkeypatch: pytest.MonkeyPatch
) -> None:
    launches = Launches()
    monkeypatch.setenv("T_MIGRATION", "12345678")  # JSON, but not the number masked
    monkeypatch.setenv("T_API_TOKEN", "Xk2pQ9vM4tR8wZ1c")  # one character off
    with pytest.raises(SecretsMismatch) as raised:
        failed.retrigger("1001", "CI", None, launches)
    assert set(raised.value.rotated) == {"/inputVariables/0/value", "/script#17:42"}
    assert_refused(failed, launches, raised.value)
    # A JSON value is compared by its canonical text: spacing does not matter.
    monkeypatch.setenv("T_MIGRATION", " 98765432 ")
    monkeypatch.setenv("T_API_TOKEN", API_TOKEN)
    assert failed.retrigger_request("1001", "CI").config["inputVariables"][0]["value"] == 98765432


class Answers:
    """A restorer double: answers fixed values by key."""

    def __init__(self, answers: dict[str, str]) -> None:
        self.answers = answers

    @hookimpl
    def wfaudit_restore_secrets(self, snapshot: Any, requests: Any) -> dict[str, str]:
        return {r.key: self.answers[r.key] for r in requests if r.key in self.answers}


def test_an_answer_that_does_not_fit_its_span_is_refused(
    store_url: str, failed: Auditor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("T_REPO_URL")
    monkeypatch.delenv("T_API_TOKEN")
    script = config()["script"]
    double = Answers({"/repoUrl#11:36": REPO_URL, "/script#17:42": script})
    launches = Launches()
    with Auditor.from_url(store_url, strict=True, plugins=[double]) as auditor:
        for accept in ((), ["/repoUrl", "/script"]):
            with pytest.raises(SecretsMismatch) as raised:
                auditor.retrigger("1001", "CI", None, launches, accept_rotated=accept)
            assert set(raised.value.invalid) == {"/repoUrl#11:36", "/script#17:42"}
            assert_refused(auditor, launches, raised.value)
        plan = auditor.plan_retrigger("1001", "CI", refuse=False)
        reasons = {c.key: c.reason for c in plan.secret_checks if c.state == "invalid"}
        assert set(reasons) == {"/repoUrl#11:36", "/script#17:42"}
        assert all("span" in reason for reason in reasons.values())


def test_a_whole_string_with_another_secret_in_it_is_cut_then_found_rotated(
    failed: Auditor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("T_REPO_URL", REPO_URL.replace(GH_TOKEN, OTHER_GH_TOKEN))
    launches = Launches()
    with pytest.raises(SecretsMismatch) as raised:
        failed.retrigger("1001", "CI", None, launches)
    assert raised.value.rotated == ("/repoUrl#11:36",)
    assert_refused(failed, launches, raised.value)
    failed.retrigger("1001", "CI", None, launches, accept_rotated=["/repoUrl#11:36"])
    assert launches.requests[0].config["repoUrl"] == REPO_URL.replace(GH_TOKEN, OTHER_GH_TOKEN)


def test_a_missing_secret_is_named_with_the_values_that_do_not_match(
    failed: Auditor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("T_ADMIN")
    monkeypatch.setenv("T_REGISTRY_PASSWORD", ROTATED)
    launches = Launches()
    with pytest.raises(SecretsUnavailable) as raised:
        failed.retrigger("1001", "CI", None, launches, accept_rotated=["/registry/password"])
    assert raised.value.paths == ("/script#57:82",)
    assert not isinstance(raised.value, SecretsMismatch)
    assert_refused(failed, launches, raised.value)
    plan = failed.plan_retrigger("1001", "CI", refuse=False)
    states = {c.key: c.state for c in plan.secret_checks}
    assert states["/script#57:82"] == "missing"
    assert states["/registry/password"] == "rotated"


def test_of_several_answers_the_matching_one_is_used(
    store_url: str, failed: Auditor, monkeypatch: pytest.MonkeyPatch
) -> None:
    double = Answers({"/registry/password": ROTATED})
    with Auditor.from_url(store_url, strict=True, plugins=[double]) as auditor:
        restored = auditor.retrigger_request("1001", "CI")
    assert restored.config["registry"]["password"] == PASSWORD


def test_accept_rotated_must_name_a_secret_of_the_snapshot(failed: Auditor) -> None:
    with pytest.raises(InvalidRequest, match="/registry/passwd"):
        failed.retrigger("1001", "CI", None, Launches(), accept_rotated=["/registry/passwd"])


def test_fingerprints_of_a_retired_key_stay_verifiable(
    store_url: str, failed: Auditor, monkeypatch: pytest.MonkeyPatch, tmp_path: pathlib.Path
) -> None:
    before, after = rotate_keys(failed.settings.key_file)
    assert after.retired_ids == (before.id,)
    with Auditor.from_url(store_url, strict=True) as rotated:
        assert rotated.keys.id == after.id
        launches = Launches()
        rotated.retrigger("1001", "CI", None, launches)
        assert canonical_json(launches.requests[0].config) == canonical_json(config())
    # Without the key the fingerprints were made with, nothing can be verified.
    monkeypatch.setenv("WFAUDIT_HOME", str(tmp_path / "elsewhere"))
    with Auditor.from_url(store_url, strict=True) as stranger:
        with pytest.raises(SecretsMismatch) as raised:
            stranger.retrigger_request("1001", "CI")
        assert len(raised.value.rotated) == 5


def test_refusals_log_no_value(
    failed: Auditor, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("T_REGISTRY_PASSWORD", ROTATED)
    monkeypatch.setenv("T_API_TOKEN", "")
    with caplog.at_level(logging.DEBUG), pytest.raises(SecretsMismatch) as raised:
        failed.retrigger("1001", "CI", None, Launches())
    plan = failed.plan_retrigger("1001", "CI", refuse=False)
    texts = [("log", caplog.text), ("error", str(raised.value)), ("plan", repr(plan))]
    assert find_secrets(SECRETS, texts=texts) == []


def test_masked_mapping_keys_are_restored_in_place(make_auditor: Any) -> None:
    """A secret used as a mapping key, recorded as ``encoding="key"`` (the path
    names the entry under its masked key), comes back as the key, in its place."""
    from wfaudit.masking import placeholder
    from wfaudit.retrigger import restore_request
    from wfaudit_hookspecs import Manifest, MaskedField, Snapshot, to_pointer

    url = f"https://ci:{GH_TOKEN}@git.acme.example/app.git"
    original = {"remotes": {url: {"branch": "main", "password": PASSWORD}}, API_TOKEN: "primary"}
    auditor = make_auditor()
    fp = auditor.keys.fingerprint
    token_ph, password_ph, key_ph = (placeholder(fp(s)) for s in (GH_TOKEN, PASSWORD, API_TOKEN))
    masked_url = url.replace(GH_TOKEN, token_ph)
    masked = {
        "remotes": {masked_url: {"branch": "main", "password": password_ph}},
        key_ph: "primary",
    }
    entry = to_pointer(("remotes", masked_url))
    span = (11, 11 + len(token_ph))
    fields = (
        MaskedField(path=entry, rule="t", fingerprint=fp(GH_TOKEN), span=span, encoding="key"),
        MaskedField(path=entry + "/password", rule="t", fingerprint=fp(PASSWORD)),
        MaskedField(
            path=to_pointer((key_ph,)), rule="t", fingerprint=fp(API_TOKEN), encoding="key"
        ),
    )
    snapshot = Snapshot(
        id="01TEST", workflow_id="1", workflow_type="CI", pipeline_id="p",
        content_hash="0" * 64, manifest=Manifest(fields=fields), config=masked,
    )  # fmt: skip
    right = {fields[0].key: GH_TOKEN, fields[1].key: PASSWORD, fields[2].key: API_TOKEN}
    auditor.plugin_manager.register(Answers(right), name="answers")
    restored = restore_request(auditor, snapshot)
    assert canonical_json(restored.config) == canonical_json(original)
    assert list(restored.config) == ["remotes", API_TOKEN]  # the key keeps its place
    auditor.plugin_manager.unregister(name="answers")
    auditor.plugin_manager.register(
        Answers({**right, fields[0].key: url, fields[2].key: "Xk2pQ9vM4tR8wZ1c"}), name="wrong"
    )
    with pytest.raises(SecretsMismatch) as raised:
        restore_request(auditor, snapshot)
    assert raised.value.invalid == (fields[0].key,)  # the whole URL for the key's span
    assert raised.value.rotated == (fields[2].key,)
