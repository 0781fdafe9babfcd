"""The one boolean parser of every wfaudit setting (environment and files alike).

Devtron's operators write booleans as Go does (``strconv.ParseBool``): ``1``,
``t``, ``T``, ``TRUE``, ``true``, ``True`` and ``0``, ``f``, ``F``,
``FALSE``, ``false``, ``False``. wfaudit takes those, and the words its own
settings always took (``yes``/``no``, ``on``/``off``), in any case, with
surrounding white space ignored.

**The rule for an empty value**: an empty (or blank) value means *unset*, so the
setting's default applies, as for a variable that is not set at all. Kubernetes
manifests and ``.env`` files write ``NAME=`` to leave a setting alone; Devtron's
own settings loader (``caarlos0/env``) treats an empty variable so too.

Anything else is a :class:`~wfaudit_hookspecs.errors.ConfigurationError` naming
the setting: a typo never silently turns a switch off (or on).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .errors import ConfigurationError

__all__ = ["FALSE_WORDS", "TRUE_WORDS", "env_flag", "parse_bool"]

TRUE_WORDS = frozenset({"1", "t", "true", "yes", "on"})
"""The true values, lower-cased (Go's ``1, t, T, TRUE, true, True`` among them)."""

FALSE_WORDS = frozenset({"0", "f", "false", "no", "off"})
"""The false values, lower-cased (Go's ``0, f, F, FALSE, false, False`` among them)."""


def parse_bool(value: object, name: str, *, default: bool) -> bool:
    """``value`` (a setting called ``name``) as a boolean.

    :param value: a bool (from a TOML file), a string (from the environment), or
        None (unset).
    :param name: the setting, for the error message (``WORKFLOW_RETRIES_ENABLED``).
    :param default: what None and an empty or blank string mean.
    :raises ConfigurationError: any other value; the message quotes it (a
        boolean setting holds no secret) and lists the accepted forms.
    """
    if isinstance(value, bool):
        return value
    if value is None:
        return default
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            return default
        if text in TRUE_WORDS:
            return True
        if text in FALSE_WORDS:
            return False
    raise ConfigurationError(
        f"{name}={value!r} is not a boolean; use true/false, 1/0, t/f or yes/no "
        "(an empty value leaves the default)"
    )


def env_flag(name: str, default: bool = False, environ: Mapping[str, str] | None = None) -> bool:
    """The boolean environment variable ``name`` (:func:`parse_bool`).

    Unset or empty: ``default``.
    """
    env = os.environ if environ is None else environ
    return parse_bool(env.get(name), name, default=default)
