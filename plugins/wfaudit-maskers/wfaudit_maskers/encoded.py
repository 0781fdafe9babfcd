"""Encoded variants: base64 and URL-encoded forms of secrets.

A secret is often stored encoded: a Kubernetes Secret's ``data``, a docker
``auth`` (base64 of ``user:password``), ``echo ... | base64 -d`` in a script, a
password URL-encoded in a connection string. The scanner decodes such tokens
with the helpers here and scans what they decode to; a token whose content holds
a secret is masked whole (rules ``encoded:base64`` and ``encoded:url``).

The second half of the family is :func:`copies`: once the secrets of a request
are known, their plain, base64 and URL-encoded copies elsewhere in the request
are masked too (rule ``encoded:copy``), even where nothing else would have
recognised them.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus, unquote

__all__ = [
    "ENCODED_RULES",
    "MIN_COPY_LENGTH",
    "b64_text",
    "is_user_password",
    "url_decoded",
    "variants",
    "words",
]

ENCODED_RULES = ("encoded:base64", "encoded:url", "encoded:copy")

MIN_COPY_LENGTH = 8
"""Shorter secrets are not searched for elsewhere: "admin" is also a user name."""

_B64 = re.compile(r"[A-Za-z0-9+/]+={0,2}|[A-Za-z0-9_\-]+={0,2}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffd]")
_USER_PASSWORD = re.compile(r"[^\s:/@]{1,128}:[^\s]{3,}")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")
_WORD_SPLIT = re.compile(r"[\s\"'`=:,;()\[\]{}<>|&@]+")
_BINARY_MAGIC = (b"\x1f\x8b", b"PK\x03\x04", b"\x89PNG", b"BZh", b"\xfd7zXZ", b"\x28\xb5\x2f\xfd")


def b64_text(token: str) -> str | None:
    """The text a base64 (or base64url) token decodes to, if it is readable text.

    Returns None for tokens that are not base64, for hexadecimal strings (they
    decode, but they are digests), and for binary content.
    """
    core = token.rstrip("=")
    if len(core) < 12 or _HEX.fullmatch(core) or not _B64.fullmatch(token):
        return None
    if len(core) % 4 == 1:
        return None
    padded = core + "=" * (-len(core) % 4)
    try:
        if "-" in core or "_" in core:
            raw = base64.urlsafe_b64decode(padded)
        else:
            raw = base64.b64decode(padded, validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError too
        return None
    if not text.strip() or _CONTROL.search(text):
        return None
    return text


def b64_binary(token: str) -> bool:
    """Whether ``token`` is base64 of compressed or archived data (not a secret)."""
    core = token.rstrip("=")
    if len(core) < 12 or not _B64.fullmatch(token):
        return False
    head = core[:16] + "=" * (-len(core[:16]) % 4)
    try:
        raw = base64.b64decode(head) if "-" not in head else base64.urlsafe_b64decode(head)
    except (binascii.Error, ValueError):
        return False
    return raw.startswith(_BINARY_MAGIC)


def is_user_password(text: str) -> bool:
    """``user:password`` (a docker ``auth``, HTTP basic credentials), not ``host:port``."""
    if not _USER_PASSWORD.fullmatch(text):
        return False
    password = text.split(":", 1)[1]
    return not password.isdigit() and not password.startswith("//")


def url_decoded(token: str) -> str | None:
    """``token`` with its %-escapes decoded, if it has any."""
    if "%" not in token or not _PERCENT.search(token):
        return None
    decoded = unquote(token)
    return decoded if decoded != token else None


_UNRESERVED = re.compile(r"[A-Za-z0-9_.~\-]*")


def variants(secret: str) -> set[str]:
    """What a copy of ``secret`` may look like elsewhere: itself, URL-encoded (and
    decoded, for a secret found %-encoded), in reversed case, and in hex."""
    forms = {secret}
    plain = url_decoded(secret)
    decoded: set[str] = set()
    if plain is not None and len(plain) >= MIN_DECODED_COPY:
        # postgresql://app:%2AAb%40cd@db: the password is *Ab@cd, however short.
        forms.add(plain)
        decoded.add(plain)
    out: set[str] = set()
    for form in forms:
        out.add(form)
        if not _UNRESERVED.fullmatch(form):
            out.add(quote(form, safe=""))
            out.add(quote_plus(form, safe=""))
        swapped = form.swapcase()
        if swapped != form:
            out.add(swapped)
        if len(form) <= _MAX_HEX_COPY:
            raw = form.encode("utf-8").hex()
            out.update((raw, raw.upper()))
    return {variant for variant in out if len(variant) >= MIN_COPY_LENGTH or variant in decoded}


MIN_DECODED_COPY = 5
"""The decoded form of a %-encoded secret is searched for from this length: its
escapes said it holds characters no word has."""

_MAX_HEX_COPY = 512
"""Longer secrets (private keys) are not searched for in hex."""


def words(text: str) -> frozenset[str]:
    """The words of ``text`` a copied secret would stand as (quotes, ``=``, ``:`` split)."""
    return frozenset(
        word.rstrip(".") for word in _WORD_SPLIT.split(text) if len(word) >= MIN_COPY_LENGTH
    )


def decoded_contains(decoded: Iterable[str], secrets: Iterable[str]) -> bool:
    """Whether any decoded payload holds one of ``secrets``."""
    wanted = tuple(secrets)
    return any(secret in payload for payload in decoded for secret in wanted)
