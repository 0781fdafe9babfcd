"""The plugin host: the only engine module that calls hooks.

:class:`Hooks` is a typed facade over a pluggy manager (tox's manager facade):
one method per hook, which checks what the plugins returned once, here, and
keeps observers apart (one that raises is logged and skipped; the others still
hear) without touching pluggy's implementation objects. :class:`EngineHost` is
the :class:`~wfaudit_hookspecs.Host` the plugins are configured with
(``wfaudit_configure``) and released by (``wfaudit_unconfigure``), as pytest's
``Config``: one per auditor, with the settings, the home, the tenant, the
store, ``notify`` and the plugins' :class:`~wfaudit_hookspecs.Stash`.

Nothing here imports the rest of the engine: the plugin manager, the auditor
and the built-in plugins import this module, never the other way round.
"""

from __future__ import annotations

import logging
import pathlib
import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs
import pluggy

from wfaudit_hookspecs import (
    DiffShape,
    MetricsPage,
    PluginError,
    RetryDecision,
    SaveResult,
    Stash,
    TriggerRequest,
    normalize_workflow_type,
)

if TYPE_CHECKING:
    import click

    from wfaudit_hookspecs import (
        Blob,
        Failure,
        Host,
        MaskContext,
        SecretRequest,
        Snapshot,
        SnapshotRecord,
        Store,
    )
    from wfaudit_hookspecs.retention import ArchiveStore, RetentionRun

__all__ = ["OBSERVER_HOOKS", "EngineHost", "Hooks", "Registrations"]

log = logging.getLogger("wfaudit.plugins")

OBSERVER_HOOKS: tuple[str, ...] = (
    "wfaudit_event",
    "wfaudit_audit_error",
    "wfaudit_retention_run",
)
"""Hooks whose implementations only observe. pluggy stops a hook call at the
first implementation that raises, so a broken observer would silence the others
(metrics, webhooks): :meth:`Hooks.observe` calls each one apart."""


@attrs.frozen
class Registrations:
    """What the plugins declared when the manager was set up."""

    workflow_types: dict[str, str]
    payload_formats: dict[str, tuple[tuple[str, ...], str]]
    reference_syntax: tuple[tuple[str, re.Pattern[str]], ...]
    diff_shapes: dict[str, DiffShape]


def _is_wrapper(impl: pluggy.HookImpl) -> bool:
    return bool(impl.wrapper or impl.hookwrapper)


class Hooks:
    """Typed calls of every hook on a plugin manager."""

    def __init__(self, plugin_manager: pluggy.PluginManager) -> None:
        self.plugin_manager = plugin_manager
        self._hook = plugin_manager.hook

    # -- introspection -----------------------------------------------------------

    def names(self) -> list[str]:
        """The names of the hooks, sorted."""
        return sorted(name for name in vars(self._hook) if name.startswith("wfaudit_"))

    def implementations(self, name: str) -> list[tuple[str, bool]]:
        """The plugins implementing hook ``name``, in the order pluggy keeps them
        (first called last): ``(plugin name, is wrapper)``."""
        impls = getattr(self._hook, name).get_hookimpls()
        return [(impl.plugin_name, _is_wrapper(impl)) for impl in impls]

    def maskers(self) -> tuple[str, ...]:
        """The plugins implementing the mask hook; wrappers (metrics) mark nothing."""
        return tuple(
            impl.plugin_name
            for impl in self._hook.wfaudit_mask.get_hookimpls()
            if not _is_wrapper(impl)
        )

    def store_plugins(self) -> list[str]:
        """The plugins implementing ``wfaudit_open_store``."""
        return [impl.plugin_name for impl in self._hook.wfaudit_open_store.get_hookimpls()]

    def restorer_count(self) -> int:
        """How many plugins implement ``wfaudit_restore_secrets``."""
        return len(self._hook.wfaudit_restore_secrets.get_hookimpls())

    # -- registration ------------------------------------------------------------

    def registrations(self) -> Registrations:
        """Ask the declaration hooks (types, formats, reference syntax), checked."""
        types: dict[str, str] = {}

        def register(name: str, description: str = "") -> None:
            if not isinstance(name, str) or not name.strip():
                raise PluginError("a workflow type must be a non-empty string")
            types.setdefault(normalize_workflow_type(name), description)

        self._hook.wfaudit_workflow_types(register=register)

        formats: dict[str, tuple[tuple[str, ...], str]] = {}
        shapes: dict[str, DiffShape] = {}

        def register_format(
            name: str,
            workflow_types: Sequence[str],
            description: str = "",
            *,
            shape: DiffShape | None = None,
        ) -> None:
            if not isinstance(name, str) or not name.strip():
                raise PluginError("a payload format must be a non-empty string")
            if shape is not None and not isinstance(shape, DiffShape):
                raise PluginError(f"payload format {name.strip()!r}: shape must be a DiffShape")
            if shape is not None:  # the first declaration of a format's shape is kept
                shapes.setdefault(name.strip(), shape)
            kinds = tuple(normalize_workflow_type(t) for t in workflow_types)
            # Several plugins may declare one format (devtron for CI and for CD): merge.
            known, first_description = formats.get(name.strip(), ((), description))
            formats[name.strip()] = (tuple(dict.fromkeys((*known, *kinds))), first_description)

        self._hook.wfaudit_payload_formats(register=register_format)

        syntax: dict[tuple[str, str], re.Pattern[str]] = {}

        def register_syntax(kind: str, regex: str) -> None:
            if not isinstance(kind, str) or not kind.strip():
                raise PluginError("a reference syntax needs a non-empty kind")
            if not isinstance(regex, str) or not regex:
                raise PluginError(
                    f"reference syntax {kind!r}: the regex must be a non-empty string"
                )
            try:
                compiled = re.compile(regex)
            except re.error as exc:
                raise PluginError(f"reference syntax {kind!r}: invalid regex: {exc}") from None
            if compiled.fullmatch(""):
                raise PluginError(f"reference syntax {kind!r}: the regex matches the empty string")
            syntax.setdefault((kind.strip(), regex), compiled)

        self._hook.wfaudit_reference_syntax(register=register_syntax)
        return Registrations(
            types,
            formats,
            tuple((kind, compiled) for (kind, _), compiled in syntax.items()),
            shapes,
        )

    def format_owners(self) -> dict[str, list[str]]:
        """Payload format → the plugins declaring it (each implementation asked apart)."""
        owners: dict[str, list[str]] = {}
        for impl in self._hook.wfaudit_payload_formats.get_hookimpls():
            if _is_wrapper(impl):
                continue

            def register(
                name: str, *_args: Any, _plugin: str = impl.plugin_name, **_kwargs: Any
            ) -> None:
                owners.setdefault(str(name).strip(), []).append(_plugin)

            try:
                self._subset("wfaudit_payload_formats", impl.plugin)(register=register)
            except Exception:  # noqa: S112 - a broken declaration was reported at load
                continue
        return owners

    def register_commands(self, cli: click.Group) -> None:
        """Let the plugins add their commands to ``cli``."""
        self._hook.wfaudit_register_commands(cli=cli)

    # -- lifecycle ---------------------------------------------------------------

    def configure(self, host: EngineHost) -> None:
        """``wfaudit_configure(host)``; on an error, the plugins configured already
        are unconfigured and the error is raised."""
        impls = [i for i in self._hook.wfaudit_configure.get_hookimpls() if not _is_wrapper(i)]
        done: list[Any] = []
        try:
            for impl in reversed(impls):  # the order a hook call takes
                self._subset("wfaudit_configure", impl.plugin)(host=host)
                done.append(impl.plugin)
        except BaseException:
            self._unconfigure(host, done)
            raise
        host.configured = tuple(done)

    def unconfigure(self, host: EngineHost) -> None:
        """``wfaudit_unconfigure(host)`` for each configured plugin, in reverse
        order; errors are logged and ignored."""
        done, host.configured = list(host.configured), ()
        self._unconfigure(host, done)

    def _unconfigure(self, host: EngineHost, done: list[Any]) -> None:
        for plugin in reversed(done):
            if not self.plugin_manager.is_registered(plugin):
                continue
            name = self.plugin_manager.get_name(plugin) or repr(plugin)
            try:
                self._subset("wfaudit_unconfigure", plugin)(host=host)
            except Exception as exc:
                log.error("the wfaudit_unconfigure of %s failed: %s", name, type(exc).__name__)

    # -- stores ------------------------------------------------------------------

    def open_store(self, url: str, *, create: bool) -> Store | None:
        """``wfaudit_open_store``: the store a backend opened for ``url``, or None."""
        store: Store | None = self._hook.wfaudit_open_store(url=url, create=create)
        return store

    def open_archive(self, url: str) -> ArchiveStore | None:
        """``wfaudit_open_archive``: the archive store for ``url``, or None."""
        archive: ArchiveStore | None = self._hook.wfaudit_open_archive(url=url)
        return archive

    # -- the stages --------------------------------------------------------------

    def pre_trigger(self, request: TriggerRequest) -> list[TriggerRequest]:
        """The adapters' answers to ``wfaudit_pre_trigger`` (None dropped), checked."""
        answers = [
            answer
            for answer in self._hook.wfaudit_pre_trigger(request=request)
            if answer is not None
        ]
        for answer in answers:
            if not isinstance(answer, TriggerRequest):
                raise PluginError(
                    f"an adapter returned {type(answer).__name__} from wfaudit_pre_trigger"
                )
        return answers

    def mask(self, context: MaskContext, *, host: Host | None = None) -> None:
        """``wfaudit_mask``: every masker (and the wrappers around them) marks ``context``.

        :param host: the auditor's host, whose stash holds the maskers' state
            (None: a call without a host; the maskers build their own).
        """
        self._hook.wfaudit_mask(context=context, host=host)

    def mask_only(self, context: MaskContext, *, host: Host | None = None) -> None:
        """``wfaudit_mask`` without its wrappers: the maskers alone (metrics time
        audits, and an outcome's reason is not an audit)."""
        wrappers = [
            impl.plugin for impl in self._hook.wfaudit_mask.get_hookimpls() if _is_wrapper(impl)
        ]
        caller = self.plugin_manager.subset_hook_caller("wfaudit_mask", remove_plugins=wrappers)
        caller(context=context, host=host)

    def persist(
        self,
        snapshot: SnapshotRecord,
        payload: Blob,
        store: Store,
        *,
        host: EngineHost,
        spool: bool,
    ) -> SaveResult:
        """``wfaudit_persist``, checked: a :class:`SaveResult`.

        :param spool: whether a store failure may be spooled (the non-blocking
            audit) rather than reach the caller.
        """
        saved = self._hook.wfaudit_persist(
            snapshot=snapshot, payload=payload, store=store, host=host, spool=spool
        )
        if not isinstance(saved, SaveResult):
            raise PluginError(f"the persist stage returned {type(saved).__name__}, not SaveResult")
        return saved

    def on_failure(
        self,
        snapshot: SnapshotRecord,
        failure: Failure,
        attempt: int,
        settings: Mapping[str, Any],
    ) -> list[RetryDecision]:
        """The retry policies' votes (None dropped), checked."""
        votes = self._hook.wfaudit_on_failure(
            snapshot=snapshot, failure=failure, attempt=attempt, settings=settings
        )
        cast = [vote for vote in votes if vote is not None]
        for vote in cast:
            if not isinstance(vote, RetryDecision):
                raise PluginError(
                    f"a retry policy returned {type(vote).__name__}, not RetryDecision"
                )
        return cast

    def restore_secrets(
        self, snapshot: Snapshot, requests: Sequence[SecretRequest], settings: Mapping[str, Any]
    ) -> list[Mapping[str, str]]:
        """The restorers' answers (None dropped): mappings of key to a string, checked."""
        answers = self._hook.wfaudit_restore_secrets(
            snapshot=snapshot, requests=requests, settings=settings
        )
        return [_checked_mapping(answer) for answer in answers if answer is not None]

    def restore_sources(
        self, snapshot: Snapshot, requests: Sequence[SecretRequest], settings: Mapping[str, Any]
    ) -> list[Mapping[str, str]]:
        """The restorers' descriptions of their sources (None dropped), checked."""
        answers = self._hook.wfaudit_restore_sources(
            snapshot=snapshot, requests=requests, settings=settings
        )
        return [_checked_mapping(answer) for answer in answers if answer is not None]

    def new_run(self, request: TriggerRequest, parent: SnapshotRecord) -> TriggerRequest | None:
        """``wfaudit_new_run``: the owning adapter's request for a retrigger's run, checked."""
        answer = self._hook.wfaudit_new_run(request=request, parent=parent)
        if answer is not None and not isinstance(answer, TriggerRequest):
            raise PluginError(f"an adapter returned {type(answer).__name__} from wfaudit_new_run")
        return answer

    def metrics(self, host: Host) -> MetricsPage | None:
        """``wfaudit_metrics``: the first metrics plugin's scrape of ``host``, checked."""
        answer = self._hook.wfaudit_metrics(host=host)
        if answer is not None and not isinstance(answer, MetricsPage):
            raise PluginError(f"a plugin returned {type(answer).__name__} from wfaudit_metrics")
        return answer

    # -- observers ---------------------------------------------------------------

    def audit_error(
        self, request: TriggerRequest, error: BaseException, *, host: Host | None = None
    ) -> None:
        """Tell the ``wfaudit_audit_error`` observers (isolated)."""
        self.observe("wfaudit_audit_error", request=request, error=error, host=host)

    def event(
        self,
        kind: str,
        snapshot: SnapshotRecord,
        data: Mapping[str, Any],
        settings: Mapping[str, Any],
        *,
        host: Host | None = None,
    ) -> None:
        """Tell the ``wfaudit_event`` observers (isolated)."""
        self.observe(
            "wfaudit_event", kind=kind, snapshot=snapshot, data=data, settings=settings, host=host
        )

    def retention_run(
        self, run: RetentionRun, settings: Mapping[str, Any], *, host: Host | None = None
    ) -> None:
        """Tell the ``wfaudit_retention_run`` observers (isolated)."""
        self.observe("wfaudit_retention_run", run=run, settings=settings, host=host)

    def observe(self, name: str, **kwargs: Any) -> None:
        """Call observer hook ``name``: one that raises is logged (by type) and
        skipped, and the others still hear.

        One hook call, as pluggy makes it (tracing and recorders see one call).
        pluggy stops a call at the implementation that raised: the observers
        after it are then called by a subset caller, which leaves out those
        reached already; pluggy's implementation objects are never changed.
        """
        hook = getattr(self._hook, name)
        order = [impl for impl in reversed(hook.get_hookimpls()) if not _is_wrapper(impl)]
        start, caller = 0, hook
        while True:
            try:
                caller(**kwargs)
                return
            except Exception as exc:
                failed = _raised_in(order, start, exc)
                if failed is None:  # not an observer's own error (pluggy, a wrapper)
                    log.error("the %s observers failed: %s", name, type(exc).__name__)
                    return
                plugin_name = order[failed].plugin_name
                log.error("the %s observer %s failed: %s", name, plugin_name, type(exc).__name__)
            start = failed + 1
            if start >= len(order):
                return
            reached = [impl.plugin for impl in order[:start]]
            caller = self.plugin_manager.subset_hook_caller(name, remove_plugins=reached)

    def _subset(self, name: str, plugin: object) -> Any:
        """A caller of hook ``name`` that reaches ``plugin`` alone (and the wrappers)."""
        others = [
            impl.plugin
            for impl in getattr(self._hook, name).get_hookimpls()
            if impl.plugin is not plugin and not _is_wrapper(impl)
        ]
        return self.plugin_manager.subset_hook_caller(name, remove_plugins=others)


def _raised_in(order: Sequence[pluggy.HookImpl], start: int, exc: BaseException) -> int | None:
    """The index in ``order`` (from ``start``) of the implementation ``exc`` was
    raised in (its frame is in the traceback: the same code and, for a method,
    the same instance), or None."""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for index in range(start, len(order)):
        function = order[index].function
        code = getattr(getattr(function, "__func__", function), "__code__", None)
        owner = getattr(function, "__self__", None)
        for frame in frames:
            if frame.f_code is code and (owner is None or _self_of(frame) is owner):
                return index
    return None


def _self_of(frame: Any) -> object:
    code = frame.f_code
    if not code.co_varnames or code.co_argcount == 0:
        return None
    return frame.f_locals.get(code.co_varnames[0])


def _checked_mapping(answer: object) -> Mapping[str, str]:
    if not isinstance(answer, Mapping):
        raise PluginError(f"a restorer returned a {type(answer).__name__}, not a mapping")
    for key, value in answer.items():
        if not isinstance(value, str):
            raise PluginError(
                f"a restorer returned a {type(value).__name__} for {key}, not a string"
            )
    return answer


class EngineHost:
    """The :class:`~wfaudit_hookspecs.Host` of one auditor (or command line).

    :ivar hooks: the typed hook calls.
    :ivar engine: what the built-in plugins need of the auditor (the spool's
        replay, probe and encoder), or None for a host without an auditor.
    :param spool_depth: counts the snapshots waiting in the auditor's spool
        (None: a host that spools nothing).
    """

    def __init__(
        self,
        hooks: Hooks,
        *,
        settings: Mapping[str, Any],
        home: pathlib.Path,
        tenant: str | None,
        store_url: str,
        strict: bool,
        store: Store | None = None,
        workflow_types: Callable[[], Mapping[str, str]] | None = None,
        engine: object | None = None,
        spool_root: pathlib.Path | None = None,
        spool_depth: Callable[[], int] | None = None,
    ) -> None:
        self.hooks = hooks
        self._settings = settings
        self._home = home
        self._tenant = tenant
        self._store_url = store_url
        self._strict = strict
        self._store = store
        self._workflow_types = workflow_types
        self._stash = Stash()
        self.engine = engine
        self.spool_root = spool_root or home / "spool"
        self._spool_depth = spool_depth
        self.configured: tuple[Any, ...] = ()

    def __repr__(self) -> str:
        return f"<EngineHost tenant={self._tenant!r}>"

    @property
    def settings(self) -> Mapping[str, Any]:
        return self._settings

    @property
    def home(self) -> pathlib.Path:
        return self._home

    @property
    def tenant(self) -> str | None:
        return self._tenant

    @property
    def store_url(self) -> str:
        return self._store_url

    @property
    def strict(self) -> bool:
        return self._strict

    @property
    def store(self) -> Store | None:
        return self._store

    @property
    def stash(self) -> Stash:
        return self._stash

    @property
    def workflow_types(self) -> Mapping[str, str]:
        return dict(self._workflow_types() if self._workflow_types is not None else {})

    def notify(
        self, kind: str, record: SnapshotRecord, data: Mapping[str, Any] | None = None
    ) -> None:
        self.hooks.event(kind, record, dict(data or {}), self._settings, host=self)

    def spool_depth(self) -> int:
        return self._spool_depth() if self._spool_depth is not None else 0

    def metrics(self) -> MetricsPage | None:
        """One scrape of the metrics of this host (``wfaudit_metrics``), or None when
        no metrics plugin is registered (the web app's ``/metrics``).

        :raises WfauditError: the metrics plugin cannot gather them.
        """
        return self.hooks.metrics(self)

    def audit_error(self, request: TriggerRequest, error: BaseException) -> None:
        """Tell the ``wfaudit_audit_error`` observers, with this host."""
        self.hooks.audit_error(request, error, host=self)

    def retention_run(self, run: RetentionRun) -> None:
        """Tell the ``wfaudit_retention_run`` observers, with this host."""
        self.hooks.retention_run(run, self._settings, host=self)

    def configure(self) -> None:
        """Configure the plugins with this host."""
        self.hooks.configure(self)

    def unconfigure(self) -> None:
        """Release the plugins' state (idempotent)."""
        self.hooks.unconfigure(self)
