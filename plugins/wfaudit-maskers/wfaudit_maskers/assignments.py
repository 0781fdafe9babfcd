"""Assignments in strings: a secret name, then its value.

``export DB_PASSWORD=...``, ``--password=...``, ``-Dpassword=...``,
``Authorization: Bearer ...``, ``PRIVATE-TOKEN: ...``, ``?access_token=...``,
``//registry.npmjs.org/:_authToken=...``, ``npm config set ... VALUE``, and JSON or
YAML held in a string. Names are classified by the masker's own
:class:`~.names.NameClassifier`, so ``token_expiry=3600`` and ``passwordless: true``
stay, as they do as keys. Also bare ``Bearer <token>`` / ``Basic <base64>``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .findings import Finding
from .names import NameClassifier, compact
from .values import is_literal, is_public_key

__all__ = ["ASSIGNMENT_RULES", "AssignmentDetector", "bearer_findings", "looks_like_flag"]

_NAME_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
_NAME_TAIL = re.compile(r"[A-Za-z0-9_.\-]*")
_BEFORE_NAME = frozenset(" \t\r\n\"'`;&|?({[,:!=")
"""What may stand before an assigned name (``export X=``, ``?token=``, ``{"k":``,
``--from-literal=password=``);
after ``/``, ``$`` or ``@`` a name is a path, a variable use or an address."""
_OPERATOR = re.compile(r"[ \t]*(:=|=>|=|:)")
_SPACES = re.compile(r"[ \t]*")
_DOUBLE_QUOTED = re.compile(r'"((?:[^"\\\n]|\\.)*)"')
_SINGLE_QUOTED = re.compile(r"'([^'\n]*)'")
_SHELL_WORD = re.compile(r"[^\s;&|\"'`<>()]+")
_LINE_REST = re.compile(r"[^\r\n\"'`]+")
_NEXT_ASSIGNMENT = re.compile(r",[A-Za-z_][\w.\-]*=")
_VALUE_KEY = re.compile(r"[\"']?(?P<v>[Vv]alue)[\"']?[ \t]*:[ \t]*")
_BEFORE_VALUE_KEY = frozenset(" \t\n{,\"'-")
_FLOW_PLAIN = re.compile(r"[^,}\]\n#]*")
_LABEL = re.compile(
    r"""(?:^|(?<=[{,\s]))["']?(?:name|key|Name|Key)["']?[ \t]*:[ \t]*"""
    r"""(?:"(?P<dq>[^"\n]*)"|'(?P<sq>[^'\n]*)'|(?P<plain>[^,}\s"'#]+))"""
)
_ANCHOR = re.compile(r"&[\w.\-]+[ \t]*")
_ALIAS = re.compile(r"\*([\w.\-]+)[ \t]*(?:#[^\n]*)?(?:\r?\n|$)")
_BLOCK_SCALAR = re.compile(r"[|>](?:[-+]?[1-9]?|[1-9][-+])[ \t]*(?:#[^\n]*)?(?:\r?\n|$)")
_LINE_KEY = re.compile(r"[ \t]*(?:-[ \t]+)*(?P<key>[\"']?[\w.\-]+[\"']?[ \t]*:)")
_NESTED_MAPPING = re.compile(r"(?:-[ \t]+)?[\w.\-\"']+[ \t]*:(?:[ \t]|$)|-[ \t]|\[|\{")
_SCHEME = re.compile(
    r"(?:bearer|basic|token|digest|bot|oauth|apikey|api-key|key|ssws|negotiate|ntlm)[ \t]+",
    re.IGNORECASE,
)
_CONFIG_SET = re.compile(
    r"\bconfig\s+(?:set\s+)?(?:--?[\w-]+\s+)*(?P<name>[\w./:@-]+)\s+"
    r"(?P<q>[\"']?)(?P<s>[^\s\"']+)(?P=q)"
)
_FLAG_SECRETS = frozenset(
    {"storepass", "keypass", "srcstorepass", "deststorepass", "srckeypass", "destkeypass"}
)
"""keytool's password flags, glued words the name classifier rightly keeps whole."""


_CONNECTION_PASSWORDS = frozenset({"pwd", "pass", "passwd"})
"""ODBC and ADO.NET spell the password ``PWD`` (a name the rules keep elsewhere:
the shell's working directory)."""


def _connection_password(text: str, start: int, end: int, key: str) -> bool:
    # Only in a connection string: NAME=value pairs separated by semicolons.
    if compact(key) not in _CONNECTION_PASSWORDS or not text.startswith("=", end):
        return False
    return ";" in text[max(0, start - 1) : start] or ";" in text[end : end + 200].split("\n", 1)[0]


class AssignmentDetector:
    """``NAME=value``, ``NAME: value``, ``"name": "value"``, ``--name value`` and
    ``<name>value</name>``, where NAME is a secret by the masker's name rules.

    ``export DB_PASSWORD=...``, ``--password=...``, ``-Dpassword=...``,
    ``Authorization: Bearer ...``, ``PRIVATE-TOKEN: ...``, ``?access_token=...``,
    ``//registry.npmjs.org/:_authToken=...`` and JSON or YAML held in a string
    all come here. Names are classified by the same :class:`NameClassifier` as
    keys, so ``token_expiry=3600`` and ``passwordless: true`` stay.
    """

    def __init__(self, names: NameClassifier) -> None:
        self.names = names

    def find(self, text: str, hits: Iterable[int]) -> list[Finding]:
        """Findings for the names around ``hits`` (positions of keyword needles)."""
        out: list[Finding] = []
        seen: set[int] = set()
        for hit in hits:
            start = hit
            while start > 0 and text[start - 1] in _NAME_CHARS:
                start -= 1
            if start in seen:
                continue
            seen.add(start)
            match = _NAME_TAIL.match(text, hit)
            end = match.end() if match else hit
            finding = self._assignment(text, start, end)
            if finding is not None:
                out.append(finding)
        return out

    def _assignment(self, text: str, start: int, end: int) -> Finding | None:
        before = text[start - 1] if start else " "
        if before not in _BEFORE_NAME and before != "<" and before != "-":
            return None
        name = text[start:end]
        flag = name.startswith("-")
        key = name.lstrip("-")
        if flag and key.startswith("D") and len(key) > 1:
            key = key[1:]  # a Java system property: -Dpassword=...
        if not key or not (
            self.secret_name(key, flag=flag) or _connection_password(text, start, end, key)
        ):
            return None
        quoted_name = before in "\"'" and text.startswith(before, end)
        cursor = end + 1 if quoted_name else end
        if before == "<" and text.startswith(">", cursor):
            close = text.find("<", cursor + 1)
            return self._value(text, cursor + 1, close if close >= 0 else len(text), name)
        operator = _OPERATOR.match(text, cursor)
        if operator is None:
            if flag:  # --password VALUE
                gap = _SPACES.match(text, cursor)
                if gap is not None and gap.end() > cursor:
                    return self._word(text, gap.end(), name, flag=True)
            return None
        op = operator.group(1)
        after = operator.end()
        gap = _SPACES.match(text, after)
        value_start = gap.end() if gap is not None else after
        if op == ":":
            # YAML and headers put a space after the colon; JSON quotes the key.
            # Anything else ("image-token:v1", "secret:latest") is not a mapping.
            if (
                value_start == after
                and not quoted_name
                and not text.startswith(("\n", "\r\n"), value_start)
            ):
                return None
            column = start - (text.rfind("\n", 0, start) + 1) - (1 if quoted_name else 0)
            return self._yaml_value(text, value_start, name, column)
        spaced = value_start > after or operator.start(1) > cursor
        if spaced and not flag:
            return self._rest_of_line(text, value_start, name)  # INI: password = a b c
        return self._word(text, value_start, name, flag=flag)

    def config_set(self, text: str, _positions: Iterable[int] = ()) -> list[Finding]:
        """``npm config set //registry/:_authToken VALUE``, ``yarn config set npmAuthToken V``,
        ``git config --global http.password V``: a name and its value given as two words."""
        out: list[Finding] = []
        for match in _CONFIG_SET.finditer(text):
            name = re.split(r"[:/]", match.group("name"))[-1]
            if name and self.secret_name(name.lstrip("_"), flag=False):
                start, end = match.span("s")
                if is_literal(text[start:end]):
                    out.append(Finding(start, end, "embedded:assignment"))
        return out

    def pairs(self, text: str, hits: Iterable[int]) -> list[Finding]:
        """``{name: DB_PASSWORD, value: ...}`` held in a string (a manifest's env
        list, a JSON array of containers): the sibling ``name`` (or ``key``)
        decides, as it does for the structured form.

        :param hits: positions of ``value`` (any case) in ``text``.
        """
        out: list[Finding] = []
        for hit in hits:
            if hit > 0 and text[hit - 1] not in _BEFORE_VALUE_KEY:
                continue
            quote = hit > 0 and text[hit - 1] in "\"'"
            key = _VALUE_KEY.match(text, hit - 1 if quote else hit)
            if key is None or key.start("v") != hit:
                continue
            value_start = key.end()
            brace = _enclosing_flow(text, hit)
            if brace is not None:
                label = _flow_label(text, *brace)
                if label is None or not self.secret_name(label, flag=False):
                    continue
                quoted = self._quoted(text, value_start)
                if quoted is not None:
                    finding = self._value(text, quoted[0], quoted[1], label)
                else:
                    plain = _FLOW_PLAIN.match(text, value_start, brace[1])
                    finding = (
                        self._value(
                            text, value_start, value_start + len(plain.group().rstrip()), label
                        )
                        if plain is not None and plain.group().strip()
                        else None
                    )
            else:
                line_start = text.rfind("\n", 0, hit) + 1
                column = (
                    hit
                    - line_start
                    - (1 if text[hit - 1 : hit] in "\"'" and hit > line_start else 0)
                )
                label = _block_label(text, line_start, column)
                if label is None or not self.secret_name(label, flag=False):
                    continue
                finding = self._yaml_value(text, value_start, label, column)
            if finding is not None:
                out.append(finding)
        return out

    def secret_name(self, key: str, *, flag: bool) -> bool:
        """Whether a name found in a string (``DB_PASSWORD``, ``--token``) holds a secret."""
        if flag and compact(key) in _FLAG_SECRETS:
            return True
        name = self.names.classify(key)
        return name.secret and not name.allowed

    def _word(self, text: str, start: int, name: str, *, flag: bool) -> Finding | None:
        quoted = self._quoted(text, start)
        if quoted is not None:
            return self._value(text, quoted[0], quoted[1], name)
        word = _SHELL_WORD.match(text, start)
        if word is None:
            return None
        end = word.end()
        # --set a.password=x,b.user=y: a comma starts the next assignment.
        more = _NEXT_ASSIGNMENT.search(text, start, end)
        if more is not None:
            end = more.start()
        if flag and looks_like_flag(text[start:end]):
            return None  # the next flag, not a value
        return self._value(text, start, end, name)

    def _rest_of_line(self, text: str, start: int, name: str) -> Finding | None:
        quoted = self._quoted(text, start)
        if quoted is not None:
            return self._value(text, quoted[0], quoted[1], name)
        rest = _LINE_REST.match(text, start)
        if rest is None:
            return None
        value = rest.group()
        comment = value.find(" #")
        if comment >= 0:
            value = value[:comment]
        value = value.rstrip(" \t,;}]")
        return self._value(text, start, start + len(value), name)

    def _yaml_value(
        self, text: str, start: int, name: str, column: int, *, alias: bool = True
    ) -> Finding | None:
        """The value of ``name:`` at ``start`` in YAML (or a header, or JSON): a
        scalar on the line, a block scalar (``|``, ``>-``) on the lines below, or
        through an anchor (``&pw value``) or an alias (``*pw``) to its anchor."""
        anchor = _ANCHOR.match(text, start)
        if anchor is not None:
            start = anchor.end()  # &pw value: the anchor's name is not the secret
        elif alias:
            used = _ALIAS.match(text, start)
            if used is not None:
                return self._anchored(text, used.group(1), name)
        if _BLOCK_SCALAR.match(text, start) is not None:
            return self._block(text, start, name, column, literal=True)
        if text.startswith(("\n", "\r"), start):
            return self._block(text, start, name, column, literal=False)
        return self._rest_of_line(text, start, name)

    def _block(
        self, text: str, start: int, name: str, column: int, *, literal: bool
    ) -> Finding | None:
        # The lines below indented deeper than the key; a line at the key's
        # column or left of it ends the value.
        position = text.find("\n", start)
        first = last = -1
        while 0 <= position < len(text):
            line_start = position + 1
            line_end = text.find("\n", line_start)
            if line_end < 0:
                line_end = len(text)
            line = text[line_start:line_end].rstrip("\r")
            content = line.lstrip(" \t")
            if content:
                if len(line) - len(content) <= column:
                    break
                if first < 0:
                    first = line_start + len(line) - len(content)
                last = line_start + len(line.rstrip(" \t"))
            position = line_end if line_end < len(text) else -1
        if first < 0 or last <= first:
            return None
        if not literal and _NESTED_MAPPING.match(text, first):
            return None  # a nested mapping or list (password:\n  file: x), not a scalar
        return self._value(text, first, last, name)

    def _anchored(self, text: str, anchor: str, name: str) -> Finding | None:
        # password: *pw -> the value given where the anchor &pw was defined.
        for match in re.finditer(rf"&{re.escape(anchor)}(?![\w.\-])[ \t]*", text):
            line_start = text.rfind("\n", 0, match.start()) + 1
            key = _LINE_KEY.match(text, line_start, match.start())
            column = (key.start("key") - line_start) if key is not None else 0
            found = self._yaml_value(text, match.end(), name, column, alias=False)
            if found is not None:
                return found
        return None

    @staticmethod
    def _quoted(text: str, start: int) -> tuple[int, int] | None:
        if text.startswith('"', start):
            match = _DOUBLE_QUOTED.match(text, start)
        elif text.startswith("'", start):
            match = _SINGLE_QUOTED.match(text, start)
        else:
            return None
        return match.span(1) if match is not None else None

    @staticmethod
    def _value(text: str, start: int, end: int, name: str) -> Finding | None:
        scheme = _SCHEME.match(text, start, end)
        lowered = name.lower()
        header = "authorization" in lowered
        if scheme is not None:
            start = scheme.end()
            header = True
        if end <= start or not is_literal(text[start:end]) or is_public_key(text[start:end]):
            return None
        if header:
            rule = "embedded:auth-header"
        elif name.startswith("-"):
            rule = "embedded:cli-flag"
        elif lowered == "auth":
            rule = "embedded:docker-auth"  # {"auths": {"registry": {"auth": "dXNlcjpw..."}}}
        else:
            rule = "embedded:assignment"
        return Finding(start, end, rule)


def _label_of(match: re.Match[str] | None) -> str | None:
    if match is None:
        return None
    return match.group("dq") or match.group("sq") or match.group("plain")


def _enclosing_flow(text: str, position: int) -> tuple[int, int] | None:
    """``(open, close)`` of the ``{...}`` (flow YAML, JSON) holding ``position``, when
    it holds no other braces (pairs hold scalars)."""
    opened = text.rfind("{", 0, position)
    if opened < 0 or text.rfind("}", opened, position) >= 0:
        return None
    # JSON spread over lines is fine; a YAML block under a brace is not flow.
    if text.find("\n", opened, position) >= 0 and _LINE_HAS_BLOCK_KEY.search(
        text, opened, position
    ):
        return None
    closed = text.find("}", position)
    if closed < 0 or text.find("{", position, closed) >= 0:
        return None
    return opened, closed


_LINE_HAS_BLOCK_KEY = re.compile(r"\n[ \t]*-[ \t]+\w+:")


def _flow_label(text: str, start: int, end: int) -> str | None:
    return _label_of(_LABEL.search(text, start + 1, end))


def _block_label(text: str, line_start: int, column: int) -> str | None:
    """The ``name:`` (or ``key:``) sibling of a block-YAML key at ``column``: the
    lines of the same mapping above and below, at the same column."""
    for direction in (-1, 1):
        position = line_start
        while True:
            if direction < 0:
                if position == 0:
                    break
                end = position - 1
                position = text.rfind("\n", 0, end) + 1
            else:
                nxt = text.find("\n", position)
                if nxt < 0:
                    break
                position = nxt + 1
                end = text.find("\n", position)
                end = len(text) if end < 0 else end
            line = text[position:end]
            content = line.lstrip(" \t")
            if not content or content.startswith("#"):
                continue
            indent = len(line) - len(content)
            key = _LINE_KEY.match(line)
            key_column = key.start("key") if key is not None else indent
            if key_column < column or (
                direction > 0 and content.startswith("-") and indent < column
            ):
                break  # left the mapping (a parent, or the next list item)
            if key_column == column:
                label = _label_of(_LABEL.match(line, key_column))
                if label is not None:
                    return label
            if direction < 0 and content.startswith("-") and key_column == column:
                break  # the first line of this list item
    return None


_FLAG = re.compile(r"--?[a-z0-9][a-z0-9_.\-]*(?:=.*)?|-[A-Za-z0-9]", re.DOTALL)


def looks_like_flag(word: str) -> bool:
    """Whether a word after ``--password`` is the next flag (``--verbose``, ``-v``), not
    a password that starts with a dash (``-jBvEPMBLJexp3Ooin``)."""
    return word.startswith("-") and _FLAG.fullmatch(word) is not None


ASSIGNMENT_RULES = (
    "embedded:assignment",
    "embedded:auth-header",
    "embedded:cli-flag",
    "embedded:docker-auth",
)


_BEARER = re.compile(r"\b(?:bearer|basic)[ \t]+(?P<s>[A-Za-z0-9\-._~+/]{8,}=*)", re.IGNORECASE)


def bearer_findings(text: str) -> list[Finding]:
    """``Bearer <token>`` and ``Basic <base64>`` wherever they stand (a header given
    without its name, a token in a script)."""
    out: list[Finding] = []
    for match in _BEARER.finditer(text):
        start, end = match.span("s")
        if is_literal(text[start:end]) and any(c.isdigit() for c in text[start:end]):
            out.append(Finding(start, end, "embedded:auth-header"))
    return out
