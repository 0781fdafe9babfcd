"""Replaying a failed workflow from its snapshot: the engine side of retries.

:meth:`Auditor.retrigger` (a thin method over :func:`retrigger`) does, in order:

1. **Validate the replay context**, before anything is recorded or launched:
   the snapshot is read (its record's schema version is upgraded, or refused
   with ``UnsupportedSchemaVersion``; its blob is checked against its hash);
   the run failed or errored and was not retriggered already; the retry limit
   along the chain of parent snapshots is not exhausted
   (:class:`RetriesExhausted`); the plugins that produced the snapshot are
   installed (:class:`MissingPlugins`, or warnings when the caller allows it);
   every masked secret is restorable (``SecretsUnavailable``, naming paths)
   and is the secret the snapshot was taken with: each restored value is
   checked against the keyed fingerprint stored for it (:func:`check_secrets`;
   ``SecretsMismatch``, naming paths, unless the caller accepts rotated
   secrets explicitly with ``accept_rotated``, which the trail records).
2. **Record** a new snapshot of the new run: the parent's masked config and
   manifest (the same content hash: nothing is re-masked, nothing is stored
   twice), trigger kind ``retry``, ``parent`` = the parent's snapshot id,
   ``attempt`` = the parent's + 1; and a ``snapshot.retriggered`` event on the
   parent.
3. **Launch**: call the launcher with the restored request. A launcher that
   raises is recorded as an ``error`` outcome of the new run
   (:class:`LaunchFailed`).

The replayed config is the snapshot's: a pipeline whose definition changed
since is retriggered as it was triggered, not as it is now.

The engine's cap: whatever the policy plugins vote, :func:`cap_decision` turns
a retry vote into a refusal once a run's lineage used its type's retries
(``MAX_CI_WORKFLOW_RETRIES`` ... see :mod:`wfaudit.builtin.retry`), and
:func:`prepare` refuses to retrigger past it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from wfaudit_hookspecs import (
    EventKind,
    InvalidRequest,
    Manifest,
    MaskedField,
    MaskingError,
    PluginError,
    RetryDecision,
    SecretRequest,
    SecretsMismatch,
    SecretsUnavailable,
    Snapshot,
    SnapshotConflict,
    SnapshotRecord,
    Status,
    Store,
    TriggerKind,
    TriggerRequest,
    WfauditError,
    canonical_json,
    check_json,
    parse_pointer,
)
from wfaudit_hookspecs.pointer import get_at

from .ids import new_id
from .launchers import (
    ExecLauncher,
    FileLauncher,
    Launcher,
    failure_of,
    parse_command,
    request_document,
    write_private,
)
from .masking import KEY_ENCODING, PLACEHOLDER_PREFIX, unmask
from .plugins import stable_name
from .retry import ABSOLUTE_MAX_RETRIES

if TYPE_CHECKING:
    from .plugins import PluginManager
    from .ports import ReplayEngine

__all__ = [
    "BLANKED_AT_SOURCE",
    "DECIDED",
    "ENGINE_POLICY",
    "ORIGIN_LABELS",
    "ROTATION_ACCEPTED",
    "ExecLauncher",
    "FileLauncher",
    "LaunchFailed",
    "Launcher",
    "MissingPlugins",
    "NotRetriggerable",
    "ReplayPlan",
    "RestoreMapEntry",
    "RestoredSecrets",
    "RetriesExhausted",
    "RetriggerResult",
    "SecretCheck",
    "attempt_of",
    "cap_decision",
    "check_plugins",
    "check_secrets",
    "failure_of",
    "lineage",
    "new_run_request",
    "parse_command",
    "plan",
    "prepare",
    "producers",
    "request_document",
    "restore_map",
    "restore_request",
    "retrigger",
    "write_private",
]

ENGINE_POLICY = "wfaudit.engine"
"""The ``policy`` of the decisions the engine imposes over the plugins' votes."""

DECIDED = "retry.decided"
"""The audit-trail event recording the retry decision taken on a failure."""

GENERIC_FORMAT = "generic"

ROTATION_ACCEPTED = "secrets.rotation_accepted"
"""The audit-trail event (on the new run) naming the rotated secrets a retrigger
was allowed to launch with (``accept_rotated``): paths only, never values."""


class RetriesExhausted(WfauditError):
    """The run's lineage used every retry its workflow type allows."""


class MissingPlugins(WfauditError):
    """Plugins that produced the snapshot are not installed now."""

    def __init__(self, missing: Sequence[str]) -> None:
        self.missing = tuple(missing)
        super().__init__(
            "the snapshot was produced by plugins that are not installed: "
            + ", ".join(self.missing)
            + " (install them, or allow the replay without them: --allow-missing-plugins)"
        )


class NotRetriggerable(InvalidRequest):
    """The run cannot be retriggered (not failed, retriggered already, id taken)."""


class LaunchFailed(WfauditError):
    """The launcher raised; an ``error`` outcome of the new run was recorded.

    :ivar outcome: the recorded outcome, with the policies' retry decision.
    :ivar error: the launcher's exception (its message may quote the request:
        do not log it).
    """

    def __init__(self, message: str, outcome: Any, error: BaseException) -> None:
        super().__init__(message)
        self.outcome = outcome
        self.error = error


# -- what produced a snapshot ------------------------------------------------------


def producers(pm: PluginManager, adapter: str | None, maskers: Sequence[str]) -> tuple[str, ...]:
    """``name==version`` of the plugins producing a snapshot, for its manifest
    (:meth:`wfaudit.plugins.PluginManager.producers`)."""
    return pm.producers(adapter, maskers)


def check_plugins(pm: PluginManager, manifest: Manifest) -> tuple[list[str], list[str]]:
    """The producers of a snapshot that are missing now, and version changes.

    Snapshots from before ``Manifest.plugins`` existed are checked by their
    masker names. A payload format no installed adapter declares is missing too.
    """
    present = {
        stable_name(name): name for name, plugin in pm.list_name_plugin() if plugin is not None
    }
    recorded = manifest.plugins or tuple(stable_name(name) for name in manifest.maskers)
    missing: list[str] = []
    warnings: list[str] = []
    for entry in recorded:
        name, _, version = entry.partition("==")
        if name == "wfaudit":
            current = pm.version_of(name)
        elif name in present:
            current = pm.version_of(present[name])
        else:
            missing.append(f"{name}=={version}" if version else name)
            continue
        if version and current and version != current:
            warnings.append(
                f"{name} produced the snapshot at version {version}; it is {current} now"
            )
    adapter = manifest.adapter
    if adapter and adapter != GENERIC_FORMAT and adapter not in pm.payload_formats:
        missing.append(f"an adapter of payload format {adapter!r}")
    return missing, warnings


# -- attempts along the parent chain ------------------------------------------------


def lineage(store: Store, record: SnapshotRecord) -> list[SnapshotRecord]:
    """``record`` and its ancestors, newest first, following ``parent`` links.

    Stops at a parent that is gone, belongs to another tenant, or was seen
    already (a cycle), and after more links than any retry limit allows.
    """
    chain = [record]
    seen = {record.id}
    current = record
    while current.parent is not None and len(chain) <= ABSOLUTE_MAX_RETRIES + 1:
        parent = store.get_record_by_id(current.parent, tenant=current.tenant)
        if parent is None or parent.id in seen or parent.tenant != current.tenant:
            break
        chain.append(parent)
        seen.add(parent.id)
        current = parent
    return chain


def attempt_of(store: Store, record: SnapshotRecord) -> int:
    """The attempt number of a run, counted along its parent chain.

    The larger of the recorded ``attempt`` and the chain's length, so neither
    a lost ancestor nor a wrong number lets a loop start counting again.
    """
    return max(record.attempt, len(lineage(store, record)))


def cap_decision(
    auditor: ReplayEngine, record: SnapshotRecord, decision: RetryDecision | None, attempt: int
) -> RetryDecision | None:
    """The engine's last word on the policies' combined vote; recorded in the trail.

    A vote to retry a run whose lineage used its type's retries becomes a
    refusal, whatever the plugins said.
    """
    if decision is not None and decision.retry:
        limit, source = auditor.retry_settings.limit(record.workflow_type)
        if attempt - 1 >= limit:
            decision = RetryDecision(
                retry=False,
                reason=f"retries exhausted: {attempt - 1} of {limit} ({source}) used "
                f"(policy {decision.policy or 'unnamed'} voted to retry)",
                policy=ENGINE_POLICY,
            )
    if decision is not None:
        data = {
            "retry": decision.retry,
            "reason": decision.reason,
            "policy": decision.policy,
            "attempt": attempt,
            "delay_seconds": decision.delay_seconds,
        }
        auditor.store.append_event(
            subject=record.id, kind=DECIDED, tenant=record.tenant, actor=ENGINE_POLICY, data=data
        )
        auditor.notify(DECIDED, record, data)
    return decision


# -- the replay context ---------------------------------------------------------------


@attrs.frozen(kw_only=True)
class ReplayPlan:
    """What a retrigger will do, validated; it holds no secret.

    :ivar parent: the failed run's record.
    :ivar workflow_id: the new run's workflow id.
    :ivar attempt: the new run's attempt number.
    :ivar max_retries: how many retries its type allows, and ``limit_source``
        the setting that says so.
    :ivar secrets: the keys (paths) of the secrets to restore; never values.
    :ivar plugins: the plugins that produced the snapshot (``name==version``).
    :ivar missing_plugins: those not installed now (only with
        ``allow_missing_plugins``; otherwise :class:`MissingPlugins` is raised).
    :ivar warnings: what the caller should know (version changes, missing plugins).
    """

    parent: SnapshotRecord
    workflow_id: str
    attempt: int
    max_retries: int
    limit_source: str
    secrets: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()
    missing_plugins: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    secret_checks: tuple[SecretCheck, ...] = ()
    """What restoring found, per secret (filled by :meth:`Auditor.plan_retrigger`
    and :func:`retrigger`; empty after :func:`prepare` alone)."""

    @property
    def retry_number(self) -> int:
        """Which retry this is (1 for the first)."""
        return self.attempt - 1

    def to_json(self) -> dict[str, Any]:
        """The plan as JSON data (``wfaudit retrigger --dry-run --json`` and the
        ingest API's retriggers); it holds no secret."""
        parent = self.parent
        return {
            "parent": {
                "snapshot_id": parent.id,
                "workflow_id": parent.workflow_id,
                "workflow_type": parent.workflow_type,
                "pipeline_id": parent.pipeline_id,
                "status": parent.status.value,
                "reason": parent.status_reason,
                "schema_version": parent.schema_version,
                "content_hash": parent.content_hash,
            },
            "workflow_id": self.workflow_id,
            "attempt": self.attempt,
            "retry": self.retry_number,
            "max_retries": self.max_retries,
            "limit_source": self.limit_source,
            "secrets": list(self.secrets),
            "secret_checks": [
                {"key": c.key, "state": c.state, "accepted": c.accepted, "reason": c.reason or None}
                for c in self.secret_checks
            ],
            "plugins": list(self.plugins),
            "missing_plugins": list(self.missing_plugins),
            "warnings": list(self.warnings),
        }


@attrs.frozen(kw_only=True)
class RetriggerResult:
    """What :func:`retrigger` did.

    :ivar record: the new run's snapshot record (``parent`` links the failed run).
    :ivar request: the restored request the launcher got (holds secrets; never
        shown in ``repr``, but do not log its config).
    :ivar launched: what the launcher returned.
    """

    plan: ReplayPlan
    record: SnapshotRecord
    request: TriggerRequest = attrs.field(repr=False)
    launched: Any = None


def prepare(
    auditor: ReplayEngine,
    workflow_id: str | int,
    workflow_type: str,
    new_workflow_id: str | int | None = None,
    *,
    tenant: str | None = None,
    allow_missing_plugins: bool = False,
) -> tuple[ReplayPlan, Snapshot]:
    """Validate a retrigger's context; return the plan and the snapshot to replay.

    Secrets are not looked up here (:func:`restore_request` does it).

    :raises UnsupportedSchemaVersion: the snapshot was written by a newer wfaudit.
    :raises NotRetriggerable: the run did not fail, was retriggered already, or
        the new workflow id is taken.
    :raises RetriesExhausted: the lineage used its type's retries.
    :raises MissingPlugins: a producer of the snapshot is not installed.
    """
    snapshot = auditor.get_snapshot(workflow_id, workflow_type, tenant=tenant)
    where = f"{snapshot.workflow_type} workflow {snapshot.workflow_id!r}"
    if not snapshot.status.is_failure:
        raise NotRetriggerable(
            f"{where} is {snapshot.status.value}; only failed or errored runs are retriggered "
            "(record the outcome first: wfaudit status)"
        )
    chain = lineage(auditor.store, snapshot)
    attempt = max(snapshot.attempt, len(chain)) + 1
    limit, source = auditor.retry_settings.limit(snapshot.workflow_type)
    if attempt - 1 > limit:
        raise RetriesExhausted(
            f"{where} is attempt {attempt - 1}: its lineage used {attempt - 2} of {limit} "
            f"retries ({source}); nothing was launched"
        )
    for event in auditor.store.list_events(subject=snapshot.id, tenant=snapshot.tenant, limit=1000):
        if event.kind == EventKind.RETRIGGERED:
            child = event.data.get("workflow_id")
            raise NotRetriggerable(
                f"{where} was retriggered already, as workflow {child!r}; retrigger that run "
                "if it failed"
            )
    missing, warnings = check_plugins(auditor.plugin_manager, snapshot.manifest)
    if missing and not allow_missing_plugins:
        raise MissingPlugins(missing)
    if missing:
        warnings.insert(0, "replaying without the plugins that produced it: " + ", ".join(missing))
    if new_workflow_id is None:
        new_workflow_id = f"{chain[-1].workflow_id}-retry{attempt - 1}"
    new_id_text = TriggerRequest(
        workflow_id=new_workflow_id,
        workflow_type=snapshot.workflow_type,
        pipeline_id=snapshot.pipeline_id,
        config=None,
    ).workflow_id
    taken = auditor.store.get_record(
        workflow_id=new_id_text, workflow_type=snapshot.workflow_type, tenant=snapshot.tenant
    )
    if taken is not None:
        raise NotRetriggerable(
            f"{snapshot.workflow_type} workflow {new_id_text!r} is audited already; "
            "choose another new workflow id"
        )
    # The adapter's check of the new identity (Devtron's ids are integers): a dry
    # run says so too, before anything is recorded or launched.
    new_run_request(
        auditor, _child_request(snapshot, snapshot.config, new_id_text, attempt, None), snapshot
    )
    plan = ReplayPlan(
        parent=_record_of(snapshot),
        workflow_id=new_id_text,
        attempt=attempt,
        max_retries=limit,
        limit_source=source,
        secrets=tuple(field.key for field in snapshot.manifest.fields),
        plugins=snapshot.manifest.plugins,
        missing_plugins=tuple(missing),
        warnings=tuple(warnings),
    )
    return plan, snapshot


def _record_of(snapshot: Snapshot) -> SnapshotRecord:
    values = attrs.asdict(snapshot, recurse=False)
    values.pop("config")
    return SnapshotRecord(**values)


# -- restoring and checking the secrets ---------------------------------------------

MATCHING = "matching"
ROTATED = "rotated"
UNVERIFIED = "unverified"
INVALID = "invalid"
MISSING = "missing"


@attrs.frozen(kw_only=True)
class SecretCheck:
    """What restoring found for one masked secret; never its value.

    :ivar key: the secret's key (its path, with ``#start:end`` for a span).
    :ivar state: ``matching`` (the restored value is the one the snapshot was
        taken with: its fingerprint matches under the current or a retired key),
        ``rotated`` (a value that differs: rotated or wrong), ``unverified`` (the
        snapshot recorded no fingerprint for it), ``invalid`` (an answer that is
        never used: ``reason`` says why) or ``missing`` (no restorer had it).
    :ivar accepted: a ``rotated`` or ``unverified`` secret the caller accepted.
    """

    key: str
    state: str
    accepted: bool = False
    reason: str = ""

    @property
    def usable(self) -> bool:
        return self.state == MATCHING or (self.state in (ROTATED, UNVERIFIED) and self.accepted)


@attrs.frozen
class RestoredSecrets:
    """The restored values of a snapshot's secrets, and the check of each."""

    checks: tuple[SecretCheck, ...]
    values: Mapping[str, str] = attrs.field(repr=False)
    restorers: int = 0

    @property
    def accepted(self) -> tuple[str, ...]:
        """The keys of the rotated or unverified secrets the caller accepted."""
        return tuple(c.key for c in self.checks if c.accepted and c.state != MATCHING)

    def refusal(self) -> SecretsUnavailable | None:
        """The error a retrigger with these values raises, or None if it may launch."""
        missing = [c.key for c in self.checks if c.state == MISSING]
        invalid = [c.key for c in self.checks if c.state == INVALID]
        rotated = [c.key for c in self.checks if c.state in (ROTATED, UNVERIFIED) and not c.usable]
        if missing:
            detail = (
                "no restorer had them"
                if self.restorers
                else "no restorer plugin is installed (install wfaudit-keyring)"
            )
            if invalid or rotated:
                detail += "; and the values restored at " + ", ".join(invalid + rotated)
                detail += " are not the snapshot's"
            return SecretsUnavailable(missing, detail)
        if invalid or rotated:
            unverified = [c.key for c in self.checks if c.state == UNVERIFIED and not c.usable]
            detail = (
                "no fingerprint was recorded for " + ", ".join(unverified) if unverified else ""
            )
            return SecretsMismatch(rotated=rotated, invalid=invalid, detail=detail)
        return None


def check_secrets(
    auditor: ReplayEngine, snapshot: Snapshot, accept_rotated: Iterable[str] = ()
) -> RestoredSecrets:
    """Ask the restorers for every masked secret and check each answer.

    A value is used only if it is the secret the snapshot was taken with: its
    HMAC under the installation's current key or one of its retired keys
    (:class:`wfaudit.keys.FingerprintKeys`) is the stored fingerprint. An
    empty answer, a ``[masked:...]`` placeholder, text that is not JSON where
    JSON was masked, and, for a secret inside a string, an answer holding the
    text around the span (the whole string) are never used. A value that
    differs (``rotated``) is used only when ``accept_rotated`` names its key or
    path. Several restorers may answer one key: a matching answer wins.

    :raises InvalidRequest: ``accept_rotated`` names no masked secret.
    """
    fields = snapshot.manifest.fields
    accepted = _accepted(fields, accept_rotated)
    answers: dict[str, list[str]] = {}
    if fields:
        requests = [SecretRequest.from_field(field) for field in fields]
        for answer in auditor.hooks.restore_secrets(snapshot, requests, auditor.settings.options):
            for key, value in answer.items():
                answers.setdefault(str(key), []).append(value)
    config = snapshot.config
    checks: list[SecretCheck] = []
    values: dict[str, str] = {}
    for field in fields:
        blanked = field.rule == BLANKED_AT_SOURCE
        found = answers.get(field.key, [])
        if not found and blanked:
            checks.append(
                SecretCheck(
                    key=field.key,
                    state=UNVERIFIED,
                    accepted=True,
                    reason="blanked at the source and restored by no restorer: kept empty",
                )
            )
            values[field.key] = ""
            continue
        if not found:
            checks.append(SecretCheck(key=field.key, state=MISSING))
            continue
        judged = [(_judge(auditor, field, config, value), value) for value in found]
        judged.sort(key=lambda item: _PREFERENCE[item[0][0]])
        (state, reason), value = judged[0]
        ok = blanked or field.key in accepted or field.path in accepted
        check = SecretCheck(
            key=field.key,
            state=state,
            accepted=ok and state in (ROTATED, UNVERIFIED),
            reason=reason,
        )
        checks.append(check)
        if check.usable:
            values[field.key] = value
    restorers = auditor.hooks.restorer_count()
    return RestoredSecrets(tuple(checks), values, restorers)


_PREFERENCE = {MATCHING: 0, ROTATED: 1, UNVERIFIED: 2, INVALID: 3, MISSING: 4}

ORIGIN_LABELS = frozenset({"imported-from"})
"""Labels that say how a snapshot came to be (``wfaudit import``), not what the run
is: a retrigger's new run does not inherit them."""

BLANKED_AT_SOURCE = "blanked-at-source"
"""The rule of a masked field whose secret the source system had blanked before
wfaudit saw the request (the eight fields Devtron's own sanitiser empties, in an
imported snapshot): no fingerprint can exist. At a retrigger a restored value is
used unverified (and accepted, on the trail), an empty one too; one no restorer
finds stays empty, as Devtron's own retrigger leaves a credential its current
configuration does not have."""


NOT_FOUND = "not found"
"""How a restorer's description of a secret it cannot find begins (``wfaudit_restore_sources``)."""


@attrs.frozen(kw_only=True)
class RestoreMapEntry:
    """Where one masked secret of a snapshot will be restored from; never its value.

    :ivar key: the secret's key (its path, ``#start:end`` for a span).
    :ivar rule: the masker rule that masked it.
    :ivar state: what restoring found (:class:`SecretCheck` states: ``matching``,
        ``rotated``, ``unverified``, ``invalid``, ``missing``).
    :ivar source: the restorers' description of where it is (or was looked for).
    """

    key: str
    rule: str
    state: str
    source: str

    reason: str = ""
    usable: bool = False

    @property
    def restores(self) -> bool:
        """A retrigger would launch with it (the snapshot's own secret, or one
        accepted: blanked at the source)."""
        return self.usable


def restore_map(auditor: ReplayEngine, snapshot: Snapshot) -> tuple[RestoreMapEntry, ...]:
    """For each masked secret of ``snapshot``: whether it will restore, and from where.

    The restorers are asked for the values (``wfaudit_restore_secrets``, each
    checked against its fingerprint, then dropped) and for their sources
    (``wfaudit_restore_sources``). Nothing returned holds a value.
    """
    checks = {check.key: check for check in check_secrets(auditor, snapshot).checks}
    # (check_secrets raised nothing: accept_rotated is empty.)
    fields = snapshot.manifest.fields
    requests = [SecretRequest.from_field(field) for field in fields]
    sources: dict[str, str] = {}
    if requests:
        for answer in auditor.hooks.restore_sources(snapshot, requests, auditor.settings.options):
            for key, text in answer.items():
                current = sources.get(str(key))
                if current is None or (
                    current.startswith(NOT_FOUND) and not str(text).startswith(NOT_FOUND)
                ):
                    sources[str(key)] = " ".join(str(text).split())
    return tuple(
        RestoreMapEntry(
            key=field.key,
            rule=field.rule,
            state=checks[field.key].state,
            source=sources.get(field.key, "no restorer knows where it is"),
            reason=checks[field.key].reason,
            usable=checks[field.key].usable,
        )
        for field in fields
    )


def _accepted(fields: Sequence[MaskedField], accept_rotated: Iterable[str]) -> frozenset[str]:
    if isinstance(accept_rotated, str):
        accept_rotated = (accept_rotated,)
    given = frozenset(str(item) for item in accept_rotated)
    known = {field.key for field in fields} | {field.path for field in fields}
    unknown = sorted(given - known)
    if unknown:
        raise InvalidRequest(
            "accept_rotated names no masked secret of the snapshot: "
            + ", ".join(unknown)
            + " (give the paths, or path#start:end keys, that wfaudit show lists)"
        )
    return given


def _judge(auditor: ReplayEngine, field: MaskedField, config: Any, value: str) -> tuple[str, str]:
    """The state of one answer for ``field``, with the reason of an invalid one."""
    if PLACEHOLDER_PREFIX in value:
        return INVALID, "a [masked:...] placeholder"
    text = value
    if field.encoding == "json":
        try:
            text = canonical_json(json.loads(value)).decode("utf-8")
        except (ValueError, TypeError, WfauditError):
            return INVALID, "not JSON text"
    if field.fingerprint and auditor.keys.matches(text, field.fingerprint):
        return MATCHING, ""
    if field.rule == BLANKED_AT_SOURCE:
        return UNVERIFIED, "blanked at the source: no fingerprint to check"
    if not value.strip():
        return INVALID, "empty"
    if field.span is not None and not _fits_span(field, config, value):
        return INVALID, "the text around the span too (the whole string?), not the span's secret"
    if not field.fingerprint:
        return UNVERIFIED, "no fingerprint recorded"
    return ROTATED, ""


_CONTEXT = 3
"""The length from which a literal piece of the masked string next to a span, found
inside a span's answer, shows the answer is more than the span."""


def _fits_span(field: MaskedField, config: Any, value: str) -> bool:
    """Whether ``value`` can be the secret of ``field``'s span alone.

    An answer that starts with the masked string's literal text just before the
    span, ends with the text just after it, or holds a longer literal piece of
    the string around the span, is (a copy of) the whole string.
    """
    assert field.span is not None
    try:
        path = parse_pointer(field.path, config)
        text = path[-1] if field.encoding == KEY_ENCODING else get_at(config, path)
    except (KeyError, IndexError, TypeError, WfauditError):
        return True
    if not isinstance(text, str):
        return True
    start, end = field.span
    literals = [piece for piece in _literals(text) if piece]
    before = _literal_before(text, start)
    after = _literal_after(text, end)
    if (before and value.startswith(before)) or (after and value.endswith(after)):
        return False
    return not any(len(piece) >= _CONTEXT and piece in value for piece in literals)


def _literals(text: str) -> list[str]:
    """The pieces of a masked string between its placeholders."""
    pieces: list[str] = []
    rest = text
    while True:
        found = rest.find(PLACEHOLDER_PREFIX)
        if found < 0:
            pieces.append(rest)
            return pieces
        pieces.append(rest[:found])
        close = rest.find("]", found)
        if close < 0:
            return pieces
        rest = rest[close + 1 :]


def _literal_before(text: str, start: int) -> str:
    head = text[:start]
    found = head.rfind(PLACEHOLDER_PREFIX)
    if found >= 0:
        close = head.find("]", found)
        head = head[close + 1 :] if close >= 0 else ""
    return head


def _literal_after(text: str, end: int) -> str:
    tail = text[end:]
    found = tail.find(PLACEHOLDER_PREFIX)
    return tail if found < 0 else tail[:found]


def restore_request(
    auditor: ReplayEngine, snapshot: Snapshot, *, accept_rotated: Iterable[str] = ()
) -> TriggerRequest:
    """The request a snapshot was taken of, with every secret restored and checked.

    :raises SecretsUnavailable: some secret was found by no restorer; the error
        names the paths, never a value, and nothing is returned.
    :raises SecretsMismatch: a restored value is not the snapshot's secret (see
        :func:`check_secrets`), and ``accept_rotated`` does not accept it.
    """
    restored = check_secrets(auditor, snapshot, accept_rotated)
    refusal = restored.refusal()
    if refusal is not None:
        raise refusal
    return _restored_request(snapshot, restored)


def plan(
    auditor: ReplayEngine,
    workflow_id: str | int,
    workflow_type: str,
    new_workflow_id: str | int | None = None,
    *,
    tenant: str | None = None,
    allow_missing_plugins: bool = False,
    accept_rotated: Iterable[str] = (),
    refuse: bool = True,
) -> ReplayPlan:
    """Validate a retrigger without recording or launching anything (a dry run):
    :func:`prepare`, then the secrets, restored, checked and dropped
    (``plan.secret_checks``). Secrets that would stop the retrigger raise unless
    ``refuse`` is False (the plan reports them)."""
    replay_plan, snapshot = prepare(
        auditor,
        workflow_id,
        workflow_type,
        new_workflow_id,
        tenant=tenant,
        allow_missing_plugins=allow_missing_plugins,
    )
    secrets = check_secrets(auditor, snapshot, accept_rotated)
    refusal = secrets.refusal()
    if refuse and refusal is not None:
        raise refusal
    return attrs.evolve(replay_plan, secret_checks=secrets.checks)


def _restored_request(snapshot: Snapshot, restored: RestoredSecrets) -> TriggerRequest:
    config = unmask(check_json(snapshot.config), snapshot.manifest.fields, restored.values)
    return TriggerRequest(
        workflow_id=snapshot.workflow_id,
        workflow_type=snapshot.workflow_type,
        pipeline_id=snapshot.pipeline_id,
        config=config,
        triggered_by=snapshot.triggered_by,
        trigger_kind=snapshot.trigger_kind,
        tenant=snapshot.tenant,
        labels=snapshot.labels,
        parent=snapshot.parent,
        attempt=snapshot.attempt,
        format=snapshot.manifest.adapter,
    )


def retrigger(
    auditor: ReplayEngine,
    workflow_id: str | int,
    workflow_type: str,
    new_workflow_id: str | int | None,
    launcher: Launcher,
    *,
    by: str | None = None,
    tenant: str | None = None,
    allow_missing_plugins: bool = False,
    accept_rotated: Iterable[str] = (),
) -> RetriggerResult:
    """Retrigger a failed run from its snapshot (see the module's docstring).

    ``accept_rotated`` lists the secrets (paths or ``path#start:end`` keys)
    that may be launched with a value other than the snapshot's (a rotated
    secret); the new run's trail records them (:data:`ROTATION_ACCEPTED`).

    :raises LaunchFailed: the launcher raised; the new run's ``error`` outcome
        is recorded and in the exception.
    """
    plan, snapshot = prepare(
        auditor,
        workflow_id,
        workflow_type,
        new_workflow_id,
        tenant=tenant,
        allow_missing_plugins=allow_missing_plugins,
    )
    secrets = check_secrets(auditor, snapshot, accept_rotated)
    plan = attrs.evolve(plan, secret_checks=secrets.checks)
    refusal = secrets.refusal()
    if refusal is not None:
        raise refusal
    auditor.check_key()
    restored = _restored_request(snapshot, secrets)
    request = new_run_request(
        auditor,
        _child_request(snapshot, restored.config, plan.workflow_id, plan.attempt, by),
        snapshot,
    )
    masked = new_run_request(
        auditor,
        _child_request(snapshot, check_json(snapshot.config), plan.workflow_id, plan.attempt, by),
        snapshot,
    )
    _check_masks_kept(snapshot, masked.config)
    # The new run's snapshot is the parent's (same content, stored once) unless the
    # adapter wrote new identities in, or secrets the source had blanked come back:
    # then it is the launched request, masked, as the orchestrator's audit of the
    # new run will mask it (the same audit, not a conflict).
    remask = masked.config != snapshot.config or any(
        field.rule == BLANKED_AT_SOURCE for field in snapshot.manifest.fields
    )
    record = _record_child(auditor, snapshot, plan, by, request if remask else masked, remask)
    if secrets.accepted:
        paths = list(secrets.accepted)
        auditor.store.append_event(
            subject=record.id,
            kind=ROTATION_ACCEPTED,
            tenant=record.tenant,
            actor=by or snapshot.triggered_by,
            data={"paths": paths, "parent": snapshot.id},
        )
        auditor.notify(ROTATION_ACCEPTED, record, {"paths": paths})
    try:
        launched = launcher(request)
    except Exception as error:
        name = type(error).__name__
        outcome = auditor.record_outcome(
            record.workflow_id,
            record.workflow_type,
            Status.ERROR,
            f"launch failed: {name}",
            by=by,
            tenant=record.tenant,
        )
        # The launcher's message may quote the request: name its type only.
        raise LaunchFailed(
            f"the launcher of {record.workflow_type} workflow {record.workflow_id!r} raised "
            f"{name}; outcome 'error' recorded",
            outcome,
            error,
        ) from None
    return RetriggerResult(plan=plan, record=record, request=request, launched=launched)


def _child_request(
    snapshot: Snapshot, config: Any, workflow_id: str, attempt: int, by: str | None
) -> TriggerRequest:
    """The new run's request before its adapter wrote the new identities in."""
    return TriggerRequest(
        workflow_id=workflow_id,
        workflow_type=snapshot.workflow_type,
        pipeline_id=snapshot.pipeline_id,
        config=config,
        triggered_by=by or snapshot.triggered_by,
        trigger_kind=TriggerKind.RETRY,
        tenant=snapshot.tenant,
        labels={k: v for k, v in snapshot.labels.items() if k not in ORIGIN_LABELS},
        parent=snapshot.id,
        attempt=attempt,
        format=snapshot.manifest.adapter,
    )


def new_run_request(
    auditor: ReplayEngine, request: TriggerRequest, parent: SnapshotRecord
) -> TriggerRequest:
    """``request`` with the new run's identities written into its config by the
    adapter of its format (``wfaudit_new_run``); as it is when no adapter answers.

    The identity fields the engine decided (workflow id, type, pipeline, parent,
    attempt, kind, tenant) stay the engine's: an adapter changes the config and
    ``triggered_by`` only.
    """
    if request.format in (None, GENERIC_FORMAT):
        return request
    answer = auditor.hooks.new_run(request, parent)
    if answer is None:
        return request
    return attrs.evolve(request, config=answer.config, triggered_by=answer.triggered_by)


def _check_masks_kept(snapshot: Snapshot, config: Any) -> None:
    """An adapter's new-run config keeps every masked value where it was."""
    for field in snapshot.manifest.fields:
        try:
            before = get_at(snapshot.config, parse_pointer(field.path, snapshot.config))
            after = get_at(config, parse_pointer(field.path, config))
        except (KeyError, IndexError, TypeError, ValueError, WfauditError):
            before, after = True, False
        if before != after:
            raise PluginError(
                f"the adapter's new-run request moved or changed the masked value at {field.path}"
            )


def _check_masks_cover(parent: Snapshot, child: SnapshotRecord, config: Any) -> None:
    """The new run's snapshot masks every secret its parent's masked (a maskers'
    change since must not store a restored secret in the clear)."""
    masked = {field.path for field in child.manifest.fields}
    for field in parent.manifest.fields:
        if field.path in masked or field.encoding == KEY_ENCODING:
            continue
        if field.rule == BLANKED_AT_SOURCE and _value_at(config, field.path) == "":
            continue  # empty at the source, and empty again: nothing to mask
        raise MaskingError(
            f"the new run's request would leave {field.path} unmasked, which its parent "
            "masked (have the maskers changed?); nothing was recorded or launched"
        )


def _value_at(config: Any, pointer: str) -> Any:
    try:
        return get_at(config, parse_pointer(pointer, config))
    except (KeyError, IndexError, TypeError, ValueError, WfauditError):
        return None


def _record_child(
    auditor: ReplayEngine,
    snapshot: Snapshot,
    plan: ReplayPlan,
    by: str | None,
    new_run: TriggerRequest,
    remask: bool,
) -> SnapshotRecord:
    """Record the new run: the parent's masked config as it is, or (``remask``) the
    launched request ``new_run`` masked by the audit's pipeline, so that the
    orchestrator's audit of the new run is this same audit."""
    triggered_by = new_run.triggered_by
    actor = by or triggered_by
    record = SnapshotRecord(
        id=new_id(),
        workflow_id=plan.workflow_id,
        workflow_type=snapshot.workflow_type,
        pipeline_id=snapshot.pipeline_id,
        content_hash=snapshot.content_hash,
        manifest=snapshot.manifest,
        tenant=snapshot.tenant,
        triggered_by=triggered_by,
        trigger_kind=TriggerKind.RETRY,
        labels=new_run.labels,
        parent=snapshot.id,
        attempt=plan.attempt,
        config_size=snapshot.config_size,
        created_by=actor,
        updated_by=actor,
    )
    if not remask:
        blob = auditor.store.get_blob(snapshot.content_hash)
        if blob is None:  # read moments ago by prepare(): the store changed under us
            raise NotRetriggerable(f"snapshot {snapshot.id}: its blob is gone")
    else:
        built, canonical = auditor.snapshot_of(new_run)
        _check_masks_cover(snapshot, built, new_run.config)
        record = attrs.evolve(
            record,
            content_hash=built.content_hash,
            config_size=built.config_size,
            manifest=built.manifest,
            labels=built.labels,
            triggered_by=built.triggered_by,
        )
        blob = auditor.whole_blob(record, canonical)
    try:
        saved = auditor.persist_now(record, blob)
    except SnapshotConflict as conflict:
        # Another retrigger of the same run recorded its child first (the store
        # keeps one child per parent): this one launches nothing.
        raise NotRetriggerable(f"{conflict}; nothing was launched") from None
    if not saved.created:
        raise NotRetriggerable(
            f"{record.workflow_type} workflow {record.workflow_id!r} was recorded by another "
            "retrigger meanwhile; nothing was launched"
        )
    auditor.store.append_event(
        subject=snapshot.id,
        kind=EventKind.RETRIGGERED,
        tenant=snapshot.tenant,
        actor=actor,
        data={"child": record.id, "workflow_id": record.workflow_id, "attempt": record.attempt},
    )
    auditor.notify(EventKind.RETRIGGERED, record, {"parent": snapshot.id})
    return record
