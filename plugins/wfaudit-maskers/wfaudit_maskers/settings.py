"""The maskers' options: the ``[tool.wfaudit.maskers]`` table.

.. code-block:: toml

    [tool.wfaudit.maskers]
    disable = ["entropy", "pattern:jwt"]   # rule families or single rules
    extra_keywords = ["pin", "otp"]        # more key-name keywords
    extra_fields = ["vendorBlob"]          # more known fields (masked whole, anywhere)
    allow_keys = ["buildToken"]            # key names never masked
    allow_values = ["AKIAIOSFODNN7EXAMPLE"]  # regexes: matching values are never masked
    entropy_min_length = 24                # shortest token the entropy rule judges

    [tool.wfaudit.maskers.patterns]        # more value patterns (rule pattern:<name>)
    acme-token = "acme_[0-9a-f]{32}"
    acme-session = { regex = "sess=(?P<s>[A-Za-z0-9]{20,})", needles = ["sess="] }

Unknown options are refused rather than ignored: a misspelt ``extra_keywords``
would silently leave secrets unmasked.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from wfaudit_hookspecs import ConfigurationError

from .entropy import DEFAULT_MIN_LENGTH
from .names import tokenize
from .patterns import CATALOG, ValuePattern, user_patterns
from .rules import RULE_NAMES as NAME_RULES
from .scanner import text_rule_names

__all__ = ["FAMILIES", "TABLE", "MaskerSettings"]

TABLE = "maskers"
"""The key of this plugin's table in the wfaudit settings."""

FAMILIES: tuple[str, ...] = (*NAME_RULES, "pattern", "embedded", "encoded", "entropy")
"""The rule families, in the order they run; ``disable`` takes these or single rules."""

_WHERE = f"[tool.wfaudit.{TABLE}]"


@dataclass(frozen=True, slots=True)
class MaskerSettings:
    """Validated options of a :class:`~wfaudit_maskers.Masker`."""

    disable: frozenset[str] = frozenset()
    extra_keywords: tuple[str, ...] = ()
    extra_fields: tuple[str, ...] = ()
    allow_keys: tuple[str, ...] = ()
    allow_values: tuple[str, ...] = ()
    patterns: tuple[ValuePattern, ...] = ()
    entropy_min_length: int = DEFAULT_MIN_LENGTH

    @classmethod
    def build(
        cls,
        *,
        disable: Iterable[str] = (),
        extra_keywords: Iterable[str] = (),
        extra_fields: Iterable[str] = (),
        allow_keys: Iterable[str] = (),
        allow_values: Iterable[str] = (),
        patterns: Mapping[str, Any] | Iterable[ValuePattern] = (),
        entropy_min_length: int = DEFAULT_MIN_LENGTH,
    ) -> MaskerSettings:
        """Validate options given in code or read from settings.

        :raises ConfigurationError: naming the option and what is wrong with it.
        """
        extra = _patterns(patterns)
        disabled = _names("disable", disable)
        known = {*FAMILIES, *text_rule_names((*CATALOG, *extra))}
        unknown = sorted(set(disabled) - known)
        if unknown:
            raise ConfigurationError(
                f"{_WHERE} disable: unknown rule {', '.join(map(repr, unknown))}; "
                f"the rules are {', '.join(FAMILIES)}, or one rule of them such as "
                "pattern:jwt (docs/secrets.md lists them)"
            )
        values = _names("allow_values", allow_values)
        for value in values:
            try:
                re.compile(value)
            except re.error as exc:
                raise ConfigurationError(
                    f"{_WHERE} allow_values: {value!r} is not a valid regex: {exc}"
                ) from None
        if (
            not isinstance(entropy_min_length, int)
            or isinstance(entropy_min_length, bool)
            or not 12 <= entropy_min_length <= 256
        ):
            raise ConfigurationError(
                f"{_WHERE} entropy_min_length: expected an integer from 12 to 256"
            )
        return cls(
            disable=frozenset(disabled),
            extra_keywords=_words("extra_keywords", extra_keywords),
            extra_fields=_words("extra_fields", extra_fields),
            allow_keys=_words("allow_keys", allow_keys),
            allow_values=values,
            patterns=extra,
            entropy_min_length=entropy_min_length,
        )

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> MaskerSettings:
        """Read and validate the ``maskers`` table of the wfaudit settings (absent: defaults)."""
        if not isinstance(settings, Mapping):
            raise ConfigurationError(
                f"wfaudit settings must be a table, not {type(settings).__name__}"
            )
        table = settings.get(TABLE)
        if table is None:
            return cls()
        if not isinstance(table, Mapping):
            raise ConfigurationError(f"{_WHERE} must be a table, not {type(table).__name__}")
        options = {f.name for f in fields(cls)}
        unknown = sorted(str(key) for key in table if key not in options)
        if unknown:
            raise ConfigurationError(
                f"{_WHERE}: unknown option {', '.join(map(repr, unknown))}; "
                f"the options are {', '.join(sorted(options))}"
            )
        return cls.build(**table)


def _patterns(value: object) -> tuple[ValuePattern, ...]:
    if isinstance(value, Mapping):
        return user_patterns(value)
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ConfigurationError(
            f"{_WHERE} patterns: expected a table of name = regex, not {type(value).__name__}"
        )
    items = tuple(value)
    for item in items:
        if not isinstance(item, ValuePattern):
            raise ConfigurationError(
                f"{_WHERE} patterns: in code, give a mapping or ValuePattern objects, "
                f"not {type(item).__name__}"
            )
    return items


def _names(option: str, value: object) -> tuple[str, ...]:
    # A bare string is the usual slip (`disable = "keyword"`); iterating it would
    # yield single letters, so refuse it.
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise ConfigurationError(
            f"{_WHERE} {option}: expected a list of strings, not {type(value).__name__}"
        )
    items = tuple(value)
    for item in items:
        if not isinstance(item, str):
            raise ConfigurationError(
                f"{_WHERE} {option}: every item must be a string, not {type(item).__name__}"
            )
        if not item.strip():
            raise ConfigurationError(f"{_WHERE} {option}: items must not be empty")
    return items


def _words(option: str, value: object) -> tuple[str, ...]:
    items = _names(option, value)
    for item in items:
        if not tokenize(item):
            raise ConfigurationError(
                f"{_WHERE} {option}: {item!r} has no letters or digits to match key names with"
            )
    return items
