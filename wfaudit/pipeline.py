"""The audit pipeline: from a trigger request to the record and canonical masked
JSON an audit stores, nothing written.

The stages, in order (:meth:`Pipeline.build`): the engine's checked copy of the
config (:func:`~wfaudit_hookspecs.canonical.check_json`: validated, measured
against the request limits and copied in one walk); the adapters
(``wfaudit_pre_trigger``) and the request's own checks; the installation key; the
maskers (``wfaudit_mask``) and the engine's application of their marks
(:func:`~wfaudit.masking.apply_marks`); canonical JSON, serialised once, and its
content hash (the record is made by :meth:`SnapshotRecord.from_request`).
Persisting the record, the spool and the events are
:mod:`wfaudit.persisting`'s.
"""

from __future__ import annotations

import datetime as _dt
import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from wfaudit_hookspecs import (
    AmbiguousPayload,
    AuditResult,
    InvalidRequest,
    Manifest,
    MaskedField,
    MaskingRequired,
    PluginError,
    SnapshotRecord,
    TriggerRequest,
    UnknownWorkflowType,
    UnrecognisedPayload,
    WfauditError,
    canonical_json,
    check_json,
    content_hash,
    parse_pointer,
)
from wfaudit_hookspecs.pointer import Path, get_at

from . import retrigger as replay
from .ids import new_id
from .masking import Marks, MaskOutcome, apply_marks, where
from .plugins import PluginManager
from .settings import Settings

if TYPE_CHECKING:
    from wfaudit_hookspecs import Host

__all__ = [
    "FROM_PAYLOAD",
    "GENERIC_FORMAT",
    "AuditFailed",
    "Origin",
    "Pipeline",
    "Stage",
    "failed",
    "path_in",
    "safe_message",
    "with_blanked",
]

log = logging.getLogger("wfaudit")

FROM_PAYLOAD = "-"
"""An identity given as ``-`` is read from the payload by the adapter that recognises it."""

GENERIC_FORMAT = "generic"
"""The format of a payload no adapter recognised: audited as given."""


class AuditFailed(WfauditError):
    """An audit failed for a reason that is not a :class:`WfauditError` (strict mode)."""


@attrs.frozen(kw_only=True)
class Origin:
    """Where an imported snapshot comes from (:meth:`Auditor.import_snapshot`).

    :ivar created_on: when the source recorded the trigger (timezone-aware).
    :ivar created_by: who the source says created it, and ``updated_*`` likewise.
    :ivar blanked: JSON pointers of the fields the source blanked (emptied) as
        secrets before storing the request: recorded as masked fields without a
        fingerprint, so that a retrigger restores them.
    """

    created_on: _dt.datetime
    created_by: str | None
    updated_on: _dt.datetime
    updated_by: str | None
    blanked: tuple[str, ...] = ()


class Stage:
    """Where an audit is, for error messages; and the secrets to scrub once masked."""

    def __init__(self) -> None:
        self.name = "request"
        self.secrets: tuple[str, ...] | None = None

    def __repr__(self) -> str:
        return f"<Stage {self.name}>"


def safe_message(exc: BaseException, stage: Stage) -> str:
    """One line about ``exc`` that cannot quote a secret.

    Our own errors never quote request data. Another exception raised before
    masking finished is named by type only; after masking, its message is kept
    with every secret the masking removed scrubbed out.
    """
    if isinstance(exc, WfauditError):
        return str(exc)
    name = type(exc).__name__
    if stage.secrets is None:
        return f"{name} in the {stage.name} stage"
    text = str(exc)
    for secret in sorted(stage.secrets, key=len, reverse=True):
        if len(secret) >= 3:
            text = text.replace(secret, "[masked]")
    first_line = text.splitlines()[0] if text else ""
    return (
        f"{name} in the {stage.name} stage: {first_line}"
        if first_line
        else f"{name} in the {stage.name} stage"
    )


def failed(
    request: TriggerRequest | None,
    exc: Exception,
    stage: Stage,
    *,
    strict: bool,
    report: Callable[[TriggerRequest, BaseException], None],
) -> AuditResult:
    """What an audit that raised ``exc`` at ``stage`` answers (the non-blocking policy).

    The failure is logged (one line, no secret) unless ``strict``, and told to the
    ``wfaudit_audit_error`` observers (``report``). Then, in strict mode, it is
    raised (an error not of wfaudit as :class:`AuditFailed`, its chain cut when
    masking had not finished: the chain could quote secrets); else returned as
    ``AuditResult(ok=False)``.
    """
    message = safe_message(exc, stage)
    if not strict:  # in strict mode the caller gets the error instead
        who = f"{request.workflow_type} {request.workflow_id}" if request else "a trigger"
        log.error("audit of %s failed at %s: %s", who, stage.name, message)
    if request is not None:
        report(request, exc)
    if strict:
        if isinstance(exc, WfauditError):
            raise exc
        if stage.secrets is None:  # before masking: the chain could quote secrets
            raise AuditFailed(message) from None
        raise AuditFailed(message) from exc
    return AuditResult(ok=False, error=message, error_type=type(exc).__name__)


class Pipeline:
    """The stages of an audit before it is persisted, for one auditor.

    :param plugin_manager: the auditor's plugins.
    :param settings: the auditor's settings (request limits, tenant, options).
    :param key: the installation key that fingerprints masked values.
    :param check_key: the auditor's check of that key against the store, called
        with ``transient_ok`` (a store out of reach now does not fail it).
    """

    def __init__(
        self,
        plugin_manager: PluginManager,
        settings: Settings,
        key: bytes,
        check_key: Callable[..., None],
    ) -> None:
        self.plugin_manager = plugin_manager
        self.settings = settings
        self.key = key
        self.hooks = plugin_manager.hooks
        self._check_key = check_key
        self.host: Host | None = None
        """The auditor's host, given to the maskers (``wfaudit_mask``); the
        auditor sets it once the host exists."""

    def build(
        self,
        request: TriggerRequest,
        stage: Stage,
        origin: Origin | None = None,
        *,
        check_key: bool = True,
    ) -> tuple[SnapshotRecord, bytes]:
        """The record and canonical masked JSON of a request: checked, adapted, masked,
        hashed; nothing is written (``check_key`` claims the key in a new store)."""
        # Before any work: the engine's own deep copy, validated and measured in
        # one pass, which stops as soon as the config is over a limit.
        checked = self.checked_config(request.config)
        request = attrs.evolve(request, config=checked)

        stage.name = "pre-trigger"
        request = self.check_request(self.pre_trigger(request))
        if origin is not None and request.triggered_by is None:
            request = attrs.evolve(request, triggered_by=origin.created_by)

        if check_key:
            stage.name = "key"
            self._check_key(transient_ok=not self.settings.strict and origin is None)

        stage.name = "mask"
        masked = self.mask(request, checked)
        stage.secrets = masked.secrets
        manifest = masked.manifest
        if origin is not None and origin.blanked:
            manifest = with_blanked(manifest, masked.config, origin.blanked)

        stage.name = "encode"
        canonical = canonical_json(masked.config)
        digest = content_hash(canonical)
        record = SnapshotRecord.from_request(
            request,
            id=new_id(),
            content_hash=digest,
            manifest=attrs.evolve(
                manifest,
                plugins=self.plugin_manager.producers(manifest.adapter, manifest.maskers),
            ),
            config_size=len(canonical),
        )
        if origin is not None:
            record = attrs.evolve(
                record,
                created_on=origin.created_on,
                created_by=origin.created_by,
                updated_on=origin.updated_on,
                updated_by=origin.updated_by,
            )
        return record, canonical

    def snapshot_of(self, request: TriggerRequest) -> tuple[SnapshotRecord, bytes]:
        """The record (a new id) and canonical masked JSON an audit of ``request``
        would store, without storing anything; errors are raised (the retrigger
        records its new run from this)."""
        stage = Stage()
        try:
            return self.build(request, stage, check_key=False)
        except WfauditError:
            raise
        except Exception as exc:  # its message could quote the request: scrubbed
            raise AuditFailed(safe_message(exc, stage)) from None

    def identify(self, request: TriggerRequest) -> TriggerRequest:
        """The request as the audit would see it, without auditing it: the adapter
        that recognises the payload has read the ids given as ``-`` (and its format,
        labels, trigger kind), and the tenant is this auditor's.

        An outcome reported from the payload alone (a Tekton ``…successful``
        CloudEvent) finds its run so. Raises what the audit would raise before
        masking (:class:`InvalidRequest` and its kinds); the returned request
        still holds the payload's secrets: do not log it.
        """
        checked = self.checked_config(request.config)
        return self.check_request(self.pre_trigger(attrs.evolve(request, config=checked)))

    def pre_trigger(self, request: TriggerRequest) -> TriggerRequest:
        answers = self.hooks.pre_trigger(request)
        if request.format not in (None, GENERIC_FORMAT):
            known = self.plugin_manager.payload_formats
            if request.format not in known:
                names = ", ".join(sorted([GENERIC_FORMAT, *known]))
                raise UnrecognisedPayload(
                    f"unknown payload format {request.format!r}; known formats: {names}"
                )
            answers = [a for a in answers if a.format == request.format]
            if not answers:
                types = known[request.format][0]
                if request.workflow_type not in types:
                    raise UnrecognisedPayload(
                        f"format {request.format!r} applies to workflow types "
                        f"{', '.join(types)}, not {request.workflow_type}"
                    )
                raise UnrecognisedPayload(
                    f"the payload is not a valid {request.format} payload "
                    f"(formats tried: {request.format})"
                )
        if len(answers) > 1:
            formats = ", ".join(sorted(str(a.format) for a in answers))
            raise AmbiguousPayload(
                f"several adapters claim this payload ({formats}); choose one with --format "
                "(format= in the Python API)"
            )
        return answers[0] if answers else request

    def check_request(self, request: TriggerRequest) -> TriggerRequest:
        for name in ("workflow_id", "pipeline_id"):
            if getattr(request, name) == FROM_PAYLOAD:
                raise InvalidRequest(
                    f"{name} is '{FROM_PAYLOAD}' (read it from the payload), but no adapter "
                    "recognised the payload to read it from; give it explicitly"
                )
        if request.workflow_type not in self.plugin_manager.workflow_types:
            raise UnknownWorkflowType(request.workflow_type, self.plugin_manager.workflow_types)
        tenant = self.settings.tenant
        if tenant is None or request.tenant == tenant:
            return request
        if request.tenant is None:
            return attrs.evolve(request, tenant=tenant)
        raise InvalidRequest(
            f"request for tenant {request.tenant!r} given to an auditor of tenant {tenant!r}"
        )

    def checked_config(self, config: Any) -> Any:
        """A validated deep copy of ``config``, within the request limits of the settings.

        :raises RequestTooLarge: over ``max_request_bytes`` or ``max_request_depth``.
        :raises InvalidRequest: not JSON data.
        """
        return check_json(
            config,
            max_depth=self.settings.max_request_depth,
            max_bytes=self.settings.max_request_bytes,
        )

    def mask(self, request: TriggerRequest, checked: Any) -> MaskOutcome:
        # The copy made before pre-trigger is ours to change; a config an adapter
        # replaced is checked (and copied) again.
        config = (
            request.config if request.config is checked else self.checked_config(request.config)
        )
        maskers = self.plugin_manager.maskers()
        if not maskers and not self.settings.allow_unmasked:
            raise MaskingRequired(
                "no masker plugin is registered (install a masker such as wfaudit-maskers); "
                "to store configs unmasked, pass allow_unmasked=True or set "
                "WFAUDIT_ALLOW_UNMASKED=1"
            )
        marks = Marks(request, config, self.settings.options, self.plugin_manager.reference_syntax)
        for ref in request.references:  # what the adapter found
            marks.reference(path_in(config, ref.path), kind=ref.kind, name=ref.name, rule=ref.rule)
        self.hooks.mask(marks, host=self.host)
        return apply_marks(marks, config, self.key, adapter=request.format, maskers=maskers)


def path_in(config: Any, pointer: str) -> Path:
    path = parse_pointer(pointer, config)
    try:
        get_at(config, path)
    except (KeyError, IndexError, TypeError):
        raise PluginError(
            "an adapter listed a reference at a path that is not in the config "
            f"(it ends after {where(config, path)})"
        ) from None
    return path


def with_blanked(manifest: Manifest, config: Any, blanked: Sequence[str]) -> Manifest:
    """``manifest`` with a fingerprint-less masked field for each blanked pointer that
    still holds the empty string in the masked config (and is not masked already)."""
    known = {field.path for field in manifest.fields}
    extra: list[MaskedField] = []
    for pointer in blanked:
        if pointer in known:
            continue
        try:
            value = get_at(config, parse_pointer(pointer, config))
        except (KeyError, IndexError, TypeError, ValueError, WfauditError):
            continue
        if value == "":
            extra.append(MaskedField(path=pointer, rule=replay.BLANKED_AT_SOURCE, fingerprint=""))
    if not extra:
        return manifest
    return attrs.evolve(manifest, fields=(*manifest.fields, *extra))
