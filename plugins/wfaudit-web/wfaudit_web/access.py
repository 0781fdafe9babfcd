"""Who may read what: bearer tokens configured by the operator, each bound to a tenant.

Tokens are never written in a settings file: the file names the environment
variable that holds each one::

    [tool.wfaudit.web]
    tokens = [
        { name = "team-a", env = "WFAUDIT_WEB_TOKEN_TEAM_A", tenant = "team-a" },
        { name = "ops",    env = "WFAUDIT_WEB_TOKEN_OPS" },   # no tenant: every tenant
    ]

``WFAUDIT_WEB_TOKEN`` alone also works: one token, bound to the tenant
``wfaudit serve --tenant`` names (every tenant without one). With no token at
all, the app serves no data.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from wfaudit_hookspecs import ConfigurationError

__all__ = ["DEFAULT_TOKEN_ENV", "Access", "Tokens"]

DEFAULT_TOKEN_ENV = "WFAUDIT_WEB_TOKEN"  # noqa: S105 - the name of a variable
MIN_TOKEN_LENGTH = 16


@attrs.frozen
class Access:
    """What a token grants: a name for logs, and the tenant it is bound to (None: all)."""

    name: str
    tenant: str | None = None


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
        """From ``[tool.wfaudit.web] tokens`` and ``WFAUDIT_WEB_TOKEN`` (bound to ``tenant``).

        :raises ConfigurationError: a malformed entry, a variable that is not set
            or holds a token too short to be one.
        """
        registry = cls()
        single = os.environ.get(DEFAULT_TOKEN_ENV)
        if single:
            registry.add(single, Access("default", tenant), source=DEFAULT_TOKEN_ENV)
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
            registry.add(value, Access(str(entry.get("name", variable)), bound), source=variable)
        return registry

    def add(self, token: str, access: Access, *, source: str = "a token") -> None:
        if len(token) < MIN_TOKEN_LENGTH:
            raise ConfigurationError(
                f"{source} is shorter than {MIN_TOKEN_LENGTH} characters: use a random token "
                "(python -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        self._by_digest[_digest(token)] = access

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
