"""The retrigger round trip: audit -> mask -> store -> restore -> the original request.

Secrets come back from an in-memory keyring (never the user's) and from
environment variables, as ``[restore]`` in ``wfaudit.toml`` maps them and as the
masker's restore references say; the rebuilt request must equal the original
byte for byte (canonical JSON). A secret nobody can restore makes the
retrigger fail with ``SecretsUnavailable`` naming paths, never values.
"""

from __future__ import annotations

import copy
import json
import logging
import pathlib
from typing import Any

import keyring.backend
import keyring.core
import pytest

from wfaudit import Auditor
from wfaudit_hookspecs import SecretsUnavailable, TriggerRequest, canonical_json

PLUGINS = "sql,maskers,keyring"

GCP_CREDENTIAL = {
    "type": "service_account",
    "project_id": "acme-ci",
    "private_key_id": "0123456789abcdef0123456789abcdef01234567",
    "private_key": "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n"
    "-----END PRIVATE KEY-----\n",
    "client_email": "ci@acme-ci.iam.gserviceaccount.com",
}
DOCKER_PASSWORD = "Rg9!registry-Pa55"
S3_ACCESS_KEY = "AKIAQ3EGRTVWZ2MSK7PX"
S3_PASSKEY = "k8Vq/3nR+Zt5wYp2Lm9XcB4dF6gH1jK0sA7eU2iO"
DB_PASSWORD = "Db5$prod-Pa55word"
API_TOKEN = "Xk2pQ9vM4tR8wZ1b"
ADMIN_PASSWORD = "Adm1n!Pa55-word"
APP_TOKEN = "ghs_" + "Qw3rTy6uIo9pAs2dFg5hJk8lZx1cVb4nM7qW"


def request_config() -> dict[str, Any]:
    return {
        "pipelineName": "ci-payments-api",
        "ciProjectDetails": [{"commitHash": "3f9c2a7e1b4d5c6f7a8b9c0d1e2f3a4b5c6d7e8f"}],
        "dockerPassword": DOCKER_PASSWORD,
        "blobStorageS3Config": {
            "accessKey": S3_ACCESS_KEY,
            "passkey": S3_PASSKEY,
            "endpointUrl": "https://s3.us-east-1.amazonaws.com",
        },
        "gcpBlobConfig": {"credentialFileData": copy.deepcopy(GCP_CREDENTIAL)},
        "env": {"DB_PASSWORD": DB_PASSWORD, "LOG_LEVEL": "info"},
        "steps": [
            {
                "name": "deploy",
                "script": f"export API_TOKEN={API_TOKEN}\n"
                f"curl -u admin:{ADMIN_PASSWORD} https://nexus.acme.example/\n"
                f"git clone https://x-access-token:{APP_TOKEN}@github.com/acme/app.git\n",
            }
        ],
        "inputVariables": [{"name": "MIGRATION_TOKEN", "value": 98765432}],
        "unicode": "déploiement ✓",
    }


class MemoryKeyring(keyring.backend.KeyringBackend):
    """An in-memory keyring backend for tests."""

    priority = 1  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        self.passwords.pop((service, username), None)


@pytest.fixture
def memory_keyring(monkeypatch: pytest.MonkeyPatch) -> MemoryKeyring:
    backend = MemoryKeyring()
    monkeypatch.setattr(keyring.core, "_keyring_backend", backend)
    return backend


@pytest.fixture
def settings_file(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> pathlib.Path:
    path = tmp_path / "wfaudit.toml"
    path.write_text("", encoding="utf-8")
    monkeypatch.setenv("WFAUDIT_CONFIG", str(path))
    monkeypatch.setenv("WFAUDIT_LOAD_PLUGINS", PLUGINS)
    return path


@pytest.fixture
def audited(store_url: str, settings_file: pathlib.Path) -> dict[str, Any]:
    """Audit the request once; return what the manifest says was masked."""
    with Auditor.from_url(store_url, strict=True) as auditor:
        result = auditor.audit_trigger(
            TriggerRequest(
                workflow_id=501,
                workflow_type="CI",
                pipeline_id=7,
                config=request_config(),
                triggered_by="ana",
            )
        )
        assert result.ok
        snapshot = auditor.get_snapshot(501, "CI")
    return {field.key: field for field in snapshot.manifest.fields}


def toml(tables: dict[str, dict[str, str]], top: dict[str, str] | None = None) -> str:
    lines = ["[restore]"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in (top or {}).items()]
    for name, table in tables.items():
        lines.append(f"[restore.{name}]")
        lines += [f"{json.dumps(key)} = {json.dumps(value)}" for key, value in table.items()]
    return "\n".join(lines) + "\n"


def span_key(fields: dict[str, Any], path: str, rule_prefix: str) -> str:
    keys = [k for k, f in fields.items() if f.path == path and f.rule.startswith(rule_prefix)]
    assert len(keys) == 1, fields.keys()
    return keys[0]


def configure(
    settings_file: pathlib.Path, memory_keyring: MemoryKeyring, fields: dict[str, Any]
) -> None:
    script = "/steps/0/script"
    api = span_key(fields, script, "embedded:assignment")
    admin = span_key(fields, script, "embedded:cli-flag")
    app = span_key(fields, script, "pattern:github-app-token")
    settings_file.write_text(
        toml(
            {
                "keyring": {
                    "/dockerPassword": "ci-registry/robot",
                    "/blobStorageS3Config/*": "s3-{pipeline_id}/ci",
                    "/gcpBlobConfig/credentialFileData": "gcp/ci",
                    api: "deploy/api-token",
                    "/inputVariables/*/value": "migrations/token",
                },
                "env": {"/blobStorageS3Config/passkey": "WFA_S3_PASSKEY", admin: "WFA_ADMIN"},
            },
            {"keyring_service": "wfaudit"},
        ),
        encoding="utf-8",
    )
    memory_keyring.set_password("ci-registry", "robot", DOCKER_PASSWORD)
    memory_keyring.set_password("s3-7", "ci", S3_ACCESS_KEY)
    memory_keyring.set_password("gcp", "ci", json.dumps(GCP_CREDENTIAL))
    memory_keyring.set_password("deploy", "api-token", API_TOKEN)
    memory_keyring.set_password("migrations", "token", "98765432")
    memory_keyring.set_password("wfaudit", app, APP_TOKEN)  # the default service, by key


def test_the_round_trip_restores_the_request_byte_for_byte(
    store_url: str,
    settings_file: pathlib.Path,
    memory_keyring: MemoryKeyring,
    audited: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure(settings_file, memory_keyring, audited)
    monkeypatch.setenv("WFA_S3_PASSKEY", S3_PASSKEY)
    monkeypatch.setenv("WFA_ADMIN", ADMIN_PASSWORD)
    monkeypatch.setenv("DB_PASSWORD", DB_PASSWORD)  # the masker's env restore reference
    assert audited["/env/DB_PASSWORD"].restore.target == "DB_PASSWORD"
    assert audited["/gcpBlobConfig/credentialFileData"].encoding == "json"
    with caplog.at_level(logging.DEBUG), Auditor.from_url(store_url, strict=True) as auditor:
        restored = auditor.retrigger_request(501, "CI")
    assert canonical_json(restored.config) == canonical_json(request_config())
    assert restored.workflow_id == "501"
    assert restored.triggered_by == "ana"
    for secret in (DOCKER_PASSWORD, S3_PASSKEY, DB_PASSWORD, API_TOKEN, ADMIN_PASSWORD, APP_TOKEN):
        assert secret not in caplog.text
        assert secret not in repr(restored)


def test_a_missing_secret_names_only_paths(
    store_url: str,
    settings_file: pathlib.Path,
    memory_keyring: MemoryKeyring,
    audited: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure(settings_file, memory_keyring, audited)
    monkeypatch.setenv("WFA_S3_PASSKEY", S3_PASSKEY)
    monkeypatch.delenv("WFA_ADMIN", raising=False)
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    memory_keyring.delete_password("ci-registry", "robot")
    with (
        Auditor.from_url(store_url, strict=True) as auditor,
        pytest.raises(SecretsUnavailable) as raised,
    ):
        auditor.retrigger_request(501, "CI")
    admin = span_key(audited, "/steps/0/script", "embedded:cli-flag")
    assert set(raised.value.paths) == {"/dockerPassword", "/env/DB_PASSWORD", admin}
    message = str(raised.value)
    assert "/dockerPassword" in message
    for secret in (DOCKER_PASSWORD, DB_PASSWORD, ADMIN_PASSWORD, S3_PASSKEY, API_TOKEN):
        assert secret not in message


def test_without_any_restore_configuration_nothing_is_guessed(
    store_url: str,
    settings_file: pathlib.Path,
    audited: dict[str, Any],
    memory_keyring: MemoryKeyring,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("DB_PASSWORD", raising=False)
    with (
        Auditor.from_url(store_url, strict=True) as auditor,
        pytest.raises(SecretsUnavailable) as raised,
    ):
        auditor.retrigger_request(501, "CI")
    assert set(raised.value.paths) == set(audited)
