"""The masker: one walk over a request's config, every rule at each node.

The walk runs on every trigger of every workflow, so it is built for speed:

* key names are classified once per masker (:class:`~.names.NameClassifier`), and
  each name remembers which rules want it; an entry whose name no rule wants
  costs a dictionary look-up;
* paths are tuples built only for containers; a leaf's path is built only
  when a rule marks it;
* the walk is iterative, so a deeply nested config cannot exhaust the stack.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from wfaudit_hookspecs import MaskContext, Path, hookimpl

from .names import NameClass, NameClassifier
from .rules import RULES, NameRule, PairRule, Rule
from .settings import MaskerSettings

__all__ = ["Masker"]

_MAX_KEYS = 8192
"""Distinct key names whose rule list is kept (see ``names._MAX_CACHE``)."""


class _KeyInfo:
    """A key name's class, the rules that want entries under it, and the string
    rules that see its string values (none for an allowed key)."""

    __slots__ = ("name", "rules", "string_rules")

    def __init__(
        self,
        name: NameClass,
        rules: tuple[Rule, ...],
        string_rules: tuple[tuple[Rule, str], ...],
    ) -> None:
        self.name = name
        self.rules = rules
        self.string_rules = string_rules


class Masker:
    """A configured masker; an instance is a wfaudit plugin on its own.

    :param disable: rule names to turn off (``known-field``, ``keyword``, ``reference``).
    :param extra_keywords: more key-name keywords, any naming style (``"pin"``).
    :param extra_fields: more known fields, masked whole wherever they occur.
    :param allow_keys: key names never masked.
    :raises ConfigurationError: for an unknown rule or an empty name.

    ``options`` holds the validated options; :attr:`rules` the enabled rule names.

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
    ) -> None:
        self.options: MaskerSettings = MaskerSettings.build(
            disable=disable,
            extra_keywords=extra_keywords,
            extra_fields=extra_fields,
            allow_keys=allow_keys,
        )
        self._names = NameClassifier(
            extra_keywords=self.options.extra_keywords,
            extra_fields=self.options.extra_fields,
            allow_keys=self.options.allow_keys,
        )
        self._rules = tuple(
            rule(self._names) for rule in RULES if rule.name not in self.options.disable
        )
        name_rules = tuple(rule for rule in self._rules if isinstance(rule, NameRule))
        # Rules asked about entries: the enabled rules, and the pair dispatcher
        # while a name rule is enabled.
        self._entry_rules = (
            (*self._rules, PairRule(self._names, name_rules)) if name_rules else self._rules
        )
        self._string_rules = tuple(
            (rule, rule.string_needle) for rule in self._rules if rule.scans_strings
        )
        self._keys: dict[Any, _KeyInfo] = {}
        self._plain = _KeyInfo(NameClass(""), (), self._string_rules)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> Masker:
        """A masker configured from the wfaudit settings' ``maskers`` table."""
        options = MaskerSettings.from_settings(settings)
        return cls(
            disable=options.disable,
            extra_keywords=options.extra_keywords,
            extra_fields=options.extra_fields,
            allow_keys=options.allow_keys,
        )

    @property
    def rules(self) -> tuple[str, ...]:
        """The names of the rules this masker runs, in the order they see an entry."""
        return tuple(rule.name for rule in self._rules)

    def classify(self, name: str) -> NameClass:
        """What this masker makes of a key name (for ``explain``-style tooling and tests)."""
        return self._names.classify(name)

    @hookimpl
    def wfaudit_mask(self, context: MaskContext) -> None:
        """Mark the secrets of ``context.config``; see :meth:`scan`."""
        self.scan(context)

    def scan(self, context: MaskContext) -> None:
        """Walk ``context.config`` once and mark secrets and references in ``context``.

        The config is only read. Marks go through ``context.mask`` (skipped where a
        whole-value mark already covers the path) and ``context.reference``.
        """
        config = context.config
        if type(config) is str:
            _scan_string(self._plain.string_rules, context, (), None, config, self._plain.name)
            return
        if not isinstance(config, dict | list | tuple):
            return  # a bare number, flag or null has no name to judge it by
        known = self._keys.get
        key_info = self._key_info
        # (container, its path, the info of the key holding it: list items inherit it)
        stack: list[tuple[Any, Path, _KeyInfo]] = [(_plain_type(config), (), self._plain)]
        push = stack.append
        # The loops below are the hot path: exact type() checks are several times
        # faster than isinstance() on 3.11; _odd() takes the rare subclasses.
        while stack:
            node, path, held_by = stack.pop()
            if type(node) is dict:
                for key, value in node.items():
                    info = known(key) or key_info(key)
                    if info.rules and _settled(context, path, key, value, node, info, held_by):
                        continue
                    kind = type(value)
                    if kind is str:
                        if value:
                            for rule, needle in info.string_rules:
                                if needle in value:
                                    rule.check_string(context, path, key, value, held_by.name)
                    elif kind is dict or kind is list:
                        push((value, (*path, key), info))
                    elif kind not in _SCALARS:
                        _odd(push, context, path, key, value, info, held_by)
            else:  # a list (or tuple): items are named by the list's key
                info = held_by
                for index, value in enumerate(node):
                    if info.rules and _settled(context, path, index, value, node, info, held_by):
                        continue
                    kind = type(value)
                    if kind is str:
                        if value:
                            for rule, needle in info.string_rules:
                                if needle in value:
                                    rule.check_string(context, path, index, value, held_by.name)
                    elif kind is dict or kind is list:
                        push((value, (*path, index), info))
                    elif kind not in _SCALARS:
                        _odd(push, context, path, index, value, info, held_by)

    def _key_info(self, key: Any) -> _KeyInfo:
        if not isinstance(key, str):
            return self._plain
        name = self._names.classify(key)
        if name.allowed:
            info = _KeyInfo(name, (), ())
        else:
            wanted = tuple(rule for rule in self._entry_rules if rule.wants(name))
            info = _KeyInfo(name, wanted, self._string_rules)
        if len(self._keys) >= _MAX_KEYS:
            self._keys.clear()
        self._keys[key] = info
        return info


_SCALARS = frozenset({int, float, bool, type(None)})


def _scan_string(
    rules: tuple[tuple[Rule, str], ...],
    context: MaskContext,
    path: Path,
    key: str | int | None,
    value: str,
    holder: NameClass,
) -> None:
    for rule, needle in rules:
        if needle in value:
            rule.check_string(context, path, key, value, holder)


def _odd(
    push: Any,
    context: MaskContext,
    path: Path,
    key: str | int,
    value: Any,
    info: _KeyInfo,
    holder: _KeyInfo,
) -> None:
    # Subclasses of JSON types, and tuples: the engine hands over plain JSON data,
    # but a masker used directly may see these, and must not skip them.
    if isinstance(value, str):
        if value:
            _scan_string(info.string_rules, context, path, key, value, holder.name)
    elif isinstance(value, dict | list | tuple):
        push((_plain_type(value), (*path, key), info))


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
