"""The installation key under which secrets are fingerprinted.

A fingerprint is HMAC-SHA256(key, secret): equal secrets give equal
fingerprints, so a diff can say "secret changed" without revealing anything,
and without the key nobody can test guesses against a stored fingerprint. The
key is kept outside the store, in the first of:

* ``WFAUDIT_FINGERPRINT_KEY`` (hex);
* the keyring entry ``WFAUDIT_FINGERPRINT_KEYRING`` names (``service/username``,
  the key as hex), created on first use;
* a file (``WFAUDIT_KEY_FILE``, default ``$WFAUDIT_HOME/fingerprint.key``)
  created with mode 0600 on first use.

Every process of an installation must use the same key (a snapshot's content
hash and its fingerprints depend on it). The store records the **key id**
(:func:`key_id`: an HMAC of a fixed label under the key, never the key), and a
process whose key has another id refuses to write (:class:`KeyMismatch`).

Rotation (``wfaudit keys rotate``) makes a new key and keeps the old one as a
**retired** key, in ``<key file>.retired`` (one hex key a line, mode 0600) or
``WFAUDIT_RETIRED_FINGERPRINT_KEYS`` (hex keys separated by commas): a
retrigger checks a restored secret against the fingerprint stored for it under
the current key and every retired one, so old snapshots stay verifiable.

The audit chain is keyed with a second key derived from that one
(:func:`chain_key`: HMAC-SHA256 of the installation key over a fixed label), so
there is one secret to keep and back up, every process and replica that shares
the fingerprint key chains alike, and a chain hash can never be mistaken for a
fingerprint. Neither key is ever written to the store: the store keeps only
:func:`key_id` of the chain key on each keyed event. After a rotation, events
keyed under a retired key are checked with that key's chain key.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import os
import pathlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from wfaudit_hookspecs import ConfigurationError

__all__ = [
    "KEYRING_ENV",
    "KEY_ENV",
    "KEY_ID_META",
    "RETIRED_ENV",
    "FingerprintKeys",
    "KeyMismatch",
    "chain_key",
    "export_text",
    "import_keys",
    "key_id",
    "keyring_target",
    "load_key",
    "load_keys",
    "parse_export",
    "retired_file",
    "rotate_keys",
]

KEY_BYTES = 32
KEY_ENV = "WFAUDIT_FINGERPRINT_KEY"
KEYRING_ENV = "WFAUDIT_FINGERPRINT_KEYRING"
RETIRED_ENV = "WFAUDIT_RETIRED_FINGERPRINT_KEYS"
KEY_ID_META = "fingerprint_key_id"
"""The name under which a store records the id of its fingerprint key."""

_ID_LABEL = b"wfaudit fingerprint key id v1"
_CHAIN_LABEL = b"wfaudit audit-chain key v1"
_EXPORT_HEADER = (
    "# wfaudit fingerprint keys (hex): the first line is the current key, the others are\n"
    "# retired keys. This file is a secret: keep it 0600, delete it once imported.\n"
)


class KeyMismatch(ConfigurationError):
    """This process's fingerprint key is not the one the store's fingerprints use."""

    def __init__(self, store_url: str, mine: str, recorded: str) -> None:
        self.mine = mine
        self.recorded = recorded
        super().__init__(
            f"the store at {store_url} holds fingerprints made with key {recorded}, but this "
            f"process has key {mine}; every process of an installation must share one "
            f"fingerprint key (else dedup and diff break): copy the installation's key here "
            f"(`wfaudit keys export --output FILE` where it is, `wfaudit keys import FILE` "
            f"here), or give every process the same {KEY_ENV} (hex), key file "
            f"(WFAUDIT_KEY_FILE) or keyring entry ({KEYRING_ENV}); nothing was written"
        )


def chain_key(installation_key: bytes) -> bytes:
    """The key of the audit chain's HMACs, derived from the installation key."""
    return hmac.new(installation_key, _CHAIN_LABEL, hashlib.sha256).digest()


def key_id(key: bytes) -> str:
    """The public id of a key: HMAC-SHA256 of a fixed label under it, 16 hex digits."""
    return hmac.new(key, _ID_LABEL, hashlib.sha256).hexdigest()[:16]


@attrs.frozen
class FingerprintKeys:
    """The installation's current fingerprint key and its retired keys.

    :ivar source: where the current key comes from (for messages; never the key).
    """

    current: bytes = attrs.field(repr=False)
    retired: tuple[bytes, ...] = attrs.field(default=(), repr=False)
    source: str = ""

    @property
    def id(self) -> str:
        """The current key's id."""
        return key_id(self.current)

    @property
    def retired_ids(self) -> tuple[str, ...]:
        return tuple(key_id(key) for key in self.retired)

    def fingerprint(self, secret: str) -> str:
        """The fingerprint of ``secret`` under the current key."""
        return hmac.new(self.current, secret.encode("utf-8"), hashlib.sha256).hexdigest()

    def matches(self, secret: str, fingerprint: str) -> bool:
        """Whether ``fingerprint`` is ``secret``'s under the current key or a retired one."""
        if not fingerprint:
            return False
        data = secret.encode("utf-8")
        return any(
            hmac.compare_digest(hmac.new(key, data, hashlib.sha256).hexdigest(), fingerprint)
            for key in (self.current, *self.retired)
        )

    @property
    def chain(self) -> bytes:
        """The current audit-chain key (:func:`chain_key`)."""
        return chain_key(self.current)

    def retired_chain_keys(self) -> dict[str, bytes]:
        """The retired keys' chain keys, by chain key id: events keyed before a
        rotation stay verifiable."""
        return {key_id(chain): chain for chain in (chain_key(key) for key in self.retired)}


# -- loading -----------------------------------------------------------------------


def load_key(key_file: pathlib.Path) -> bytes:
    """Return the installation key, creating the key file if there is none."""
    return load_keys(key_file).current


def keyring_target(options: Mapping[str, Any]) -> str | None:
    """The ``fingerprint_keyring`` setting (``service/username``), or None when unset."""
    value = options.get("fingerprint_keyring")
    return value if isinstance(value, str) and value else None


def load_keys(key_file: pathlib.Path, *, keyring_target: str | None = None) -> FingerprintKeys:
    """The installation's keys, from the first source that has one (see the module).

    :param keyring_target: ``service/username`` of the key in the keyring;
        None reads ``WFAUDIT_FINGERPRINT_KEYRING``.
    """
    retired = _retired(key_file)
    raw = os.environ.get(KEY_ENV)
    if raw:
        return FingerprintKeys(_parse_hex(raw, KEY_ENV), retired, KEY_ENV)
    target = keyring_target or os.environ.get(KEYRING_ENV) or None
    if target:
        return FingerprintKeys(_keyring_key(target), retired, f"keyring {target}")
    try:
        current = _read(key_file)
    except FileNotFoundError:
        current = _create(key_file)
    return FingerprintKeys(current, retired, f"key file {key_file}")


def retired_file(key_file: pathlib.Path) -> pathlib.Path:
    """Where the retired keys of ``key_file``'s installation are kept."""
    return key_file.with_name(key_file.name + ".retired")


def _parse_hex(text: str, where: str) -> bytes:
    try:
        key = binascii.unhexlify(text.strip())
    except (binascii.Error, ValueError):
        raise ConfigurationError(f"{where} must be hex digits") from None
    if len(key) < 16:
        raise ConfigurationError(f"{where} must be at least 16 bytes (32 hex digits)")
    return key


def _retired(key_file: pathlib.Path) -> tuple[bytes, ...]:
    keys: list[bytes] = []
    for item in os.environ.get(RETIRED_ENV, "").split(","):
        if item.strip():
            keys.append(_parse_hex(item, RETIRED_ENV))
    path = retired_file(key_file)
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        text = ""
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"cannot read the retired keys in {path}: {exc}") from None
    for number, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            keys.append(_parse_hex(line, f"line {number} of {path}"))
    return _unique(keys)


def _unique(keys: Iterable[bytes], *, without: bytes | None = None) -> tuple[bytes, ...]:
    seen: dict[bytes, None] = {}
    for key in keys:
        if key != without:
            seen.setdefault(key, None)
    return tuple(seen)


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


def _keyring_parts(target: str) -> tuple[str, str]:
    service, slash, username = target.rpartition("/")
    if not slash or not service or not username:
        raise ConfigurationError(f"{KEYRING_ENV} must be 'service/username', not {target!r}")
    return service, username


def _keyring_key(target: str) -> bytes:
    import keyring
    import keyring.errors

    service, username = _keyring_parts(target)
    try:
        stored = keyring.get_password(service, username)
        if stored:
            return _parse_hex(stored, f"the keyring entry {target}")
        key = os.urandom(KEY_BYTES)
        keyring.set_password(service, username, key.hex())
        return key
    except keyring.errors.KeyringError as exc:
        raise ConfigurationError(
            f"the keyring holding the fingerprint key ({target}) is not available: "
            f"{type(exc).__name__}"
        ) from None


# -- export, import, rotation ---------------------------------------------------------


def export_text(keys: FingerprintKeys) -> str:
    """The keys as text for ``wfaudit keys import`` (holds the keys: a secret)."""
    lines = [keys.current.hex(), *(key.hex() for key in keys.retired)]
    return _EXPORT_HEADER + "\n".join(lines) + "\n"


def parse_export(text: str) -> tuple[bytes, tuple[bytes, ...]]:
    """The current and retired keys of an export (see :func:`export_text`)."""
    keys = [
        _parse_hex(line, f"line {number} of the key export")
        for number, line in enumerate(text.splitlines(), 1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not keys:
        raise ConfigurationError("the key export holds no key")
    return keys[0], _unique(keys[1:], without=keys[0])


def import_keys(
    key_file: pathlib.Path,
    current: bytes,
    retired: Sequence[bytes] = (),
    *,
    keyring_target: str | None = None,
) -> FingerprintKeys:
    """Make ``current`` this installation's key; the key it had becomes a retired key.

    :raises ConfigurationError: the key is set by ``WFAUDIT_FINGERPRINT_KEY``
        (change it there), or cannot be written.
    """
    before = load_keys(key_file, keyring_target=keyring_target)
    _check_writable_source(before)
    keep = _unique([*retired, before.current, *before.retired], without=current)
    _write_retired(key_file, keep)
    _write_current(key_file, current, before.source, keyring_target)
    return load_keys(key_file, keyring_target=keyring_target)


def rotate_keys(
    key_file: pathlib.Path, *, keyring_target: str | None = None
) -> tuple[FingerprintKeys, FingerprintKeys]:
    """Make a new current key; the old one is retired. Returns (before, after)."""
    before = load_keys(key_file, keyring_target=keyring_target)
    _check_writable_source(before)
    after = import_keys(key_file, os.urandom(KEY_BYTES), keyring_target=keyring_target)
    return before, after


def _check_writable_source(keys: FingerprintKeys) -> None:
    if keys.source == KEY_ENV:
        raise ConfigurationError(
            f"the fingerprint key is set by {KEY_ENV}: change it there (and list the old "
            f"key in {RETIRED_ENV}), on every process of the installation"
        )


def _write_current(
    key_file: pathlib.Path, key: bytes, source: str, keyring_target: str | None
) -> None:
    if source.startswith("keyring "):
        import keyring
        import keyring.errors

        target = source.removeprefix("keyring ")
        service, username = _keyring_parts(target)
        try:
            keyring.set_password(service, username, key.hex())
        except keyring.errors.KeyringError as exc:
            raise ConfigurationError(
                f"cannot write the fingerprint key to the keyring ({target}): {type(exc).__name__}"
            ) from None
        return
    _write_private(key_file, key)


def _write_retired(key_file: pathlib.Path, keys: Sequence[bytes]) -> None:
    path = retired_file(key_file)
    text = "# retired wfaudit fingerprint keys (hex), newest first\n" + "".join(
        f"{key.hex()}\n" for key in keys
    )
    _write_private(path, text.encode("ascii"))


def _write_private(path: pathlib.Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ConfigurationError(f"cannot write {path}: {exc.strerror}") from None
