"""Who may do what: bearer tokens configured by the operator, each bound to a
tenant and granted scopes.

Tokens are never written in a settings file: the file names the environment
variable that holds each one::

    [tool.wfaudit.web]
    tokens = [
        { name = "team-a", env = "WFAUDIT_WEB_TOKEN_TEAM_A", tenant = "team-a" },
        { name = "ops",    env = "WFAUDIT_WEB_TOKEN_OPS" },   # no tenant: every tenant
        { name = "ci", env = "WFAUDIT_CI_TOKEN", tenant = "team-a", scopes = ["write"] },
    ]

The scopes are ``read`` (the pages and the reading API; the default),
``write`` (triggers, outcomes, CloudEvents) and ``retrigger`` (restored
requests, which carry secrets). No scope implies another: a token that should
read and write lists both.

``WFAUDIT_WEB_TOKEN`` (``read``), ``WFAUDIT_INGEST_TOKEN`` (``write``) and
``WFAUDIT_RETRIGGER_TOKEN`` (``retrigger``) also work alone: each one token,
bound to the tenant ``wfaudit serve --tenant`` names (every tenant without
one). The same token in two of them gets both scopes. With no token at all,
the app serves no data.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from wfaudit_hookspecs import ConfigurationError

__all__ = [
    "DEFAULT_TOKEN_ENV",
    "INGEST_TOKEN_ENV",
    "RETRIGGER_TOKEN_ENV",
    "SCOPES",
    "Access",
    "Tokens",
]

DEFAULT_TOKEN_ENV = "WFAUDIT_WEB_TOKEN"  # noqa: S105 - the name of a variable
INGEST_TOKEN_ENV = "WFAUDIT_INGEST_TOKEN"  # noqa: S105 - the name of a variable
RETRIGGER_TOKEN_ENV = "WFAUDIT_RETRIGGER_TOKEN"  # noqa: S105 - the name of a variable
MIN_TOKEN_LENGTH = 16

READ, WRITE, RETRIGGER = "read", "write", "retrigger"
SCOPES = (READ, WRITE, RETRIGGER)
"""Every scope a token may be granted; none implies another."""

_SINGLE_TOKENS = (
    (DEFAULT_TOKEN_ENV, READ),
    (INGEST_TOKEN_ENV, WRITE),
    (RETRIGGER_TOKEN_ENV, RETRIGGER),
)


def _scope_set(scopes: Iterable[str]) -> frozenset[str]:
    return frozenset(scopes)


@attrs.frozen
class Access:
    """What a token grants: a name for logs, the tenant it is bound to (None: all)
    and its scopes (``read`` unless told)."""

    name: str
    tenant: str | None = None
    scopes: frozenset[str] = attrs.field(default=frozenset({READ}), converter=_scope_set)

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@attrs.define
class Tokens:
    """The configured tokens, kept as SHA-256 digests only."""

    _by_digest: dict[bytes, Access] = attrs.field(factory=dict, alias="by_digest", repr=False)

    @classmethod
    def of(cls, tokens: Mapping[str, Access]) -> Tokens:
        """From ``{token: access}`` (tests, embedding)."""
        registry = cls()
        for token, access in tokens.items():
            registry.add(token, access)
        return registry

    @classmethod
    def from_settings(cls, options: Mapping[str, Any], *, tenant: str | None = None) -> Tokens:
        """From ``[tool.wfaudit.web] tokens`` and ``WFAUDIT_WEB_TOKEN``,
        ``WFAUDIT_INGEST_TOKEN``, ``WFAUDIT_RETRIGGER_TOKEN`` (bound to ``tenant``).

        :raises ConfigurationError: a malformed entry, a variable that is not set
            or holds a token too short to be one, an unknown scope.
        """
        registry = cls()
        for variable, scope in _SINGLE_TOKENS:
            single = os.environ.get(variable)
            if single:
                name = "default" if scope == READ else scope
                registry.add(single, Access(name, tenant, frozenset({scope})), source=variable)
        table = options.get("web", {})
        if not isinstance(table, Mapping):
            raise ConfigurationError("[tool.wfaudit.web] must be a table")
        entries = table.get("tokens", [])
        if not isinstance(entries, list):
            raise ConfigurationError("web.tokens must be a list of tables")
        for number, entry in enumerate(entries, 1):
            if not isinstance(entry, Mapping) or not isinstance(entry.get("env"), str):
                raise ConfigurationError(f'web.tokens entry {number} needs env = "VARIABLE"')
            variable = entry["env"]
            bound = entry.get("tenant")
            if bound is not None and not isinstance(bound, str):
                raise ConfigurationError(f"web.tokens entry {number}: tenant must be a string")
            value = os.environ.get(variable)
            if not value:
                raise ConfigurationError(
                    f"web.tokens entry {number} names {variable}, which is not set"
                )
            scopes = _scopes(entry.get("scopes", [READ]), number)
            name = str(entry.get("name", variable))
            registry.add(value, Access(name, bound, scopes), source=variable)
        return registry

    def add(self, token: str, access: Access, *, source: str = "a token") -> None:
        """Grant ``access`` to ``token``; a token given twice gets both grants' scopes
        (the same tenant binding is required: a token is bound to one tenant).

        :raises ConfigurationError: too short, or bound to two tenants.
        """
        if len(token) < MIN_TOKEN_LENGTH:
            raise ConfigurationError(
                f"{source} is shorter than {MIN_TOKEN_LENGTH} characters: use a random token "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        digest = _digest(token)
        known = self._by_digest.get(digest)
        if known is not None:
            if known.tenant != access.tenant:
                raise ConfigurationError(
                    f"{source} holds a token already configured for another tenant: "
                    "a token is bound to one tenant"
                )
            access = attrs.evolve(access, scopes=known.scopes | access.scopes)
        self._by_digest[digest] = access

    def __bool__(self) -> bool:
        return bool(self._by_digest)

    def names(self) -> Iterable[str]:
        return (access.name for access in self._by_digest.values())

    def check(self, token: str | None) -> Access | None:
        """The access a presented token grants, or None."""
        if not token:
            return None
        wanted = _digest(token)
        found = None
        for digest, access in self._by_digest.items():  # compare them all, in constant time
            if hmac.compare_digest(digest, wanted):
                found = access
        return found


def _scopes(value: Any, number: int) -> frozenset[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConfigurationError(f"web.tokens entry {number}: scopes must be a list of strings")
    unknown = sorted(set(value) - set(SCOPES))
    if unknown:
        raise ConfigurationError(
            f"web.tokens entry {number}: unknown scope(s) {', '.join(unknown)}; "
            f"the scopes are {', '.join(SCOPES)}"
        )
    if not value:
        raise ConfigurationError(f"web.tokens entry {number}: scopes must name at least one")
    return frozenset(value)
