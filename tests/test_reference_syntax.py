"""Adapters declare their reference syntax; the mask stage never masks a reference.

Also: secrets used as object keys, through a whole audit and a retrigger.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from tests.conftest import KeyNameMasker
from wfaudit import Auditor, hookimpl
from wfaudit_hookspecs import PluginError, SecretRequest, Snapshot, TriggerRequest


class CredAdapter:
    """An adapter whose format refers to secrets as ``${cred:NAME}`` and ``cred-id:N``."""

    @hookimpl
    def wfaudit_reference_syntax(self, register: Callable[[str, str], None]) -> None:
        register("jenkins-credential", r"\$\{cred:(?P<name>[\w.-]+)\}")
        register("credential-id", r"\bcred-id:[0-9]+\b")


def _request(config: Any, workflow_id: int = 1) -> TriggerRequest:
    return TriggerRequest(workflow_id=workflow_id, workflow_type="CI", pipeline_id=7, config=config)


def test_hook_wfaudit_reference_syntax(make_auditor: Callable[..., Auditor]) -> None:
    auditor = make_auditor(KeyNameMasker(), CredAdapter(), strict=True)
    kinds = [kind for kind, _ in auditor.plugin_manager.reference_syntax]
    assert kinds == ["jenkins-credential", "credential-id"]
    config = {
        "password": "${cred:db}",  # nothing but a reference: listed, kept
        "token": "x9Qz${cred:suffix}",  # a literal around it: the literal is masked
        "other": {"password": "cred-id:42"},
    }
    assert auditor.audit_trigger(_request(config)).ok
    snapshot = auditor.get_snapshot(1, "CI")
    assert snapshot.config["password"] == "${cred:db}"
    assert snapshot.config["other"]["password"] == "cred-id:42"
    assert snapshot.config["token"].endswith("${cred:suffix}")
    assert "x9Qz" not in snapshot.config["token"]
    refs = {(r.path, r.kind, r.name) for r in snapshot.manifest.references}
    assert refs == {
        ("/password", "jenkins-credential", "db"),
        ("/other/password", "credential-id", "cred-id:42"),
    }
    assert [f.path for f in snapshot.manifest.fields] == ["/token"]


def test_the_built_in_maskers_keep_declared_references(
    make_auditor: Callable[..., Auditor],
) -> None:
    config = {
        "npmToken": "${cred:npm}",
        "steps": [{"run": "curl -H 'Authorization: Bearer ${cred:api}' https://api.example.com"}],
        "DB_PASSWORD": "cred-id:7",
    }
    declared = make_auditor(CredAdapter(), entry_points="sql,maskers", strict=True)
    assert declared.audit_trigger(_request(config)).ok
    snapshot = declared.get_snapshot(1, "CI")
    assert snapshot.config == config
    assert snapshot.manifest.fields == ()
    # Without the declaration, the built-in maskers take them for secrets.
    undeclared = make_auditor(entry_points="sql,maskers", strict=True)
    assert undeclared.audit_trigger(_request(config, 2)).ok
    assert undeclared.get_snapshot(2, "CI").manifest.fields != ()


@pytest.mark.parametrize(
    ("regex", "message"),
    [("(", "invalid regex"), ("x*", "matches the empty string"), ("", "non-empty")],
)
def test_a_bad_reference_syntax_fails_plugin_set_up(
    make_auditor: Callable[..., Auditor], regex: str, message: str
) -> None:
    class Bad:
        @hookimpl
        def wfaudit_reference_syntax(self, register: Callable[[str, str], None]) -> None:
            register("bad", regex)

    with pytest.raises(PluginError, match=message):
        make_auditor(KeyNameMasker(), Bad())


class KeyRestorer:
    """Restores from a fixed table, by the request's key path or its encoding."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = values
        self.requests: list[SecretRequest] = []

    @hookimpl
    def wfaudit_restore_secrets(
        self, snapshot: Snapshot, requests: Sequence[SecretRequest]
    ) -> Mapping[str, str]:
        self.requests.extend(requests)
        return {r.key: self.values[r.encoding] for r in requests}


def test_a_secret_key_is_masked_stored_and_restored_by_a_retrigger(
    make_auditor: Callable[..., Auditor],
) -> None:
    remote = "https://ci-bot:pa55w0rd-Xq9@git.example.com/app.git"
    config = {"remotes": {remote: "primary", "mirror": "https://git.example.com/m.git"}}
    restorer = KeyRestorer({"key": remote})
    auditor = make_auditor(restorer, entry_points="sql,maskers", strict=True)
    assert auditor.audit_trigger(_request(config)).ok
    snapshot = auditor.get_snapshot(1, "CI")
    assert "pa55w0rd" not in str(snapshot.config) and "pa55w0rd" not in str(snapshot.manifest)
    [field] = snapshot.manifest.fields
    assert field.encoding == "key" and field.key.endswith("#key")
    assert field.path.split("/")[-1] in snapshot.config["remotes"]
    restored = auditor.retrigger_request(1, "CI")
    assert restored.config == config
    assert [r.key for r in restorer.requests] == [field.key]


def test_the_adapters_declare_their_reference_syntax(
    make_auditor: Callable[..., Auditor],
) -> None:
    auditor = make_auditor(entry_points="sql,maskers,ci,cd", strict=True)
    kinds = {kind for kind, _ in auditor.plugin_manager.reference_syntax}
    assert kinds == {"devtron-variable", "github-expression", "tekton-variable", "argo-variable"}
    config = {
        "env": {
            "API_TOKEN": '$(params["api-token"])',
            "GH_TOKEN": "{{workflow.parameters.gh-token}}",
            "DB_PASSWORD": "@{{db_password}}",
            "NPM_TOKEN": "${{ inputs.npm-token }}",
        },
        "script": "curl -H 'Authorization: Bearer $(params.api-token)' https://api.example.com",
    }
    assert auditor.audit_trigger(_request(config)).ok
    snapshot = auditor.get_snapshot(1, "CI")
    assert snapshot.config == config
    assert snapshot.manifest.fields == ()
