"""Credentials in URLs: ``scheme://user:PASSWORD@host``, a token as the user name,
Sentry DSN keys, and the secret path of chat webhook URLs."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import unquote

from .findings import Finding
from .values import is_literal

__all__ = ["URL_RULES", "WEBHOOK_RULES", "TokenTest", "url_findings"]

_AUTHORITY = re.compile(r"[^/\s\"'<>`()\[\]{}\\|^]*")
"""Up to the path. ``?`` and ``#`` are allowed: unencoded, they appear in passwords
(``https://u:p#ss@host``) more often than in the query of a path-less URL."""
_PATH = re.compile(r"[^?#\s\"'<>`]*")
_HEX32 = re.compile(r"[0-9a-f]{32}")

_WEBHOOKS: tuple[tuple[str, str, str], ...] = (
    # (host suffix, path prefix, rule): the path after the prefix is the secret.
    ("hooks.slack.com", "/services/", "pattern:slack-webhook"),
    ("hooks.slack.com", "/workflows/", "pattern:slack-webhook"),
    ("hooks.slack.com", "/triggers/", "pattern:slack-webhook"),
    ("discord.com", "/api/webhooks/", "pattern:discord-webhook"),
    ("discordapp.com", "/api/webhooks/", "pattern:discord-webhook"),
    ("webhook.office.com", "/webhookb2/", "pattern:teams-webhook"),
    ("outlook.office.com", "/webhook/", "pattern:teams-webhook"),
    ("outlook.office365.com", "/webhook/", "pattern:teams-webhook"),
)

URL_RULES = ("embedded:url-password", "embedded:url-token")
WEBHOOK_RULES = (*sorted({rule for _, _, rule in _WEBHOOKS}), "pattern:sentry-dsn")


def url_findings(text: str, positions: Iterable[int], *, token_test: TokenTest) -> list[Finding]:
    """Credentials in URLs: ``scheme://user:PASSWORD@host``, a token as the user
    (``https://TOKEN@github.com``), Sentry DSN keys, and chat webhook URLs.

    :param positions: where ``://`` occurs in ``text``.
    :param token_test: tells whether a user name is a credential (a known format
        or a random-looking token).
    """
    out: list[Finding] = []
    for colon in positions:
        start = colon + 3
        authority = _AUTHORITY.match(text, start)
        if authority is None:
            continue
        end = authority.end()
        at = text.rfind("@", start, end)
        host_start = start
        if at > start:
            host_start = at + 1
            out.extend(_userinfo(text, start, at, text[host_start:end], token_test))
        host = re.split(r"[:?#]", text[host_start:end], maxsplit=1)[0].lower()
        path = _PATH.match(text, end)
        if path is not None and path.end() > end:
            out.extend(_webhook(host, text, end, path.end()))
    return out


class TokenTest(Protocol):
    """What :func:`url_findings` asks about a user name: is it a credential?"""

    def rule(self, text: str) -> str | None:
        """The rule that takes ``text`` for a credential, or None."""
        ...


def _userinfo(text: str, start: int, at: int, host: str, test: TokenTest) -> list[Finding]:
    userinfo = text[start:at]
    colon = userinfo.find(":")
    if colon >= 0:
        password = userinfo[colon + 1 :]
        # A %-encoded password (app:%2AAb%40cd@db) is literal: an escape is not a
        # %VARIABLE%, and an encoded "$" or "/" is no expansion or file name. The
        # copy search looks for both forms.
        plain = unquote(password) if "%" in password else password
        if (len(plain) >= 3 and plain != password) or is_literal(password):
            return [Finding(start + colon + 1, at, "embedded:url-password")]
        return []
    if "sentry" in host and _HEX32.fullmatch(userinfo):
        return [Finding(start, at, "pattern:sentry-dsn")]
    if len(userinfo) >= 16 and is_literal(userinfo):
        rule = test.rule(userinfo)
        if rule is not None:
            return [Finding(start, at, rule)]
    return []


def _webhook(host: str, text: str, start: int, end: int) -> list[Finding]:
    for suffix, prefix, rule in _WEBHOOKS:
        if (host == suffix or host.endswith("." + suffix)) and text.startswith(prefix, start):
            secret_start = start + len(prefix)
            if end - secret_start >= 8:
                return [Finding(secret_start, end, rule)]
    return []
