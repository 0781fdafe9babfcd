"""The words the name rules know: secret keywords, known fields and qualifiers.

Every entry is written as words separated by spaces (``"api key"``); the
classifier in :mod:`wfaudit_maskers.names` compares them with key names in any
naming style (``apiKey``, ``API_KEY``, ``api-key``, ``apikey``). Keep this module
data only: the rules that use it live in ``names.py`` and ``rules.py``.
"""

from __future__ import annotations

from types import MappingProxyType

__all__ = [
    "ALLOWED_NAMES",
    "CHECKSUM_WORDS",
    "ENV_BLOCKS",
    "ENV_BLOCK_NAMES",
    "KNOWN_FIELDS",
    "METADATA_QUALIFIERS",
    "NAME_NEEDLES",
    "NEUTRAL_SUFFIXES",
    "NO_PREFIX",
    "PREFIXED_KEYWORDS",
    "REFERENCE_PREFIXES",
    "REFERENCE_QUALIFIERS",
    "SECRETLESS_BLOCKS",
    "SECRET_PAYLOADS",
    "STRONG_KEYWORDS",
    "VALUE_SLOTS",
    "WEAK_KEYWORDS",
]

# -- keywords (rule "keyword") ---------------------------------------------------

STRONG_KEYWORDS: tuple[str, ...] = (
    "password",
    "passwd",
    "passphrase",
    "passkey",
    "secret",
    "token",
    "credential",
    "credentials",
    "authorization",
    "api key",
    "private key",
    "secret key",
    "access key",
    "account key",
    "client secret",
    "client key",
    "signing key",
    "encryption key",
    "master key",
    "session key",
    "license key",
    "deploy key",
    "ssh key",
    "gpg key",
    "hmac key",
    "auth key",
    "app key",
    "storage key",
    # Vault AppRole's secret_id is a credential; "id" alone would make it metadata.
    "secret id",
)
"""A name holding one of these is secret unless a qualifier follows it
(``password_file``, ``token_url``): ``DB_PASSWORD_PROD`` is still a password."""

WEAK_KEYWORDS: tuple[str, ...] = (
    "auth",
    "oauth",
    "cert",
    "certificate",
    "cookie",
    "jwt",
)
"""Secret only as the last word of a name (``basicAuth``, ``dockerCert``): these
words also start many harmless names (``authServer``, ``certManager``)."""

PREFIXED_KEYWORDS: tuple[str, ...] = (
    "pwd",
    "pass",
)
"""Secret only as the last word and after another word: ``DB_PWD`` and
``SMTP_PASS`` are passwords, the shell's ``PWD`` is the working directory."""

NO_PREFIX: frozenset[str] = frozenset({"old"})
"""Words that do not count as the prefix a :data:`PREFIXED_KEYWORDS` needs
(``OLDPWD`` is the previous working directory)."""

# -- known fields (rule "known-field") -----------------------------------------------

KNOWN_FIELDS: MappingProxyType[str, frozenset[str] | None] = MappingProxyType(
    {
        # Devtron's workflow request: the eight fields its own masking blanks.
        "access key": None,
        "passkey": None,
        "account key": None,
        "credential file data": None,  # Go field CredentialFileJsonData, sent as this
        "docker password": None,
        "secret key": None,
        "docker cert": None,
        # Git credentials of CI materials (Devtron's gitOptions, generic CI).
        "git password": None,
        "git token": None,
        "git access token": None,
        "access token": None,
        "personal access token": None,
        "ssh private key": None,
        # Cloud provider credentials.
        "secret access key": None,
        "session token": None,
        "client secret": None,
        "sas token": None,
        "connection string": None,
        # GCP service-account JSON.
        "private key": None,
        # kubeconfig: users[].user.client-key-data and .token (``token`` is a
        # known field only there; elsewhere the keyword rule decides).
        "client key data": None,
        "token": frozenset({"user"}),
    }
)
"""Known secret fields, each with the parent keys it must sit under (None: anywhere).

A known field matches a key whose name *ends* with it at a word boundary
(``s3AccessKey``, ``AZURE_CLIENT_SECRET``), whatever its value: an object (a GCP
credential JSON given as an object) is masked whole."""

SECRET_PAYLOADS: frozenset[str] = frozenset({"data", "stringdata"})
"""Keys of a Kubernetes ``kind: Secret`` object whose entries are all secret."""

# -- qualifiers: words after a keyword that turn the name into metadata ---------

REFERENCE_QUALIFIERS: MappingProxyType[str, str] = MappingProxyType(
    {
        "name": "name",
        "names": "name",
        "ref": "ref",
        "refs": "ref",
        "reference": "ref",
        "references": "ref",
        "selector": "ref",
        "env": "env",
        "envvar": "env",
        "var": "env",
        "vars": "env",
        "variable": "env",
        "variables": "env",
    }
)
"""Words that make a name hold a *reference* to a secret (``secretName``,
``secretKeyRef``, ``tokenEnv``), mapped to the reference's family."""

REFERENCE_PREFIXES: frozenset[str] = frozenset({"existing"})
"""Words before a keyword that make the name a reference (Helm's ``existingSecret``)."""

METADATA_QUALIFIERS: frozenset[str] = frozenset(
    {
        # where a secret is, or how it is reached
        "file", "files", "filename", "filepath", "path", "paths", "dir", "directory",
        "folder", "mount", "mounts", "location", "url", "urls", "uri", "uris",
        "endpoint", "endpoints", "host", "hosts", "hostname", "server", "port",
        "address", "addr", "domain", "arn", "bucket", "namespace", "volume",
        # what kind of secret, how it is used
        "type", "types", "kind", "mode", "method", "methods", "scheme", "schema",
        "format", "style", "flow", "grant", "class", "strategy", "algorithm", "alg",
        "header", "headers", "prefix", "suffix", "field", "fields", "key", "keys",
        "id", "ids", "uid", "label", "labels", "annotation", "annotations",
        "scope", "scopes", "audience", "issuer", "subject", "permission",
        "permissions", "role", "roles", "owner", "usage", "usages",
        # how much, how long
        "count", "counts", "number", "num", "length", "len", "size", "min", "max",
        "limit", "limits", "expiry", "expires", "expire", "expiration", "expired",
        "exp", "ttl", "lifetime", "duration", "timeout", "interval", "period",
        "seconds", "second", "sec", "secs", "ms", "millis", "minutes", "minute",
        "mins", "hours", "hour", "days", "day", "age", "at", "time", "timestamp",
        "date", "created", "updated", "modified", "rotated", "rotation", "version",
        "versions",
        # switches and policy
        "policy", "policies", "rule", "rules", "enabled", "enable", "disabled",
        "disable", "required", "require", "optional", "allowed", "allow", "set",
        "present", "exists", "provided", "strength", "complexity", "validation",
        "validator", "validity", "regex", "pattern", "status", "state",
        # the machinery around secrets
        "provider", "providers", "helper", "helpers", "manager", "store", "stores",
        "storage", "source", "sources", "process", "command", "cmd", "generator",
        "template", "templates", "config", "configs", "configuration", "settings",
        "options", "option", "scan", "scanning", "scanner", "detection", "check",
        "checks", "verify", "verification", "audit", "object", "objects",
        # human text about a secret
        "stdin", "error", "errors", "message", "msg", "description", "desc", "hint", "help",
        "prompt", "placeholder", "title", "display",
    }
)  # fmt: skip
"""Words after a keyword that make the name describe a secret, not hold one
(``passwordFile``, ``token_expiry_seconds``, ``authType``, ``cert_path``)."""

NEUTRAL_SUFFIXES: frozenset[str] = frozenset(
    {
        "value", "val", "data", "b64", "base64", "encoded", "enc", "encrypted",
        "raw", "str", "string", "text", "plain", "plaintext", "hex", "bytes",
        "content", "contents", "json", "pem", "der", "yaml", "yml", "literal",
    }
)  # fmt: skip
"""Trailing words that say how a secret is written, not what it is: ignored, so
``password_b64`` and ``tokenValue`` are secrets like ``password``."""

# -- names with a role of their own ---------------------------------------------------

ALLOWED_NAMES: tuple[str, ...] = (
    # Paths to credential files, not credentials (a keyword would match them).
    "google application credentials",
    "node extra ca certs",
    # actions/checkout's switch; sometimes given as the string "false".
    "persist credentials",
)
"""Names never masked by default, whatever keyword they contain."""

ENV_BLOCKS: tuple[str, ...] = (
    "env",
    "envs",
    "env vars",
    "env variables",
    "environment variables",
)
"""Endings of the names of objects and lists holding environment variables
(``env``, ``extraEnvironmentVariables``, Devtron's ``runtimeEnvironmentVariables``,
``globalEnv``): a secret in one is restored from the variable of the same name."""

ENV_BLOCK_NAMES: frozenset[str] = frozenset({"environment", "variables", "vars"})
"""Whole names that hold environment variables too (Compose ``environment``,
GitLab ``variables``); as endings they would say too little."""

SECRETLESS_BLOCKS: frozenset[str] = frozenset({"permissions"})
"""Compact names of objects whose entries are never secret even when named like one
(GitHub's ``permissions: {id-token: write}``)."""

VALUE_SLOTS: frozenset[str] = frozenset({"value"})
"""Keys whose secret-ness comes from a sibling ``name`` (``{name: DB_PASSWORD, value: ...}``)."""

CHECKSUM_WORDS: frozenset[str] = frozenset(
    {
        "sha", "sha1", "sha224", "sha256", "sha384", "sha512", "md5", "checksum", "checksums",
        "digest", "digests", "hash", "hashes", "integrity", "etag", "fingerprint", "commit",
        "revision", "rev", "oid", "nonce", "salt", "uuid", "guid", "ulid",
    }
)  # fmt: skip
"""Words naming a checksum, digest or identifier: a random-looking value under such
a name (``imageDigest``, ``integrity``, ``commitHash``) is not taken for a secret by
the entropy rule."""

NAME_NEEDLES: tuple[str, ...] = (
    "pass", "pwd", "secret", "token", "key", "auth", "cred", "cert", "cookie", "jwt",
)  # fmt: skip
"""Substrings one of which nearly every secret name holds; the classifier adds one
word of each phrase these miss (``connection`` for ``connection string``)."""
