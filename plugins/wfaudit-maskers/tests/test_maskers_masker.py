"""The walk and the rules at its nodes, on small configs."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest

from wfaudit_hookspecs import RestoreRef
from wfaudit_maskers import Masker

# -- what the keyword rule masks, and what it keeps --------------------------------


@pytest.mark.parametrize(
    "name",
    ["dbPassword", "DB_PASSWORD", "db-password", "db.password", "dbpassword", "DbPassword"],
)
def test_every_naming_style_is_masked(scan: Any, name: str) -> None:
    context = scan({"db": {name: "s3cr3t"}})
    assert context.masked == {f"/db/{name}": "keyword"}


@pytest.mark.parametrize("value", [123456, 0, -1, 3.25, 10**30])
def test_numbers_are_masked(scan: Any, value: int | float) -> None:
    assert scan({"pin_password": value}).masked == {"/pin_password": "keyword"}


@pytest.mark.parametrize("value", [True, False, None, "", "   "])
def test_flags_nulls_and_empty_strings_are_kept(scan: Any, value: Any) -> None:
    context = scan({"password": value, "token": value})
    assert context.masked == {}
    assert context.refs == []


def test_objects_under_a_keyword_are_descended_not_masked_whole(scan: Any) -> None:
    config = {
        "credentials": {"username": "ci", "password": "s3cr3t", "url": "https://r.example"},
        "registryCredentialMap": {"harbor": {"username": "robot", "password": "s3cr3t"}},
    }
    assert scan(config).masked == {
        "/credentials/password": "keyword",
        "/registryCredentialMap/harbor/password": "keyword",
    }


def test_list_items_take_the_name_of_their_list(scan: Any) -> None:
    config = {
        "tokens": ["s3cr3t-1", "", "s3cr3t-2", None, 7, [{"user": "a"}, "s3cr3t-3"]],
        "apiKeys": [{"name": "ci", "key": "k"}],
        "names": ["a", "b"],
    }
    assert scan(config).masked == {
        "/tokens/0": "keyword",
        "/tokens/2": "keyword",
        "/tokens/4": "keyword",
        "/tokens/5/1": "keyword",
    }


# -- the traps: names and values that must stay -------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("secretName", "ci-secrets"),
        ("secretKeyRef", {"name": "db", "key": "password"}),
        ("secretRef", {"name": "ci-env"}),
        ("tokenSecretName", "github-token"),
        ("passwordFile", "/run/secrets/db"),
        ("tokenEnv", "GH_TOKEN"),
        ("token_expiry_seconds", 3600),
        ("passwordless", True),
        ("secretsCount", 3),
        ("tokenUrl", "https://auth.example/token"),
        ("authType", "oidc"),
        ("author", "Dev Person"),
        ("tokenizer", "bpe"),
        ("PWD", "/home/runner/work"),
        ("cert_path", "/etc/ssl/ci.pem"),
        ("triggerByAuthor", "admin"),
        ("authMode", "ACCESS_TOKEN"),
        ("accessKeyId", "AKIDFAKE"),
        ("passwordPolicy", "strict"),
    ],
)
def test_trap_names_are_kept(scan: Any, name: str, value: Any) -> None:
    assert scan({"spec": {name: value}}).masked == {}


@pytest.mark.parametrize(
    ("value", "kind", "ref_name"),
    [
        ("${{ secrets.NPM_TOKEN }}", "github-secret", "NPM_TOKEN"),
        ("${{ github.token }}", "github-secret", "GITHUB_TOKEN"),
        ("$(params.token)", "template", "params.token"),
        ("{{inputs.parameters.password}}", "template", "inputs.parameters.password"),
        ("${DB_PASSWORD}", "env", "DB_PASSWORD"),
        ("$DB_PASSWORD", "env", "DB_PASSWORD"),
        ("vault:secret/data/ci#token", "vault", "secret/data/ci#token"),
        (
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/token-AbCdEf",
            "aws-secretsmanager",
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/token-AbCdEf",
        ),
        ("projects/x/secrets/y/versions/1", "gcp-secretmanager", "projects/x/secrets/y/versions/1"),
    ],
)
@pytest.mark.parametrize("name", ["token", "DB_PASSWORD", "dockerPassword"])
def test_trap_values_are_references(
    scan: Any, name: str, value: str, kind: str, ref_name: str
) -> None:
    context = scan({"env": {name: value}})
    assert context.masked == {}
    rule = "known-field" if name == "dockerPassword" else "keyword"
    assert context.refs == [(f"/env/{name}", kind, ref_name, rule)]


def test_empty_string_is_neither_masked_nor_a_reference(scan: Any) -> None:
    context = scan({"password": ""})
    assert context.masked == {}
    assert context.refs == []


def test_a_literal_beside_a_reference_is_masked(scan: Any) -> None:
    assert scan({"password": "hunter2${SUFFIX}"}).masked == {"/password": "keyword"}


def test_github_permissions_are_not_secrets(scan: Any) -> None:
    config = {"permissions": {"id-token": "write", "contents": "read"}}
    assert scan(config).masked == {}


def test_reusable_workflow_secrets_inherit(scan: Any) -> None:
    context = scan({"jobs": {"deploy": {"secrets": "inherit"}, "other": {"secrets": "s3cr3t"}}})
    assert context.masked == {"/jobs/other/secrets": "keyword"}


# -- known fields ---------------------------------------------------------------------


def test_known_field_object_is_masked_whole(scan: Any) -> None:
    credential = {"type": "service_account", "private_key": "s3cr3t", "client_email": "ci@x"}
    context = scan({"gcpBlobConfig": {"credentialFileData": credential, "logBucketName": "l"}})
    assert context.masked == {"/gcpBlobConfig/credentialFileData": "known-field"}


@pytest.mark.parametrize("value", [{}, [], None, False, ""])
def test_known_field_without_content_is_kept(scan: Any, value: Any) -> None:
    assert scan({"dockerPassword": value}).masked == {}


def test_known_field_wins_over_keyword(scan: Any) -> None:
    assert scan({"dockerPassword": "s3cr3t"}).masked == {"/dockerPassword": "known-field"}


def test_kubeconfig_token_under_user(scan: Any) -> None:
    config = {"users": [{"name": "ci", "user": {"token": "s3cr3t"}}], "spec": {"token": "s3"}}
    assert scan(config).masked == {
        "/users/0/user/token": "known-field",
        "/spec/token": "keyword",
    }


def test_kubernetes_secret_object_data(scan: Any) -> None:
    config = [
        {
            "kind": "Secret",
            "metadata": {"name": "git"},
            "stringData": {"username": "ci", "known_hosts": "github.com ssh-ed25519 AAAA"},
            "data": {".dockerconfigjson": "eyJhdXRocyI6e319", "empty": ""},
        },
        {"kind": "ConfigMap", "data": {"username": "ci"}},
    ]
    assert scan(config).masked == {
        "/0/stringData/username": "known-field",
        "/0/stringData/known_hosts": "known-field",
        "/0/data/.dockerconfigjson": "known-field",
    }


# -- pairs and restore references ----------------------------------------------------


def test_env_pairs_mask_the_value_by_the_name(scan: Any) -> None:
    config = {
        "env": [
            {"name": "LOG_LEVEL", "value": "debug"},
            {"name": "DB_PASSWORD", "value": "s3cr3t"},
            {"name": "AWS_SECRET_ACCESS_KEY", "value": "s3cr3t"},
            {"name": "API_TOKEN", "value": "$(params.api-token)"},
            {"name": "SECRET_NAME", "value": "ci-secrets"},
            {"name": "PWD", "value": "/work"},
            {"name": "token", "value": "s3cr3t"},
        ]
    }
    context = scan(config)
    assert context.masked == {
        "/env/1/value": "keyword",
        "/env/2/value": "known-field",
        "/env/6/value": "keyword",
    }
    assert context.restores == {
        "/env/1/value": "DB_PASSWORD",
        "/env/2/value": "AWS_SECRET_ACCESS_KEY",
        "/env/6/value": "token",
    }
    assert context.references == {("/env/3/value", "template", "params.api-token")}


def test_pairs_outside_env_have_no_restore(scan: Any) -> None:
    config = {"inputVariables": [{"name": "SONAR_TOKEN", "value": "s3cr3t"}]}
    context = scan(config)
    assert context.masked == {"/inputVariables/0/value": "keyword"}
    assert context.restores == {"/inputVariables/0/value": None}


def test_pairs_named_by_key(scan: Any) -> None:
    assert scan({"vars": [{"key": "DB_PASSWORD", "value": "s3cr3t"}]}).masked == {
        "/vars/0/value": "keyword"
    }


def test_env_object_entries_restore_from_their_variable(scan: Any) -> None:
    config = {
        "extraEnvironmentVariables": {"DB_PASSWORD": "s3cr3t"},
        "runtimeEnvironmentVariables": {"SONAR_TOKEN": "s3cr3t"},
        "env": {"NPM_TOKEN": "s3cr3t"},
        "spec": {"DB_PASSWORD": "s3cr3t"},
        "environment": {"db.password": "s3cr3t"},  # not a variable name
    }
    context = scan(config)
    assert context.marks[("env", "NPM_TOKEN")].restore == RestoreRef(kind="env", target="NPM_TOKEN")
    assert context.restores == {
        "/extraEnvironmentVariables/DB_PASSWORD": "DB_PASSWORD",
        "/runtimeEnvironmentVariables/SONAR_TOKEN": "SONAR_TOKEN",
        "/env/NPM_TOKEN": "NPM_TOKEN",
        "/spec/DB_PASSWORD": None,
        "/environment/db.password": None,
    }


# -- references ----------------------------------------------------------------------


def test_kubernetes_references(scan: Any) -> None:
    config = {
        "imagePullSecrets": [{"name": "regcred"}],
        "env": [
            {
                "name": "REDIS_PASSWORD",
                "valueFrom": {"secretKeyRef": {"name": "redis", "key": "password"}},
            }
        ],
        "envFrom": [{"secretRef": {"name": "ci-env"}}],
        "volumes": [{"name": "tls", "secret": {"secretName": "ci-tls"}}],
        "s3": {"accessKeySecret": {"name": "minio", "key": "accesskey"}},
    }
    context = scan(config)
    assert context.masked == {}
    assert context.references == {
        ("/imagePullSecrets/0", "k8s-secret", "regcred"),
        ("/env/0/valueFrom/secretKeyRef", "k8s-secret", "redis/password"),
        ("/envFrom/0/secretRef", "k8s-secret", "ci-env"),
        ("/volumes/0/secret/secretName", "k8s-secret", "ci-tls"),
        ("/s3/accessKeySecret", "k8s-secret", "minio/accesskey"),
    }


def test_name_references(scan: Any) -> None:
    context = scan({"tokenEnv": "GH_TOKEN", "existingSecret": "db-credentials"})
    assert context.references == {
        ("/tokenEnv", "env", "GH_TOKEN"),
        ("/existingSecret", "k8s-secret", "db-credentials"),
    }


def test_secret_expressions_anywhere(scan: Any) -> None:
    config = {
        "steps": [
            {"run": "echo ${{ secrets.A }} | login\necho ${{ secrets.A }} ${{ secrets.B }}"},
            {"with": {"registry-url": "https://npm.example", "key": "${{ secrets.C }}"}},
        ],
        "description": "uses ${{ inputs.x }}",
    }
    context = scan(config)
    assert context.masked == {}
    assert sorted(context.refs) == [
        ("/steps/0/run", "github-secret", "A", "reference"),
        ("/steps/0/run", "github-secret", "B", "reference"),
        ("/steps/1/with/key", "github-secret", "C", "reference"),
    ]


# -- the walk --------------------------------------------------------------------------


@pytest.mark.parametrize("config", [None, 3, True, "plain text", "", [], {}])
def test_degenerate_configs(scan: Any, config: Any) -> None:
    assert scan(config).masked == {}


def test_a_bare_string_config_is_scanned_for_references(scan: Any) -> None:
    assert scan("${{ secrets.X }}").references == {("", "github-secret", "X")}


def test_root_list(scan: Any) -> None:
    assert scan([{"password": "s3cr3t"}, "x"]).masked == {"/0/password": "keyword"}


def test_deep_nesting_does_not_exhaust_the_stack(recording_context: Any) -> None:
    # Deeper than the interpreter's recursion limit: the walk is iterative.
    config: Any = {"password": "s3cr3t"}
    for _ in range(5000):
        config = [{"level": config}]
    context = recording_context(config)
    Masker().scan(context)
    assert len(context.marks) == 1
    assert next(iter(context.marks))[-1] == "password"


def test_keys_with_slashes_and_tildes_make_pointers(scan: Any) -> None:
    context = scan({"a/b": {"c~d": {"password": "s3cr3t"}}})
    assert context.masked == {"/a~1b/c~0d/password": "keyword"}


def test_subclasses_and_tuples_are_walked(recording_context: Any) -> None:
    class Text(str):
        pass

    config = OrderedDict(
        spec=OrderedDict(password=Text("s3cr3t")),
        tokens=("s3cr3t-1", "s3cr3t-2"),
        steps=(OrderedDict(run="${{ secrets.T }}"),),
    )
    context = recording_context(config)
    Masker().scan(context)
    assert context.masked == {
        "/spec/password": "keyword",
        "/tokens/0": "keyword",
        "/tokens/1": "keyword",
    }
    assert context.references == {("/steps/0/run", "github-secret", "T")}


def test_marks_already_covered_are_skipped(recording_context: Any) -> None:
    context = recording_context({"dockerPassword": "s3cr3t", "spec": {"password": "p"}})
    context.mask(("spec",), rule="other-masker")
    Masker().scan(context)
    assert context.masked == {"/spec": "other-masker", "/dockerPassword": "known-field"}


def test_the_masker_is_reusable_across_configs(scan: Any) -> None:
    masker = Masker()
    assert scan({"password": "a"}, masker).masked == {"/password": "keyword"}
    assert scan({"token": "b"}, masker).masked == {"/token": "keyword"}
