"""The secret shapes of issue #17, through the engine's mask stage.

Each class has several members, the issue's own examples among them. A test
masks a request with the built-in maskers and the engine's ``apply_marks``, then
checks that no form of the planted secret is left anywhere in the masked config
(keys included), that the benign values are kept, and, where keys are masked,
that ``unmask`` puts the original config back.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
from typing import Any

import pytest

from wfaudit.masking import KEY_ENCODING, Marks, MaskOutcome, apply_marks, unmask
from wfaudit_hookspecs import TriggerRequest, check_json
from wfaudit_maskers import Masker

MASKER = Masker()
KEY = b"k" * 32


def mask(config: Any, syntax: tuple[tuple[str, re.Pattern[str]], ...] = ()) -> MaskOutcome:
    copied = check_json(config)
    request = TriggerRequest(workflow_id=1, workflow_type="CI", pipeline_id=1, config=config)
    marks = Marks(request, copied, {}, syntax)
    MASKER.scan(marks)
    return apply_marks(marks, copied, KEY, adapter=None, maskers=("maskers",))


def texts(config: Any) -> list[str]:
    """Every string of a config, keys included."""
    out: list[str] = []
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            out.extend(node)
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        elif isinstance(node, str):
            out.append(node)
    return out


def leaks(outcome: MaskOutcome, *secrets: str) -> list[str]:
    blob = "\x00".join(texts(outcome.config))
    return [secret for secret in secrets if secret in blob]


def restored(outcome: MaskOutcome, original: Any) -> Any:
    """``unmask`` with each secret found again by its fingerprint in the original."""
    candidates: set[str] = set()
    for text in texts(original):
        candidates.update(text[i:j] for i in range(len(text)) for j in range(i + 1, len(text) + 1))
    by_fingerprint = {hmac.new(KEY, c.encode(), hashlib.sha256).hexdigest(): c for c in candidates}
    values = {f.key: by_fingerprint[f.fingerprint] for f in outcome.manifest.fields}
    return unmask(copy.deepcopy(outcome.config), outcome.manifest.fields, values)


# -- 3. copies of a found secret, whatever characters they hold ----------------------

SPECIAL_SECRETS = [
    "p@ss w0rd; (x)=[y]",
    "Tr0ub4dor&3",
    "a:b=c,d;e",
    "{x}<y>|z'q\"w`e",
    "correct horse battery staple",
    "S3cr3t!@#$%^&*()",
]


@pytest.mark.parametrize("secret", SPECIAL_SECRETS)
def test_every_copy_of_a_found_secret_is_masked(secret: str) -> None:
    config = {
        "dbPassword": secret,
        "backup": {"user": "app", "login": secret},
        "script": f"echo '{secret}' | passwd --stdin app\nexport X=\"{secret}\"",
        "notes": [f"the password is {secret} (do not share)"],
        "byValue": {secret: "primary"},
        "reversed": secret.swapcase(),
        "hex": f"pw={secret.encode().hex()}",
    }
    outcome = mask(config)
    forms = [secret, secret.swapcase(), secret.encode().hex()]
    assert leaks(outcome, *forms) == []
    assert outcome.config["backup"]["user"] == "app"
    assert (
        outcome.config["script"].endswith('"') and "passwd --stdin app" in outcome.config["script"]
    )
    assert restored(outcome, config) == config


def test_a_found_secret_is_masked_inside_longer_words_too() -> None:
    config = {"token": "xQ9#kL2@vB7!", "url": "https://h/cb?state=xQ9#kL2@vB7!&next=1"}
    assert leaks(mask(config), "xQ9#kL2@vB7!") == []


def test_single_words_are_not_searched_for_elsewhere() -> None:
    # A word-like value under a secret name is also a name used all over a config.
    outcome = mask({"secret": "kubernetes-dashboard", "image": "kubernetes-dashboard:v2"})
    assert outcome.config["image"] == "kubernetes-dashboard:v2"


# -- 4. secrets used as mapping keys ----------------------------------------------------

KEY_SECRETS = [
    "https://user:pa55w0rd@git.example.com/repo.git",
    "AKIAQYLPMN5HHHFPZAM2",
    "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5",
    "xoxb-2817340123-2817340123456-Qm8sT3vN6pL1kR9wZ4yX7cB2",
]


@pytest.mark.parametrize("secret", KEY_SECRETS)
def test_secret_keys_are_masked_and_restored(secret: str) -> None:
    config = {"remotes": {secret: "primary", "origin": "https://git.example.com/app.git"}}
    outcome = mask(config)
    assert leaks(outcome, secret.split("@")[0].split(":")[-1], secret) == []
    remotes = outcome.config["remotes"]
    assert remotes["origin"] == "https://git.example.com/app.git"
    [placeholder] = [k for k in remotes if k != "origin"]
    assert remotes[placeholder] == "primary"
    [field] = [f for f in outcome.manifest.fields if f.encoding == KEY_ENCODING]
    assert field.path == f"/remotes/{placeholder}"
    assert field.key == f"/remotes/{placeholder}#key"
    assert restored(outcome, config) == config


def test_masked_keys_stay_unique_and_nested_paths_follow_them() -> None:
    token = "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5"
    config = {
        "m": {
            token: {"AKIAQYLPMN5HHHFPZAM2": "x", "password": "hunter2hunter2"},
            f"{token} ": "second key holding the same token",
        }
    }
    outcome = mask(config)
    assert leaks(outcome, token, "AKIAQYLPMN5HHHFPZAM2", "hunter2hunter2") == []
    assert len(outcome.config["m"]) == 2
    for field in outcome.manifest.fields:
        node: Any = outcome.config
        tokens = field.path.split("/")[1:]
        for token_ in tokens[:-1] if field.encoding == KEY_ENCODING else tokens:
            node = node[token_]
        if field.encoding == KEY_ENCODING:
            assert tokens[-1] in node
    assert restored(outcome, config) == config


def test_the_value_and_the_key_of_one_entry_can_both_be_masked() -> None:
    config = {"k": {"dbPassword": "s3cr3t-v@lue!", "s3cr3t-v@lue!": "s3cr3t-v@lue!"}}
    outcome = mask(config)
    assert leaks(outcome, "s3cr3t-v@lue!") == []
    keys = {f.key for f in outcome.manifest.fields}
    assert len(keys) == len(outcome.manifest.fields)  # a key and its value: distinct keys
    assert restored(outcome, config) == config


def test_error_messages_never_quote_keys() -> None:
    from wfaudit_hookspecs import InvalidRequest

    secret = "https://user:pa55w0rd@git.example.com/repo.git"
    with pytest.raises(InvalidRequest) as caught:
        check_json({"remotes": {secret: {"weight": float("nan")}}})
    assert "pa55w0rd" not in str(caught.value) and "git.example.com" not in str(caught.value)
    assert "/@0/@0/@0" in str(caught.value)


# -- 5. %-encoded passwords in connection URLs ---------------------------------------------

ENCODED_URLS = [
    ("postgresql://app:%2AAb%40cd@db/app", "*Ab@cd"),
    ("mysql://root:p%40ss%3Aw0rd@db:3306/shop", "p@ss:w0rd"),
    ("amqp://svc:%24ecret%21x@rabbit/vh", "$ecret!x"),
    ("redis://:%2Fa%2Bb%3D9@cache:6379/0", "/a+b=9"),
    ("mongodb+srv://u:Zq%25VAR%25@cluster0.example.net", "Zq%VAR%"),
    ("sqlserver://sa:Pa%20ss%20w0rd@mssql:1433", "Pa ss w0rd"),
]


@pytest.mark.parametrize(("url", "plain"), ENCODED_URLS)
def test_encoded_url_passwords_and_their_decoded_copies_are_masked(url: str, plain: str) -> None:
    encoded = url.split(":", 2)[2].split("@")[0]
    config = {"databaseUrl": url, "script": f"PGPASSWORD='{plain}' psql -h db", "note": plain}
    outcome = mask(config)
    assert leaks(outcome, encoded, plain) == []
    assert outcome.config["databaseUrl"].endswith(url.split("@", 1)[1])


# -- reversed case and hex copies ------------------------------------------------------------


def test_reversed_case_and_hex_copies_are_masked() -> None:
    secret = "Zx8-Lm3_Qr5!"
    config = {
        "apiToken": secret,
        "a": f"TOKEN={secret.swapcase()}",
        "b": secret.encode().hex(),
        "c": secret.encode().hex().upper(),
    }
    outcome = mask(config)
    assert (
        leaks(outcome, secret.swapcase(), secret.encode().hex(), secret.encode().hex().upper())
        == []
    )


# -- declared reference syntax ----------------------------------------------------------------

CRED = (("acme-credential", re.compile(r"@@(?P<name>[\w.-]+)@@")),)


def test_declared_references_are_never_masked_and_are_listed() -> None:
    config = {
        "npmToken": "@@npm@@",
        "run": "npm publish --token=@@npm-publish@@",
        "password": "hunter2@@suffix@@",
    }
    outcome = mask(config, CRED)
    assert outcome.config["npmToken"] == "@@npm@@"
    assert "--token=@@npm-publish@@" in outcome.config["run"]
    # The literal part of a value holding a reference is still masked.
    assert "hunter2" not in outcome.config["password"]
    assert outcome.config["password"].endswith("@@suffix@@")
    assert ("/npmToken", "acme-credential", "npm") in {
        (r.path, r.kind, r.name) for r in outcome.manifest.references
    }
    # Without the declaration, the same values are masked.
    plain = mask(config)
    assert plain.config["npmToken"] != "@@npm@@"


RESOLVER_REFERENCES = [
    "${cred:github-ci}",
    "${credentials:npm}",
    "${ssm:/prod/api-token}",
    "${vault:secret/data/ci#token}",
    "${env:API_TOKEN}",
    '$(params["api-token"])',
]


@pytest.mark.parametrize("reference", RESOLVER_REFERENCES)
def test_built_in_resolver_references_are_kept(reference: str) -> None:
    outcome = mask({"env": {"DB_TOKEN": reference}})
    assert outcome.config["env"]["DB_TOKEN"] == reference
    assert outcome.manifest.references


# -- 1. env lists inside manifest strings: the sibling name decides --------------------------

MANIFEST_ENV = [
    # An Argo resource template / Helm-rendered manifest (block YAML).
    "apiVersion: batch/v1\nkind: Job\nspec:\n  template:\n    spec:\n      containers:\n"
    "      - name: migrate\n        image: acme/job:1.4\n        env:\n"
    "        - name: LOG_LEVEL\n          value: info\n        - name: DB_PASSWORD\n"
    '          value: "{secret}"\n      restartPolicy: Never\n',
    # value before name, unquoted
    "env:\n- value: {secret}\n  name: API_TOKEN\n- name: LOG_LEVEL\n  value: info\n",
    # flow YAML, as the issue writes it
    'env: [{{name: DB_PASSWORD, value: "{secret}"}}, {{name: LOG_LEVEL, value: info}}]',
    # a JSON array of containers held as a string
    '[{{"name": "app", "env": [{{"name": "LOG_LEVEL", "value": "info"}}, '
    '{{"name": "SMTP_PASS", "value": "{secret}"}}]}}]',
    # Tekton params with key/value, and a block scalar value
    "params:\n  - key: api_key\n    value: |\n      {secret}\n  - key: region\n    value: info\n",
]


@pytest.mark.parametrize("template", MANIFEST_ENV)
def test_env_pairs_inside_manifest_strings(template: str) -> None:
    secret = "gG8XdLyQG~+1C0JyZM"
    manifest = template.format(secret=secret)
    outcome = mask({"templates": [{"name": "apply", "resource": {"manifest": manifest}}]})
    assert leaks(outcome, secret) == []
    kept = outcome.config["templates"][0]["resource"]["manifest"]
    assert ("info" in kept and "LOG_LEVEL" in kept) or "region" in kept


def test_env_pairs_with_neutral_names_are_kept() -> None:
    manifest = (
        "env:\n- name: LOG_LEVEL\n  value: debug-verbose\n- name: REGION\n  value: eu-west-1\n"
    )
    assert mask({"manifest": manifest}).config["manifest"] == manifest


def test_a_value_from_a_secret_ref_in_a_string_is_no_secret() -> None:
    manifest = "env:\n- name: DB_PASSWORD\n  valueFrom:\n    secretKeyRef: {name: db, key: pw}\n"
    assert mask({"manifest": manifest}).config["manifest"] == manifest


# -- 2. YAML block and folded scalars in strings -------------------------------------------------

BLOCK_SCALARS = [
    "database:\n  host: db.internal\n  password: |\n    {secret}\n  port: 5432\n",
    "database:\n  token: |-\n    {secret}\n  port: 5432\n",
    "auth:\n  password: >-\n    {secret}\n",
    "auth:\n  password: >\n    {secret}\n\nnext: 1\n",
    "apiKey: |+\n  {secret}\n",
    "secret: |2\n    {secret}\nother: x\n",
]


@pytest.mark.parametrize("template", BLOCK_SCALARS)
def test_yaml_block_and_folded_scalars_in_strings(template: str) -> None:
    secret = "Qm8sT3vN6pL1kR9w"
    values = template.format(secret=secret)
    outcome = mask({"files": {"values.yaml": values}})
    assert leaks(outcome, secret) == []
    kept = outcome.config["files"]["values.yaml"]
    for line in values.splitlines():
        if secret not in line:
            assert line in kept  # the rest of the file stays readable


def test_a_secret_name_over_a_nested_mapping_is_no_block_scalar() -> None:
    values = "password:\n  file: /etc/app/password\n  mode: 0400\n"
    assert mask({"values": values}).config["values"] == values


# -- 6. SQL, JSON encoded twice, YAML anchors, homoglyph keys ------------------------------------

SQL = [
    "ALTER USER app PASSWORD '{secret}';",
    "-- 0042 rotate\nALTER ROLE gateway_app PASSWORD '{secret}' VALID UNTIL 'infinity';",
    "CREATE ROLE ci WITH LOGIN ENCRYPTED PASSWORD '{secret}';",
    "ALTER USER 'app'@'%' IDENTIFIED BY '{secret}';",
    "CREATE USER scott IDENTIFIED BY {secret};",
    "ALTER USER x IDENTIFIED WITH mysql_native_password BY '{secret}';",
    "SET PASSWORD FOR 'bob'@'localhost' = PASSWORD('{secret}');",
    "CREATE LOGIN ci WITH PASSWORD = '{secret}', CHECK_POLICY = OFF",
    "CREATE ROLE r WITH PASSWORD E'{secret}';",
]


@pytest.mark.parametrize("template", SQL)
def test_sql_that_sets_a_password(template: str) -> None:
    secret = "DPCFIeBpXl4JHhrZ"
    outcome = mask({"migration": template.format(secret=secret)})
    assert leaks(outcome, secret) == []


def test_sql_without_a_password_value_is_kept() -> None:
    for text in ("ALTER USER x PASSWORD NULL;", "psql -c \"ALTER USER app PASSWORD '$PGPASS'\""):
        assert mask({"migration": text}).config["migration"] == text


def test_json_encoded_twice_or_three_times() -> None:
    secret = "gG8XdLyQG~+1C0JyZM"
    inner = json.dumps({"db": {"host": "db.internal", "user": "search", "password": secret}})
    for payload in (json.dumps(inner), json.dumps(json.dumps({"x": inner}))):
        outcome = mask({"env": {"payload": payload}})
        assert leaks(outcome, secret) == []
        assert "db.internal" in outcome.config["env"]["payload"]


ANCHORS = [
    "shared: &pw {secret}\napp:\n  password: *pw\n",
    "shared: &pw '{secret}'\napp:\n  db:\n    password: *pw\n",
    "x: &pw |\n  {secret}\napp:\n  token: *pw\n",
    "password: &pw {secret}\nreplica:\n  password: *pw\n",
]


@pytest.mark.parametrize("template", ANCHORS)
def test_yaml_anchors_that_carry_the_secret(template: str) -> None:
    secret = "s3cr3t-Value9x"
    outcome = mask({"values": template.format(secret=secret)})
    assert leaks(outcome, secret) == []
    assert "&pw" in outcome.config["values"] and "*pw" in outcome.config["values"]


HOMOGLYPH_NAMES = [
    "p\u0430ssword",  # Cyrillic a
    "tok\u0435n",  # Cyrillic e
    "DB_P\u0410SSWORD",  # Cyrillic capital A
    "\u0430pi_key",
    "s\u0435cr\u0435t",
    "\uff30\uff21\uff33\uff33\uff37\uff2f\uff32\uff24",  # fullwidth PASSWORD
    "pass\u200bword",  # a zero-width space inside
]


@pytest.mark.parametrize("name", HOMOGLYPH_NAMES)
def test_keys_written_with_homoglyphs(name: str) -> None:
    secret = "gG8XdLyQG~+1C0JyZM"
    config = {
        "env": {name: secret},
        "containers": [{"env": [{"name": name, "value": secret + "2"}]}],
        "script": f"export {name}={secret}3",
    }
    assert leaks(mask(config), secret) == []


# -- things that are not secrets ---------------------------------------------------------------

PUBLIC_KEYS = {
    "DEPLOY_KEY_PUB": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKq8Xz3LmN0pR7tV2wY5aB9cD1eF4gH6jKs ci@acme",
    "SSH_PUBLIC_KEY": "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQC7x9Yk2pQZq8Xz3LmN0pR7tV2w== deploy",
    "SIGNING_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----\n"
    "MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAu1SU1LfVLPHCozMxH2Mo\n"
    "-----END PUBLIC KEY-----\n",
    "GPG_PUBLIC_KEY": "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n"
    "mQINBGF2Zq8BEADQx9Yk2pQZq8Xz3LmN0pR7tV2wY5aB9cD1eF4gH6jK\n=Ab12\n"
    "-----END PGP PUBLIC KEY BLOCK-----",
    "AGE_RECIPIENT_KEY": "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p",
    "authorized_keys_secret": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKq8Xz3LmN0pR7tV2wY5 a\n"
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTY= b",
}


def test_public_keys_are_not_secrets() -> None:
    config = {
        "env": dict(PUBLIC_KEYS),
        "script": f'export DEPLOY_KEY_PUB="{PUBLIC_KEYS["DEPLOY_KEY_PUB"]}"\n'
        f"age -r {PUBLIC_KEYS['AGE_RECIPIENT_KEY']} -o out.age in",
    }
    outcome = mask(config)
    assert outcome.config == config
    assert outcome.manifest.fields == ()


def test_a_private_key_under_a_public_looking_name_is_still_masked() -> None:
    private = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5v\n-----END OPENSSH PRIVATE KEY-----"
    outcome = mask({"DEPLOY_KEY": private, "SSH_PUBLIC_KEY": private})
    assert leaks(outcome, "b3BlbnNzaC1rZXktdjEAAAAABG5v") == []


KEEP = {
    "commit": "3f9c2a7e1b4d5c6f7a8b9c0d1e2f3a4b5c6d7e8f",
    "image": "ghcr.io/acme/app@sha256:" + "ab12" * 16,
    "uuid": "5f0c6a2e-8d3b-4c1a-9e7f-2b6d4a8c0e13",
    "arn": "arn:aws:iam::123456789012:role/ci-deployer",
    "checksum": "sha512-Xq8Xz3LmN0pR7tV2wY5aB9cD1eF4gH6jKq8Xz3LmN0pR7tV2wY5aB9cD1eF4gH6jK==",
    "ref": "${{ secrets.NPM_TOKEN }}",
}


def test_what_was_already_right_stays_kept() -> None:
    outcome = mask({"values": dict(KEEP), "token": KEEP["ref"]})
    assert outcome.config["values"] == KEEP
    assert outcome.config["token"] == KEEP["ref"]


# -- found by the masking evaluation ---------------------------------------------------------------

PERCENT_LED = [
    '[{{"name": "app", "env": [{{"name": "SMTPPASSWORD", "value": "{secret}"}}]}}]',
    "mysql -h db -u root -p{secret} < schema.sql",
    "export DB_PASSWORD={secret}",
    'env:\n- name: REDIS_PASSWORD\n  value: "{secret}"\n',
]


@pytest.mark.parametrize("template", PERCENT_LED)
def test_secrets_starting_with_a_percent_sign(template: str) -> None:
    # "%" starts a Windows %VARIABLE% reference only in that shape.
    secret = "%ypEmzdVn2yCVd~ViC13r"
    outcome = mask({"files": {"x": template.format(secret=secret)}})
    assert leaks(outcome, secret) == []
    kept = "export DB_PASSWORD=%DB_PASSWORD%"
    assert mask({"run": kept}).config["run"] == kept


@pytest.mark.parametrize(
    "secret",
    [
        "%FWJlI1O5JVTavkd%lBcO",  # found by the masking evaluation at seed 20261206
        "%Ab3dE%9xYz7Qw%Lk2",
        "%{x}Rt5Kb1Nc4fQz8Lm",
    ],
)
def test_a_secret_that_starts_like_a_percent_reference_is_masked(secret: str) -> None:
    run = f"helm repo add acme https://charts.example.com --username ci --password {secret}"
    assert leaks(mask({"steps": [{"run": run}]}), secret) == []
    for kept in ("login --password %CI_PASSWORD%", "login --password %USER%:%PASS%"):
        assert mask({"run": kept}).config["run"] == kept


@pytest.mark.parametrize("key", ["AKIARXLXPPDZQYULZLKO", "ASIAQWERTYUIOPASDFGH"])
def test_a_letters_only_token_used_as_a_key(key: str) -> None:
    outcome = mask({"env": {key: "ci-bot", "workflowNamePrefix": "w"}})
    assert leaks(outcome, key) == []
    assert "workflowNamePrefix" in outcome.config["env"]


@pytest.mark.parametrize(
    "config",
    [
        {"run": "helm repo add acme https://c --username ci --password -jBvEPMBLJexp3Ooin"},
        {"args": ["deploy", "--password", "-jBvEPMBLJexp3Ooin"]},
        {"run": "login --token=-jBvEPMBLJexp3Ooin"},
    ],
)
def test_a_password_that_starts_with_a_dash(config: dict[str, Any]) -> None:
    assert leaks(mask(config), "-jBvEPMBLJexp3Ooin") == []


def test_the_next_flag_is_not_taken_for_a_password() -> None:
    for text in ("cmd --password --verbose", "cmd --password -v", "cmd --password-stdin -x"):
        assert mask({"run": text}).config["run"] == text


def test_label_errors_never_quote_the_label() -> None:
    from wfaudit_hookspecs import InvalidRequest

    secret = "ghp_aB3dE5fG7hI9jK1lM3nO5pQ7rS9tU1vW3xY5"
    with pytest.raises(InvalidRequest) as caught:
        TriggerRequest(
            workflow_id=1, workflow_type="CI", pipeline_id=1, config={}, labels={secret: [1]}
        )
    assert secret not in str(caught.value) and "@0" in str(caught.value)


def test_name_value_pairs_with_capitalised_slots() -> None:
    # CloudFormation and ECS task definitions: {"Name": ..., "Value": ...}.
    secret = "cf-s3cret-9x"
    pairs = [{"Name": "DB_PASSWORD", "Value": secret}, {"Name": "REGION", "Value": "eu-west-1"}]
    outcome = mask(
        {"Environment": pairs, "containerDefinitions": json.dumps({"environment": pairs})}
    )
    assert leaks(outcome, secret) == []
    assert outcome.config["Environment"][1]["Value"] == "eu-west-1"
