"""Settings: environment variables, ``wfaudit.toml`` / ``[tool.wfaudit]``, arguments.

Arguments win over environment variables, which win over the file, which wins
over the defaults. The file is ``$WFAUDIT_CONFIG`` if set, else ``wfaudit.toml``
in the current directory, else the ``[tool.wfaudit]`` table of ``pyproject.toml``
there. Plugins read their own options from :attr:`Settings.options` (for example
``options["maskers"]``).
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping
from typing import Any

import attrs

from wfaudit_hookspecs import ConfigurationError, parse_bool
from wfaudit_hookspecs.canonical import MAX_DEPTH_CEILING

from .settings_file import env_flag, strict_setting
from .settings_file import file_options as _file_options

__all__ = [
    "DEFAULT_MAX_REQUEST_BYTES",
    "DEFAULT_MAX_REQUEST_DEPTH",
    "ENABLED_VARIABLES",
    "Settings",
    "env_flag",
]

DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024
"""16 MiB of canonical JSON: far above any real workflow request (a large one is
~100 KB), far below what makes one audit hold the trigger path for seconds."""
DEFAULT_MAX_REQUEST_DEPTH = 256


def _user_data_dir() -> str:
    import platformdirs  # only without WFAUDIT_HOME: a tenth of a light command's start-up

    return platformdirs.user_data_dir("wfaudit", appauthor=False)


ENABLED_VARIABLES = ("WFAUDIT_ENABLED", "ENABLE_WORKFLOW_AUDIT")
"""The master switch's variables, most specific first (Devtron's name second)."""


def _file_flag(options: Mapping[str, Any], key: str, default: bool) -> bool:
    return parse_bool(options.get(key), key, default=default)


def _enabled(options: Mapping[str, Any]) -> bool:
    """The master switch: the first of :data:`ENABLED_VARIABLES` set (and not empty),
    else the file's ``enabled``, else on."""
    for variable in ENABLED_VARIABLES:
        if os.environ.get(variable, "").strip():
            return env_flag(variable)
    return _file_flag(options, "enabled", True)


def _int_setting(
    name: str,
    given: dict[str, Any],
    variable: str,
    options: dict[str, Any],
    default: int,
    low: int,
    high: int,
) -> int:
    raw = given.get(name, os.environ.get(variable, options.get(name, default)))
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} {raw!r} is not an integer") from None
    if not low <= value <= high:
        raise ConfigurationError(f"{name} {value} is outside {low}..{high}")
    return value


@attrs.frozen(kw_only=True)
class Settings:
    """The engine's settings. Build them with :meth:`load`."""

    home: pathlib.Path
    store_url: str
    tenant: str | None = None
    strict: bool = False
    allow_unmasked: bool = False
    zstd_level: int = 3
    delta_rebase_after: int = 64
    """Deltas per base before a pipeline gets a new base; 0 stores every blob whole."""
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    """The largest config audited, in bytes of canonical JSON; larger is refused."""
    max_request_depth: int = DEFAULT_MAX_REQUEST_DEPTH
    """The deepest nesting of objects and arrays audited; deeper is refused."""
    key_file: pathlib.Path
    enabled: bool = True
    """The master switch (``WFAUDIT_ENABLED``, else Devtron's ``ENABLE_WORKFLOW_AUDIT``,
    else ``enabled`` in the file): False turns every audit into a no-op that says
    so (``AuditResult.disabled``), for a gradual rollout without uninstalling."""
    options: Mapping[str, Any] = attrs.field(factory=dict, repr=False)

    @classmethod
    def load(cls, **overrides: Any) -> Settings:
        """Settings from the file, the environment, then ``overrides`` (None = unset)."""
        options = _file_options()
        given = {key: value for key, value in overrides.items() if value is not None}
        home = pathlib.Path(
            given.get("home")
            or os.environ.get("WFAUDIT_HOME")
            or options.get("home")
            or _user_data_dir()
        ).expanduser()
        store_url = (
            given.get("store_url")
            or os.environ.get("WFAUDIT_STORE_URL")
            or options.get("store_url")
            or f"sqlite:///{home / 'wfaudit.sqlite3'}"
        )
        level = given.get(
            "zstd_level", os.environ.get("WFAUDIT_ZSTD_LEVEL", options.get("zstd_level", 3))
        )
        try:
            zstd_level = int(level)
        except (TypeError, ValueError):
            raise ConfigurationError(f"zstd level {level!r} is not an integer") from None
        if not 1 <= zstd_level <= 22:
            raise ConfigurationError(f"zstd level {zstd_level} is outside 1..22")
        return cls(
            home=home,
            store_url=str(store_url),
            tenant=given.get("tenant") or os.environ.get("WFAUDIT_TENANT") or options.get("tenant"),
            strict=given.get("strict", strict_setting(options)),
            allow_unmasked=given.get(
                "allow_unmasked",
                env_flag("WFAUDIT_ALLOW_UNMASKED", _file_flag(options, "allow_unmasked", False)),
            ),
            enabled=given.get("enabled", _enabled(options)),
            zstd_level=zstd_level,
            delta_rebase_after=_int_setting(
                "delta_rebase_after", given, "WFAUDIT_DELTA_REBASE_AFTER", options, 64, 0, 10_000
            ),
            max_request_bytes=_int_setting(
                "max_request_bytes",
                given,
                "WFAUDIT_MAX_REQUEST_BYTES",
                options,
                DEFAULT_MAX_REQUEST_BYTES,
                1024,
                1 << 30,
            ),
            max_request_depth=_int_setting(
                "max_request_depth",
                given,
                "WFAUDIT_MAX_REQUEST_DEPTH",
                options,
                DEFAULT_MAX_REQUEST_DEPTH,
                1,
                MAX_DEPTH_CEILING,
            ),
            key_file=pathlib.Path(
                given.get("key_file")
                or os.environ.get("WFAUDIT_KEY_FILE")
                or options.get("key_file")
                or home / "fingerprint.key"
            ).expanduser(),
            options=options,
        )
