"""Fresh requests with planted secrets and benign look-alikes, in every shape.

``generate(seed, size)`` builds ``size`` requests across the five payload
families; case ``i`` depends only on ``(seed, i)``, so a larger run extends a
smaller one. Each request carries a few secret shapes and a few benign shapes,
drawn from :data:`SECRET_CLASSES` and :data:`BENIGN_CLASSES`; every planted
value is labelled by its class. The secrets are fresh random values in their
real format's shape (``values.py``); nothing here is a real credential.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from typing import Any, Literal
from urllib.parse import quote

import attrs

from . import values as v
from .carriers import CARRIERS, FAMILIES, Carrier, Devtron


@attrs.frozen
class Plant:
    """One planted value.

    A secret leaks when ``value``, or one of ``forms`` (how it was written in
    the request when that differs: percent-encoded, base64), or any 12
    characters of ``core`` (the random part) are found in the stored
    snapshot. A benign value is over-masked when a string that held it no
    longer holds it.
    """

    label: str
    kind: Literal["secret", "benign"]
    value: str = attrs.field(repr=False)
    forms: tuple[str, ...] = attrs.field(default=(), repr=False)
    core: str = attrs.field(default="", repr=False)

    @property
    def cores(self) -> tuple[str, ...]:
        return (self.core,) if self.core else (self.value, *self.forms)


@attrs.frozen
class Case:
    """One generated request and what was planted in it."""

    id: str
    family: str
    workflow_type: str
    source: str
    config: Any = attrs.field(repr=False)
    plants: tuple[Plant, ...] = attrs.field(repr=False)

    @property
    def secrets(self) -> tuple[Plant, ...]:
        return tuple(p for p in self.plants if p.kind == "secret")

    @property
    def benign(self) -> tuple[Plant, ...]:
        return tuple(p for p in self.plants if p.kind == "benign")


Planter = Callable[[random.Random, Carrier], list[Plant]]


def _secret(label: str, value: str, *forms: str, core: str = "") -> Plant:
    return Plant(label, "secret", value, tuple(f for f in forms if f != value), core)


def _benign(label: str, value: str) -> Plant:
    return Plant(label, "benign", value)


def _name(rng: random.Random, *words: str) -> str:
    """A secret-bearing variable name in one of the usual styles."""
    parts = [rng.choice(("DB", "API", "DEPLOY", "REGISTRY", "SMTP", "REDIS", "APP")), *words]
    style = rng.randrange(3)
    if style == 0:
        return "_".join(parts).upper()
    if style == 1:
        return parts[0].lower() + "".join(p.capitalize() for p in parts[1:])
    return "-".join(parts).lower()


# -- secret shapes: the ones masked before issue #17 -----------------------------------


def cloud_key(rng: random.Random, carrier: Carrier) -> list[Plant]:
    kind = rng.randrange(3)
    if kind == 0:
        key_id, secret = v.aws_key_id(rng), v.aws_secret(rng)
        carrier.text(
            "script",
            f"aws configure set aws_access_key_id {key_id}\n"
            f"aws configure set aws_secret_access_key {secret}\naws s3 ls",
        )
        return [_secret("cloud-key", key_id), _secret("cloud-key", secret)]
    if kind == 1:
        key = v.gcp_api_key(rng)
        carrier.field(
            "GEOCODER_URL", f"https://maps.googleapis.com/maps/api/geocode/json?key={key}"
        )
        return [_secret("cloud-key", key)]
    account = f"{v.word(rng)}{rng.randint(10, 99)}"
    key = v.azure_storage_key(rng)
    carrier.field(
        "STORAGE_CONNECTION",
        f"DefaultEndpointsProtocol=https;AccountName={account};AccountKey={key};"
        "EndpointSuffix=core.windows.net",
    )
    return [_secret("cloud-key", key)]


def vcs_token(rng: random.Random, carrier: Carrier) -> list[Plant]:
    token = v.vcs_token(rng)
    kind = rng.randrange(3)
    if kind == 0:
        carrier.text(
            "script",
            f"git clone https://x-access-token:{token}@github.com/acme/{v.service(rng)}.git src",
        )
    elif kind == 1:
        carrier.field(rng.choice(("GH_TOKEN", "GITLAB_TOKEN", "githubToken")), token)
    else:
        carrier.text("script", f"gh auth login --with-token <<< '{token}'")
    return [_secret("vcs-token", token)]


def jwt(rng: random.Random, carrier: Carrier) -> list[Plant]:
    token = v.jwt(rng)
    if rng.random() < 0.5:
        carrier.field(rng.choice(("ID_TOKEN", "assertion", "session")), token)
    else:
        carrier.text("script", f"./deploy --cluster prod --bearer {token}")
    return [_secret("jwt", token)]


def private_key(rng: random.Random, carrier: Carrier) -> list[Plant]:
    pem, body = v.private_key(rng)
    if rng.random() < 0.5:
        carrier.field(rng.choice(("SSH_PRIVATE_KEY", "deployKey", "signing-key")), pem)
    else:
        carrier.text("script", f"install -m 600 /dev/stdin ~/.ssh/id_ci <<'EOF'\n{pem}EOF\n")
    return [_secret("private-key", pem, core=body)]


def url_password(rng: random.Random, carrier: Carrier) -> list[Plant]:
    secret = v.rand(rng, v.ALNUM, rng.randint(12, 20))
    scheme = rng.choice(("postgresql", "mysql", "amqp", "redis", "https", "mongodb"))
    url = f"{scheme}://{v.word(rng)}:{secret}@{v.service(rng)}.internal:5432/{v.word(rng)}"
    if rng.random() < 0.5:
        carrier.field(rng.choice(("DATABASE_URL", "BROKER", "upstream")), url)
    else:
        carrier.text("script", f"./wait-for {url} && ./migrate")
    return [_secret("url-password", secret)]


def auth_header(rng: random.Random, carrier: Carrier) -> list[Plant]:
    token = v.random_token(rng, rng.choice((32, 40)))
    scheme = rng.choice(("Bearer", "token"))
    carrier.text(
        "script",
        f'curl -fsS -H "Authorization: {scheme} {token}" https://api.example.com/v1/deployments',
    )
    return [_secret("auth-header", token)]


def docker_auths(rng: random.Random, carrier: Carrier) -> list[Plant]:
    import base64

    secret = v.password(rng)
    auth = base64.b64encode(f"ci-robot:{secret}".encode()).decode()
    config = json.dumps({"auths": {"registry.example.com": {"auth": auth}}})
    if rng.random() < 0.5:
        carrier.field("DOCKER_CONFIG_JSON", config)
    else:
        carrier.text("script", f"mkdir -p ~/.docker && echo '{config}' > ~/.docker/config.json")
    return [_secret("docker-auths", secret, auth)]


def secret_key_name(rng: random.Random, carrier: Carrier) -> list[Plant]:
    secret = v.password(rng)
    key = _name(rng, rng.choice(("password", "secret", "token", "api key", "passphrase")))
    carrier.field(key.replace(" ", "_"), secret)
    return [_secret("secret-key-name", secret)]


def chat_webhook(rng: random.Random, carrier: Carrier) -> list[Plant]:
    url, path = v.slack_webhook(rng)
    carrier.text("script", f"curl -X POST -d @payload.json {url}")
    return [_secret("chat-webhook", path)]


def cli_flag(rng: random.Random, carrier: Carrier) -> list[Plant]:
    secret = v.password(rng)
    command = rng.choice(
        (
            f"docker login -u ci -p {secret} registry.example.com",
            f"mysql -h db -u root -p{secret} < schema.sql",
            f"helm repo add acme https://charts.example.com --username ci --password {secret}",
        )
    )
    carrier.text("script", command)
    return [_secret("cli-flag", secret)]


def known_field(rng: random.Random, carrier: Carrier) -> list[Plant]:
    secret = v.hmac_credential(rng) if rng.random() < 0.5 else v.password(rng)
    if isinstance(carrier, Devtron):
        carrier.known_field(secret)
    else:
        carrier.field(
            rng.choice(("dockerPassword", "aws_secret_access_key", "client_secret")), secret
        )
    return [_secret("known-field", secret)]


# -- secret shapes issue #17 found in clear ---------------------------------------------


def env_list_in_manifest_string(rng: random.Random, carrier: Carrier) -> list[Plant]:
    secret = v.password(rng)
    name = _name(rng, "password").upper().replace("-", "_")
    app = v.service(rng)
    if rng.random() < 0.6:
        manifest = (
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n"
            f"  name: {app}-migrate\nspec:\n  template:\n    spec:\n"
            f"      containers:\n      - name: migrate\n        image: acme/{app}:1.4\n"
            f"        env:\n        - name: LOG_LEVEL\n          value: info\n"
            f'        - name: {name}\n          value: "{secret}"\n'
            "      restartPolicy: Never\n"
        )
    else:
        containers = [
            {
                "name": app,
                "image": f"acme/{app}:2.0",
                "env": [{"name": "PORT", "value": "8080"}, {"name": name, "value": secret}],
            }
        ]
        manifest = json.dumps(containers)
    carrier.text("manifest", manifest)
    return [_secret("env-list-in-manifest-string", secret)]


def yaml_block_scalar(rng: random.Random, carrier: Carrier) -> list[Plant]:
    secret = v.password(rng)
    indicator = rng.choice(("|", "|-", ">-", ">"))
    key = rng.choice(("password", "adminPassword", "secret", "token"))
    values = (
        f"replicaCount: 2\nimage:\n  repository: acme/{v.service(rng)}\n  tag: 1.8.0\n"
        f"database:\n  host: db.internal\n  {key}: {indicator}\n    {secret}\n"
        "  port: 5432\n"
    )
    carrier.text("values", values)
    return [_secret("yaml-block-scalar", secret)]


def copy_punctuation(rng: random.Random, carrier: Carrier) -> list[Plant]:
    secret = v.punctuated_password(rng)
    carrier.field(_name(rng, "password"), secret)
    copies = rng.sample(("field", "script", "note", "key"), 2)
    for where in copies:
        if where == "field":
            carrier.field(rng.choice(("CONNECTION_CHECK", "probe", "previous")), secret)
        elif where == "script":
            carrier.text("script", f"echo '{secret}' | passwd --stdin ci-deploy")
        elif where == "note":
            carrier.field("notes", f"rotated on Monday, new value {secret} (ask ops)")
        else:
            carrier.mapping({secret: "current"})
    return [_secret("copy-punctuation", secret)]


def secret_as_key(rng: random.Random, carrier: Carrier) -> list[Plant]:
    if rng.random() < 0.5:
        secret = v.rand(rng, v.ALNUM, rng.randint(12, 18))
        key = f"https://ci-bot:{secret}@git.example.com/acme/{v.service(rng)}.git"
    else:
        secret = key = v.aws_key_id(rng) if rng.random() < 0.5 else v.github_pat(rng)
    carrier.mapping({key: rng.choice(("primary", "mirror", "ci-bot"))})
    return [_secret("secret-as-key", secret)]


def url_password_percent_encoded(rng: random.Random, carrier: Carrier) -> list[Plant]:
    secret = v.punctuated_password(rng).replace(" ", "") + rng.choice("@:/%*?#")
    encoded = quote(secret, safe="") if rng.random() < 0.7 else quote(secret, safe="*!~")
    scheme = rng.choice(
        ("postgresql", "mysql", "mongodb+srv", "amqps", "redis", "sqlserver", "ftp", "https")
    )
    url = f"{scheme}://app:{encoded}@{v.service(rng)}.internal/{v.word(rng)}"
    if rng.random() < 0.5:
        carrier.field(rng.choice(("DATABASE_URL", "dsn", "upstream")), url)
    else:
        carrier.text("script", f"pg_isready -d '{url}' && ./migrate up")
    return [_secret("url-password-percent-encoded", secret, encoded)]


def sql_password(rng: random.Random, carrier: Carrier) -> list[Plant]:
    secret = v.password(rng).replace("'", "")
    user = f"{v.word(rng)}_app"
    statement = rng.choice(
        (
            f"ALTER USER {user} WITH PASSWORD '{secret}';",
            f"CREATE USER '{user}'@'%' IDENTIFIED BY '{secret}';",
            f"ALTER ROLE {user} PASSWORD '{secret}' VALID UNTIL 'infinity';",
            f"CREATE LOGIN {user} WITH PASSWORD = '{secret}';",
        )
    )
    if rng.random() < 0.5:
        carrier.text("script", f'psql "$DATABASE_URL" -c "{statement}"')
    else:
        carrier.field(
            "migration", f"-- 0042 rotate\n{statement}\nGRANT SELECT ON ALL TABLES TO {user};"
        )
    return [_secret("sql-password", secret)]


def double_encoded_json(rng: random.Random, carrier: Carrier) -> list[Plant]:
    secret = v.password(rng)
    inner = {"db": {"host": "db.internal", "user": v.word(rng), "password": secret}}
    carrier.field(rng.choice(("settings", "payload", "APP_CONFIG")), json.dumps(json.dumps(inner)))
    return [_secret("double-encoded-json", secret)]


def yaml_anchor(rng: random.Random, carrier: Carrier) -> list[Plant]:
    secret = v.password(rng)
    text = (
        f"shared:\n  credential: &cred {secret}\n"
        f"production:\n  host: db.prod\n  password: *cred\n"
        f"staging:\n  host: db.staging\n  password: *cred\n"
    )
    carrier.text("config", text)
    return [_secret("yaml-anchor", secret)]


_HOMOGLYPHS = {"a": "\u0430", "o": "\u043e", "e": "\u0435", "c": "\u0441", "p": "\u0440"}


def homoglyph_key(rng: random.Random, carrier: Carrier) -> list[Plant]:
    secret = v.password(rng)
    word = rng.choice(("password", "token", "secret", "DB_PASSWORD", "apiToken"))
    letters = [i for i, c in enumerate(word) if c.lower() in _HOMOGLYPHS]
    index = rng.choice(letters)
    swapped = _HOMOGLYPHS[word[index].lower()]
    key = word[:index] + (swapped.upper() if word[index].isupper() else swapped) + word[index + 1 :]
    where = rng.randrange(3)
    if where == 0:
        carrier.field(key, secret)
    elif where == 1:
        carrier.env(key, secret)
    else:
        carrier.text("config", f"database:\n  {key}: {secret}\n")
    return [_secret("homoglyph-key", secret)]


def copy_reversed_case(rng: random.Random, carrier: Carrier) -> list[Plant]:
    secret = v.password(rng)
    carrier.field(_name(rng, "password"), secret)
    carrier.field(rng.choice(("legacyValue", "check", "debug")), secret.swapcase())
    return [
        _secret("copy-reversed-case", secret),
        _secret("copy-reversed-case", secret.swapcase()),
    ]


def copy_hex(rng: random.Random, carrier: Carrier) -> list[Plant]:
    secret = v.password(rng)
    hexed = secret.encode().hex()
    carrier.field(_name(rng, "token"), secret)
    carrier.text("script", f"echo {hexed} | xxd -r -p > /run/ci/credential")
    return [_secret("copy-hex", secret), _secret("copy-hex", hexed)]


def devtron_gcp_credential(rng: random.Random, carrier: Carrier) -> list[Plant]:
    import base64

    document, key_id = v.service_account_json(rng)
    value = document if rng.random() < 0.5 else base64.b64encode(document.encode()).decode()
    if isinstance(carrier, Devtron):
        carrier.gcp_credential(value)
    else:
        carrier.field("GOOGLE_CREDENTIALS", value)
    return [_secret("devtron-gcp-credential", value, core=key_id)]


def entropy_token_in_list(rng: random.Random, carrier: Carrier) -> list[Plant]:
    token = v.random_token(rng, rng.choice((24, 32, 40)))
    items = [v.word(rng), f"--{v.word(rng)}", token]
    rng.shuffle(items)
    carrier.listed(rng.choice(("args", "items", "values", "include", "extra")), items)
    return [_secret("entropy-token-in-list", token)]


SECRET_CLASSES: dict[str, Planter] = {
    "cloud-key": cloud_key,
    "vcs-token": vcs_token,
    "jwt": jwt,
    "private-key": private_key,
    "url-password": url_password,
    "auth-header": auth_header,
    "docker-auths": docker_auths,
    "secret-key-name": secret_key_name,
    "chat-webhook": chat_webhook,
    "cli-flag": cli_flag,
    "known-field": known_field,
    "env-list-in-manifest-string": env_list_in_manifest_string,
    "yaml-block-scalar": yaml_block_scalar,
    "copy-punctuation": copy_punctuation,
    "secret-as-key": secret_as_key,
    "url-password-percent-encoded": url_password_percent_encoded,
    "sql-password": sql_password,
    "double-encoded-json": double_encoded_json,
    "yaml-anchor": yaml_anchor,
    "homoglyph-key": homoglyph_key,
    "copy-reversed-case": copy_reversed_case,
    "copy-hex": copy_hex,
    "devtron-gcp-credential": devtron_gcp_credential,
    "entropy-token-in-list": entropy_token_in_list,
}


# -- benign look-alikes ----------------------------------------------------------------


def public_key_ssh(rng: random.Random, carrier: Carrier) -> list[Plant]:
    key = v.ssh_public_key(rng)
    if rng.random() < 0.7:
        carrier.field(rng.choice(("DEPLOY_KEY_PUB", "SSH_PUBLIC_KEY", "authorizedKey")), key)
    else:
        carrier.text("script", f"echo '{key}' >> ~/.ssh/authorized_keys")
    return [_benign("public-key-ssh", key)]


def public_key_pem(rng: random.Random, carrier: Carrier) -> list[Plant]:
    key = v.pem_public_key(rng)
    carrier.field(rng.choice(("SIGNING_PUBLIC_KEY", "jwtPublicKey", "cosign-public-key")), key)
    return [_benign("public-key-pem", key)]


def age_recipient(rng: random.Random, carrier: Carrier) -> list[Plant]:
    recipient = v.age_recipient(rng)
    carrier.field(rng.choice(("SOPS_AGE_RECIPIENTS", "AGE_PUBLIC_KEY", "ageRecipient")), recipient)
    return [_benign("age-recipient", recipient)]


def adapter_reference(rng: random.Random, carrier: Carrier) -> list[Plant]:
    name = rng.choice(("npm", "registry", "github-ci", "sonar", "deploy"))
    family = carrier.family
    if family == "tekton":
        value = f"$(params.{name}-token)"
    elif family == "argo":
        value = f"{{{{workflow.parameters.{name}-token}}}}"
    elif family == "github-actions":
        value = f"${{{{ secrets.{name.upper().replace('-', '_')}_TOKEN }}}}"
    else:
        value = f"${{cred:{name}}}"
    carrier.field(_name(rng, "token").replace("-", "_"), value)
    return [_benign("adapter-reference", value)]


def secret_key_ref(rng: random.Random, carrier: Carrier) -> list[Plant]:
    secret = f"{v.service(rng)}-credentials"
    carrier.env_ref(_name(rng, "password").upper().replace("-", "_"), secret, "password")
    return [_benign("secretkeyref-name", secret)]


def commit_sha(rng: random.Random, carrier: Carrier) -> list[Plant]:
    sha = v.commit_sha(rng)
    if rng.random() < 0.5:
        carrier.field(rng.choice(("commitHash", "GIT_SHA", "revision")), sha)
    else:
        carrier.listed("revisions", [sha, v.commit_sha(rng)[:12]])
    return [_benign("commit-sha", sha)]


def image_digest(rng: random.Random, carrier: Carrier) -> list[Plant]:
    image = v.image_digest(rng)
    carrier.field(rng.choice(("image", "IMAGE_REF", "baseImage")), image)
    return [_benign("image-digest", image)]


def a_uuid(rng: random.Random, carrier: Carrier) -> list[Plant]:
    value = v.a_uuid(rng)
    if rng.random() < 0.5:
        carrier.field(rng.choice(("runId", "REQUEST_ID", "tenantId")), value)
    else:
        carrier.listed("ids", [value])
    return [_benign("uuid", value)]


def an_arn(rng: random.Random, carrier: Carrier) -> list[Plant]:
    value = v.arn(rng)
    carrier.field(rng.choice(("roleArn", "AWS_ROLE_ARN", "secretArn", "kmsKeyId")), value)
    return [_benign("arn", value)]


def a_checksum(rng: random.Random, carrier: Carrier) -> list[Plant]:
    value = v.checksum(rng)
    carrier.field(rng.choice(("checksum", "integrity", "SHA256SUM")), value)
    return [_benign("checksum", value)]


def gha_expression(rng: random.Random, carrier: Carrier) -> list[Plant]:
    value = f"${{{{ secrets.{rng.choice(('NPM', 'PYPI', 'DOCKERHUB', 'SLACK'))}_TOKEN }}}}"
    carrier.field(_name(rng, "token").upper().replace("-", "_"), value)
    return [_benign("secrets-expression", value)]


BENIGN_CLASSES: dict[str, Planter] = {
    "public-key-ssh": public_key_ssh,
    "public-key-pem": public_key_pem,
    "age-recipient": age_recipient,
    "adapter-reference": adapter_reference,
    "secretkeyref-name": secret_key_ref,
    "commit-sha": commit_sha,
    "image-digest": image_digest,
    "uuid": a_uuid,
    "arn": an_arn,
    "checksum": a_checksum,
    "secrets-expression": gha_expression,
}


# -- requests --------------------------------------------------------------------------


def _rng(seed: int, index: int, what: str = "case") -> random.Random:
    return random.Random(f"wfaudit-maskeval:{seed}:{index}:{what}")


def build_case(
    seed: int,
    index: int,
    *,
    family: str | None = None,
    secret_classes: list[str] | None = None,
    benign_classes: list[str] | None = None,
) -> Case:
    """Case ``index`` of the run of ``seed`` (or one with the classes given)."""
    rng = _rng(seed, index)
    family = family or FAMILIES[index % len(FAMILIES)]
    carrier = CARRIERS[family](rng)
    if secret_classes is None:
        secret_classes = rng.sample(sorted(SECRET_CLASSES), rng.randint(2, 5))
    if benign_classes is None:
        benign_classes = rng.sample(sorted(BENIGN_CLASSES), rng.randint(2, 5))
    shapes = [(name, SECRET_CLASSES[name]) for name in secret_classes]
    shapes += [(name, BENIGN_CLASSES[name]) for name in benign_classes]
    rng.shuffle(shapes)
    plants: list[Plant] = []
    for _label, planter in shapes:
        plants.extend(planter(rng, carrier))
    plants.extend(_benign("ordinary", value) for value in dict.fromkeys(carrier.ordinary))
    _check_planted(carrier.config, plants)
    return Case(
        id=f"{seed}-{index:05d}",
        family=family,
        workflow_type=carrier.workflow_type,
        source=carrier.source,
        config=carrier.config,
        plants=tuple(plants),
    )


def _check_planted(config: Any, plants: list[Plant]) -> None:
    """Every planted value is in the request as written (no placement overwrote one)."""
    text = json.dumps(config, ensure_ascii=False)
    held = {s for s in _all_strings(config) if isinstance(s, str)}
    for plant in plants:
        written = (plant.value, *plant.forms)
        if not any(w in s for w in written for s in held) and not any(
            json.dumps(w, ensure_ascii=False)[1:-1] in text for w in written
        ):
            raise AssertionError(f"the generator lost a planted {plant.label} value")


def _all_strings(node: Any) -> Iterator[str]:
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for key, value in node.items():
            yield str(key)
            yield from _all_strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _all_strings(value)


def generate(seed: int, size: int) -> Iterator[Case]:
    """``size`` requests; every class appears in every family as size grows."""
    for index in range(size):
        yield build_case(seed, index)
