"""The settings file and boolean variables, without the :class:`~wfaudit.settings.Settings`
class (attrs): what ``wfaudit trigger --server`` needs of the settings, which must
start light (issue #18). :mod:`wfaudit.settings` builds on these.
"""

from __future__ import annotations

import os
import pathlib
import tomllib
from collections.abc import Mapping
from typing import Any

from wfaudit_hookspecs import ConfigurationError
from wfaudit_hookspecs.flags import parse_bool

__all__ = ["env_flag", "file_options", "parse_bool", "strict_setting"]


def env_flag(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable (the one parser: :func:`wfaudit_hookspecs.parse_bool`).

    Unset or empty: ``default``; Go's forms (``1``, ``t``, ``TRUE`` ...) and
    yes/no, on/off are accepted; anything else is a :class:`ConfigurationError`.
    """
    return parse_bool(os.environ.get(name), name, default=default)


def file_options() -> dict[str, Any]:
    """The settings file's table: ``$WFAUDIT_CONFIG``, ``wfaudit.toml``, or
    ``[tool.wfaudit]`` of ``pyproject.toml`` in the current directory (``{}``: none)."""
    explicit = os.environ.get("WFAUDIT_CONFIG")
    candidates: list[tuple[pathlib.Path, bool]] = []
    if explicit:
        candidates.append((pathlib.Path(explicit), False))
    else:
        candidates.append((pathlib.Path("wfaudit.toml"), False))
        candidates.append((pathlib.Path("pyproject.toml"), True))
    for path, nested in candidates:
        if not path.is_file():
            if explicit:
                raise ConfigurationError(f"WFAUDIT_CONFIG names {path}, which does not exist")
            continue
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise ConfigurationError(f"cannot read settings from {path}: {exc}") from None
        table = data.get("tool", {}).get("wfaudit", {}) if nested else data
        if not isinstance(table, dict):
            raise ConfigurationError(f"{path}: [tool.wfaudit] must be a table")
        if table or not nested:
            return table
    return {}


def strict_setting(options: Mapping[str, Any] | None = None) -> bool:
    """``WFAUDIT_STRICT``, else ``strict`` in the settings file (``options``, read
    when not given), else False."""
    if options is None:
        options = file_options()
    return env_flag("WFAUDIT_STRICT", parse_bool(options.get("strict"), "strict", default=False))
