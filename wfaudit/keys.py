"""The installation key under which secrets are fingerprinted.

A fingerprint is HMAC-SHA256(key, secret): equal secrets give equal
fingerprints, so a diff can say "secret changed" without revealing anything,
and without the key nobody can test guesses against a stored fingerprint. The
key is kept outside the store: ``WFAUDIT_FINGERPRINT_KEY`` (hex), or a file
(``WFAUDIT_KEY_FILE``, default ``$WFAUDIT_HOME/fingerprint.key``) created with
mode 0600 on first use.

The audit chain is keyed with a second key derived from that one
(:func:`chain_key`: HMAC-SHA256 of the installation key over a fixed label), so
there is one secret to keep and back up, every process and replica that shares
the fingerprint key chains alike, and a chain hash can never be mistaken for a
fingerprint. Neither key is ever written to the store: the store keeps only
:func:`key_id`, which names a key without revealing anything about it.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import os
import pathlib

from wfaudit_hookspecs import ConfigurationError

__all__ = ["chain_key", "key_id", "load_key"]

KEY_BYTES = 32
_CHAIN_LABEL = b"wfaudit audit-chain key v1"


def chain_key(installation_key: bytes) -> bytes:
    """The key of the audit chain's HMACs, derived from the installation key."""
    return hmac.new(installation_key, _CHAIN_LABEL, hashlib.sha256).digest()


def key_id(key: bytes) -> str:
    """A short public name of a key (16 hex digits of a hash of it)."""
    return hashlib.sha256(b"wfaudit key id\n" + key).hexdigest()[:16]


def load_key(key_file: pathlib.Path) -> bytes:
    """Return the installation key, creating the key file if there is none."""
    raw = os.environ.get("WFAUDIT_FINGERPRINT_KEY")
    if raw:
        try:
            key = binascii.unhexlify(raw.strip())
        except (binascii.Error, ValueError):
            raise ConfigurationError("WFAUDIT_FINGERPRINT_KEY must be hex digits") from None
        if len(key) < 16:
            raise ConfigurationError("WFAUDIT_FINGERPRINT_KEY must be at least 16 bytes (32 hex)")
        return key
    try:
        return _read(key_file)
    except FileNotFoundError:
        pass
    return _create(key_file)


def _read(key_file: pathlib.Path) -> bytes:
    data = key_file.read_bytes()
    if len(data) < 16:
        raise ConfigurationError(
            f"fingerprint key file {key_file} is too short; remove it or restore it"
        )
    return data


def _create(key_file: pathlib.Path) -> bytes:
    try:
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key = os.urandom(KEY_BYTES)
        tmp = key_file.with_name(f".{key_file.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, key)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            # link() fails if another process created the key first: then use theirs,
            # so that every process of an installation fingerprints alike.
            os.link(tmp, key_file)
        except FileExistsError:
            return _read(key_file)
        finally:
            tmp.unlink(missing_ok=True)
        return key
    except OSError as exc:
        raise ConfigurationError(
            f"cannot create the fingerprint key file {key_file}: {exc.strerror}"
        ) from None
