"""The data model that crosses the hook boundary.

Every class is a frozen, keyword-only attrs class. Anything that may hold a
secret (a request's config, a blob's bytes, a restored value) is left out of
``repr``, so that a log line or a traceback of a model object cannot leak it.
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Iterable, Mapping
from enum import StrEnum
from typing import Any

import attrs

from ._exports import MODEL
from .errors import InvalidRequest

__all__ = [
    "IDENTITY_MAX_LENGTH",
    "WORKFLOW_TYPE_MAX_LENGTH",
    *MODEL,
]

SCHEMA_VERSION = 1
"""The schema version this package writes on every stored record."""


class WorkflowType:
    """The standard workflow types; adapters may declare more."""

    CI = "CI"
    PRE_CD = "PRE_CD"
    POST_CD = "POST_CD"


STANDARD_WORKFLOW_TYPES = (WorkflowType.CI, WorkflowType.PRE_CD, WorkflowType.POST_CD)

WORKFLOW_TYPE_DESCRIPTIONS: Mapping[str, str] = {
    WorkflowType.CI: "continuous integration build",
    WorkflowType.PRE_CD: "pre-deployment job",
    WorkflowType.POST_CD: "post-deployment job",
}
"""The standard workflow types with their descriptions: the one declaration the
engine and the adapters register (``wfaudit_workflow_types``)."""


class TriggerKind(StrEnum):
    """What started a workflow."""

    MANUAL = "manual"
    WEBHOOK = "webhook"
    SCHEDULE = "schedule"
    RETRY = "retry"


class Status(StrEnum):
    """The status of a snapshot's run, as reported by the orchestrator."""

    TRIGGERED = "triggered"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ERROR = "error"
    CANCELLED = "cancelled"

    @property
    def is_failure(self) -> bool:
        return self in (Status.FAILED, Status.ERROR)


def _system_clock() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


_clock: Callable[[], _dt.datetime] = _system_clock


def utcnow() -> _dt.datetime:
    """The current time, timezone-aware UTC, to the microsecond.

    Every timestamp wfaudit writes comes from here, so that tests can move time
    with :func:`set_clock` (the pytest plugin's ``wfaudit_clock`` fixture).
    """
    return _clock()


def set_clock(clock: Callable[[], _dt.datetime] | None) -> None:
    """Replace the clock behind :func:`utcnow`; None restores the system clock."""
    global _clock
    _clock = clock or _system_clock


# -- converters --------------------------------------------------------------


IDENTITY_MAX_LENGTH = 255
"""The longest identity (workflow id, pipeline id, tenant, ``triggered_by``), in characters."""

WORKFLOW_TYPE_MAX_LENGTH = 64
"""The longest workflow type, in characters."""

# C0 and C1 control characters (NUL included) and lone surrogates: text a
# database refuses (PostgreSQL has no NUL in text, UTF-8 no surrogates) or an
# operator cannot read on a terminal. Identities are names, not data.
_FORBIDDEN_IN_NAMES = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# An int of more bits than this has more than IDENTITY_MAX_LENGTH digits: refused
# before its (quadratic) conversion to decimal is even attempted.
_IDENTITY_MAX_BITS = 848


def _check_name(text: str, what: str, longest: int) -> str:
    if not text:
        raise InvalidRequest(f"{what} must not be empty")
    if len(text) > longest:
        raise InvalidRequest(f"{what} must be at most {longest} characters (got {len(text):,})")
    found = _FORBIDDEN_IN_NAMES.search(text)
    if found is not None:
        raise InvalidRequest(
            f"{what} must not contain control characters (U+{ord(found.group()):04X} "
            f"at position {found.start()})"
        )
    return text


def _identity(value: object) -> str:
    """Identities are strings; integers are accepted and converted.

    Both are held to the same rules: at most :data:`IDENTITY_MAX_LENGTH`
    characters, no control characters, not empty.
    """
    if isinstance(value, bool):
        raise InvalidRequest("an identity must be a string or an integer, not a bool")
    if isinstance(value, int):
        if value.bit_length() > _IDENTITY_MAX_BITS:
            raise InvalidRequest(
                f"an identity must be at most {IDENTITY_MAX_LENGTH} characters "
                f"(got an integer of about {int(value.bit_length() * 0.30103):,} digits)"
            )
        return _check_name(str(value), "an identity", IDENTITY_MAX_LENGTH)
    if isinstance(value, str):
        return _check_name(value.strip(), "an identity", IDENTITY_MAX_LENGTH)
    raise InvalidRequest(f"an identity must be a string or an integer, not {type(value).__name__}")


def normalize_identity(value: object) -> str:
    """An identity (workflow id, pipeline id, tenant, who triggered or reported) as
    stored: a string, or an int converted, at most :data:`IDENTITY_MAX_LENGTH`
    characters, with no control characters.

    :raises InvalidRequest: anything else, ints and strings alike.
    """
    return _identity(value)


def check_record_identities(record: SnapshotRecord) -> None:
    """Hold a record that did not come through :class:`TriggerRequest` (a spool
    file, an import) to the same identity rules before it is stored.

    :raises InvalidRequest: naming the field, never quoting its value.
    """
    for name in ("workflow_id", "pipeline_id", "tenant", "triggered_by", "parent"):
        value = getattr(record, name)
        if value is None and name not in ("workflow_id", "pipeline_id"):
            continue
        try:
            if _identity(value) != value:
                raise InvalidRequest("an identity must not have surrounding white space")
        except InvalidRequest as error:
            raise InvalidRequest(f"{name}: {error}") from None
    normalize_workflow_type(record.workflow_type)
    _labels(record.labels)


def _optional_identity(value: object) -> str | None:
    return None if value is None or value == "" else _identity(value)


def normalize_workflow_type(value: object) -> str:
    """``"pre-cd"`` → ``"PRE_CD"``: workflow types are upper case with underscores."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRequest("a workflow type must be a non-empty string such as 'CI'")
    text = _check_name(value.strip(), "a workflow type", WORKFLOW_TYPE_MAX_LENGTH)
    return text.upper().replace("-", "_")


def _labels(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidRequest("labels must be a mapping of strings to strings")
    out: dict[str, str] = {}
    for position, (key, item) in enumerate(value.items()):
        if not isinstance(key, str) or not key:
            raise InvalidRequest("label keys must be non-empty strings")
        _check_name(key, "a label key", IDENTITY_MAX_LENGTH)
        if not isinstance(item, str | int) or isinstance(item, bool):
            # By position, not by name: an error message never quotes request content.
            raise InvalidRequest(
                f"label @{position} (the label number {position + 1}) must have a string "
                f"value, not {type(item).__name__}"
            )
        if isinstance(item, int) and item.bit_length() > _IDENTITY_MAX_BITS:
            raise InvalidRequest(
                f"label @{position} (the label number {position + 1}) must have a value "
                f"of at most {IDENTITY_MAX_LENGTH} digits"
            )
        out[key] = str(item)
    return dict(sorted(out.items()))


def _references(value: Iterable[SecretReference]) -> tuple[SecretReference, ...]:
    return tuple(value)


_MAX_ATTEMPT = 2**31 - 1


def _positive(_instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= _MAX_ATTEMPT:
        raise InvalidRequest(f"{attribute.name} must be an integer from 1 to {_MAX_ATTEMPT}")


def _config_repr(value: object) -> str:
    if isinstance(value, dict):
        return f"<config: {len(value)} keys>"
    if isinstance(value, list):
        return f"<config: {len(value)} items>"
    return f"<config: {type(value).__name__}>"


def _bytes_repr(value: bytes) -> str:
    return f"<{len(value)} bytes>"


# -- the request -------------------------------------------------------------


@attrs.frozen(kw_only=True)
class TriggerRequest:
    """A workflow request as the orchestrator hands it to wfaudit at trigger time.

    ``config`` is the complete request as JSON data, secrets included; it never
    appears in ``repr``. Identities are strings (integers are converted).

    :ivar workflow_id: the orchestrator's id of this run; with ``workflow_type``
        (and ``tenant``) it names the run: a run is audited once.
    :ivar workflow_type: ``CI``, ``PRE_CD``, ``POST_CD`` or a type an adapter
        declares (``wfaudit_workflow_types``); upper-cased.
    :ivar pipeline_id: the pipeline the run belongs to (its history groups by it).
    :ivar config: the complete request as JSON data (dicts with string keys,
        lists, strings, numbers, booleans, None).
    :ivar triggered_by: who or what triggered the run.
    :ivar tenant: the tenant the run belongs to, if the installation has tenants.
    :ivar labels: string labels to filter the history by (``env=prod``).
    :ivar parent: the snapshot id this run retries or follows.
    :ivar attempt: which attempt of the run this is, from 1.
    """

    workflow_id: str = attrs.field(converter=_identity)
    workflow_type: str = attrs.field(converter=normalize_workflow_type)
    pipeline_id: str = attrs.field(converter=_identity)
    config: Any = attrs.field(repr=_config_repr, eq=True)
    triggered_by: str | None = attrs.field(default=None, converter=_optional_identity)
    trigger_kind: TriggerKind = attrs.field(default=TriggerKind.MANUAL, converter=TriggerKind)
    tenant: str | None = attrs.field(default=None, converter=_optional_identity)
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=_labels)
    parent: str | None = attrs.field(default=None, converter=_optional_identity)
    attempt: int = attrs.field(default=1, validator=_positive)
    format: str | None = None
    """The payload format (``github-actions``, ``argo``, ...), set by the adapter that
    recognised it, or given by the caller to force one."""
    references: tuple[SecretReference, ...] = attrs.field(default=(), converter=_references)
    """Secret references an adapter found in the payload (see ``wfaudit_pre_trigger``)."""


# -- the manifest --------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RestoreRef:
    """Where a masked secret can be found again at retrigger time.

    ``kind`` is ``keyring`` (``target`` = ``service/username``), ``env``
    (``target`` = variable name) or ``uri`` (an external secret URI such as
    ``vault://path#key``); restorer plugins may understand more kinds.
    """

    kind: str
    target: str


@attrs.frozen(kw_only=True)
class MaskedField:
    """One masked secret in a snapshot's config.

    :ivar path: JSON pointer of the value in the config.
    :ivar rule: name of the masker rule that found it (``keyword``, ``known-field``).
    :ivar fingerprint: HMAC-SHA256 of the secret under the installation key (hex);
        equal fingerprints mean equal secrets, and nothing else can be learnt.
    :ivar span: for a secret inside a larger string, ``(start, end)`` of its
        placeholder in the *masked* string; None when the whole value was masked.
    :ivar encoding: ``text`` when the secret is the string itself, ``json`` when the
        masked value was another JSON type (kept as its canonical JSON), ``key``
        when the secret was an object *key*: ``path`` then ends with the
        placeholder that replaced the key (unique in its object), and the value
        stays under it.
    :ivar restore: where the restorer finds the secret again, if known.
    """

    path: str
    rule: str
    fingerprint: str
    span: tuple[int, int] | None = None
    encoding: str = "text"
    restore: RestoreRef | None = None

    @property
    def key(self) -> str:
        """The field's key: its path, with ``#start:end`` for a span, ``#key`` for a key."""
        if self.encoding == "key":
            return f"{self.path}#key"
        return secret_key(self.path, self.span)


def secret_key(path: str, span: tuple[int, int] | None) -> str:
    """The key of a masked field in restore requests and results."""
    return path if span is None else f"{path}#{span[0]}:{span[1]}"


def _pointer_text(_instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        hint = (
            " (convert a path tuple with wfaudit_hookspecs.to_pointer(path))"
            if isinstance(value, tuple | list)
            else ""
        )
        raise InvalidRequest(
            f"SecretReference.{attribute.name} must be a JSON pointer string such as "
            f"'/env/0/value', not a {type(value).__name__}{hint}"
        )
    if value and not value.startswith("/"):
        raise InvalidRequest(
            f"SecretReference.{attribute.name} must be a JSON pointer (RFC 6901): empty for "
            "the whole config, else starting with '/', as in '/env/0/value'"
        )


def _text(_instance: object, attribute: attrs.Attribute[str], value: object) -> None:
    if not isinstance(value, str):
        raise InvalidRequest(
            f"SecretReference.{attribute.name} must be a string, not a {type(value).__name__}"
        )


@attrs.frozen(kw_only=True)
class SecretReference:
    """A *reference* to a secret found in a config (not a secret itself).

    Examples: ``${{ secrets.NPM_TOKEN }}`` in a GitHub workflow, a Kubernetes
    ``secretKeyRef``, ``vault:secret/data/ci#token``. Adapters list them on the
    request they return from ``wfaudit_pre_trigger``; maskers record them with
    ``MaskContext.reference``; the manifest keeps them, so that a retrigger knows
    what the run referred to.

    :ivar path: where the reference is in the config, as a JSON pointer (RFC 6901)
        *string*: ``"/spec/env/0/valueFrom/secretKeyRef"``; ``~`` and ``/`` inside a
        key are written ``~0`` and ``~1``; ``""`` is the whole config. A path tuple
        (what ``iter_nodes`` yields) is converted with ``to_pointer(path)``; anything
        but a pointer string raises :class:`~wfaudit_hookspecs.errors.InvalidRequest`
        when the reference is made.
    :ivar kind: what kind of reference it is, in the adapter's terms
        (``github-secret``, ``k8s-secret``, ``vault``).
    :ivar name: what it refers to (``NPM_TOKEN``, ``registry-credentials``).
    :ivar rule: the rule that found it, for people reading the manifest.
    """

    path: str = attrs.field(validator=_pointer_text)
    kind: str = attrs.field(validator=_text)
    name: str = attrs.field(validator=_text)
    rule: str = attrs.field(default="", validator=_text)


@attrs.frozen(kw_only=True)
class Manifest:
    """What masking did to a config, and which plugins produced the snapshot.

    :ivar adapter: the payload format the adapter recognised (None: generic).
    :ivar maskers: the names of the masker plugins that ran.
    :ivar plugins: ``name==version`` of each plugin that produced the snapshot
        (the maskers, the adapter owning ``adapter``, and ``wfaudit`` itself),
        checked before a retrigger; empty in snapshots taken before it existed.
    """

    fields: tuple[MaskedField, ...] = ()
    references: tuple[SecretReference, ...] = ()
    adapter: str | None = None
    maskers: tuple[str, ...] = ()
    plugins: tuple[str, ...] = ()

    def field_at(self, path: str) -> MaskedField | None:
        return next((f for f in self.fields if f.path == path), None)


# -- snapshots ---------------------------------------------------------------


@attrs.frozen(kw_only=True)
class SnapshotRef:
    """A pointer to a stored snapshot."""

    id: str
    workflow_id: str
    workflow_type: str
    content_hash: str
    tenant: str | None = None


@attrs.frozen(kw_only=True)
class SnapshotRecord:
    """A stored snapshot's metadata: identity, hash, manifest and status.

    The masked config itself lives in a content-addressed blob; see
    :class:`Snapshot` for the record with its config.
    """

    id: str
    workflow_id: str
    workflow_type: str
    pipeline_id: str
    content_hash: str
    manifest: Manifest = attrs.field(factory=Manifest)
    tenant: str | None = None
    triggered_by: str | None = None
    trigger_kind: TriggerKind = TriggerKind.MANUAL
    labels: Mapping[str, str] = attrs.field(factory=dict)
    parent: str | None = None
    attempt: int = 1
    schema_version: int = SCHEMA_VERSION
    status: Status = Status.TRIGGERED
    status_reason: str | None = None
    config_size: int = 0
    created_on: _dt.datetime = attrs.field(factory=utcnow)
    created_by: str | None = None
    updated_on: _dt.datetime = attrs.field(factory=utcnow)
    updated_by: str | None = None

    @classmethod
    def from_request(
        cls,
        request: TriggerRequest,
        *,
        id: str,
        content_hash: str,
        manifest: Manifest,
        config_size: int,
    ) -> SnapshotRecord:
        """The record of a new audit of ``request``: its identities, labels, parent and
        attempt, who triggered it (also its creator), with the masked config's hash,
        manifest and canonical size; status ``triggered``, created now."""
        return cls(
            id=id,
            workflow_id=request.workflow_id,
            workflow_type=request.workflow_type,
            pipeline_id=request.pipeline_id,
            content_hash=content_hash,
            manifest=manifest,
            tenant=request.tenant,
            triggered_by=request.triggered_by,
            trigger_kind=request.trigger_kind,
            labels=request.labels,
            parent=request.parent,
            attempt=request.attempt,
            config_size=config_size,
            created_by=request.triggered_by,
            updated_by=request.triggered_by,
        )

    @property
    def ref(self) -> SnapshotRef:
        return SnapshotRef(
            id=self.id,
            workflow_id=self.workflow_id,
            workflow_type=self.workflow_type,
            content_hash=self.content_hash,
            tenant=self.tenant,
        )


@attrs.frozen(kw_only=True)
class Snapshot(SnapshotRecord):
    """A snapshot with its masked config (JSON data)."""

    config: Any = attrs.field(repr=_config_repr)


@attrs.frozen(kw_only=True)
class Blob:
    """Compressed canonical JSON of a masked config, addressed by its content hash.

    :ivar codec: how ``data`` was compressed: ``zstd``, or ``zstd-delta`` for a
        blob compressed against another blob's content (``base``).
    :ivar base: for a delta, the content hash of the blob it was compressed
        against (always a plain ``zstd`` blob, so a read needs at most two).
    """

    content_hash: str
    codec: str
    raw_size: int
    data: bytes = attrs.field(repr=_bytes_repr)
    base: str | None = None

    @property
    def stored_size(self) -> int:
        return len(self.data)


@attrs.frozen(kw_only=True)
class SaveResult:
    """What the persist stage did: the reference, and whether a new snapshot was made.

    :ivar spooled: the store could not take the snapshot now, so it was written to
        the durable local spool, from which ``wfaudit drain`` (or the next successful
        audit, in the background) replays it. ``created`` is then True: whether the
        store already had this audit is only known at replay.
    """

    ref: SnapshotRef
    created: bool
    spooled: bool = False


@attrs.frozen(kw_only=True)
class HistoryQuery:
    """Filters for a store's history of snapshots, newest first.

    The order is ``created_on`` then ``id``, both descending. A page after a
    record is asked for with ``before`` = its ``created_on`` and ``before_id`` =
    its id (keyset paging: a page costs the same at any depth).

    :ivar labels: only records carrying every one of these labels (equal values).
    :ivar since: only records created at or after this time.
    :ivar before: only records created before this time; with ``before_id``,
        records before ``(before, before_id)`` in the history's order.
    :ivar offset: skip this many matching records first (``HEAD~N``).
    """

    tenant: str | None = None
    pipeline_id: str | None = None
    workflow_id: str | None = None
    workflow_type: str | None = None
    status: Status | None = None
    before: _dt.datetime | None = None
    limit: int = 50
    labels: Mapping[str, str] = attrs.field(factory=dict, converter=_labels)
    since: _dt.datetime | None = None
    before_id: str | None = None
    offset: int = 0


TAG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
"""Tag names: letters, digits, ``.``, ``_`` and ``-``, at most 63 characters."""

RESERVED_TAG_NAMES = frozenset({"HEAD"})
"""Names a reference resolver gives a meaning of its own."""


def check_tag_name(value: object) -> str:
    """Return ``value`` if it is a valid tag name, else raise :class:`InvalidRequest`."""
    if not isinstance(value, str) or not TAG_NAME.match(value):
        raise InvalidRequest(
            "a tag name is 1-63 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit (no '~', ':' or '/')"
        )
    if value.upper() in RESERVED_TAG_NAMES:
        raise InvalidRequest(f"{value!r} is a reserved reference name, not a tag name")
    return value


@attrs.frozen(kw_only=True)
class Tag:
    """A name on a snapshot (``baseline``, ``production``).

    A tag name is unique within a pipeline (of a tenant): tagging another
    snapshot of the pipeline with it moves it there.
    """

    name: str = attrs.field(converter=check_tag_name)
    snapshot_id: str
    pipeline_id: str
    tenant: str | None = None
    created_on: _dt.datetime = attrs.field(factory=utcnow)
    created_by: str | None = None


@attrs.frozen(kw_only=True)
class Annotation:
    """A note on a snapshot, or on one node of its config (``path``).

    :ivar id: the store's number of the note.
    :ivar path: JSON pointer of the node the note is about; None for the snapshot.
    """

    id: int
    snapshot_id: str
    note: str
    author: str
    path: str | None = None
    tenant: str | None = None
    created_on: _dt.datetime = attrs.field(factory=utcnow)


# -- results of the stages -----------------------------------------------------


@attrs.frozen(kw_only=True)
class AuditResult:
    """What ``Auditor.audit_trigger`` returns; it never holds a secret.

    :ivar ok: the snapshot is stored (new or already there), or auditing is
        switched off (``disabled``): neither is a failure of the audit.
    :ivar ref: the stored snapshot, when ``ok``.
    :ivar created: a new snapshot was made (False for a repeated, identical audit).
    :ivar error: one line saying why the audit failed, when not ``ok``.
    :ivar error_type: the class name of that error.
    :ivar masked: how many values were masked.
    :ivar spooled: the store was unavailable and the (masked) snapshot went to the
        durable local spool; it reaches the store when the spool is drained.
    :ivar disabled: auditing is switched off (``WFAUDIT_ENABLED`` /
        ``ENABLE_WORKFLOW_AUDIT`` false): nothing was read, masked or stored,
        and ``ref`` is None.
    """

    ok: bool
    ref: SnapshotRef | None = None
    created: bool = False
    error: str | None = None
    error_type: str | None = None
    masked: int = 0
    spooled: bool = False
    disabled: bool = False

    @property
    def snapshot_id(self) -> str | None:
        return self.ref.id if self.ref else None


@attrs.frozen(kw_only=True)
class Failure:
    """A failed or errored outcome, handed to the on-failure hook."""

    status: Status
    reason: str | None = None


@attrs.frozen(kw_only=True)
class RetryDecision:
    """A retry policy's vote on a failure. Any ``retry=False`` vote wins."""

    retry: bool
    reason: str
    policy: str = ""
    delay_seconds: float = 0.0


@attrs.frozen(kw_only=True)
class SecretRequest:
    """A masked value the restore-secrets hook is asked to fill."""

    path: str
    rule: str
    fingerprint: str
    span: tuple[int, int] | None = None
    encoding: str = "text"
    restore: RestoreRef | None = None

    @property
    def key(self) -> str:
        """What to answer this request under: its path, with ``#start:end`` for a span,
        ``#key`` for an object key (``encoding == "key"``)."""
        if self.encoding == "key":
            return f"{self.path}#key"
        return secret_key(self.path, self.span)

    @classmethod
    def from_field(cls, field: MaskedField) -> SecretRequest:
        return cls(
            path=field.path,
            rule=field.rule,
            fingerprint=field.fingerprint,
            span=field.span,
            encoding=field.encoding,
            restore=field.restore,
        )


# -- the audit trail and store maintenance ------------------------------------------


class EventKind:
    """The kinds of audit-trail events a store records (``AuditEvent.kind``).

    The store appends ``snapshot.audited`` and ``outcome.recorded`` itself; the
    engine (retrigger, tags, retention, archives, legal holds) appends the others
    with ``Store.append_event``. An event that changes a snapshot row's mutable
    columns carries the new values under ``data["state"]`` (see
    :data:`STATE_FIELDS`), so that verification can tell a recorded change from
    an edit made behind the store's back.
    """

    AUDITED = "snapshot.audited"
    OUTCOME = "outcome.recorded"
    RETRIGGERED = "snapshot.retriggered"
    TAGGED = "snapshot.tagged"
    UNTAGGED = "snapshot.untagged"
    ANNOTATED = "snapshot.annotated"
    ARCHIVED = "snapshot.archived"
    RESTORED = "snapshot.restored"
    ARCHIVE_EXPIRED = "archive.expired"
    """An archive object deleted at the end of its retention date (the snapshot's
    archive record goes with it; the trail keeps this event)."""
    ARCHIVE_RETENTION_SET = "archive.retention_set"
    """An operator changed an archive's retention date (``wfaudit archive keep``)."""
    DELETED = "snapshot.deleted"
    HOLD_SET = "legal_hold.set"
    HOLD_RELEASED = "legal_hold.released"
    CONFLICTING_TRIGGER = "snapshot.conflicting_trigger"
    """A second trigger of an audited run with other content, refused and kept as
    evidence: both content hashes, what differs and who sent it (never content)."""


STATE_FIELDS = ("status", "status_reason", "updated_on", "updated_by")
"""A snapshot's mutable columns; everything else in a record is sealed at audit time."""


@attrs.frozen(kw_only=True)
class AuditEvent:
    """One entry of the append-only, hash-chained audit trail.

    Events form one chain per tenant: ``chain_seq`` is the position in the chain,
    ``prev_hash`` the hash of the event before it (64 zeros for the first), and
    ``hash`` the SHA-256 of ``prev_hash`` and the event's canonical JSON form.
    ``seq`` numbers the events of one ``subject`` (a snapshot id) from 1.

    :ivar data: JSON data about the operation; it never holds a secret.
    """

    subject: str
    seq: int
    kind: str
    at: _dt.datetime
    tenant: str | None = None
    actor: str | None = None
    data: Mapping[str, Any] = attrs.field(factory=dict)
    chain_seq: int = 0
    prev_hash: str = ""
    hash: str = ""


class Problem:
    """What :class:`Finding` says happened to a row."""

    MODIFIED = "modified"
    DELETED = "deleted"
    REORDERED = "reordered"
    INSERTED = "inserted"
    UNREADABLE = "unreadable"
    """A blob this wfaudit cannot decode (an unknown codec, or a delta whose base is
    missing or whose chain of bases is too long or loops), or events keyed with
    another chain key than the one given: they cannot be checked."""


@attrs.frozen(kw_only=True)
class Finding:
    """One row that verification found changed behind the store's back.

    :ivar problem: one of :class:`Problem`'s values.
    :ivar table: ``events``, ``snapshots``, ``blobs``, ``manifests``, ``chain_heads``,
        or a table the events describe: ``tags``, ``annotations``,
        ``legal_holds``, ``archives``.
    :ivar key: the row: a snapshot id, a blob's content hash, or for an event
        ``<chain>#<position>`` (and its row id).
    :ivar detail: what does not match; names columns and ids, never values.
    :ivar tenant: the tenant whose data it is (None: no tenant).
    """

    problem: str
    table: str
    key: str
    detail: str
    tenant: str | None = None


@attrs.frozen(kw_only=True)
class ChainHead:
    """The last event of one tenant's chain, as the store's head row records it.

    Keep ``hash`` somewhere the store's operators cannot write (a ticket, a log
    shipped elsewhere): a later verification that reaches the same hash proves
    the chain up to that point was not rewritten.
    """

    tenant: str | None
    seq: int
    hash: str
    keyed_from: int | None = None
    """The position from which every event of the chain up to ``seq`` is keyed
    (HMAC under the chain key); None when the last event is not keyed."""


@attrs.frozen(kw_only=True)
class TrailCheck:
    """What a store's own verification of its audit trail found.

    :ivar findings: the first findings (a store may cap how many it lists).
    :ivar findings_total: how many there were in all.
    """

    findings: tuple[Finding, ...] = ()
    findings_total: int = 0
    chains: int = 0
    events: int = 0
    snapshots: int = 0
    heads: tuple[ChainHead, ...] = ()


@attrs.frozen(kw_only=True)
class StoreStats:
    """Counts and sizes of a store (or of one tenant's part of it).

    :ivar raw_bytes: canonical JSON bytes of every snapshot's config, as if each
        were stored whole.
    :ivar unique_raw_bytes: canonical JSON bytes of the distinct configs (blobs).
    :ivar stored_bytes: compressed bytes of those blobs.
    """

    snapshots: int = 0
    blobs: int = 0
    events: int = 0
    tenants: int = 0
    by_status: Mapping[str, int] = attrs.field(factory=dict)
    by_workflow_type: Mapping[str, int] = attrs.field(factory=dict)
    """Snapshots by workflow type (CI, PRE_CD, POST_CD, an adapter's types)."""
    raw_bytes: int = 0
    unique_raw_bytes: int = 0
    stored_bytes: int = 0

    @property
    def compression_ratio(self) -> float:
        """Distinct configs' raw bytes per stored byte (zstd's share of the saving)."""
        return self.unique_raw_bytes / self.stored_bytes if self.stored_bytes else 0.0

    @property
    def dedup_ratio(self) -> float:
        """Raw bytes of all snapshots per raw byte of distinct content (dedup's share)."""
        return self.raw_bytes / self.unique_raw_bytes if self.unique_raw_bytes else 0.0

    @property
    def overall_ratio(self) -> float:
        """Raw bytes of all snapshots per stored byte: both savings together."""
        return self.raw_bytes / self.stored_bytes if self.stored_bytes else 0.0


@attrs.frozen(kw_only=True)
class BackupResult:
    """What a store's online backup wrote."""

    path: str
    bytes: int
    snapshots: int
    integrity: str
