"""Secrets inside larger strings: only the secret's span is masked."""

from __future__ import annotations

from typing import Any

import pytest

from wfaudit_maskers import Masker

MASKER = Masker()


def found(text: str) -> list[tuple[str, str]]:
    return [(text[f.start : f.end], f.rule) for f in MASKER.find(text)]


def test_each_embedding_is_found(embedded_example: Any) -> None:
    text, secret = embedded_example.text, embedded_example.secret
    start = text.find(secret)
    findings = MASKER.find(text)
    covering = [f for f in findings if f.start <= start and f.end >= start + len(secret)]
    assert covering, f"{embedded_example.name}: {secret!r} not masked in {text!r}"
    assert embedded_example.rule in {f.rule for f in covering}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "psql postgresql://app:Tr0ub4dor@db:5432/app -c 'select 1'",
            [("Tr0ub4dor", "embedded:url-password")],
        ),
        ("https://u:p#ss@w0rd@h.example.com/x", [("p#ss@w0rd", "embedded:url-password")]),
        (
            'curl -H "Authorization: Bearer Xb3kLm9QrT2vW" https://x',
            [("Xb3kLm9QrT2vW", "embedded:auth-header")],
        ),
        ("export DB_PASSWORD='a b c' && run", [("a b c", "embedded:assignment")]),
        (
            "password = correct horse battery\nuser = x",
            [("correct horse battery", "embedded:assignment")],
        ),
        ("helm upgrade --set db.password=Xy9kQ2,db.user=app", [("Xy9kQ2", "embedded:assignment")]),
        (
            '{"auths":{"r.io":{"auth":"cm9ib3Q6aHVudGVyMg=="}}}',
            [("cm9ib3Q6aHVudGVyMg==", "embedded:docker-auth")],
        ),
        (
            "keytool -importkeystore -srcstorepass Ch4ngeIt! -deststorepass Ch4ngeIt2",
            [("Ch4ngeIt!", "embedded:cli-flag"), ("Ch4ngeIt2", "embedded:cli-flag")],
        ),
        (
            "openssl pkcs12 -export -passout pass:S3cr3tPass -out a.p12",
            [("S3cr3tPass", "embedded:cli-flag")],
        ),
        ("sshpass -p 'Hunt3r22' ssh deploy@host", [("Hunt3r22", "embedded:cli-flag")]),
        ("redis-cli -h cache -a Rd1sPass ping", [("Rd1sPass", "embedded:cli-flag")]),
        (
            "Driver={ODBC Driver 18};Server=db;UID=sa;PWD=Sq1Pa55!x;Encrypt=yes",
            [("Sq1Pa55!x", "embedded:assignment")],
        ),
        (
            "Server=db;Database=app;User Id=sa;Password=P@ssw0rd9;",
            [("P@ssw0rd9", "embedded:assignment")],
        ),
        (
            "machine github.com login bot password Tr0ub4dor3x",
            [("Tr0ub4dor3x", "embedded:assignment")],
        ),
        ("git config --global http.password Gpw0rd!x", [("Gpw0rd!x", "embedded:assignment")]),
    ],
)
def test_embedded_spans(text: str, expected: list[tuple[str, str]]) -> None:
    assert found(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        # references are not secrets
        "docker login -u bot -p ${{ secrets.REGISTRY_PASSWORD }} ghcr.io",
        "docker login -u bot -p $REGISTRY_PASSWORD ghcr.io",
        'echo "$DOCKER_PASSWORD" | docker login -u bot --password-stdin',
        "export DB_PASSWORD=${DB_PASSWORD:-}",
        "git clone https://x-access-token:${GITHUB_TOKEN}@github.com/acme/app.git",
        "git clone https://oauth2:$(cat /run/secrets/token)@gitlab.com/acme/app.git",
        "password: {{ .Values.db.password }}",
        "--token $(params.token)",
        "TOKEN=$(vault kv get -field=token secret/ci)",
        # names that describe a secret, or flags without a value
        "token_expiry_seconds=3600",
        "passwordless: true",
        "docker login ghcr.io --password-stdin < pw.txt",
        "gh auth login --with-token < token.txt",
        "kubectl create secret generic x --from-file=password=./pw.txt",
        'if [ -z "$API_TOKEN" ]; then exit 1; fi',
        # colons that are not mappings, and -p that is not a password
        "image: ghcr.io/acme/token-service:v1.2.3",
        "docker pull acme/secret-store:latest",
        "mkdir -p /tmp/secret-dir && cp -p a b",
        "docker run -p 8080:80 nginx",
        "ssh -p 2222 deploy@host.example.com",
        # public URLs and plain prose
        "https://github.com/acme/service.git",
        "Visit https://docs.example.com/auth/token?lang=en for help",
        "Set the password in the settings page, then run the job.",
        "token: required",
        "cd $PWD && export PWD=/tmp",
        "git config --global user.name ci-bot && npm config set registry https://r.example/",
        "cache-key: ${{ runner.os }}-cargo-${{ hashFiles('**/Cargo.lock') }}",
    ],
)
def test_not_secrets(text: str) -> None:
    assert found(text) == []


def test_a_kubernetes_secret_manifest_in_a_string(scan: Any) -> None:
    manifest = (
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: registry\n"
        "type: kubernetes.io/basic-auth\nstringData:\n  username: robot\n  password: Xk2#pQ9\n"
        "data:\n  tls.key: |\n    LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t\n    QUJD\n"
        "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n"
        "  mode: fast\n"
    )
    context = scan({"resource": {"action": "create", "manifest": manifest}})
    applied = context.applied()["resource"]["manifest"]
    assert "Xk2#pQ9" not in applied
    assert "robot" not in applied  # every value of a Secret is masked
    assert "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0t" not in applied
    assert "  mode: fast" in applied  # the ConfigMap stays
    assert "name: registry" in applied


def test_only_spans_are_replaced_in_scripts(scan: Any) -> None:
    script = (
        "set -euo pipefail\n"
        "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMIK7MDENGbPxRfiCYzEXAMPLEKEY12\n"
        "mysql -h db -u app -pS3cretPassw0rd app < dump.sql\n"
        "git push https://ci:Gh0stRid3r@git.example.com/acme/app.git HEAD:main\n"
    )
    context = scan({"steps": [{"name": "deploy", "script": script}]})
    applied = context.applied()["steps"][0]["script"]
    assert applied == (
        "set -euo pipefail\n"
        "export AWS_SECRET_ACCESS_KEY=<masked>\n"
        "mysql -h db -u app -p<masked> app < dump.sql\n"
        "git push https://ci:<masked>@git.example.com/acme/app.git HEAD:main\n"
    )
    assert all("#" in pointer for pointer in context.masked)  # spans, not whole values


def test_a_flag_and_its_value_in_an_argument_list(scan: Any) -> None:
    config = {
        "containers": [
            {
                "name": "deploy",
                "args": ["--user", "ci", "--password", "Zq8!wE3rT", "--token", "Ab3dE6", "-v"],
                "command": ["--verbose", "--password-stdin", "--token-file", "/run/t"],
            }
        ]
    }
    context = scan(config)
    assert context.masked == {
        "/containers/0/args/3": "embedded:cli-flag",
        "/containers/0/args/5": "embedded:cli-flag",
    }


def test_disabling_the_embedded_family(scan: Any) -> None:
    text = "export DB_PASSWORD=Hunter22x && curl https://u:Pw0rd123@h.example.com"
    context = scan({"script": text}, settings={"maskers": {"disable": ["embedded"]}})
    assert context.masked == {}
    context = scan({"script": text}, settings={"maskers": {"disable": ["embedded:assignment"]}})
    assert list(context.masked.values()) == ["embedded:url-password"]
