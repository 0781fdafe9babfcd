"""Passwords given to commands in scripts, behind the needle each detector needs."""

from __future__ import annotations

import re
from collections.abc import Callable

from .findings import Finding
from .values import is_literal

__all__ = ["FLAG_DETECTORS", "SQL_RULES", "sql_findings"]

_SEGMENT_SPLIT = re.compile(r"[\r\n;|&]+")
_MYSQL = re.compile(r"(?:^|[\s/])(?:mysql|mysqldump|mysqladmin|mariadb|mariadb-dump)(?:\s|$)")
_LOGIN = re.compile(
    r"(?:^|[\s/])(?:sshpass|login|mongo|mongosh|mongodump|mongorestore|mongoexport|mongoimport)"
    r"(?:\s|$)"
)
_SHORT_P = re.compile(r"(?:^|\s)-p(?P<glued>\S*)(?:\s+(?P<next>\"[^\"]*\"|'[^']*'|\S+))?")
_USER_COLON = re.compile(
    r"(?:^|\s)(?:-u|--user|--proxy-user)(?:\s+|=)[\"']?[^\s:\"']+:(?P<s>[^\s\"']+)"
)
_REDIS_A = re.compile(r"(?:^|\s)redis-cli\b[^\n]*?\s-a\s+(?P<s>\"[^\"]*\"|'[^']*'|\S+)")
_SQLCMD_P = re.compile(r"(?:^|\s)sqlcmd\b[^\n]*?\s-P\s+(?P<s>\"[^\"]*\"|'[^']*'|\S+)")
_OPENSSL_PASS = re.compile(r"-pass(?:in|out|word|phrase)?\s+pass:(?P<s>[^\s\"']+)")
_STDIN = re.compile(
    r"(?:echo|printf)\s+(?:-[neE]+\s+|['\"]%s['\"]\s+)*(?P<q>[\"']?)(?P<s>[^\s\"'|]+)(?P=q)"
    r"\s*\|[^\n|]*--password-stdin"
)


def _regex_detector(
    pattern: re.Pattern[str], rule: str = "embedded:cli-flag"
) -> Callable[[str], list[Finding]]:
    def detect(text: str) -> list[Finding]:
        out: list[Finding] = []
        for match in pattern.finditer(text):
            out.extend(_literal(text, *match.span("s"), rule))
        return out

    return detect


def _short_p(text: str) -> list[Finding]:
    out: list[Finding] = []
    position = 0
    for segment in _SEGMENT_SPLIT.split(text):
        offset = text.find(segment, position)
        position = offset + len(segment)
        if "-p" not in segment:
            continue
        mysql = _MYSQL.search(segment) is not None
        login = _LOGIN.search(segment) is not None
        if not (mysql or login):
            continue
        for match in _SHORT_P.finditer(segment):
            if match.group("glued"):
                if mysql:  # mysql -pSECRET (with a space, -p prompts)
                    out.extend(
                        _literal(text, offset + match.start("glued"), offset + match.end("glued"))
                    )
            elif login and match.group("next"):
                out.extend(_literal(text, offset + match.start("next"), offset + match.end("next")))
    return out


def _literal(text: str, start: int, end: int, rule: str = "embedded:cli-flag") -> list[Finding]:
    if end - start >= 2 and text[start] == text[end - 1] and text[start] in "\"'":
        start, end = start + 1, end - 1
    if end > start and is_literal(text[start:end]):
        return [Finding(start, end, rule)]
    return []


_NETRC = re.compile(r"\bmachine\s+\S+\s+(?:login\s+\S+\s+)?(?:password|account)\s+(?P<s>[^\s\"']+)")
_USER_COLON_FINDINGS = _regex_detector(_USER_COLON)

FLAG_DETECTORS: tuple[tuple[str, Callable[[str], list[Finding]]], ...] = (
    ("-p", _short_p),
    ("-u", _USER_COLON_FINDINGS),
    ("--user", _USER_COLON_FINDINGS),
    ("--proxy-user", _USER_COLON_FINDINGS),
    ("redis-cli", _regex_detector(_REDIS_A)),
    ("sqlcmd", _regex_detector(_SQLCMD_P)),
    ("pass:", _regex_detector(_OPENSSL_PASS)),
    ("password-stdin", _regex_detector(_STDIN)),
    ("machine", _regex_detector(_NETRC, "embedded:assignment")),
)
"""Passwords given to commands, each behind the needle that must be in the string:
``mysql -pSECRET``, ``sshpass -p S``, ``docker login -u u -p S``, ``curl -u user:S``,
``redis-cli -a S``, ``sqlcmd -P S``, ``openssl ... -passin pass:S`` and
``echo S | docker login --password-stdin`` and ``.netrc`` lines
(``machine h login u password S``)."""


SQL_RULES = ("embedded:sql-password",)

_SQL_PASSWORD = re.compile(
    r"""(?<![\w.$\-])(?:(?:ENCRYPTED\s+|UNENCRYPTED\s+)?PASSWORD(?:\s+FOR\s+\S+)?"""
    r"""|IDENTIFIED(?:\s+WITH\s+\S+)?\s+BY(?:\s+PASSWORD)?)"""
    r"""(?:\s*=\s*|\s+)(?:(?:OLD_)?PASSWORD\s*\(\s*)?"""
    r"""(?:[EeNn]?'(?P<sq>(?:[^'\\]|''|\\.)*)'|"(?P<dq>(?:[^"\\]|""|\\.)*)"|(?P<word>[^\s;'"(),]+))""",
    re.IGNORECASE,
)
_SQL_KEYWORDS = frozenset(
    {"null", "expire", "valid", "password", "by", "values", "with", "default", "random"}
)


def sql_findings(text: str, _positions: object = ()) -> list[Finding]:
    """A password set in SQL: ``ALTER USER u PASSWORD '...'``, ``CREATE ROLE r WITH
    ENCRYPTED PASSWORD '...'``, ``IDENTIFIED BY '...'`` (MySQL, Oracle, also
    ``IDENTIFIED WITH plugin BY``), ``SET PASSWORD FOR u = PASSWORD('...')``.
    An unquoted value counts only after ``IDENTIFIED BY`` (Oracle)."""
    out: list[Finding] = []
    for match in _SQL_PASSWORD.finditer(text):
        group = "sq" if match.group("sq") is not None else "dq"
        if match.group(group) is None:
            if not match.group(0).upper().lstrip().startswith("IDENTIFIED"):
                continue
            group = "word"
            if match.group("word").lower() in _SQL_KEYWORDS:
                continue
        start, end = match.span(group)
        if end > start and is_literal(text[start:end]):
            out.append(Finding(start, end, "embedded:sql-password"))
    return out
