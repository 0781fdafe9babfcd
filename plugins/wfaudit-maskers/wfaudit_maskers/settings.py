"""The maskers' options: the ``[tool.wfaudit.maskers]`` table.

.. code-block:: toml

    [tool.wfaudit.maskers]
    disable = ["keyword"]            # rule names
    extra_keywords = ["pin", "otp"]  # more key-name keywords
    extra_fields = ["vendorBlob"]    # more known fields (masked whole, anywhere)
    allow_keys = ["buildToken"]      # key names never masked

Unknown options are refused rather than ignored: a misspelt ``extra_keywords``
would silently leave secrets unmasked.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from wfaudit_hookspecs import ConfigurationError

from .names import tokenize
from .rules import RULE_NAMES

__all__ = ["TABLE", "MaskerSettings"]

TABLE = "maskers"
"""The key of this plugin's table in the wfaudit settings."""

_WHERE = f"[tool.wfaudit.{TABLE}]"


@dataclass(frozen=True, slots=True)
class MaskerSettings:
    """Validated options of a :class:`~wfaudit_maskers.Masker`."""

    disable: frozenset[str] = frozenset()
    extra_keywords: tuple[str, ...] = ()
    extra_fields: tuple[str, ...] = ()
    allow_keys: tuple[str, ...] = ()

    @classmethod
    def build(
        cls,
        *,
        disable: Iterable[str] = (),
        extra_keywords: Iterable[str] = (),
        extra_fields: Iterable[str] = (),
        allow_keys: Iterable[str] = (),
    ) -> MaskerSettings:
        """Validate options given in code or read from settings.

        :raises ConfigurationError: naming the option and what is wrong with it.
        """
        disabled = _names("disable", disable)
        unknown = sorted(set(disabled) - set(RULE_NAMES))
        if unknown:
            raise ConfigurationError(
                f"{_WHERE} disable: unknown rule {', '.join(map(repr, unknown))}; "
                f"the rules are {', '.join(RULE_NAMES)}"
            )
        return cls(
            disable=frozenset(disabled),
            extra_keywords=_words("extra_keywords", extra_keywords),
            extra_fields=_words("extra_fields", extra_fields),
            allow_keys=_words("allow_keys", allow_keys),
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
        options = {f.name for f in cls.__dataclass_fields__.values()}
        unknown = sorted(str(key) for key in table if key not in options)
        if unknown:
            raise ConfigurationError(
                f"{_WHERE}: unknown option {', '.join(map(repr, unknown))}; "
                f"the options are {', '.join(sorted(options))}"
            )
        return cls.build(**table)


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
