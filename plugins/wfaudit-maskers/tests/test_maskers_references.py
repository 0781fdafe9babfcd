"""Values that refer to a secret instead of holding one."""

from __future__ import annotations

import pytest

from wfaudit_maskers import Reference, parse_reference
from wfaudit_maskers.references import find_secret_expressions, k8s_selector


@pytest.mark.parametrize(
    ("value", "refs"),
    [
        ("${{ secrets.NPM_TOKEN }}", [("github-secret", "NPM_TOKEN")]),
        ("${{secrets.NPM_TOKEN}}", [("github-secret", "NPM_TOKEN")]),
        ("${{ secrets['DEPLOY KEY'] }}", [("github-secret", "DEPLOY KEY")]),
        ("${{ github.token }}", [("github-secret", "GITHUB_TOKEN")]),
        ("${{ env.DB_PASSWORD }}", [("env", "DB_PASSWORD")]),
        (
            "${{ secrets.PROD_TOKEN || secrets.TOKEN }}",
            [("github-secret", "PROD_TOKEN"), ("github-secret", "TOKEN")],
        ),
        ("${{ inputs.password }}", [("template", "inputs.password")]),
        ("Bearer ${{ secrets.API_TOKEN }}", [("github-secret", "API_TOKEN")]),
        ("$(params.token)", [("template", "params.token")]),
        ("$(params.db-password)", [("template", "params.db-password")]),
        ("$(tasks.fetch.results.token)", [("template", "tasks.fetch.results.token")]),
        ("{{inputs.parameters.password}}", [("template", "inputs.parameters.password")]),
        ("{{ .Values.db.password }}", [("template", ".Values.db.password")]),
        ("${DB_PASSWORD}", [("env", "DB_PASSWORD")]),
        ("${db_password}", [("env", "db_password")]),
        ("$DB_PASSWORD", [("env", "DB_PASSWORD")]),
        ("  $DB_PASSWORD  ", [("env", "DB_PASSWORD")]),
        ("${USER}:${PASSWORD}", [("env", "USER"), ("env", "PASSWORD")]),
        ("vault:secret/data/ci#token", [("vault", "secret/data/ci#token")]),
        ("vault://secret/data/ci#token", [("vault", "secret/data/ci#token")]),
        ("ref+vault://secret/ci#/token", [("vault", "secret/ci#/token")]),
        ("<path:secret/data/ci#token>", [("vault", "secret/data/ci#token")]),
        (
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/db-AbCdEf",
            [
                (
                    "aws-secretsmanager",
                    "arn:aws:secretsmanager:us-east-1:123456789012:secret:ci/db-AbCdEf",
                )
            ],
        ),
        (
            "arn:aws:ssm:us-east-1:123456789012:parameter/ci/token",
            [("aws-ssm", "arn:aws:ssm:us-east-1:123456789012:parameter/ci/token")],
        ),
        (
            "projects/x/secrets/y/versions/1",
            [("gcp-secretmanager", "projects/x/secrets/y/versions/1")],
        ),
        ("projects/acme-ci/secrets/db", [("gcp-secretmanager", "projects/acme-ci/secrets/db")]),
        (
            "https://acme.vault.azure.net/secrets/db-password/0123abcd",
            [("azure-keyvault", "https://acme.vault.azure.net/secrets/db-password/0123abcd")],
        ),
        ("op://ci/database/password", [("onepassword", "op://ci/database/password")]),
    ],
)
def test_references(value: str, refs: list[tuple[str, str]]) -> None:
    assert parse_reference(value) == tuple(Reference(kind, name) for kind, name in refs)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "   ",
        "hunter2",
        "s3cr3t-value",
        "$ecretPa55",  # a password starting with "$", not a variable
        "$2b$12$abcdefghijklmnopqrstuv",  # a bcrypt hash
        "hunter2${SUFFIX}",  # a literal beside a variable may be the secret
        "prefix-${{ secrets.TOKEN }}",
        "${DB_PASSWORD:-fallback}",  # the default is a literal
        "$(cat /run/secrets/token)",  # a command, not a Tekton variable
        "https://user:pass@example.com/repo.git",
        "${{ }}",
    ],
)
def test_not_references(value: str) -> None:
    assert parse_reference(value) is None


def test_secret_expressions_anywhere_in_a_script() -> None:
    script = (
        "echo ${{ secrets.A }} | docker login --password-stdin\n"
        "curl -H 'Authorization: Bearer ${{ secrets.B }}' ${{ inputs.url }}\n"
        "gh release create --token ${{ github.token }}"
    )
    assert find_secret_expressions(script) == [
        Reference("github-secret", "A"),
        Reference("github-secret", "B"),
        Reference("github-secret", "GITHUB_TOKEN"),
    ]
    assert find_secret_expressions("make test") == []
    assert find_secret_expressions("${{ inputs.token }}") == []


@pytest.mark.parametrize(
    ("value", "selector"),
    [
        ({"name": "redis", "key": "password"}, "redis/password"),
        ({"name": "regcred"}, "regcred"),
        (
            {"name": "my-minio-cred", "key": "accesskey", "optional": True},
            "my-minio-cred/accesskey",
        ),
        ({"name": "ci", "key": ".dockerconfigjson"}, "ci/.dockerconfigjson"),
        ({"name": "redis", "key": "password", "value": "x"}, None),  # not only selector keys
        ({"name": "Not A K8s Name", "key": "password"}, None),
        ({"name": "redis", "key": "pass word!"}, None),
        ({"key": "password"}, None),
        ({"name": 3}, None),
    ],
)
def test_k8s_selector(value: dict[str, object], selector: str | None) -> None:
    assert k8s_selector(value) == selector
