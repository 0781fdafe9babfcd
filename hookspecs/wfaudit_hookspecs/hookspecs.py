"""The hook specifications: the contract between the engine and its plugins.

Hooks are always called with keyword arguments; an implementation may accept
fewer arguments than the specification names. Implementations run
last-registered-first. Unless a hook says "Stops at first non-None result", the
engine collects every non-None result.

``docs/hooks.md`` is generated from these docstrings (``python docs/gen_hooks.py``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._markers import hookspec

if TYPE_CHECKING:
    import click

    from .host import Host, MetricsPage
    from .model import (
        Blob,
        Failure,
        RetryDecision,
        SaveResult,
        SecretRequest,
        Snapshot,
        SnapshotRecord,
        TriggerRequest,
    )
    from .protocols import MaskContext, Store
    from .retention import ArchiveStore, RetentionRun

__all__ = [
    "wfaudit_audit_error",
    "wfaudit_configure",
    "wfaudit_event",
    "wfaudit_mask",
    "wfaudit_metrics",
    "wfaudit_new_run",
    "wfaudit_on_failure",
    "wfaudit_open_archive",
    "wfaudit_open_store",
    "wfaudit_payload_formats",
    "wfaudit_persist",
    "wfaudit_pre_trigger",
    "wfaudit_reference_syntax",
    "wfaudit_register_commands",
    "wfaudit_restore_secrets",
    "wfaudit_restore_sources",
    "wfaudit_retention_run",
    "wfaudit_unconfigure",
    "wfaudit_workflow_types",
]

# -------------------------------------------------------------------------
# Lifecycle hooks.
# -------------------------------------------------------------------------


@hookspec
def wfaudit_configure(host: Host) -> None:
    """Build a plugin's long-lived state (pytest's ``pytest_configure``).

    Called once for every implementation when a host is set up: when an
    auditor is created (``Auditor.from_url``, ``Auditor(...)``), before its
    first audit, last registered plugin first. A plugin registered on the
    plugin manager after that is not configured by that host. A plugin reads
    ``host.settings`` here, builds what it needs (the built-in spool: its
    directory, circuit breaker and drainer thread) and keeps it in
    ``host.stash`` under its own :class:`~wfaudit_hookspecs.host.StashKey`,
    never in a module global: one process may hold several hosts (one per
    auditor), each configured apart. The hooks that take a ``host`` argument
    (:func:`wfaudit_mask`, :func:`wfaudit_persist`, :func:`wfaudit_event`,
    :func:`wfaudit_audit_error`, :func:`wfaudit_retention_run`) are given the
    same host, and read the state back from its stash. Settings the environment
    may change while the process runs (the retry limits) are checked here and
    read again when used.

    A bad setting raises :class:`~wfaudit_hookspecs.errors.ConfigurationError`
    here, at start, rather than at the first audit; the host is then not
    created (the plugins configured before it are unconfigured).

    :param host: the :class:`~wfaudit_hookspecs.host.Host`: settings, home,
        tenant, store, ``notify`` and the stash.
    :returns: nothing.
    """


@hookspec
def wfaudit_unconfigure(host: Host) -> None:
    """Release what :func:`wfaudit_configure` built (pytest's ``pytest_unconfigure``).

    Called once for every implementation when the host closes (``Auditor.close``,
    the end of a command), in the reverse order of ``configure``; stop threads,
    flush queues and drop the state kept in ``host.stash``. Called for a plugin
    whose ``configure`` ran even if a later plugin's failed. Errors are logged
    (by type) and ignored: every plugin is unconfigured, and the store is
    closed after them.

    :param host: the host being closed; its store is still open.
    :returns: nothing.
    """


# -------------------------------------------------------------------------
# Stage hooks, in the order one trigger passes them.
# -------------------------------------------------------------------------


@hookspec
def wfaudit_pre_trigger(request: TriggerRequest) -> TriggerRequest | None:
    """Normalise a trigger request before it is masked (the adapters' hook).

    Called once per audit, before masking. An adapter looks at
    ``request.workflow_type``, ``request.format`` and the shape of
    ``request.config``; when it recognises the payload it returns a new
    :class:`TriggerRequest` (``attrs.evolve`` of the one given) with the identity
    filled and ``format`` set to the name of the format it recognised. When the
    payload is not one of its formats it returns None.

    :param request: the request as the orchestrator gave it. Do not modify it.
    :returns: a normalised request, or None when this adapter does not handle it.

    An adapter may also list the secret *references* its format makes explicit
    (``secretKeyRef``, ``${{ secrets.X }}``) in the returned request's
    ``references``; the engine adds them to the snapshot's manifest.

    When no adapter answers, the request is audited as given (the generic
    format). When more than one answers, the audit fails with
    :class:`~wfaudit_hookspecs.errors.AmbiguousPayload` naming their formats;
    the caller can then set ``format`` to choose one. When the caller forced a
    format that no adapter recognised, the audit fails with
    :class:`~wfaudit_hookspecs.errors.UnrecognisedPayload`.
    """


@hookspec
def wfaudit_mask(context: MaskContext, host: Host | None) -> None:
    """Mark the secrets in a request's config (the maskers' hook).

    Called once per audit, after the pre-trigger stage, for every masker. A masker
    reads ``context.config`` and calls ``context.mask(path, rule=..., span=...)``
    for each secret it finds and ``context.reference(path, ...)`` for each
    reference to a secret. It never changes the config: after every masker has
    run, the engine replaces all marked values at once, on its own deep copy,
    with placeholders carrying a keyed fingerprint of each secret.

    :param context: the request, its config and the settings; see
        :class:`~wfaudit_hookspecs.protocols.MaskContext`.
    :param host: the :class:`~wfaudit_hookspecs.host.Host` of the auditor
        that audits (its ``stash`` holds what the plugin built in
        :func:`wfaudit_configure`), or None when the hook is called without
        one (a test or a benchmark calling the hook alone): a plugin then
        builds what it needs from ``settings`` as it goes.
    :returns: nothing.

    If no masker plugin is registered, the engine refuses to persist (fail closed)
    unless unmasked persistence was explicitly allowed.
    """


@hookspec(firstresult=True)
def wfaudit_persist(
    snapshot: SnapshotRecord, payload: Blob, store: Store, host: Host, spool: bool
) -> SaveResult | None:
    """Persist a snapshot record and its blob.

    Called once per audit, after masking, hashing and compression. The engine's
    default implementation (``trylast``) calls ``store.save(snapshot, payload)``.
    Wrappers (``@hookimpl(wrapper=True)``) add spooling, metrics or
    notifications around it; an implementation may also persist elsewhere and
    return its own result, which ends the call. Stops at first non-None result.

    :param snapshot: the record to store: identity, content hash, manifest.
    :param payload: the compressed canonical JSON of the masked config.
    :param store: the store the auditor was opened on.
    :param host: the auditor's :class:`~wfaudit_hookspecs.host.Host` (its
        stash holds what the plugin built in :func:`wfaudit_configure`).
    :param spool: True for an audit in the non-blocking mode, whose store
        failure may be kept for later (the built-in spool does); False when the
        caller must see the failure (strict mode, an import, a replay from the
        spool, a retrigger recording its new run).
    :returns: a :class:`SaveResult` (the reference, and whether it was new).
    """


@hookspec
def wfaudit_on_failure(
    snapshot: SnapshotRecord, failure: Failure, attempt: int, settings: Mapping[str, Any]
) -> RetryDecision | None:
    """Vote on retrying a workflow whose run failed or errored (retry policies).

    Called for every implementation when an outcome ``failed`` or ``error`` is
    recorded. Each policy returns a :class:`RetryDecision` or None (no opinion).
    Any ``retry=False`` vote wins; a retry happens only if at least one policy
    voted for it. The engine also enforces the attempt limit along the parent
    chain, whatever the votes (see ``docs/retrigger.md``).

    :param snapshot: the record of the run that failed.
    :param failure: the status and the reason given by the orchestrator.
    :param attempt: the attempt number of that run (1 for the first trigger),
        counted along the chain of parent snapshots.
    :param settings: the ``[tool.wfaudit]`` / ``wfaudit.toml`` settings, for a
        policy's options (the built-in policy reads ``[tool.wfaudit.retry]``).
    :returns: a vote, or None.
    """


@hookspec
def wfaudit_restore_secrets(
    snapshot: Snapshot, requests: Sequence[SecretRequest], settings: Mapping[str, Any]
) -> Mapping[str, Any] | None:
    """Find the current values of a snapshot's masked secrets (restorers' hook).

    Called for every implementation when a request is rebuilt for a retrigger.
    Each restorer returns the values it can find, as a mapping from the request's
    :attr:`~SecretRequest.key` (the masked field's JSON pointer, followed by
    ``#start:end`` for a secret inside a string, or by ``#key`` for a secret that
    was an object key, ``encoding="key"``) to the secret: a string, or for
    ``encoding="json"`` fields, its JSON text; for a span, the span's secret
    alone, not the whole string. The engine checks every answer against the
    field's fingerprint: when several restorers answer for the same key, an
    answer that matches wins (else the first: last registered plugin). A secret
    nobody restores makes the retrigger fail with
    :class:`~wfaudit_hookspecs.errors.SecretsUnavailable`, and an answer that is
    not the snapshot's secret (empty, a placeholder, rotated, wrong) with
    :class:`~wfaudit_hookspecs.errors.SecretsMismatch`; it never runs with
    placeholders.

    :param snapshot: the snapshot being replayed, with its masked config.
    :param requests: the masked fields to restore.
    :param settings: the ``[tool.wfaudit]`` / ``wfaudit.toml`` settings, for a
        restorer's options (mappings of paths to keyring entries or variables).
    :returns: ``{key: value}`` for the secrets found, or None.
    """


@hookspec
def wfaudit_restore_sources(
    snapshot: Snapshot, requests: Sequence[SecretRequest], settings: Mapping[str, Any]
) -> Mapping[str, str] | None:
    """Say where each of a snapshot's masked secrets would be restored from (restorers).

    Called for every implementation by ``wfaudit restore-map --check``, beside
    :func:`wfaudit_restore_secrets` (whose answers say *whether* each secret
    restores and matches its fingerprint). A restorer answers, by the request's
    :attr:`~SecretRequest.key`, one line naming the source that holds the secret
    (``env DEVTRON_DOCKER_PASSWORD (devtron profile)``) or, for a secret it
    cannot find, the sources it tried (``not found: env X, keyring svc/name``).
    It may read a source to see that it holds a value, but never returns,
    logs or describes a value. The first answer per key wins (last registered
    plugin first); an answer that finds a source wins over one that does not.

    :param snapshot: the stored snapshot, with its masked config.
    :param requests: its masked fields.
    :param settings: the ``[tool.wfaudit]`` / ``wfaudit.toml`` settings.
    :returns: ``{key: description}`` for the requests this restorer knows about, or None.
    """


@hookspec(firstresult=True)
def wfaudit_new_run(request: TriggerRequest, parent: SnapshotRecord) -> TriggerRequest | None:
    """Write a retrigger's new identities into its request (the adapters' hook).

    Called twice by a retrigger, after its checks and before anything is recorded:
    once with the parent's *masked* config (the new run's snapshot is stored from
    the answer) and once with the *restored* config (the launcher gets the
    answer). ``request`` already carries the new run's ``workflow_id``,
    ``attempt``, ``parent`` and trigger kind ``retry``; its ``format`` is the
    parent's adapter. The adapter that owns ``request.format`` returns an
    ``attrs.evolve`` of it whose ``config`` holds the new run's identities where
    the orchestrator keeps them (Devtron: ``workflowId`` and ``triggeredBy`` =
    its system user, 1) and whose ``triggered_by`` is who the orchestrator will
    say triggered it; so that the orchestrator's own audit of the new run is
    the same audit (idempotent), not a conflict. It must not add, remove or
    move a masked value. Stops at first non-None result; None everywhere keeps
    the parent's config as it is.

    :param request: the new run's request (do not modify it).
    :param parent: the failed run's record.
    :returns: the new run's request, or None when the format is not this plugin's.
    :raises InvalidRequest: the new identity does not fit the format (Devtron
        ids are integers); nothing is recorded or launched.
    """


# -------------------------------------------------------------------------
# Registration and observation hooks.
# -------------------------------------------------------------------------


@hookspec(firstresult=True)
def wfaudit_open_store(url: str, create: bool) -> Store | None:
    """Open a store for a URL (storage backends' hook).

    Called when an auditor is created. A backend returns an object implementing
    :class:`~wfaudit_hookspecs.protocols.Store` when it owns the URL's scheme
    (``sqlite``, ``postgresql``, ``s3`` ...), else None. Stops at first non-None
    result; when no backend answers, the engine raises
    :class:`~wfaudit_hookspecs.errors.BadStoreURL`.

    :param url: the store URL as configured (it may hold a password: never log it).
    :param create: whether a store that does not exist yet may be created (a
        command that writes). When False (every command that only reads), a
        missing store (no file, no directory, no wfaudit tables) raises
        :class:`~wfaudit_hookspecs.errors.StoreNotFound` and nothing at all is
        created: no file, no directory, no table.
    :returns: an open store, or None.
    """


@hookspec(firstresult=True)
def wfaudit_open_archive(url: str) -> ArchiveStore | None:
    """Open an archive store for a URL (archive backends' hook).

    Called when retention, ``wfaudit archive`` or ``wfaudit restore`` needs the
    archive tier configured as ``[tool.wfaudit.retention] archive_url`` (or
    ``WFAUDIT_ARCHIVE_URL``). A backend returns an object implementing
    :class:`~wfaudit_hookspecs.retention.ArchiveStore` when it owns the URL's
    scheme (``s3`` for wfaudit-objectstore; the engine itself owns ``file``),
    else None. Stops at first non-None result.

    :param url: the archive URL as configured (credentials come from the
        backend's own configuration, never from the URL).
    :returns: an open archive store, or None.
    """


@hookspec(firstresult=True)
def wfaudit_metrics(host: Host) -> MetricsPage | None:
    """One scrape of the metrics: this process's audits, and the host's store and spool.

    Called when the web app serves ``GET /metrics`` (to a token bound to no
    tenant); ``wfaudit-prometheus`` answers in the Prometheus text format.
    Stops at first non-None result; when no plugin answers, ``/metrics`` is
    ``404``.

    :param host: the host of the auditor to read the store's figures from
        (:attr:`~wfaudit_hookspecs.host.Host.store`,
        :meth:`~wfaudit_hookspecs.host.Host.spool_depth`).
    :returns: the page to serve, or None to leave the scrape to another plugin.
    :raises WfauditError: the metrics cannot be gathered (the exporter is
        misconfigured); ``/metrics`` answers ``503`` with its message, which
        must quote no secret.
    """


@hookspec
def wfaudit_workflow_types(register: Callable[[str, str], None]) -> None:
    """Declare the workflow types a plugin handles.

    Called once when the plugin manager is set up. Call ``register(name,
    description)`` for each type; names are upper case (``CI``, ``PRE_CD``). A
    request of a type nobody registered is refused with
    :class:`~wfaudit_hookspecs.errors.UnknownWorkflowType`.

    :param register: the callback that records a type.
    """


@hookspec
def wfaudit_payload_formats(register: Callable[..., None]) -> None:
    """Declare the payload formats an adapter recognises.

    Called once when the plugin manager is set up. Call ``register(name,
    workflow_types, description)`` for each format (``github-actions``,
    ``argo-workflow`` ...), naming the workflow types it applies to. The engine
    uses the list to check a forced ``format`` and to say which formats were
    tried when none recognised a payload.

    Pass ``shape=`` a :class:`~wfaudit_hookspecs.DiffShape` to say where the
    format keeps its nodes (jobs, steps, tasks): the diff's summary then counts
    them in the format's own words (``1 job added``) instead of by generic
    rules. The first shape declared for a format is kept; anything but a
    ``DiffShape`` fails plugin set-up with a
    :class:`~wfaudit_hookspecs.errors.PluginError`.

    :param register: the callback that records a format.
    """


@hookspec
def wfaudit_reference_syntax(register: Callable[[str, str], None]) -> None:
    """Declare the syntax of the secret *references* a payload format uses.

    Called once when the plugin manager is set up. Call ``register(kind,
    regex)`` for each syntax (``register("jenkins-credential",
    r"\\$\\{cred:(?P<name>[\\w.-]+)\\}")``): ``kind`` names the reference's
    kind in the manifest, and the regex matches one reference (its group
    ``name``, if any, is the name of the secret referred to).

    Text a declared syntax matches is never masked, whichever masker marks it
    (the engine drops the mark, or the part of a span inside the reference),
    so that a retrigger still finds the reference to resolve. A value that is
    nothing but references is listed in the manifest's references. An invalid
    regex, or one that matches the empty string, fails plugin set-up with a
    :class:`~wfaudit_hookspecs.errors.PluginError`.

    :param register: the callback that records a syntax.
    """


@hookspec
def wfaudit_register_commands(cli: click.Group) -> None:
    """Add commands to the ``wfaudit`` command line.

    Called once when the command line starts. Add click commands or groups to
    ``cli`` (``@cli.command()``); commands should raise
    :class:`~wfaudit_hookspecs.errors.WfauditError` for bad input so that the
    user sees one clear line.

    There is no host yet at this point (the command line registers its
    commands before it knows which store a command opens), so the hook takes
    none: a command reads the settings and opens its auditor when it runs,
    and that auditor's host configures the plugins for that command (and
    unconfigures them when the command ends).

    :param cli: the top-level ``wfaudit`` click group.
    """


@hookspec
def wfaudit_audit_error(request: TriggerRequest, error: BaseException, host: Host | None) -> None:
    """Observe an audit that failed (non-blocking policy).

    Called for every implementation when an audit fails, before the error is
    returned in the :class:`AuditResult` (or raised, in strict mode). Errors in
    an observer are logged and ignored. The error's message never quotes
    request data; ``request.config`` still holds secrets: do not log it.

    :param request: the request whose audit failed.
    :param error: the exception.
    :param host: the :class:`~wfaudit_hookspecs.host.Host` of the auditor
        whose audit failed (its ``stash`` holds what the plugin built in
        :func:`wfaudit_configure`), or None when the hook is called without
        one (a test or a benchmark calling the hook alone): a plugin then
        builds what it needs from ``settings`` as it goes.
    """


@hookspec
def wfaudit_event(
    kind: str,
    snapshot: SnapshotRecord,
    data: Mapping[str, Any],
    settings: Mapping[str, Any],
    host: Host | None,
) -> None:
    """Observe an operation on a snapshot once the audit trail holds it (observers).

    Called for every implementation after the engine recorded a snapshot
    audited (a new snapshot, not a repeated audit or a spooled one: a spooled
    snapshot is reported when the drain stores it), an outcome, a retrigger, an
    archive, a restore or a deletion. Metrics and notification plugins use it.
    Called on the thread that did the operation: an observer that does slow
    work (network) queues it and returns. Errors in an observer are logged and
    ignored; they never fail the operation.

    :param kind: one of :class:`~wfaudit_hookspecs.model.EventKind`'s values
        (``snapshot.audited``, ``outcome.recorded``, ``snapshot.retriggered``,
        ``snapshot.archived``, ``snapshot.deleted`` ...), or a plugin's own, dotted.
    :param snapshot: the record concerned, as it is after the operation (for a
        retrigger: the new attempt's record, whose ``parent`` is the old one).
    :param data: JSON data about the operation (``status`` for an outcome); it
        never holds a secret or a config value.
    :param settings: the ``[tool.wfaudit]`` / ``wfaudit.toml`` settings, for an
        observer's options.
    :param host: the :class:`~wfaudit_hookspecs.host.Host` of the auditor
        that did the operation (its ``stash`` holds what the plugin built in
        :func:`wfaudit_configure`), or None when the hook is called without
        one (a test or a benchmark calling the hook alone): a plugin then
        builds what it needs from ``settings`` as it goes.
    """


@hookspec
def wfaudit_retention_run(
    run: RetentionRun, settings: Mapping[str, Any], host: Host | None
) -> None:
    """Observe the end of one cycle of ``wfaudit retention run`` (observers).

    Called for every implementation once the cycle ended, whether it succeeded
    (``run.ok``) or failed (``run.error`` says why: the store or the archive
    could not be reached, a snapshot or an object could not be handled), after
    the store recorded it when it could. A notification plugin alerts on a
    failed cycle (wfaudit-webhooks sends ``retention.failed``). Errors in an
    observer are logged and ignored.

    :param run: the cycle: its id, tenant scope, start and end, ``ok``, what it
        did (``counts``) and the error of a failed one (a message, never data).
    :param settings: the ``[tool.wfaudit]`` / ``wfaudit.toml`` settings, for an
        observer's options.
    :param host: the :class:`~wfaudit_hookspecs.host.Host` of the auditor
        that ran the cycle (its ``stash`` holds what the plugin built in
        :func:`wfaudit_configure`), or None when the hook is called without
        one (a test or a benchmark calling the hook alone): a plugin then
        builds what it needs from ``settings`` as it goes.
    """
