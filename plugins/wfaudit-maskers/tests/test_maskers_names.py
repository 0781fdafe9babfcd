"""Key names: tokenising in every naming style, and what each class of name means."""

from __future__ import annotations

import pytest

from wfaudit_maskers import Masker, tokenize
from wfaudit_maskers.names import NameClassifier, compact


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("dbPassword", ("db", "password")),
        ("DB_PASSWORD", ("db", "password")),
        ("db-password", ("db", "password")),
        ("db.password", ("db", "password")),
        ("db password", ("db", "password")),
        ("dbpassword", ("dbpassword",)),
        ("DbPassword", ("db", "password")),
        ("AWSSecretAccessKey", ("aws", "secret", "access", "key")),
        ("dockerRegistryURL", ("docker", "registry", "url")),
        ("s3AccessKey", ("s3", "access", "key")),
        ("oauth2Token", ("oauth2", "token")),
        ("client-key-data", ("client", "key", "data")),
        ("__private__key__", ("private", "key")),
        ("", ()),
    ],
)
def test_tokenize_naming_styles(name: str, words: tuple[str, ...]) -> None:
    assert tokenize(name) == words


def test_compact_is_the_same_for_every_style() -> None:
    styles = [
        "dockerPassword",
        "docker_password",
        "DOCKER-PASSWORD",
        "docker.password",
        "dockerpassword",
    ]
    assert {compact(s) for s in styles} == {"dockerpassword"}


KNOWN_FIELD_NAMES = [
    # Devtron's eight masked fields
    "accessKey",
    "passkey",
    "accountKey",
    "credentialFileData",
    "dockerPassword",
    "secretKey",
    "dockerCert",
    # in other naming styles, and with prefixes
    "docker_password",
    "DOCKER-PASSWORD",
    "DOCKERPASSWORD",
    "s3AccessKey",
    "CREDENTIAL_FILE_DATA",
    # git, cloud, kubeconfig
    "gitPassword",
    "git_token",
    "accessToken",
    "personalAccessToken",
    "sshPrivateKey",
    "aws_secret_access_key",
    "AWS_SESSION_TOKEN",
    "secretAccessKey",
    "client_secret",
    "AZURE_CLIENT_SECRET",
    "sasToken",
    "connectionString",
    "private_key",
    "client-key-data",
]


@pytest.mark.parametrize("name", KNOWN_FIELD_NAMES)
def test_known_fields(name: str) -> None:
    name_class = Masker().classify(name)
    assert name_class.known
    assert name_class.known_parents is None
    assert name_class.secret


def test_kubeconfig_token_is_known_only_under_user() -> None:
    name_class = Masker().classify("token")
    assert name_class.known_parents == frozenset({"user"})
    assert name_class.keyword  # elsewhere the keyword rule decides


KEYWORD_NAMES = [
    # every naming style of one name
    "dbPassword",
    "DB_PASSWORD",
    "db-password",
    "db.password",
    "dbpassword",
    "DbPassword",
    "db password",
    # each keyword
    "password",
    "passwd",
    "MYSQL_PASSWD",
    "passphrase",
    "gpg_passphrase",
    "secret",
    "webhookSecret",
    "token",
    "apiToken",
    "GITHUB_TOKEN",
    "NODE_AUTH_TOKEN",
    "orchestratorToken",
    "apiKey",
    "api_key",
    "x-api-key",
    "APIKEY",
    "DOCKER_APIKEY",
    "privateKey",
    "GPG_PRIVATE_KEY",
    "credential",
    "credentials",
    "auth",
    "basicAuth",
    "authorization",
    "cert",
    "clientCert",
    "certificate",
    "client_secret",
    "signingKey",
    "encryption_key",
    "secret_id",
    # plurals, glued words, encodings, trailing qualifiers that are not metadata
    "tokens",
    "apiKeys",
    "githubtoken",
    "password_b64",
    "tokenValue",
    "DB_PASSWORD_PROD",
    "SECRET_KEY_BASE",
    "GITHUB_TOKEN_PROMETHEUS",
    # the prefixed keywords
    "DB_PWD",
    "dbPwd",
    "SMTP_PASS",
    "DOCKER_PASS",
]


@pytest.mark.parametrize("name", KEYWORD_NAMES)
def test_keyword_names(name: str) -> None:
    assert Masker().classify(name).keyword


NOT_SECRET_NAMES = [
    # descriptions of a secret
    "passwordFile",
    "password_file",
    "token_expiry_seconds",
    "tokenExpirySeconds",
    "tokenUrl",
    "TOKEN_URL",
    "authType",
    "authMode",
    "cert_path",
    "DOCKER_CERT_PATH",
    "secretsCount",
    "passwordPolicy",
    "passwordKey",
    "accessKeyId",
    "aws_access_key_id",
    "private_key_id",
    "tokenId",
    "AUTH_FILE",
    "certManager",
    "authServer",
    # words that merely contain a keyword
    "passwordless",
    "tokenizer",
    "author",
    "triggerByAuthor",
    "secretary",
    "bypass",
    "compass",
    # the shell's working directories
    "PWD",
    "OLDPWD",
    # no keyword at all
    "userName",
    "dockerUsername",
    "sshPublicKey",
    "cacheKey",
    "key",
    "dockerRegistryURL",
    "persistCredentials",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "CIBW_ENVIRONMENT_PASS_LINUX",
]


@pytest.mark.parametrize("name", NOT_SECRET_NAMES)
def test_not_secret_names(name: str) -> None:
    name_class = Masker().classify(name)
    assert not name_class.secret


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("secretName", "k8s-secret"),
        ("secret_name", "k8s-secret"),
        ("tokenSecretName", "k8s-secret"),
        ("secretKeyRef", "k8s-secret"),
        ("secretRef", "k8s-secret"),
        ("passwordSecretRef", "k8s-secret"),
        ("existingSecret", "k8s-secret"),
        ("tokenEnv", "env"),
        ("PASSWORD_ENV_VAR", "env"),
        ("passwordVariable", "env"),
    ],
)
def test_reference_names(name: str, kind: str) -> None:
    name_class = Masker().classify(name)
    assert not name_class.secret
    assert name_class.reference_kind == kind


@pytest.mark.parametrize(
    "name",
    ["accessKeySecret", "passwordSecret", "imagePullSecrets", "secrets", "clientSecretSecret"],
)
def test_secret_objects(name: str) -> None:
    name_class = Masker().classify(name)
    assert name_class.keyword
    assert name_class.secret_object


def test_name_roles() -> None:
    masker = Masker()
    assert masker.classify("env").env_block
    assert masker.classify("extraEnvironmentVariables").env_block
    assert masker.classify("runtimeEnvironmentVariables").env_block
    assert masker.classify("globalEnv").env_block
    assert not masker.classify("envFrom").env_block
    assert not masker.classify("environmentName").env_block
    assert masker.classify("permissions").secretless_block
    assert masker.classify("value").value_slot
    assert masker.classify("stringData").secret_payload


def test_classification_is_cached() -> None:
    names = NameClassifier()
    assert names.classify("dbPassword") is names.classify("dbPassword")


def test_cache_is_bounded() -> None:
    names = NameClassifier()
    for i in range(10_000):
        names.classify(f"key{i}")
    assert len(names._cache) <= 8192
    assert names.classify("dbPassword").keyword
