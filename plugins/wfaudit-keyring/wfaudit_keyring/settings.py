"""The restorer's options: the ``[tool.wfaudit.restore]`` table.

.. code-block:: toml

    [tool.wfaudit.restore]
    keyring_service = "wfaudit"      # optional: look unmapped secrets up as (service, key)
    profiles = ["devtron"]           # the default: Devtron snapshots by convention

    [tool.wfaudit.restore.keyring]   # pointer (or pattern) = "service/username"
    "/dockerPassword" = "ci-registry/robot"
    "/ciProjectDetails/*/gitOptions/accessToken" = "github/ci-bot"
    "/env/DEPLOY_TOKEN" = "deploy-{pipeline_id}/ci"

    [tool.wfaudit.restore.env]       # pointer (or pattern) = "VARIABLE"
    "/blobStorageS3Config/passkey" = "S3_PASSKEY"
    "/steps/0/script#31:57" = "DB_PASSWORD"

A key is a JSON pointer of a masked field, optionally followed by ``#start:end``
(the span of a secret inside a string, as ``wfaudit show`` lists it), or a
pattern: ``*`` matches within one pointer token, ``**`` across tokens, ``?``
one character. Targets may name ``{workflow_id}``, ``{workflow_type}``,
``{pipeline_id}`` and ``{tenant}`` of the snapshot being replayed.

A profile names, by a documented convention, where the secrets of one
orchestrator's snapshots are kept (:mod:`wfaudit_keyring.devtron`); it is tried
after the mappings and the masker's restore references, before
``keyring_service``. ``profiles = []`` turns the conventions off.

Unknown options and malformed entries are refused rather than ignored: a
misspelt table would leave a retrigger unable to find its secrets, with an
error pointing at the wrong place.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from wfaudit_hookspecs import ConfigurationError, SecretRequest, Snapshot

from . import devtron

__all__ = [
    "KINDS",
    "PLACEHOLDERS",
    "PROFILES",
    "TABLE",
    "Entry",
    "RestoreSettings",
    "Source",
]

TABLE = "restore"
"""The key of this plugin's table in the wfaudit settings."""

KINDS = ("keyring", "env")
"""The sources this plugin reads, as in :class:`~wfaudit_hookspecs.RestoreRef` kinds."""

PLACEHOLDERS = frozenset({"workflow_id", "workflow_type", "pipeline_id", "tenant"})
"""What a target may name, filled from the snapshot being replayed."""

PROFILES = (devtron.PROFILE,)
"""The restore profiles this plugin knows; all are on by default."""

_WHERE = f"[tool.wfaudit.{TABLE}]"
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SPAN = re.compile(r"#[0-9]+:[0-9]+")


@dataclass(frozen=True, slots=True)
class Source:
    """Where one secret is looked up: the keyring's ``(service, name)``, or the
    environment variable ``name`` (``service`` is empty).

    Both may hold ``{placeholders}``, filled by the restorer from the snapshot.

    :ivar origin: what chose this source, for log lines (never a value).
    """

    kind: str
    service: str
    name: str
    origin: str

    @classmethod
    def of(cls, kind: str, target: str, origin: str) -> Source:
        """A source from a target as configured: ``service/username`` or ``NAME``."""
        if kind == "keyring":
            service, _, name = target.rpartition("/")
            return cls(kind, service, name, origin)
        return cls(kind, "", target, origin)

    def describe(self) -> str:
        """``keyring service/name`` or ``env NAME``, for log lines."""
        return (
            f"{self.kind} {self.service}/{self.name}"
            if self.service
            else f"{self.kind} {self.name}"
        )


@dataclass(frozen=True, slots=True)
class Entry:
    """One configured entry: a pointer or pattern, and where its secret is kept."""

    key: str
    kind: str
    target: str
    pattern: re.Pattern[str] | None = None

    def matches(self, request: SecretRequest, single: bool) -> bool:
        """Whether this entry is for ``request``.

        A pointer without a span stands for a span request only when that string
        holds a single masked secret (``single``): with two, the span decides.
        """
        if self.pattern is not None:
            return self.pattern.fullmatch(request.key) is not None
        return self.key == request.key or (single and self.key == request.path)


@dataclass(frozen=True, slots=True)
class RestoreSettings:
    """Validated options of the keyring / environment restorer."""

    exact: tuple[Entry, ...] = ()
    patterns: tuple[Entry, ...] = ()
    keyring_service: str | None = None
    profiles: tuple[str, ...] = PROFILES

    @classmethod
    def build(
        cls,
        *,
        keyring: Mapping[str, Any] | None = None,
        env: Mapping[str, Any] | None = None,
        keyring_service: str | None = None,
        profiles: Any = PROFILES,
    ) -> RestoreSettings:
        """Validate options given in code or read from settings.

        :raises ConfigurationError: naming the entry and what is wrong with it.
        """
        entries = [
            *(_entry("keyring", key, target) for key, target in _table("keyring", keyring)),
            *(_entry("env", key, target) for key, target in _table("env", env)),
        ]
        if keyring_service is not None and (
            not isinstance(keyring_service, str) or not keyring_service.strip()
        ):
            raise ConfigurationError(f"{_WHERE} keyring_service: expected a non-empty string")
        return cls(
            exact=tuple(e for e in entries if e.pattern is None),
            patterns=tuple(e for e in entries if e.pattern is not None),
            keyring_service=keyring_service,
            profiles=_profiles(profiles),
        )

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> RestoreSettings:
        """Read and validate the ``restore`` table of the wfaudit settings (absent: defaults)."""
        table = settings.get(TABLE) if isinstance(settings, Mapping) else None
        if table is None:
            return cls()
        if not isinstance(table, Mapping):
            raise ConfigurationError(f"{_WHERE} must be a table, not {type(table).__name__}")
        unknown = sorted(
            str(key)
            for key in table
            if key not in ("keyring", "env", "keyring_service", "profiles")
        )
        if unknown:
            raise ConfigurationError(
                f"{_WHERE}: unknown option {', '.join(map(repr, unknown))}; "
                "the options are env, keyring, keyring_service, profiles"
            )
        return cls.build(**table)

    def sources(
        self, request: SecretRequest, *, single: bool, snapshot: Snapshot | None = None
    ) -> Iterator[Source]:
        """Where to look for ``request``'s secret, most specific first.

        Exact pointers, then patterns (in the order configured), then the restore
        reference the masker recorded, then the profile of the ``snapshot``'s
        adapter (its environment variables, then its keyring entries), then the
        default keyring service. The restorer takes the first source that has a
        value.
        """
        for entry in (*self.exact, *self.patterns):
            if entry.matches(request, single):
                yield Source.of(entry.kind, entry.target, f"{_WHERE}.{entry.kind} {entry.key!r}")
        ref = request.restore
        if ref is not None and ref.kind in KINDS:
            yield Source.of(ref.kind, _escape(ref.target), "the snapshot's restore reference")
        if (
            snapshot is not None
            and devtron.PROFILE in self.profiles
            and snapshot.manifest.adapter == devtron.ADAPTER
        ):
            names = devtron.names(snapshot, request)
            origin = f"the {devtron.PROFILE} profile"
            for name in names:
                yield Source("env", "", _escape(devtron.ENV_PREFIX + name), origin)
            for name in names:
                yield Source("keyring", devtron.KEYRING_SERVICE, _escape(name), origin)
        if self.keyring_service is not None:
            yield Source(
                "keyring",
                _escape(self.keyring_service),
                _escape(request.key),
                f"{_WHERE} keyring_service",
            )


def _profiles(value: object) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigurationError(f'{_WHERE} profiles: expected a list such as ["devtron"]')
    unknown = sorted(str(item) for item in value if item not in PROFILES)
    if unknown:
        raise ConfigurationError(
            f"{_WHERE} profiles: unknown profile {', '.join(map(repr, unknown))}; "
            f"known: {', '.join(PROFILES)}"
        )
    return tuple(dict.fromkeys(str(item) for item in value))


def _table(kind: str, value: object) -> list[tuple[str, Any]]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise ConfigurationError(
            f"{_WHERE}.{kind} must be a table of pointer = target, not {type(value).__name__}"
        )
    return list(value.items())


def _entry(kind: str, key: object, target: object) -> Entry:
    where = f"{_WHERE}.{kind} {key!r}"
    if not isinstance(key, str) or not key.startswith("/"):
        raise ConfigurationError(f"{where}: the key must be a JSON pointer starting with '/'")
    if not isinstance(target, str) or not target.strip():
        raise ConfigurationError(f"{where}: the target must be a non-empty string")
    _check_placeholders(where, target)
    if kind == "keyring":
        service, slash, username = target.rpartition("/")
        if not slash or not service or not username:
            raise ConfigurationError(f"{where}: a keyring target is 'service/username'")
    elif not _ENV_NAME.fullmatch(_strip_placeholders(target)):
        raise ConfigurationError(f"{where}: {target!r} is not an environment variable name")
    pointer, _, span = key.partition("#")
    glob = any(c in pointer for c in "*?") or any(c in span for c in "*?")
    if span and not glob and not _SPAN.fullmatch("#" + span):
        raise ConfigurationError(f"{where}: a span is written '#start:end'")
    return Entry(key=key, kind=kind, target=target, pattern=_glob(key) if glob else None)


def _glob(key: str) -> re.Pattern[str]:
    # ** crosses pointer tokens; * and ? stay inside one (not across "/" or "#").
    out: list[str] = []
    index = 0
    while index < len(key):
        if key.startswith("**", index):
            out.append(".*")
            index += 2
        elif key[index] == "*":
            out.append("[^/#]*")
            index += 1
        elif key[index] == "?":
            out.append("[^/#]")
            index += 1
        else:
            out.append(re.escape(key[index]))
            index += 1
    return re.compile("".join(out))


def _check_placeholders(where: str, target: str) -> None:
    try:
        fields = [name for _, name, _, _ in string.Formatter().parse(target) if name is not None]
    except ValueError as exc:
        raise ConfigurationError(f"{where}: bad placeholder in the target: {exc}") from None
    unknown = sorted(set(fields) - PLACEHOLDERS)
    if unknown:
        raise ConfigurationError(
            f"{where}: unknown placeholder {', '.join(map(repr, unknown))}; "
            f"use {', '.join(sorted(PLACEHOLDERS))}"
        )


def _strip_placeholders(target: str) -> str:
    return "".join(
        literal + ("X" if name is not None else "")
        for literal, name, _, _ in string.Formatter().parse(target)
    )


def _escape(text: str) -> str:
    # Targets from references and keys are literal: braces are not placeholders.
    return text.replace("{", "{{").replace("}", "}}")
