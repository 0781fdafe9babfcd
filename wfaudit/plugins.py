"""The plugin manager: built-in plugins, entry points, and plugins given in code.

Load order (later plugins are called first): the built-in plugins of
:data:`DEFAULT_PLUGINS`, then the ``wfaudit`` entry points of installed
distributions sorted by entry point name, then the modules of
``WFAUDIT_PLUGINS_DIR`` (by directory, then module name), then the plugins
passed in code. Loading is forgiving: an entry
point that fails to import, or that implements a hook that does not exist, is
skipped with a warning and listed by ``wfaudit plugins`` as failed; the host
never crashes because of one broken plugin.

Environment variables:

``WFAUDIT_LOAD_PLUGINS``
    Comma-separated entry point names to load; the others are skipped. Set it to
    an empty string to load no entry point at all.
``WFAUDIT_DISABLE_PLUGINS``
    Comma-separated entry point names never to load.

A name in either that no installed entry point has (a typo) is warned of,
with the names there are.
``WFAUDIT_TRACE_PLUGINS``
    ``1`` writes every hook call and its result to standard error.
``WFAUDIT_PLUGINS_DIR``
    Directories (separated by ``os.pathsep``) whose plugin modules are loaded
    without packaging them (``wfaudit --plugins-dir DIR``): every module
    (``name.py``) and package (``name/__init__.py``) there that holds a
    ``@hookimpl``, under its module name, after the entry points. Names starting
    with ``_`` or ``test``, ``conftest`` and ``setup`` are skipped.
    ``WFAUDIT_LOAD_PLUGINS`` and ``WFAUDIT_DISABLE_PLUGINS`` apply to them too.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import importlib.metadata
import logging
import os
import pathlib
import re
import sys
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import attrs
import pluggy

from wfaudit_hookspecs import (
    PROJECT_NAME,
    ConfigurationError,
    DiffShape,
    PluginError,
    hookspecs,
)

from .host import OBSERVER_HOOKS, Hooks

__all__ = [
    "DEFAULT_PLUGINS",
    "OBSERVER_HOOKS",
    "PluginInfo",
    "PluginManager",
    "make_plugin_manager",
]

log = logging.getLogger("wfaudit.plugins")

DEFAULT_PLUGINS: tuple[str, ...] = (
    "wfaudit.builtin.types",
    "wfaudit.builtin.persist",
    "wfaudit.builtin.spool",
    "wfaudit.builtin.retry",
    "wfaudit.builtin.memory",
)
"""The engine's own behaviour, written as plugins."""


@attrs.frozen
class PluginInfo:
    """What ``wfaudit plugins`` says about one plugin."""

    name: str
    hooks: tuple[str, ...]
    distribution: str | None = None
    version: str | None = None
    builtin: bool = False
    error: str | None = None
    wrappers: tuple[str, ...] = ()
    """The hooks among ``hooks`` this plugin *wraps* (``@hookimpl(wrapper=True)``:
    timing, spooling, notifications) rather than implements."""


@attrs.frozen
class _Failed:
    name: str
    distribution: str | None
    version: str | None
    error: str


class PluginManager(pluggy.PluginManager):
    """pluggy's manager, remembering where each plugin came from."""

    def __init__(self) -> None:
        super().__init__(PROJECT_NAME)
        self.add_hookspecs(hookspecs)
        self.origins: dict[str, tuple[str | None, str | None, bool]] = {}
        self.failed: list[_Failed] = []
        self.workflow_types: dict[str, str] = {}
        self.payload_formats: dict[str, tuple[tuple[str, ...], str]] = {}
        self.diff_shapes: dict[str, DiffShape] = {}
        """The diff shape each payload format declared (``wfaudit_payload_formats``)."""
        self.reference_syntax: tuple[tuple[str, re.Pattern[str]], ...] = ()
        self.hooks = Hooks(self)
        """The typed hook calls (:mod:`wfaudit.host`)."""
        self._producers: tuple[
            tuple[tuple[str, int], ...], dict[tuple[str | None, tuple[str, ...]], tuple[str, ...]]
        ] = ((), {})
        self._producers_lock = threading.Lock()

    def maskers(self) -> tuple[str, ...]:
        """The names of the registered plugins implementing the mask hook.

        Wrappers (metrics, tracing) are not maskers: they mark nothing.
        """
        return self.hooks.maskers()

    def producers(self, adapter: str | None, maskers: Sequence[str]) -> tuple[str, ...]:
        """``name==version`` of the plugins producing a snapshot, for its manifest.

        Every audit asks, and the answer only changes when plugins are registered
        or unregistered: it is kept per ``(adapter, maskers)`` until the
        registered plugins differ.
        """
        registered = tuple(
            (name, id(plugin)) for name, plugin in self.list_name_plugin() if plugin is not None
        )
        key = (adapter, tuple(maskers))
        known, answers = self._producers
        if known != registered:
            with self._producers_lock:
                answers = {}
                self._producers = (registered, answers)
        found = answers.get(key)
        if found is None:
            found = answers[key] = self._work_out_producers(adapter, key[1])
        return found

    def _work_out_producers(self, adapter: str | None, maskers: Sequence[str]) -> tuple[str, ...]:
        names = list(maskers)
        if adapter and adapter != GENERIC_FORMAT:
            names.extend(self.hooks.format_owners().get(adapter, ()))
        versions = {"wfaudit": self.version_of("wfaudit")}
        for name in names:
            versions[stable_name(name)] = self.version_of(name)
        return tuple(f"{name}=={version}" for name, version in sorted(versions.items()))

    def version_of(self, name: str) -> str:
        """The version of the distribution of plugin ``name`` (``wfaudit``: the
        engine's), or the empty string."""
        if name == "wfaudit":
            return _own_version() or ""
        return self.origins.get(name, (None, None, False))[1] or ""

    @contextlib.contextmanager
    def registered(self, *plugins: object) -> Iterator[None]:
        """Register ``plugins`` for the duration of a ``with`` block (tests, tools).

        Workflow types and payload formats they declare count while they are in.
        """
        names = []
        try:
            for plugin in plugins:
                # A plugin that is in already (installed, and given again by a test's
                # marker) stays in after the block: it was not this block's to add.
                known = self.is_registered(plugin)
                name = register_in_code(self, plugin)
                if not known:
                    names.append(name)
            _unregister_invalid(self, names)
            _collect_registrations(self)
            yield
        finally:
            for name in names:
                if self.has_plugin(name):
                    self.unregister(name=name)
            _collect_registrations(self)

    def call_order(self, hook: str) -> list[tuple[str, bool]]:
        """The plugins implementing ``hook``, in the order a call reaches them:
        ``(name, is_wrapper)``. Wrappers come first (each runs around the rest);
        then implementations, last registered first (``tryfirst`` / ``trylast``
        move one to the front or the back)."""
        return list(reversed(self.hooks.implementations(hook)))

    def describe(self) -> list[PluginInfo]:
        """Every registered plugin, then every entry point that failed to load."""
        out = []
        for name, plugin in self.list_name_plugin():
            if plugin is None:
                continue
            distribution, version, builtin = self.origins.get(name, (None, None, False))
            callers = self.get_hookcallers(plugin) or ()
            hooks = tuple(sorted(caller.name for caller in callers))
            wrappers = tuple(
                sorted(
                    caller.name
                    for caller in callers
                    if any(
                        impl.plugin is plugin and (impl.wrapper or impl.hookwrapper)
                        for impl in caller.get_hookimpls()
                    )
                )
            )
            out.append(PluginInfo(name, hooks, distribution, version, builtin, None, wrappers))
        out.extend(
            PluginInfo(f.name, (), f.distribution, f.version, False, f.error) for f in self.failed
        )
        return out


def _env_names(variable: str) -> set[str] | None:
    raw = os.environ.get(variable)
    if raw is None:
        return None
    return {name.strip() for name in raw.split(",") if name.strip()}


@functools.cache
def _entry_points() -> tuple[importlib.metadata.EntryPoint, ...]:
    """The ``wfaudit`` entry points, by name: the order they are registered in.

    Sorted, so that the order does not depend on how the distributions happen to
    lie on ``sys.path``: implementations are called last-registered-first, so
    between two plugins of one hook, the one whose entry point name sorts later
    is asked first (``tryfirst``/``trylast`` override it). Scanning installed
    distributions costs tens of milliseconds: once per process.
    """
    found = importlib.metadata.entry_points(group=PROJECT_NAME)
    return tuple(sorted(found, key=lambda ep: (ep.name, ep.dist.name if ep.dist else "")))


_loaded: dict[str, Any] = {}


_warned: set[tuple[str, str]] = set()


def _warn_unknown(variable: str, names: set[str] | None) -> None:
    """Warn (once a process) of a name in ``variable`` that no entry point has:
    a typo there would leave a plugin loaded, or skipped, silently."""
    known = {ep.name for ep in _entry_points()}
    with contextlib.suppress(ConfigurationError):  # reported when the directories load
        known.update(name for directory in plugin_dirs() for name in _module_names(directory))
    for name in sorted((names or set()) - known):
        if (variable, name) in _warned:
            continue
        _warned.add((variable, name))
        log.warning(
            "%s names %r, which is no installed plugin; the plugins: %s",
            variable,
            name,
            ", ".join(sorted(known)) or "none",
        )


def _load_entry_points(pm: PluginManager) -> None:
    allowed = _env_names("WFAUDIT_LOAD_PLUGINS")
    disabled = _env_names("WFAUDIT_DISABLE_PLUGINS") or set()
    _warn_unknown("WFAUDIT_LOAD_PLUGINS", allowed)
    _warn_unknown("WFAUDIT_DISABLE_PLUGINS", disabled)
    for ep in _entry_points():
        if ep.name in disabled or (allowed is not None and ep.name not in allowed):
            continue
        if pm.has_plugin(ep.name) or pm.is_blocked(ep.name):
            continue
        dist = ep.dist.name if ep.dist else None
        version = ep.dist.version if ep.dist else None
        try:
            plugin = _loaded.get(ep.name)
            if plugin is None:
                plugin = _loaded[ep.name] = ep.load()
            pm.register(plugin, name=ep.name)
        except Exception as exc:  # a broken plugin must not break the host
            log.warning(
                "plugin %s (%s) was not loaded: %s: %s", ep.name, dist, type(exc).__name__, exc
            )
            pm.failed.append(_Failed(ep.name, dist, version, f"{type(exc).__name__}: {exc}"))
            continue
        pm.origins[ep.name] = (dist, version, False)


PLUGINS_DIR_VARIABLE = "WFAUDIT_PLUGINS_DIR"
_SKIPPED_MODULES = ("conftest", "setup", "noxfile")


def plugin_dirs() -> list[pathlib.Path]:
    """The directories of ``WFAUDIT_PLUGINS_DIR``; one that is not a directory is an error."""
    raw = os.environ.get(PLUGINS_DIR_VARIABLE, "")
    dirs = []
    for entry in raw.split(os.pathsep):
        if not entry.strip():
            continue
        path = pathlib.Path(entry).expanduser()
        if not path.is_dir():
            raise ConfigurationError(
                f"{PLUGINS_DIR_VARIABLE} (or --plugins-dir) names {entry}, which is not a directory"
            )
        dirs.append(path.resolve())
    return dirs


def _module_names(directory: pathlib.Path) -> list[str]:
    names = []
    for entry in sorted(directory.iterdir()):
        if entry.is_file() and entry.suffix == ".py":
            name = entry.stem
        elif entry.is_dir() and (entry / "__init__.py").is_file():
            name = entry.name
        else:
            continue
        if name.startswith(("_", "test")) or name in _SKIPPED_MODULES or not name.isidentifier():
            continue
        names.append(name)
    return names


def _has_hookimpls(module: object) -> bool:
    marker = f"{PROJECT_NAME}_impl"
    return any(hasattr(value, marker) for value in vars(module).values())


def _is_within(path: pathlib.Path, directory: pathlib.Path) -> bool:
    try:
        path.resolve().relative_to(directory.resolve())
    except ValueError:
        return False
    return True


def _load_plugin_dirs(pm: PluginManager) -> None:
    """Register the plugin modules of ``WFAUDIT_PLUGINS_DIR`` (forgiving, like entry points)."""
    allowed = _env_names("WFAUDIT_LOAD_PLUGINS")
    disabled = _env_names("WFAUDIT_DISABLE_PLUGINS") or set()
    for directory in plugin_dirs():
        if str(directory) not in sys.path:
            sys.path.insert(0, str(directory))
        for name in _module_names(directory):
            if name in disabled or (allowed is not None and name not in allowed):
                continue
            if pm.has_plugin(name) or pm.is_blocked(name):
                continue
            try:
                module = importlib.import_module(name)
                origin = getattr(module, "__file__", None)
                if origin is not None and not _is_within(pathlib.Path(origin), directory):
                    # An installed module of the same name was imported first: the
                    # folder's copy would be ignored without a word.
                    log.warning(
                        "plugin %s in %s is not loaded: the installed %s (%s) has the same "
                        "name; uninstall it, or install the folder editable (pip install -e)",
                        name,
                        directory,
                        name,
                        origin,
                    )
                    continue
                if not _has_hookimpls(module) or pm.is_registered(module):
                    continue  # a helper module, or a plugin installed as well
                pm.register(module, name=name)
            except Exception as exc:  # a broken plugin must not break the host
                log.warning(
                    "plugin %s (from %s) was not loaded: %s: %s",
                    name,
                    directory,
                    type(exc).__name__,
                    exc,
                )
                pm.failed.append(
                    _Failed(name, str(directory), None, f"{type(exc).__name__}: {exc}")
                )
                continue
            pm.origins[name] = (str(directory), None, False)


def _unregister_invalid(pm: PluginManager, strict_names: Iterable[str]) -> None:
    """Drop plugins implementing hooks that do not exist (typos, removed hooks)."""
    strict = set(strict_names)
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or repr(exc.plugin)
            if name in strict:
                raise PluginError(f"plugin {name}: {exc}") from None
            log.warning("plugin %s was unloaded: %s", name, exc)
            distribution, version, _ = pm.origins.pop(name, (None, None, False))
            pm.failed.append(_Failed(name, distribution, version, str(exc)))
            pm.unregister(exc.plugin)


def _plugin_name(plugin: object) -> str:
    name = getattr(plugin, "__name__", None)
    if isinstance(name, str):
        return name
    return f"{type(plugin).__module__}.{type(plugin).__qualname__}@{id(plugin):x}"


def register_in_code(pm: PluginManager, plugin: object) -> str:
    """Register a plugin given in code; a bad one is an error, not a warning.

    A plugin object that is registered already (an installed plugin's module,
    given again in code or by a test's ``wfaudit_plugins`` marker) is reused
    under the name it has: registering it twice would call its hooks twice.
    """
    if pm.is_registered(plugin):
        existing = pm.get_name(plugin)
        if existing is not None:
            return existing
    name = _plugin_name(plugin)
    try:
        pm.register(plugin, name=name)
    except (pluggy.PluginValidationError, ValueError) as exc:
        raise PluginError(f"plugin {name} cannot be registered: {exc}") from None
    return name


def make_plugin_manager(
    plugins: Sequence[object] = (),
    *,
    load_entrypoints: bool = True,
    builtins: Sequence[str] = (),
) -> PluginManager:
    """A plugin manager with the built-ins, the entry points and ``plugins``.

    :param builtins: more built-in plugin modules, by name, registered as the
        defaults are (the command line's own: ``wfaudit.cli.CLI_PLUGINS``).
    """
    pm = PluginManager()
    for module_name in (*DEFAULT_PLUGINS, *builtins):
        pm.register(importlib.import_module(module_name), name=module_name)
        pm.origins[module_name] = ("wfaudit", _own_version(), True)
    if load_entrypoints:
        _load_entry_points(pm)
        _load_plugin_dirs(pm)
    in_code = [register_in_code(pm, plugin) for plugin in plugins]
    _unregister_invalid(pm, in_code)
    if os.environ.get("WFAUDIT_TRACE_PLUGINS", "") not in ("", "0"):
        pm.add_hookcall_monitoring(_trace_before, _trace_after)
    _collect_registrations(pm)
    return pm


def _trace_before(
    hook_name: str, hook_impls: Sequence[pluggy.HookImpl], kwargs: Mapping[str, Any]
) -> None:
    # Names and types only: hook arguments and results (restored secrets!) may be secret.
    impls = ", ".join(impl.plugin_name for impl in hook_impls)
    args = ", ".join(f"{key}={type(value).__name__}" for key, value in kwargs.items())
    sys.stderr.write(f"wfaudit trace: {hook_name}({args}) -> [{impls}]\n")


def _trace_after(
    outcome: pluggy.Result[Any],
    hook_name: str,
    hook_impls: Sequence[pluggy.HookImpl],
    kwargs: Mapping[str, Any],
) -> None:
    if outcome.exception is not None:
        result = f"raised {type(outcome.exception).__name__}"
    else:
        result = f"returned {type(outcome.get_result()).__name__}"
    sys.stderr.write(f"wfaudit trace: {hook_name} {result}\n")


def _collect_registrations(pm: PluginManager) -> None:
    found = pm.hooks.registrations()
    pm.workflow_types.clear()
    pm.workflow_types.update(found.workflow_types)
    pm.payload_formats.clear()
    pm.payload_formats.update(found.payload_formats)
    pm.reference_syntax = found.reference_syntax
    pm.diff_shapes.clear()
    pm.diff_shapes.update(found.diff_shapes)


_INSTANCE_SUFFIX = re.compile(r"@[0-9a-f]+$")

GENERIC_FORMAT = "generic"
"""The format of a payload no adapter recognised: audited as given."""


def stable_name(name: str) -> str:
    """A plugin's name without the ``@<id>`` of an instance registered in code."""
    return _INSTANCE_SUFFIX.sub("", name)


@functools.cache
def _own_version() -> str | None:
    try:
        return importlib.metadata.version("wfaudit")
    except importlib.metadata.PackageNotFoundError:
        return None
