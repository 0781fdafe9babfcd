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

__all__ = ["env_flag", "file_options", "strict_setting"]

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_flag(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable; anything unclear is an error."""
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigurationError(f"{name}={raw!r} is not a boolean; use 1/0, true/false, yes/no")


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
    return env_flag("WFAUDIT_STRICT", bool(options.get("strict", False)))
