"""What counts as a literal secret in a string, and what is only a reference to one.

Values that are references (``$TOKEN``, ``${{ secrets.X }}``, ``{{ .Values.x }}``),
placeholders (``<your-token>``, ``****``, ``changeme``) and file names
(``./password.txt``, ``@body.json``) name a secret or hold none: the embedded
rules leave them alone.
"""

from __future__ import annotations

import re

from .references import parse_reference

__all__ = ["is_literal", "is_public_key"]

_PLACEHOLDER_WORDS = frozenset(
    {
        "", "true", "false", "yes", "no", "on", "off", "null", "none", "nil", "undefined",
        "required", "optional", "inherit", "default", "empty", "string", "str", "secret",
        "password", "token", "redacted", "masked", "hidden", "changeme", "xxx", "example",
    }
)  # fmt: skip
"""Values that hold no secret: flags, type names and the usual placeholders."""

_REPEATED = re.compile(r"(.)\1*")
_LITERAL_CHARS = re.compile(r"[^\W_]")
_PERCENT_REFERENCE = re.compile(r"%[A-Za-z_][A-Za-z0-9_]*%|%\{[^}]*\}|%\([^)]*\)[sdr]")


def is_literal(value: str) -> bool:
    """Whether ``value`` may be a literal secret (not empty, a placeholder or a reference)."""
    text = value.strip()
    if len(text) < 3 or text.lower() in _PLACEHOLDER_WORDS:
        return False
    first = text[0]
    if first in "$<" or text.startswith("{{"):
        return False  # shell or template expansion; <placeholder>
    if first == "%" and not _LITERAL_CHARS.search(_PERCENT_REFERENCE.sub("", text)):
        # %DB_PASSWORD% (Windows), %{password}, %(password)s, %USER%:%PASS%: only
        # references. A value that merely starts like one (%FWJl1O5J%lBcO) is literal.
        return False
    if first in "/@" or text.startswith(("./", "../", "~/")):
        return False  # a file holding the secret (--from-file=password=./pw, -d @body.json)
    if _REPEATED.fullmatch(text):
        return False  # "****", "xxxxxx"
    return parse_reference(text) is None


_SSH_PUBLIC = re.compile(
    r"(?:(?:ssh-(?:rsa|dss|ed25519|ed448)|ecdsa-sha2-nistp(?:256|384|521)"
    r"|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com)(?:-cert-v01@openssh\.com)?"
    r"[ \t]+AAAA[A-Za-z0-9+/]+={0,3}(?:[ \t]+[^\r\n]*)?)"
)
_PEM_PUBLIC = re.compile(
    r"-----BEGIN (?P<kind>(?:RSA |EC |DSA |SSH2 )?PUBLIC KEY|PGP PUBLIC KEY BLOCK)-----"
    r"[A-Za-z0-9+/=:\s,.\-\"'()]*?-----END (?P=kind)-----"
)
_AGE_RECIPIENT = re.compile(r"age1[02-9ac-hj-np-z]{58}")
"""An age recipient: bech32 of a public key (the secret key is AGE-SECRET-KEY-1...)."""


def is_public_key(value: str) -> bool:
    """Whether ``value`` is nothing but public keys: SSH public keys (one per line,
    ``authorized_keys``), PEM public keys, PGP public key blocks, age recipients.

    Public keys are not secrets, whatever the name they stand under
    (``DEPLOY_KEY_PUB``, ``SSH_PUBLIC_KEY``).
    """
    text = value.strip()
    if not text or "PRIVATE" in text:
        return False
    if text.startswith("-----BEGIN"):
        rest = _PEM_PUBLIC.sub("", text)
        return not rest.strip() and rest != text
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return all(
        _SSH_PUBLIC.fullmatch(line) or all(map(_AGE_RECIPIENT.fullmatch, line.split(",")))
        for line in lines
    )
