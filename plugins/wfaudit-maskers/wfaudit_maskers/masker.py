"""The masker: one walk over a request's config, every rule at each node.

The walk runs on every trigger of every workflow, so it is built for speed:

* key names are classified once per masker (:class:`~.names.NameClassifier`), and
  each name remembers which rules want it; an entry whose name no rule wants
  costs a dictionary look-up;
* a container is pushed with a *link* (its key and its parent's link, a pair
  whatever the depth), not a path: a path tuple is built only for a container
  in which a rule is called, and for the strings the scanner finds something in;
* the string rules are gated by their needles inline (``${{`` and then
  ``secrets``): most strings cost a substring test or two, no call;
* the walk is iterative, so a deeply nested config cannot exhaust the stack;
* strings no name rule settled are not scanned during the walk: they are
  collected and handed to the string scanner (:mod:`.scanner`) in one batch,
  which remembers the strings it found nothing in.

After the walk, the copy search (rule ``encoded:copy``) masks other copies of
the secrets found, plain, base64- or URL-encoded, wherever they stand.
"""

from __future__ import annotations

import bisect
import itertools
import operator
import re
from collections.abc import Iterable, Mapping
from typing import Any

from wfaudit_hookspecs import MaskContext, Path, RestoreRef, TriggerRequest, hookimpl
from wfaudit_hookspecs.pointer import get_at

from .assignments import looks_like_flag
from .encoded import MIN_COPY_LENGTH, MIN_DECODED_COPY, variants
from .entropy import DEFAULT_MIN_LENGTH, looks_random
from .findings import Finding
from .names import NameClass, NameClassifier
from .patterns import CATALOG, ValuePattern
from .rules import RULES, NameRule, PairRule, Rule
from .scanner import MIN_TEXT, Batch, TextScanner
from .settings import FAMILIES, MaskerSettings
from .values import is_literal

__all__ = ["Masker"]

_MAX_KEYS = 8192
"""Distinct key names whose rule list is kept (see ``names._MAX_CACHE``)."""

_TEXT_FAMILIES = frozenset({"pattern", "embedded", "encoded", "entropy"})


class _KeyInfo:
    """A key name's class, the rules that want entries under it, the string
    rules that see its string values, and whether the scanner sees them (none of
    these for an allowed key)."""

    __slots__ = ("name", "rules", "scan_key", "scan_text", "string_rules")

    def __init__(
        self,
        name: NameClass,
        rules: tuple[Rule, ...],
        string_rules: tuple[StringRule, ...],
        scan_text: bool,
    ) -> None:
        self.name = name
        self.rules = rules
        self.string_rules = string_rules
        self.scan_text = scan_text
        self.scan_key = False
        """Whether the key itself may be a secret or a copy of one (see ``_key_info``)."""


StringRule = tuple[Rule, str, tuple[str, ...]]
"""A string rule, its needle, and the words one of which a string must also hold
(none: the needle alone gates it); see :attr:`Rule.string_needle`."""

Link = tuple[Any, "Link"] | None
"""A container's path as a chain: its key (or index) and its parent's link; None
for the config itself."""

Pending = tuple[Link, Any, str, _KeyInfo]
"""A string for the scanner: its container's link, its key, the string, the key's info."""


class Masker:
    """A configured masker; an instance is a wfaudit plugin on its own.

    :param disable: rule families (``known-field``, ``reference``, ``keyword``,
        ``pattern``, ``embedded``, ``encoded``, ``entropy``) or single rules
        (``pattern:jwt``, ``embedded:url-password``) to turn off.
    :param extra_keywords: more key-name keywords, any naming style (``"pin"``).
    :param extra_fields: more known fields, masked whole wherever they occur.
    :param allow_keys: key names never masked.
    :param allow_values: regular expressions; a secret that matches one in full
        is not masked (a documented example key, a public test token).
    :param patterns: more value patterns: ``{name: regex}`` (as in the settings
        file) or :class:`~wfaudit_maskers.patterns.ValuePattern` objects.
    :param entropy_min_length: the shortest token the entropy rule judges (12 to 256).
    :raises ConfigurationError: for an unknown rule, a bad pattern or an empty name.

    ``options`` holds the validated options; :attr:`rules` the enabled families.

    The ``maskers`` entry point registers :mod:`wfaudit_maskers.plugin`, which
    configures an instance from the settings. To use your own instance instead,
    block that entry point and register the instance::

        pm.set_blocked("maskers")
        pm.register(Masker(extra_keywords=["pin"]), name="my-maskers")
    """

    def __init__(
        self,
        *,
        disable: Iterable[str] = (),
        extra_keywords: Iterable[str] = (),
        extra_fields: Iterable[str] = (),
        allow_keys: Iterable[str] = (),
        allow_values: Iterable[str] = (),
        patterns: Mapping[str, Any] | Iterable[ValuePattern] = (),
        entropy_min_length: int = DEFAULT_MIN_LENGTH,
    ) -> None:
        options = MaskerSettings.build(
            disable=disable,
            extra_keywords=extra_keywords,
            extra_fields=extra_fields,
            allow_keys=allow_keys,
            allow_values=allow_values,
            patterns=patterns,
            entropy_min_length=entropy_min_length,
        )
        self._configure(options)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Masker:
        """A masker configured from the wfaudit settings' ``maskers`` table."""
        masker = cls.__new__(cls)
        masker._configure(MaskerSettings.from_settings(settings))
        return masker

    def _configure(self, options: MaskerSettings) -> None:
        self.options: MaskerSettings = options
        disabled = options.disable
        self._names = NameClassifier(
            extra_keywords=options.extra_keywords,
            extra_fields=options.extra_fields,
            allow_keys=options.allow_keys,
        )
        self._rules = tuple(rule(self._names) for rule in RULES if rule.name not in disabled)
        name_rules = tuple(rule for rule in self._rules if isinstance(rule, NameRule))
        # Rules asked about entries: the enabled rules, and the pair dispatcher
        # while a name rule is enabled.
        self._entry_rules = (
            (*self._rules, PairRule(self._names, name_rules)) if name_rules else self._rules
        )
        self._string_rules: tuple[StringRule, ...] = tuple(
            (rule, rule.string_needle, rule.string_words)
            for rule in self._rules
            if rule.scans_strings
        )
        # The walk's inline test of a string: the needle and words every string
        # rule needs ("" and () when they differ: each rule's own test decides),
        # None when no rule scans strings.
        gates = {(needle, words) for _, needle, words in self._string_rules}
        self._gate: str | None = None
        self._gate_words: tuple[str, ...] = ()
        if len(gates) == 1:
            self._gate, self._gate_words = gates.pop()
        elif gates:
            self._gate = ""
        self._scanner: TextScanner | None = None
        if not disabled >= _TEXT_FAMILIES:
            self._scanner = TextScanner(
                self._names,
                disabled=disabled,
                patterns=(*CATALOG, *options.patterns),
                entropy_min_length=options.entropy_min_length,
            )
        self._allow = (
            re.compile("|".join(f"(?:{value})" for value in options.allow_values))
            if options.allow_values
            else None
        )
        self._keys: dict[Any, _KeyInfo] = {}
        self._plain = _KeyInfo(NameClass(""), (), self._string_rules, True)

    @property
    def rules(self) -> tuple[str, ...]:
        """The names of the rule families this masker runs."""
        return tuple(name for name in FAMILIES if name not in self.options.disable)

    def classify(self, name: str) -> NameClass:
        """What this masker makes of a key name (for ``explain``-style tooling and tests)."""
        return self._names.classify(name)

    def find(self, text: str) -> tuple[Finding, ...]:
        """The secrets the string rules find in ``text`` (for tooling and tests)."""
        if self._scanner is None:
            return ()
        return self._scanner.scan_one(text).findings

    @hookimpl
    def wfaudit_mask(self, context: MaskContext) -> None:
        """Mark the secrets of ``context.config``; see :meth:`scan`."""
        self.scan(context)

    def scan(self, context: MaskContext) -> None:
        """Walk ``context.config`` once and mark secrets and references in ``context``.

        The config is only read. Marks go through ``context.mask`` (skipped where a
        whole-value mark already covers the path) and ``context.reference``.
        """
        recorder = _Recorder(context, self._allow)
        pending: list[Pending] = []
        keys: list[tuple[Link, str]] = []
        self._walk(recorder, pending, keys)
        if (pending or keys) and self._scanner is not None:
            _Strings(self._scanner, recorder, pending, keys).mark()

    def _walk(
        self,
        context: _Recorder,
        pending: list[Pending],
        keys: list[tuple[Link, str]],
    ) -> None:
        """Walk the config: settle entries by name, and collect for the scanner the
        strings (``pending``) and the keys to scan."""
        config = context.config
        texts = self._scanner is not None
        gate, gate_words = self._gate, self._gate_words
        if type(config) is str:
            _scan_string(self._plain.string_rules, context, (), None, config, self._plain.name)
            if texts and len(config) >= MIN_TEXT:
                pending.append((None, None, config, self._plain))
            return
        if not isinstance(config, dict | list | tuple):
            return  # a bare number, flag or null has no name to judge it by
        known = self._keys.get
        key_info = self._key_info
        pend = pending.append
        # Keys are scanned like values ({"https://u:pw@host/repo.git": "primary"}),
        # for the copy search too: any key long enough to hold a secret.
        pend_key = keys.append if texts else None
        # (container, its link, the info of the key holding it: list items inherit it)
        stack: list[tuple[Any, Link, _KeyInfo]] = [(_plain_type(config), None, self._plain)]
        push = stack.append
        pop = stack.pop
        # The loops below are the hot path: exact type() checks are several times
        # faster than isinstance() on 3.11; _odd() takes the rare subclasses. The
        # container's path is built when a rule is first called in it.
        while stack:
            node, link, held_by = pop()
            path: Path | None = None
            if type(node) is dict:
                for key, value in node.items():
                    info = known(key) or key_info(key)
                    if info.scan_key and pend_key is not None:
                        pend_key((link, key))
                    if info.rules:
                        if path is None:
                            path = _path(link)
                        if _settled(context, path, key, value, node, info, held_by):
                            continue
                    kind = type(value)
                    if kind is str:
                        if value:
                            if gate is not None and gate in value and _holds(value, gate_words):
                                if path is None:
                                    path = _path(link)
                                _scan_string(
                                    info.string_rules, context, path, key, value, held_by.name
                                )
                            if texts and len(value) >= MIN_TEXT and info.scan_text:
                                pend((link, key, value, info))
                    elif kind is dict or kind is list:
                        push((value, (key, link), info))
                    elif kind not in _SCALARS:
                        if path is None:
                            path = _path(link)
                        _odd(push, context, link, path, key, value, info, held_by, pending, texts)
            else:  # a list (or tuple): items are named by the list's key
                info = held_by
                for index, value in enumerate(node):
                    if info.rules:
                        if path is None:
                            path = _path(link)
                        if _settled(context, path, index, value, node, info, held_by):
                            continue
                    kind = type(value)
                    if kind is str:
                        if value:
                            if gate is not None and gate in value and _holds(value, gate_words):
                                if path is None:
                                    path = _path(link)
                                _scan_string(
                                    info.string_rules, context, path, index, value, held_by.name
                                )
                            # Short flags too: ["--token", "..."] names the next item.
                            # Short flags too: ["--token", "..."] names the next item.
                            if (
                                texts
                                and info.scan_text
                                and (len(value) >= MIN_TEXT or value[0] == "-")
                            ):
                                pend((link, index, value, info))
                    elif kind is dict or kind is list:
                        push((value, (index, link), info))
                    elif kind not in _SCALARS:
                        if path is None:
                            path = _path(link)
                        _odd(push, context, link, path, index, value, info, held_by, pending, texts)

    def _key_info(self, key: Any) -> _KeyInfo:
        if not isinstance(key, str):
            return self._plain
        name = self._names.classify(key)
        if name.allowed:
            info = _KeyInfo(name, (), (), False)
        else:
            wanted = tuple(rule for rule in self._entry_rules if rule.wants(name))
            info = _KeyInfo(name, wanted, self._string_rules, True)
        # The key itself may be a secret, or a copy of one, unless it is a name made
        # of words (workflowNamePrefix), which no copy search and no value pattern
        # takes for one (an AKIA... key is letters only: its prefix gives it away).
        scanner = self._scanner
        info.scan_key = (
            scanner is not None
            and not name.allowed
            and len(key) >= MIN_KEY
            and (
                _WORDLIKE.fullmatch(key) is None
                or scanner.may_start_token(key)
                or looks_random(key, self.options.entropy_min_length)
            )
        )
        if len(self._keys) >= _MAX_KEYS:
            self._keys.clear()
        self._keys[key] = info
        return info


class _Recorder:
    """The engine's context, seen through the masker: it drops allowed values and
    remembers the secrets marked, for the copy search."""

    def __init__(self, context: MaskContext, allow: re.Pattern[str] | None) -> None:
        self._context = context
        self._allow = allow
        self.secrets: set[str] = set()
        self.inner_secrets: set[str] = set()
        """The strings of objects masked whole (a credential JSON): its URLs and
        e-mail addresses are not secret, so only those that look secret are copies."""

    @property
    def request(self) -> TriggerRequest:
        return self._context.request

    @property
    def config(self) -> Any:
        return self._context.config

    @property
    def settings(self) -> Mapping[str, Any]:
        return self._context.settings

    @property
    def reference_syntax(self) -> tuple[tuple[str, re.Pattern[str]], ...]:
        return self._context.reference_syntax

    def mask(
        self,
        path: Path,
        *,
        rule: str,
        span: tuple[int, int] | None = None,
        restore: RestoreRef | None = None,
        key: bool = False,
    ) -> None:
        if key:
            name = path[-1] if path else None
            if not isinstance(name, str):
                return
            if self._allow is not None and self._allow.fullmatch(name):
                return
            self._context.mask(path, rule=rule, restore=restore, key=True)
            if len(name) >= MIN_COPY_LENGTH:
                self.secrets.add(name)
            return
        try:
            value = get_at(self._context.config, path)
        except (KeyError, IndexError, TypeError):
            value = None  # the engine reports a bad path
        secrets: list[str] = []
        inner = False
        if isinstance(value, str):
            secrets.append(value if span is None else value[span[0] : span[1]])
        elif span is None and isinstance(value, dict | list):
            secrets.extend(_strings_in(value))
            inner = True
        if self._allow is not None and secrets and all(map(self._allow.fullmatch, secrets)):
            return
        self._context.mask(path, rule=rule, span=span, restore=restore)
        copies = self.inner_secrets if inner else self.secrets
        copies.update(secret for secret in secrets if len(secret) >= MIN_COPY_LENGTH)

    def reference(self, path: Path, *, kind: str, name: str, rule: str = "") -> None:
        self._context.reference(path, kind=kind, name=name, rule=rule)

    def is_masked(self, path: Path) -> bool:
        return self._context.is_masked(path)


class _Strings:
    """Marks what the scanner finds in the strings of one walk, then their copies."""

    def __init__(
        self,
        scanner: TextScanner,
        context: _Recorder,
        pending: list[Pending],
        keys: list[tuple[Link, str]],
    ) -> None:
        self.scanner = scanner
        self.context = context
        self.pending = pending
        self.keys = keys
        self.shorts: list[Pending] = []
        """Strings too short to scan that hold a copy of a short secret: looked for
        only when a secret's decoded form is that short (rare)."""
        texts = dict.fromkeys(map(_VALUE, pending))
        texts.update(dict.fromkeys(map(_KEY, keys)))
        self.batch: Batch = scanner.batch(texts)
        self.marked: dict[Path, list[tuple[int, int]]] = {}
        self.marked_keys: set[Path] = set()

    def mark(self) -> None:
        scanner, batch = self.scanner, self.batch
        # Most strings hold nothing (and come from the cache): only the strings
        # with findings, and flags that take a secret, send us through `pending`.
        hot = batch.with_findings()
        if scanner.enabled("embedded:cli-flag"):
            hot.update(
                value
                for value in batch.texts
                if value[0] == "-" and "=" not in value and batch.flag_takes_secret(value)
            )
        if hot:
            for link, key, value, info in self.pending:
                if value not in hot:
                    continue
                path = _path(link)
                target = path if key is None else (*path, key)
                for finding in batch[value].findings:
                    if finding.rule == "entropy" and info.name.checksum:
                        continue  # imageDigest, integrity, commitHash: random, not secret
                    self._mark(target, value, finding.start, finding.end, finding.rule)
                if type(key) is int and value[0] == "-":
                    self._flag_pair(path, key, value)
            for link, name in self.keys:
                if name in hot:
                    findings = batch[name].findings
                    if findings:
                        self._mark_key((*_path(link), name), findings[0].rule)
        if (self.context.secrets or self.context.inner_secrets) and scanner.enabled("encoded:copy"):
            self._copies()

    def _mark_key(self, target: Path, rule: str) -> None:
        if target in self.marked_keys or self.context.is_masked(target[:-1]):
            return
        self.marked_keys.add(target)
        self.context.mask(target, rule=rule, key=True)

    def _mark(self, target: Path, value: str, start: int, end: int, rule: str) -> None:
        if not target or self.context.is_masked(target):
            return  # the engine cannot mask a config that is one bare string
        done = self.marked.setdefault(target, [])
        if any(s <= start and end <= e for s, e in done):
            return  # already covered; an overlapping span is merged by the engine
        done.append((start, end))
        span = None if start == 0 and end == len(value) else (start, end)
        self.context.mask(target, rule=rule, span=span)

    def _flag_pair(self, path: Path, index: int, flag: str) -> None:
        # args: ["--password", "hunter2"]: the item after a secret flag is the secret.
        if "=" in flag or not self.scanner.flag_takes_secret(flag):
            return
        container = get_at(self.context.config, path)
        if index + 1 >= len(container):
            return
        value = container[index + 1]
        if isinstance(value, str) and not looks_like_flag(value) and is_literal(value):
            self._mark((*path, index + 1), value, 0, len(value), "embedded:cli-flag")

    def _copies(self) -> None:
        # Single words (SECRET_PASSWORD, my-secret) are also names used all over a
        # config, and certificates are public (the same CA elsewhere is no leak):
        # every other secret is searched for, as a substring, wherever it stands.
        scan = self.scanner.scan_one
        inner = (
            s
            for s in self.context.inner_secrets - self.context.secrets
            if looks_random(s) or scan(s).findings
        )
        secrets = [
            s
            for s in (*self.context.secrets, *inner)
            if not _WORDLIKE.fullmatch(s) and not s.startswith(_CERTIFICATE)
        ]
        if not secrets:
            return
        batch = self.batch
        found: dict[str, list[tuple[int, int, str]]] = {}
        # All the request's strings and keys, joined: each form of each secret is
        # searched for in it once (a substring search in C, no word splitting), in
        # lower case, so that a copy in any case (reversed, upper) is found too.
        wanted: set[str] = set()
        for secret in secrets:
            wanted |= variants(secret)
        if any(len(form) < MIN_TEXT for form in wanted):
            self.shorts = _short_strings(self.context.config)
        texts = [*batch.texts, *dict.fromkeys(map(_VALUE, self.shorts))]
        blob = "\x00".join(texts)
        lowered = blob.lower()
        caseless = len(lowered) == len(blob)  # lower() keeps offsets (not so for "İ")
        haystack = lowered if caseless else blob
        if caseless:
            wanted = {form.lower() for form in wanted}
        hits = sorted(
            (start, start + len(form))
            for form in wanted
            if form in haystack
            for start in _occurrences(haystack, form)
        )
        if hits:
            starts = [0, *itertools.accumulate(len(text) + 1 for text in texts[:-1])]
            for start, end in hits:
                index = bisect.bisect_right(starts, start) - 1
                offset = starts[index]
                found.setdefault(texts[index], []).append(
                    (start - offset, end - offset, "encoded:copy")
                )
        for value in batch.decoded():
            for start, end, decoded in batch[value].decoded:
                if any(secret in decoded for secret in secrets):
                    rule = "encoded:url" if "%" in value[start:end] else "encoded:base64"
                    found.setdefault(value, []).append((start, end, rule))
        if not found:
            return
        for link, key, value, _info in itertools.chain(self.pending, self.shorts):
            spans = found.get(value)
            if spans:
                path = _path(link)
                target = path if key is None else (*path, key)
                for start, end, rule in spans:
                    self._mark(target, value, start, end, rule)
        for link, name in self.keys:
            spans = found.get(name)
            if spans:
                self._mark_key((*_path(link), name), spans[0][2])


_VALUE = operator.itemgetter(2)
_KEY = operator.itemgetter(1)
MIN_KEY = MIN_COPY_LENGTH
"""Keys shorter than this are not scanned: too short for a secret or a copy of one."""
_CERTIFICATE = ("-----BEGIN CERTIFICATE", "LS0tLS1CRUdJTiBDRVJU")
"""A PEM certificate, and its base64 (``-----BEGIN CERT``)."""
_WORDLIKE = re.compile(r"[A-Za-z]+(?:[-_.][A-Za-z]+)*")


def _short_strings(config: Any) -> list[Pending]:
    """The strings of ``config`` from MIN_DECODED_COPY to MIN_TEXT characters (the
    scanner's walk skips them), for the copy search of a short decoded secret."""
    out: list[Pending] = []
    if not isinstance(config, dict | list | tuple):
        return out
    stack: list[tuple[Any, Link]] = [(config, None)]
    plain = _KeyInfo(NameClass(""), (), (), True)
    while stack:
        node, link = stack.pop()
        items: Iterable[tuple[Any, Any]] = (
            node.items() if isinstance(node, dict) else enumerate(node)
        )
        for key, value in items:
            if isinstance(value, str):
                if MIN_DECODED_COPY <= len(value) < MIN_TEXT:
                    out.append((link, key, value, plain))
            elif isinstance(value, dict | list | tuple):
                stack.append((value, (key, link)))
    return out


def _occurrences(text: str, word: str) -> list[int]:
    out: list[int] = []
    start = text.find(word)
    while start >= 0:
        out.append(start)
        start = text.find(word, start + len(word))
    return out


def _strings_in(value: Any, limit: int = 256) -> list[str]:
    out: list[str] = []
    stack = [value]
    while stack and len(out) < limit:
        node = stack.pop()
        if isinstance(node, str):
            out.append(node)
        elif isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list | tuple):
            stack.extend(node)
    return out


_SCALARS = frozenset({int, float, bool, type(None)})


def _path(link: Link) -> Path:
    """The path of the container that ``link`` stands for."""
    keys: list[Any] = []
    while link is not None:
        key, link = link
        keys.append(key)
    return tuple(reversed(keys))


def _holds(value: str, words: tuple[str, ...]) -> bool:
    """Whether ``value`` holds one of ``words`` (any string, for no words)."""
    if not words:
        return True
    for word in words:  # noqa: SIM110 - any() and a generator cost more than the test
        if word in value:
            return True
    return False


def _scan_string(
    rules: tuple[StringRule, ...],
    context: MaskContext,
    path: Path,
    key: str | int | None,
    value: str,
    holder: NameClass,
) -> None:
    for rule, needle, words in rules:
        if needle in value and _holds(value, words):
            rule.check_string(context, path, key, value, holder)


def _odd(
    push: Any,
    context: MaskContext,
    link: Link,
    path: Path,
    key: str | int,
    value: Any,
    info: _KeyInfo,
    holder: _KeyInfo,
    pending: list[Pending],
    texts: bool,
) -> None:
    # Subclasses of JSON types, and tuples: the engine hands over plain JSON data,
    # but a masker used directly may see these, and must not skip them.
    if isinstance(value, str):
        if value:
            _scan_string(info.string_rules, context, path, key, value, holder.name)
            if texts and info.scan_text and len(value) >= MIN_TEXT:
                pending.append((link, key, str(value), info))
    elif isinstance(value, dict | list | tuple):
        push((_plain_type(value), (key, link), info))


def _plain_type(node: Any) -> Any:
    # The walk tells objects from lists by exact type; a shallow copy of a dict
    # subclass keeps it on the object branch (paths and values are the same).
    return dict(node) if isinstance(node, dict) and type(node) is not dict else node


def _settled(
    context: MaskContext,
    path: Path,
    key: str | int,
    value: Any,
    node: Any,
    info: _KeyInfo,
    holder: _KeyInfo,
) -> bool:
    # The rules that want this name, most specific first; the first to settle
    # the entry ends it.
    for rule in info.rules:
        if rule.check(context, path, key, value, node, info.name, holder.name):
            return True
    return False
