"""Planted secrets: realistic fakes of every credential format and every way of
embedding one, for the masker tests and the cross-package leak tests.

Every value is generated here from a seeded random source in the shape of the
real format; none is a real credential. :func:`format_examples` gives one fake
per value pattern; :func:`embedded_examples` puts fakes inside scripts, URLs,
headers and manifests; :data:`KEEP` lists what must come through untouched.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from typing import NamedTuple
from urllib.parse import quote

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"


class Planted(NamedTuple):
    """A fake secret, the text that holds it, and the rule expected to find it."""

    name: str
    secret: str
    text: str
    rule: str


def _rand(rng: random.Random, alphabet: str, size: int) -> str:
    # Mix the classes so that a fake always reads as random (digits, both cases).
    while True:
        out = "".join(rng.choice(alphabet) for _ in range(size))
        if (
            alphabet != ALNUM
            or size < 12
            or (
                any(c.isdigit() for c in out)
                and any(c.islower() for c in out)
                and any(c.isupper() for c in out)
            )
        ):
            return out


def _b64url(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _jwt(rng: random.Random, issuer: str) -> str:
    header = _b64url({"alg": "RS256", "typ": "JWT", "kid": _rand(rng, ALNUM, 12)})
    payload = _b64url({"iss": issuer, "sub": "ci-runner", "exp": 1900000000})
    return f"{header}.{payload}.{_rand(rng, ALNUM + '-_', 86)}"


def _pem(rng: random.Random, kind: str) -> str:
    body = "\n".join(_rand(rng, ALNUM + "+/", 64) for _ in range(6))
    return f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----"


def _discord_bot(rng: random.Random) -> str:
    user_id = str(rng.randrange(10**17, 10**18))
    head = base64.b64encode(user_id.encode()).decode().rstrip("=")
    return f"{head}.{_rand(rng, ALNUM, 6)}.{_rand(rng, ALNUM + '-_', 38)}"


def _azure_storage_key(rng: random.Random) -> str:
    return base64.b64encode(bytes(rng.randrange(256) for _ in range(64))).decode()


Maker = Callable[[random.Random], str]

FORMATS: dict[str, Maker] = {
    # name of the value pattern -> a fake in its shape
    "aws-access-key-id": lambda r: "AKIA" + _rand(r, string.ascii_uppercase + "234567", 16),
    "gcp-api-key": lambda r: "AIza" + _rand(r, ALNUM + "-_", 35),
    "gcp-oauth-client-secret": lambda r: "GOCSPX-" + _rand(r, ALNUM + "-_", 28),
    "google-oauth-token": lambda r: "ya29.a0" + _rand(r, ALNUM + "-_", 60),
    "azure-client-secret": lambda r: _rand(r, ALNUM, 3) + "8Q~" + _rand(r, ALNUM + "_.-", 31),
    "azure-devops-pat": lambda r: _rand(r, string.ascii_lowercase + "234567", 52)
    + "AZDO"
    + _rand(r, ALNUM, 4),
    "alibaba-access-key-id": lambda r: "LTAI" + _rand(r, ALNUM, 20),
    "tencent-secret-id": lambda r: "AKID" + _rand(r, ALNUM, 32),
    "digitalocean-token": lambda r: "dop_v1_" + _rand(r, HEX, 64),
    "heroku-api-key": lambda r: "HRKU-AA" + _rand(r, ALNUM + "_-", 58),
    "vault-token": lambda r: "hvs." + _rand(r, ALNUM, 90),
    "terraform-cloud-token": lambda r: _rand(r, ALNUM, 14) + ".atlasv1." + _rand(r, ALNUM, 67),
    "pulumi-token": lambda r: "pul-" + _rand(r, HEX, 40),
    "doppler-token": lambda r: "dp.pt." + _rand(r, ALNUM, 43),
    "databricks-token": lambda r: "dapi" + _rand(r, HEX, 32),
    "github-pat": lambda r: "ghp_" + _rand(r, ALNUM, 36),
    "github-fine-grained-pat": lambda r: "github_pat_"
    + _rand(r, ALNUM, 22)
    + "_"
    + _rand(r, ALNUM, 59),
    "github-oauth-token": lambda r: "gho_" + _rand(r, ALNUM, 36),
    "github-app-token": lambda r: "ghs_" + _rand(r, ALNUM, 36),
    "github-refresh-token": lambda r: "ghr_" + _rand(r, ALNUM, 76),
    "gitlab-pat": lambda r: "glpat-" + _rand(r, ALNUM + "_-", 20),
    "gitlab-runner-token": lambda r: "glrt-" + _rand(r, ALNUM + "_-", 20),
    "gitlab-token": lambda r: "gldt-" + _rand(r, ALNUM + "_-", 20),
    "bitbucket-app-password": lambda r: "ATBB" + _rand(r, ALNUM, 32),
    "bitbucket-access-token": lambda r: "ATCTT3xFfGN0" + _rand(r, ALNUM + "_-", 180),
    "atlassian-api-token": lambda r: "ATATT3xFfGF0" + _rand(r, ALNUM + "_-", 180),
    "circleci-token": lambda r: "CCIPAT_" + _rand(r, ALNUM, 22) + "_" + _rand(r, HEX, 40),
    "buildkite-token": lambda r: "bkua_" + _rand(r, HEX, 40),
    "sonarqube-token": lambda r: "sqp_" + _rand(r, HEX, 40),
    "slack-token": lambda r: f"xoxb-{r.randrange(10**11, 10**12)}-{r.randrange(10**12, 10**13)}-"
    + _rand(r, ALNUM, 24),
    "slack-app-token": lambda r: f"xapp-1-A{_rand(r, string.ascii_uppercase + string.digits, 10)}-"
    f"{r.randrange(10**12, 10**13)}-{_rand(r, HEX, 64)}",
    "discord-bot-token": _discord_bot,
    "telegram-bot-token": lambda r: f"{r.randrange(10**8, 10**9)}:AA" + _rand(r, ALNUM + "_-", 33),
    "stripe-secret-key": lambda r: "sk_live_" + _rand(r, ALNUM, 24),
    "stripe-restricted-key": lambda r: "rk_test_" + _rand(r, ALNUM, 24),
    "stripe-webhook-secret": lambda r: "whsec_" + _rand(r, ALNUM, 32),
    "square-token": lambda r: "sq0atp-" + _rand(r, ALNUM + "-_", 22),
    "shopify-token": lambda r: "shpat_" + _rand(r, HEX, 32),
    "twilio-api-key": lambda r: "SK" + _rand(r, HEX, 32),
    "sendgrid-api-key": lambda r: "SG." + _rand(r, ALNUM + "_-", 22) + "." + _rand(r, ALNUM, 43),
    "mailgun-api-key": lambda r: "key-" + _rand(r, HEX, 32),
    "mailchimp-api-key": lambda r: _rand(r, HEX, 32) + "-us14",
    "npm-token": lambda r: "npm_" + _rand(r, ALNUM, 36),
    "pypi-token": lambda r: "pypi-AgEIcHlwaS5vcmc" + _rand(r, ALNUM + "-_", 70),
    "dockerhub-pat": lambda r: "dckr_pat_" + _rand(r, ALNUM + "-_", 27),
    "rubygems-token": lambda r: "rubygems_" + _rand(r, HEX, 48),
    "nuget-api-key": lambda r: "oy2" + _rand(r, string.ascii_lowercase + string.digits, 43),
    "jfrog-token": lambda r: "AKCp" + _rand(r, ALNUM, 69),
    "huggingface-token": lambda r: "hf_" + _rand(r, ALNUM, 34),
    "newrelic-key": lambda r: "NRAK-" + _rand(r, string.ascii_uppercase + string.digits, 27),
    "newrelic-license-key": lambda r: _rand(r, HEX, 36) + "NRAL",
    "sentry-token": lambda r: "sntrys_" + _rand(r, ALNUM, 120),
    "grafana-token": lambda r: "glsa_" + _rand(r, ALNUM, 32) + "_" + _rand(r, HEX, 8),
    "dynatrace-token": lambda r: "dt0c01."
    + _rand(r, string.ascii_uppercase + string.digits, 24)
    + "."
    + _rand(r, string.ascii_uppercase + string.digits, 64),
    "anthropic-api-key": lambda r: "sk-ant-api03-" + _rand(r, ALNUM + "-_", 93) + "AA",
    "openai-api-key": lambda r: "sk-proj-" + _rand(r, ALNUM + "-_", 48),
    "jwt": lambda r: _jwt(r, "https://token.actions.githubusercontent.com"),
    "kubernetes-sa-token": lambda r: _jwt(r, "https://kubernetes.default.svc.cluster.local"),
    "private-key": lambda r: _pem(r, r.choice(["RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY",
                                               "OPENSSH PRIVATE KEY", "PGP PRIVATE KEY BLOCK"])),
    "age-secret-key": lambda r: "AGE-SECRET-KEY-1" + _rand(r, string.ascii_uppercase + "0234", 58),
}  # fmt: skip
"""One fake per value pattern of the catalog that a bare token can show."""

CONTEXT_FORMATS: dict[str, Callable[[random.Random], tuple[str, str]]] = {
    # name -> (secret, the text holding it in its context)
    "aws-secret-access-key": lambda r: (
        s := _rand(r, ALNUM + "/+", 40),
        f"aws configure set aws_secret_access_key {s}",
    ),
    "aws-presigned-signature": lambda r: (
        s := _rand(r, HEX, 64),
        "https://bucket.s3.amazonaws.com/a.tgz?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Date=20240501T000000Z&X-Amz-Signature={s}",
    ),
    "gcp-service-account-key": lambda r: (
        s := _pem(r, "PRIVATE KEY").replace("\n", "\\n"),
        json.dumps({"type": "service_account", "project_id": "acme-ci"})[:-1]
        + f', "private_key": "{s}"}}',
    ),
    "azure-storage-key": lambda r: (
        s := _azure_storage_key(r),
        f"DefaultEndpointsProtocol=https;AccountName=acmeci;AccountKey={s};"
        "EndpointSuffix=core.windows.net",
    ),
    "azure-sas-token": lambda r: (
        s := quote(base64.b64encode(bytes(r.randrange(256) for _ in range(32))).decode(), safe=""),
        f"https://acmeci.blob.core.windows.net/logs?sv=2022-11-02&ss=b&srt=co&sp=rl"
        f"&se=2030-01-01T00:00:00Z&spr=https&sig={s}",
    ),
    "twilio-auth-token": lambda r: (s := _rand(r, HEX, 32), f"TWILIO_AUTH_TOKEN={s}"),
    "datadog-key": lambda r: (s := _rand(r, HEX, 32), f"DD_API_KEY: {s}"),
    "slack-webhook": lambda r: (
        s := f"T{_rand(r, string.ascii_uppercase + string.digits, 8)}/B"
        f"{_rand(r, string.ascii_uppercase + string.digits, 10)}/{_rand(r, ALNUM, 24)}",
        f"curl -X POST -d @payload.json https://hooks.slack.com/services/{s}",
    ),
    "discord-webhook": lambda r: (
        s := f"{r.randrange(10**17, 10**18)}/{_rand(r, ALNUM + '-_', 68)}",
        f"https://discord.com/api/webhooks/{s}",
    ),
    "teams-webhook": lambda r: (
        s := f"{_uuid(r)}@{_uuid(r)}/IncomingWebhook/{_rand(r, HEX, 32)}/{_uuid(r)}",
        f"https://acme.webhook.office.com/webhookb2/{s}",
    ),
    "sentry-dsn": lambda r: (
        s := _rand(r, HEX, 32),
        f"https://{s}@o{r.randrange(10**5, 10**6)}.ingest.sentry.io/{r.randrange(10**6, 10**7)}",
    ),
    "private-key-der": lambda r: (
        s := "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQ" + _rand(r, ALNUM + "+/", 200),
        f"echo {s} | base64 -d > key.der",
    ),
    "putty-private-key": lambda r: (
        s := "PuTTY-User-Key-File-3: ssh-ed25519\nEncryption: none\nComment: ci\n"
        f"Public-Lines: 2\n{_rand(r, ALNUM, 64)}\nPrivate-Lines: 1\n{_rand(r, ALNUM, 64)}\n"
        f"Private-MAC: {_rand(r, HEX, 64)}",
        s,
    ),
}  # fmt: skip
"""Formats recognised with their context (a name, a host, a parameter)."""


def _uuid(rng: random.Random) -> str:
    h = _rand(rng, HEX, 32)
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def format_examples(seed: int = 7) -> list[Planted]:
    """One :class:`Planted` per value pattern, the secret standing alone."""
    rng = random.Random(seed)
    out = [
        Planted(name, secret, secret, f"pattern:{name}")
        for name, make in FORMATS.items()
        for secret in [make(rng)]
    ]
    for name, make in CONTEXT_FORMATS.items():
        secret, text = make(rng)
        out.append(Planted(name, secret, text, f"pattern:{name}"))
    return out


def embedded_examples(seed: int = 11) -> list[Planted]:
    """Secrets inside larger strings, each with the rule expected to name it."""
    r = random.Random(seed)
    pw = lambda: _rand(r, ALNUM, 10) + "!" + _rand(r, ALNUM, 5)  # noqa: E731
    tok = lambda: _rand(r, ALNUM, 32)  # noqa: E731
    out: list[Planted] = []

    def add(name: str, secret: str, text: str, rule: str) -> None:
        out.append(Planted(name, secret, text, rule))

    s = pw()
    add(
        "url-password",
        s,
        f"postgresql://ci:{s}@db.internal:5432/app?sslmode=require",
        "embedded:url-password",
    )
    s = pw()
    add(
        "url-password-encoded",
        quote(s, safe=""),
        f"git clone https://bot:{quote(s, safe='')}@git.example.com/acme/app.git",
        "embedded:url-password",
    )
    s = FORMATS["github-pat"](r)
    add("url-token-user", s, f"git clone https://{s}@github.com/acme/app.git", "pattern:github-pat")
    s = tok()
    add(
        "bearer-header",
        s,
        f'curl -fsSL -H "Authorization: Bearer {s}" https://api.example.com/v1',
        "embedded:auth-header",
    )
    s = base64.b64encode(b"deploy:" + pw().encode()).decode()
    add("basic-header", s, f"Authorization: Basic {s}", "embedded:auth-header")
    s = tok()
    add(
        "api-key-header",
        s,
        f"curl -H 'X-API-Key: {s}' https://api.example.com",
        "embedded:assignment",
    )
    s = pw()
    add(
        "flag-space",
        s,
        f"helm repo add acme https://charts.example.com --username ci --password {s}",
        "embedded:cli-flag",
    )
    s = pw()
    add("flag-equals", s, f"./deploy.sh --env prod --password={s} --verbose", "embedded:cli-flag")
    s = tok()
    add("flag-token", s, f"vault login --token {s}", "embedded:cli-flag")
    s = pw()
    add("mysql-p", s, f"mysql -h db -u root -p{s} app < schema.sql", "embedded:cli-flag")
    s = pw()
    add(
        "docker-login-p",
        s,
        f"docker login -u robot -p {s} registry.example.com",
        "embedded:cli-flag",
    )
    s = pw()
    add(
        "curl-user",
        s,
        f"curl -u admin:{s} https://nexus.example.com/repository/raw/",
        "embedded:cli-flag",
    )
    s = pw()
    add(
        "password-stdin",
        s,
        f"echo '{s}' | docker login ghcr.io -u bot --password-stdin",
        "embedded:cli-flag",
    )
    s = pw()
    add("export", s, f"set -e\nexport DB_PASSWORD={s}\n./migrate.sh", "embedded:assignment")
    s = pw()
    add("env-prefix", s, f"PGPASSWORD='{s}' psql -h db -U app -c 'select 1'", "embedded:assignment")
    s = tok()
    add("dotenv", s, f'LOG_LEVEL=info\nSTRIPE_API_KEY="{s}"\nPORT=8080', "embedded:assignment")
    s = pw()
    add(
        "yaml-in-string",
        s,
        f"spring:\n  datasource:\n    username: app\n    password: {s}\n",
        "embedded:assignment",
    )
    s = tok()
    add(
        "json-in-string",
        s,
        json.dumps({"client_id": "ci", "client_secret": s}),
        "embedded:assignment",
    )
    s = tok()
    add(
        "npmrc", s, f"//registry.npmjs.org/:_authToken={s}\nalways-auth=true", "embedded:assignment"
    )
    s = pw()
    add(
        "kubectl-literal",
        s,
        f"kubectl create secret generic db --from-literal=username=app --from-literal=password={s}",
        "embedded:assignment",
    )
    s = pw()
    add("java-property", s, f"mvn deploy -Drepo.password={s} -DskipTests", "embedded:cli-flag")
    s = pw()
    add("xml", s, f"<server><id>nexus</id><password>{s}</password></server>", "embedded:assignment")
    s = tok()
    add(
        "query-token",
        s,
        f"https://api.example.com/hook?channel=ci&access_token={s}",
        "embedded:assignment",
    )
    auth = base64.b64encode(f"robot:{pw()}".encode()).decode()
    add(
        "docker-auths",
        auth,
        json.dumps({"auths": {"registry.example.com": {"auth": auth}}}),
        "embedded:docker-auth",
    )
    s = base64.b64encode(pw().encode()).decode()
    add(
        "k8s-manifest",
        s,
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\ntype: Opaque\ndata:\n"
        f"  password: {s}\n",
        "embedded:k8s-secret",
    )
    # -- encoded variants
    s = base64.b64encode(_pem(r, "RSA PRIVATE KEY").encode()).decode()
    add("base64-pem", s, s, "encoded:base64")
    s = base64.b64encode(f"ci-bot:{pw()}".encode()).decode()
    add("base64-userpass", s, f"echo {s} | base64 -d", "encoded:base64")
    s = base64.b64encode(FORMATS["github-pat"](r).encode()).decode()
    add("base64-token", s, f"GH_B64={s}", "encoded:base64")
    s = quote(f"https://ci:{pw()}@repo.example.com/simple", safe="")
    add("url-encoded-url", s, f"https://proxy.example.com/?target={s}", "encoded:url")
    # -- entropy
    s = tok()
    add("entropy-value", s, s, "entropy")
    s = _rand(r, ALNUM, 40)
    add("entropy-in-script", s, f"./notify.sh --channel ci {s}", "entropy")
    return out


KEEP: tuple[str, ...] = (
    "3f9c2a7e1b4d5c6f7a8b9c0d1e2f3a4b5c6d7e8f",  # a commit SHA
    "9b7f1d0e3c2a4b6d8f0e1c3a5b7d9f1e3c5a7b9d0f2e4c6a8b0d2f4e6a8c0e2f",  # a SHA-256
    "sha256:4bc5e1f3a2d6c7b8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2",  # a digest
    "123e4567-e89b-12d3-a456-426614174000",  # a UUID
    "01HV6Z3QK9M8X7W6V5T4S3R2Q1",  # a ULID
    "${{ secrets.NPM_TOKEN }}",  # references
    "${{ github.token }}",
    "$(params.db-password)",
    "{{inputs.parameters.registry-password}}",
    "vault:secret/data/ci#token",
    "https://github.com/acme/service.git",  # public URLs
    "https://registry.npmjs.org/",
    "ghcr.io/acme/service@sha256:4bc5e1f3a2d6c7b8e9f0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2",
    "Linux-cargo-3f9c2a7e1b4d5c6f7a8b9c0d1e2f3a4b5c6d7e8f",  # a cache key
    "v1.28.3-rc.1+build.20240501",  # a version
    "sha512-z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXcg/SpIdNs6c5H0NE8XYXysP+DGNKHfuwvY7kxvUdBeoGlODJ6+SfaPg==",
)
"""Values a retrigger needs and the masker must leave alone."""
