"""The string scanner: value patterns, embedded secrets, encoded variants and entropy.

The masker's walk hands over every string no name rule settled; the scanner
looks at all of them in one batch, because a few passes over one joined string
in C are much cheaper than many small passes in Python:

1. the strings are joined with NUL separators and encoded one byte per
   character (non-Latin-1 characters become ``?``, so offsets stay the same);
2. each detector's *needles* are searched in that buffer (``bytes.find``), in
   lower case for the case-insensitive ones; a hit is mapped back to its string
   by bisection, and only the strings with hits go to the detector;
3. *tokens*, runs of at least 16 token characters (letters, digits, ``_-.+/=~%``),
   are found on a translated copy of the buffer; each token is dispatched on its
   first two characters to the value patterns that start that way, then decoded
   (base64, %-escapes) and judged by entropy if nothing claimed it.

A string with no finding is remembered (bounded), so the scripts and commands
that every run of a pipeline repeats cost a dictionary look-up from the second
audit on. Strings holding secrets are never kept.
"""

from __future__ import annotations

import bisect
import itertools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

from . import embedded
from .encoded import ENCODED_RULES, b64_binary, b64_text, is_user_password, url_decoded, words
from .entropy import DEFAULT_MIN_LENGTH, looks_random
from .findings import Finding, family, merge
from .fold import FOLD
from .names import NameClassifier
from .patterns import CATALOG, ValuePattern

_FLAG_WORD = re.compile(r"--?[A-Za-z0-9][A-Za-z0-9_.\-]*")
"""A command-line flag's shape: ``--password``, ``-p``, ``--db.password``."""

__all__ = ["MIN_TEXT", "Batch", "Scan", "TextScanner", "text_rule_names"]

MIN_TEXT = 8
"""Strings shorter than this are not scanned: too short to hold a recognisable secret
(a name rule still sees them)."""

_MIN_RUN = 16
_MAX_DEPTH = 2
"""Decoded content is scanned again, at most this deep (base64 of base64 of a key)."""
_MAX_CACHE = 16384

_TOKEN_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-.+/=~%")
_CLASSES = bytes(0x61 if i in _TOKEN_BYTES else 0x20 for i in range(256))
_RUN = b"a" * _MIN_RUN
_HASH_BEFORE = re.compile(
    r"(?:sha\d{0,3}|md5|h1|digest|checksum|integrity|hash)[\s\"']*[:=@]?[\s\"']*\Z", re.IGNORECASE
)

Handler = Callable[[str, list[int]], list[Finding]]


class Scan:
    """What the scanner found in one string.

    :ivar findings: the secrets, merged and sorted.
    :ivar decoded: ``(start, end, text)`` of each encoded token whose decoded text
        was readable, for the copy search.
    :ivar takes_secret: whether the string, a command-line flag, is followed by a
        secret (see :meth:`Batch.flag_takes_secret`); None until asked.
    """

    __slots__ = ("_words", "decoded", "findings", "takes_secret")

    def __init__(
        self, findings: tuple[Finding, ...], decoded: tuple[tuple[int, int, str], ...]
    ) -> None:
        self.findings = findings
        self.decoded = decoded
        self._words: frozenset[str] | None = None
        self.takes_secret: bool | None = None

    def words(self, text: str) -> frozenset[str]:
        """The words of ``text`` (the string this scan is of), computed once."""
        if self._words is None:
            self._words = words(text)
        return self._words


class Batch:
    """The scans of one request's strings: the fresh ones, and the cache for the rest.

    :ivar texts: the request's distinct strings (a mapping used as an ordered set).
    :ivar fresh: the strings scanned for this request (the others were cached clean).
    """

    def __init__(self, scanner: TextScanner, texts: Mapping[str, object], fresh: dict[str, Scan]):
        self.scanner = scanner
        self.texts = texts
        self.fresh = fresh

    def __getitem__(self, text: str) -> Scan:
        found = self.fresh.get(text) or self.scanner._cache.get(text)
        if found is None:  # another thread emptied the cache meanwhile
            found = self.fresh[text] = self.scanner.scan_one(text)
        return found

    def flag_takes_secret(self, text: str) -> bool:
        """:meth:`TextScanner.flag_takes_secret` for one of the batch's strings, kept
        with its scan (so with the cached clean strings, asked once per process)."""
        scan = self[text]
        takes = scan.takes_secret
        if takes is None:
            takes = scan.takes_secret = self.scanner.flag_takes_secret(text)
        return takes

    def with_findings(self) -> set[str]:
        """The strings holding secrets (never cached, so always fresh)."""
        return {text for text, scan in self.fresh.items() if scan.findings}

    def holding(self, words: set[str]) -> set[str]:
        """The strings that hold one of ``words`` as a word (see :func:`encoded.words`)."""
        out: set[str] = set()
        index = self.scanner._word_index
        for word in words:
            texts = index.get(word)
            if texts:
                out.update(texts.intersection(self.texts))
        for text, scan in self.fresh.items():
            if scan.findings and not words.isdisjoint(scan.words(text)):
                out.add(text)
        return out

    def decoded(self) -> set[str]:
        """The strings with decoded (base64, %-escaped) payloads."""
        out = self.scanner._with_decoded.intersection(self.texts)
        out.update(text for text, scan in self.fresh.items() if scan.decoded)
        return out


def text_rule_names(patterns: Iterable[ValuePattern] = CATALOG) -> tuple[str, ...]:
    """Every rule name the string families can record."""
    names = {pattern.rule for pattern in patterns}
    names.add("pattern:kubernetes-sa-token")
    names.update(embedded.WEBHOOK_RULES)
    names.update(embedded.EMBEDDED_RULES)
    names.update(ENCODED_RULES)
    names.add("entropy")
    return tuple(sorted(names))


class TextScanner:
    """Finds secrets inside strings; one instance per configured masker.

    :param names: the masker's name classifier (assignments are judged by name).
    :param disabled: rule and family names turned off.
    :param patterns: the value patterns (the catalog and the configured ones).
    :param entropy_min_length: the shortest token the entropy rule judges.
    """

    def __init__(
        self,
        names: NameClassifier,
        *,
        disabled: frozenset[str] = frozenset(),
        patterns: Sequence[ValuePattern] = CATALOG,
        entropy_min_length: int = DEFAULT_MIN_LENGTH,
    ) -> None:
        self.disabled = disabled
        self.entropy_min_length = entropy_min_length
        on = self.enabled
        enabled_patterns = [p for p in patterns if on(p.rule)]
        by_prefix: dict[str, list[ValuePattern]] = {}
        for pattern in enabled_patterns:
            for prefix in dict.fromkeys(p[:2] for p in pattern.prefixes):
                by_prefix.setdefault(prefix, []).append(pattern)
        self._by_prefix = {key: tuple(value) for key, value in by_prefix.items()}
        self._contains = tuple(p for p in enabled_patterns if p.contains)
        self._search = tuple(
            p for p in enabled_patterns if not (p.prefixes or p.contains or p.needles)
        )
        self._b64 = on("encoded:base64")
        self._url = on("encoded:url")
        self._entropy = on("entropy")
        self._assignments = embedded.AssignmentDetector(names)
        # (needle, compared in lower case, handler, handler wants every position)
        needles: list[tuple[bytes, bool, Handler, bool]] = []
        for pattern in enabled_patterns:
            handler = self._pattern_handler(pattern)
            needles.extend(
                (n.encode("latin-1", "replace"), pattern.ignore_case, handler, False)
                for n in pattern.needles
            )
        if any(on(r) for r in (*embedded.URL_RULES, *embedded.WEBHOOK_RULES)):
            needles.append((b"://", False, self._urls, True))
        if any(on(r) for r in embedded.ASSIGNMENT_RULES):
            assign = self._assignments.find
            needles.extend((n.encode(), True, assign, True) for n in names.needles())
            bearer: Handler = lambda text, _: embedded.bearer_findings(text)  # noqa: E731
            needles.extend((n, True, bearer, False) for n in (b"bearer", b"basic"))
            needles.append((b"config", True, self._assignments.config_set, False))
            # {name: DB_PASSWORD, value: ...} in a manifest or JSON held in a string.
            needles.append((b"value", True, self._assignments.pairs, True))
        if on("embedded:cli-flag"):
            wrapped: dict[Callable[[str], list[Finding]], Handler] = {}
            for needle, detector in embedded.FLAG_DETECTORS:
                handler = wrapped.setdefault(detector, _ignore_positions(detector))
                needles.append((needle.encode(), False, handler, False))
        # JSON encoded twice (a JSON document held in a JSON string held in a
        # string): its quotes are escaped, so it is read again unescaped.
        needles.append((b'\\"', False, self._escaped, False))
        if on("embedded:sql-password"):
            sql = _ignore_positions(embedded.sql_findings)
            needles.extend((n, True, sql, False) for n in (b"password", b"identified"))
        if on("embedded:k8s-secret"):
            needles.append(
                (b"Secret", False, _ignore_positions(embedded.k8s_secret_findings), False)
            )
        self._needles = tuple(needles)
        self._lowered = any(lower for _, lower, _, _ in needles)
        self._cache: dict[str, Scan] = {}
        self._word_index: dict[str, set[str]] = {}
        self._with_decoded: set[str] = set()

    def enabled(self, rule: str) -> bool:
        """Whether ``rule`` (and its family) is on."""
        return rule not in self.disabled and family(rule) not in self.disabled

    # -- the batch -------------------------------------------------------------------

    def batch(self, texts: Mapping[str, object]) -> Batch:
        """Scan the distinct strings of one request (the keys of ``texts``).

        Strings seen before with nothing in them come from the cache; the others
        are scanned together. When the cache would overflow, it keeps only this
        request's strings (the commit SHAs and run ids of old requests go, the
        scripts of this pipeline stay), before the look-ups, so that a batch never
        loses a string it counted on.
        """
        cache = self._cache
        if len(cache) + len(texts) > _MAX_CACHE:
            kept = {text: found for text in texts if (found := cache.get(text)) is not None}
            cache.clear()
            self._word_index.clear()
            self._with_decoded.clear()
            for text, result in kept.items():
                self._remember(text, result)
        todo = [text for text in texts if text not in cache]
        fresh: dict[str, Scan] = {}
        if todo:
            for text, result in zip(todo, self._batch(todo, 0), strict=True):
                fresh[text] = result
                if not result.findings:
                    self._remember(text, result)
        return Batch(self, texts, fresh)

    def scan(self, texts: Iterable[str]) -> dict[str, Scan]:
        """Scan distinct strings; returns each string's :class:`Scan`."""
        batch = self.batch(dict.fromkeys(texts))
        return {text: batch[text] for text in batch.texts}

    def _remember(self, text: str, result: Scan) -> None:
        # Clean strings are kept, with the words and decoded payloads the copy
        # search of later requests looks up instead of reading every string again.
        self._cache[text] = result
        for word in result.words(text):
            self._word_index.setdefault(word, set()).add(text)
        if result.decoded:
            self._with_decoded.add(text)

    def scan_one(self, text: str, depth: int = 0) -> Scan:
        """Scan one string (no cache): decoded content, and tests."""
        return self._batch([text], depth)[0]

    def may_start_token(self, text: str) -> bool:
        """Whether a value pattern dispatched on its first characters may match ``text``."""
        return any(
            pattern.regex.match(text) is not None for pattern in self._by_prefix.get(text[:2], ())
        )

    def flag_takes_secret(self, flag: str) -> bool:
        """Whether a command-line flag (``--password``) is followed by a secret.

        Only a flag-shaped word is a flag: a PEM block starts with dashes and names
        a private key, but the string after it in a list is no password."""
        if _FLAG_WORD.fullmatch(flag) is None:
            return False
        return self._assignments.secret_name(flag.lstrip("-"), flag=True)

    def rule(self, text: str) -> str | None:
        """The rule that takes a whole token (a URL's user name) for a credential."""
        for pattern in self._by_prefix.get(text[:2], ()):
            match = pattern.regex.fullmatch(text)
            if match is not None:
                return pattern.accept(text, text, 0)
        if self._entropy and looks_random(text, self.entropy_min_length):
            return "embedded:url-token"
        return None

    def _batch(self, originals: Sequence[str], depth: int) -> list[Scan]:
        # Look-alike letters read as ASCII (a password with a Cyrillic "a" (U+0430)): one
        # character for one, so offsets hold in the original strings.
        texts = [text if text.isascii() else text.translate(FOLD) for text in originals]
        blob = "\x00".join(texts)
        data = blob.encode("latin-1", "replace")  # one byte per character
        starts = [0, *itertools.accumulate(len(text) + 1 for text in texts[:-1])]
        hits: list[dict[Handler, list[int]] | None] = [None] * len(texts)
        lowered = data.lower() if self._lowered else data
        for needle, lower, handler, every in self._needles:
            haystack = lowered if lower else data
            position = haystack.find(needle)
            while position >= 0:
                index = bisect.bisect_right(starts, position) - 1
                found = hits[index]
                if found is None:
                    found = hits[index] = {}
                found.setdefault(handler, []).append(position - starts[index])
                if every:
                    position = haystack.find(needle, position + 1)
                elif index + 1 < len(starts):
                    position = haystack.find(needle, starts[index + 1])
                else:
                    break
        runs: list[list[tuple[int, int]] | None] = [None] * len(texts)
        classes = data.translate(_CLASSES)
        position = classes.find(_RUN)
        while position >= 0:
            end = classes.find(b" ", position + _MIN_RUN)
            if end < 0:
                end = len(classes)
            index = bisect.bisect_right(starts, position) - 1
            text_runs = runs[index]
            if text_runs is None:
                text_runs = runs[index] = []
            text_runs.append((position - starts[index], end - starts[index]))
            position = classes.find(_RUN, end)
        out: list[Scan] = []
        for index, text in enumerate(texts):
            text_hits, text_runs = hits[index], runs[index]
            if text_hits is None and text_runs is None and not self._search:
                out.append(Scan((), ()))
                continue
            out.append(self._text(text, text_hits, text_runs, depth))
        return out

    def _text(
        self,
        text: str,
        hits: dict[Handler, list[int]] | None,
        runs: list[tuple[int, int]] | None,
        depth: int,
    ) -> Scan:
        found: list[Finding] = []
        decoded: list[tuple[int, int, str]] = []
        if hits:
            for handler, positions in hits.items():
                found.extend(handler(text, positions))
        if runs:
            public = _public_blocks(text) if "-----BEGIN" in text else ()
            for start, end in runs:
                if not any(a <= start < b for a, b in public):
                    self._token(text, start, end, found, decoded, depth)
        for pattern in self._search:
            found.extend(_matches(pattern, text))
        kept = [finding for finding in found if self.enabled(finding.rule)]
        return Scan(tuple(merge(kept)), tuple(decoded))

    # -- detectors ---------------------------------------------------------------------

    def _pattern_handler(self, pattern: ValuePattern) -> Handler:
        def handler(text: str, _positions: list[int]) -> list[Finding]:
            return _matches(pattern, text)

        return handler

    def _escaped(self, text: str, _positions: list[int]) -> list[Finding]:
        """Findings in ``text`` read with its JSON string escapes undone, mapped back."""
        plain, starts, ends = _unescape(text)
        if plain == text:
            return []
        out: list[Finding] = []
        for finding in self._batch([plain], _MAX_DEPTH)[0].findings:
            start, end = starts[finding.start], ends[finding.end - 1]
            out.append(Finding(start, end, finding.rule))
        return out

    def _urls(self, text: str, positions: list[int]) -> list[Finding]:
        return embedded.url_findings(text, positions, token_test=self)

    def _token(
        self,
        text: str,
        start: int,
        end: int,
        found: list[Finding],
        decoded: list[tuple[int, int, str]],
        depth: int,
    ) -> None:
        # A token is dispatched at its start and after each "=" inside it
        # (TOKEN=ghp_..., ?key=AIza...); padding "==" does not start a part.
        starts = [start]
        equals = text.find("=", start, end)
        while equals >= 0:
            if equals + 1 < end and text[equals + 1] != "=":
                starts.append(equals + 1)
            equals = text.find("=", equals + 1, end)
        claimed = False
        by_prefix = self._by_prefix
        for position in starts:
            for pattern in by_prefix.get(text[position : position + 2], ()):
                match = pattern.regex.match(text, position)
                if match is None:
                    continue
                secret_start, secret_end = pattern.span(match)
                rule = pattern.accept(text[secret_start:secret_end], text, secret_start)
                if rule is not None:
                    found.append(Finding(secret_start, secret_end, rule))
                    claimed = True
                    break
        for pattern in self._contains:
            if text.find(pattern.contains, start, end) >= 0:
                for finding in _matches(pattern, text, start, end):
                    found.append(finding)
                    claimed = True
        if claimed:
            return
        bounds = [*starts, end + 1]
        for part_start, next_start in itertools.pairwise(bounds):
            part_end = next_start - 1
            if part_end - part_start >= 12:
                self._part(text, part_start, part_end, found, decoded, depth)

    def _part(
        self,
        text: str,
        start: int,
        end: int,
        found: list[Finding],
        decoded: list[tuple[int, int, str]],
        depth: int,
    ) -> None:
        part = text[start:end]
        if "%" in part:
            plain = url_decoded(part)
            if plain is not None:
                decoded.append((start, end, plain))
                if self._url and depth < _MAX_DEPTH and self.scan_one(plain, depth + 1).findings:
                    found.append(Finding(start, end, "encoded:url"))
                return
        plain = b64_text(part)
        if plain is not None:
            decoded.append((start, end, plain))
            if (
                self._b64
                and depth < _MAX_DEPTH
                and (is_user_password(plain) or self.scan_one(plain, depth + 1).findings)
            ):
                found.append(Finding(start, end, "encoded:base64"))
            return  # readable text is not a random secret
        if "." in part and any(b64_text(piece) is not None for piece in part.split(".")):
            return  # dotted base64 of text (a JWT-like pair, a data URI's pieces)
        if (
            self._entropy
            and not part.startswith("AAAA")  # SSH public keys and known_hosts (wire format)
            and not part.startswith("age1")  # age recipients (public keys, bech32)
            and looks_random(part, self.entropy_min_length)
            and not b64_binary(part)
            and not _HASH_BEFORE.search(text, max(0, start - 24), start)
        ):
            found.append(Finding(start, end, "entropy"))


_ESCAPE = re.compile(r'\\(u[0-9a-fA-F]{4}|["\\/bfnrt])')
_ESCAPED = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}


def _unescape(text: str) -> tuple[str, list[int], list[int]]:
    """``text`` with JSON string escapes undone, and for each character of the
    result where it starts and ends in ``text``."""
    pieces: list[str] = []
    starts: list[int] = []
    ends: list[int] = []
    cursor = 0
    for match in _ESCAPE.finditer(text):
        for index in range(cursor, match.start()):
            starts.append(index)
            ends.append(index + 1)
        pieces.append(text[cursor : match.start()])
        code = match.group(1)
        char = chr(int(code[1:], 16)) if code[0] == "u" else _ESCAPED.get(code, code)
        pieces.append(char)
        starts.append(match.start())
        ends.append(match.end())
        cursor = match.end()
    for index in range(cursor, len(text)):
        starts.append(index)
        ends.append(index + 1)
    pieces.append(text[cursor:])
    return "".join(pieces), starts, ends


_PUBLIC_BLOCK = re.compile(
    r"-----BEGIN (?![A-Z0-9 ]*PRIVATE)[A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|\Z)", re.DOTALL
)
"""A PEM certificate, public key or request: its base64 body is public, not random secret."""


def _public_blocks(text: str) -> list[tuple[int, int]]:
    return [match.span() for match in _PUBLIC_BLOCK.finditer(text)]


def _matches(
    pattern: ValuePattern, text: str, start: int = 0, end: int | None = None
) -> list[Finding]:
    out: list[Finding] = []
    matches = (
        pattern.regex.finditer(text) if end is None else pattern.regex.finditer(text, start, end)
    )
    for match in matches:
        secret_start, secret_end = pattern.span(match)
        if secret_end <= secret_start:
            continue
        rule = pattern.accept(text[secret_start:secret_end], text, secret_start)
        if rule is not None:
            out.append(Finding(secret_start, secret_end, rule))
    return out


def _ignore_positions(detector: Callable[[str], list[Finding]]) -> Handler:
    def handler(text: str, _positions: list[int]) -> list[Finding]:
        return detector(text)

    return handler
