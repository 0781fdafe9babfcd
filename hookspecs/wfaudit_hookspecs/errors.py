"""The error types of wfaudit.

Every error the engine or a plugin raises on purpose is a :class:`WfauditError`.
Messages say what happened, to what, and what to do next; they never quote a
request's data, because a request may hold secrets.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "AmbiguousPayload",
    "AmbiguousReference",
    "AmbiguousSnapshot",
    "BadStoreURL",
    "BlobUnreadable",
    "ConfigurationError",
    "DecompressionBomb",
    "DeltaBaseUnavailable",
    "InvalidRequest",
    "MaskingError",
    "MaskingRequired",
    "PluginError",
    "RequestTooLarge",
    "SchemaMismatch",
    "SecretsMismatch",
    "SecretsUnavailable",
    "SnapshotConflict",
    "SnapshotNotFound",
    "StoreError",
    "StoreRejected",
    "StoreUnavailable",
    "TagConflict",
    "UnknownReference",
    "UnknownWorkflowType",
    "UnrecognisedPayload",
    "UnsupportedSchemaVersion",
    "WfauditError",
]


class WfauditError(Exception):
    """Base class of every error wfaudit raises on purpose."""


class ConfigurationError(WfauditError):
    """A setting (environment variable, ``wfaudit.toml``, argument) is invalid."""


class InvalidRequest(WfauditError):
    """A trigger request cannot be audited as given (bad identity, not JSON data)."""


class RequestTooLarge(InvalidRequest):
    """A request's config is over a configured limit (size or nesting depth).

    :ivar limit: the name of the setting that bounds it (``max_request_bytes``,
        ``max_request_depth``).
    :ivar maximum: the limit's value.
    """

    def __init__(self, message: str, *, limit: str, maximum: int) -> None:
        self.limit = limit
        self.maximum = maximum
        super().__init__(message)


class UnknownWorkflowType(InvalidRequest):
    """The request's workflow type is not declared by the engine or any adapter."""

    def __init__(self, workflow_type: str, known: Iterable[str]) -> None:
        self.workflow_type = workflow_type
        self.known = tuple(sorted(known))
        super().__init__(
            f"unknown workflow type {workflow_type!r}; known types: "
            f"{', '.join(self.known) or '(none)'} (an adapter plugin can declare more)"
        )


class AmbiguousPayload(InvalidRequest):
    """More than one adapter claimed the same payload."""


class UnrecognisedPayload(InvalidRequest):
    """No adapter recognised the payload as the format the caller asked for."""


class PluginError(WfauditError):
    """A plugin broke the hook contract (wrong return type, failed to load)."""


class MaskingRequired(WfauditError):
    """No masker plugin is registered, and unmasked persistence was not allowed."""


class MaskingError(WfauditError):
    """A masker marked something that cannot be applied (bad path, bad span)."""


class StoreError(WfauditError):
    """Base class of storage errors."""


class BadStoreURL(StoreError):
    """No store backend owns the URL, or the URL is malformed."""


class StoreUnavailable(StoreError):
    """The store cannot be reached or written now (down, locked, disk full)."""


class StoreRejected(StoreError):
    """The store refused the data itself (a value it cannot hold, a constraint it
    breaks): a permanent failure. Retrying the same write cannot succeed, so it is
    never spooled; a spooled file that fails so is quarantined by ``wfaudit drain``."""


class SchemaMismatch(StoreError):
    """The database schema is older or newer than this version of the store expects."""


class DeltaBaseUnavailable(StoreError):
    """A delta blob was offered whose base is not stored as a whole blob (missing,
    deleted by retention since, or itself a delta): the store refuses it, and the
    engine stores the snapshot as a whole blob instead."""


class BlobUnreadable(StoreError):
    """A stored blob cannot be decoded: its delta base is missing, its chain of
    bases is too long or loops, or it would decompress past the size cap (a
    decompression bomb). Verification reports it as a finding."""


class DecompressionBomb(BlobUnreadable):
    """Compressed bytes that declare (or stream) more output than the cap allows;
    refused before the output is allocated."""


class SnapshotConflict(StoreError):
    """A snapshot with the same identity exists and differs from the one audited."""


class SnapshotNotFound(StoreError, LookupError):
    """No snapshot matches the identity asked for."""


class AmbiguousSnapshot(StoreError, LookupError):
    """More than one snapshot matches (the same workflow in several tenants)."""


class UnknownReference(SnapshotNotFound):
    """A snapshot reference (id, id prefix, tag, ``HEAD~N``) names no snapshot."""


class AmbiguousReference(AmbiguousSnapshot):
    """A snapshot reference names several snapshots (an id prefix, a tag of several
    pipelines); the message says how to narrow it."""


class TagConflict(StoreError):
    """The tag is already on another snapshot of the pipeline (move it explicitly)."""


class UnsupportedSchemaVersion(WfauditError):
    """A stored record was written by a newer wfaudit than this one."""

    def __init__(self, version: object, supported: int) -> None:
        self.version = version
        self.supported = supported
        super().__init__(
            f"record has schema version {version!r}, but this wfaudit reads versions "
            f"up to {supported}; upgrade wfaudit to read it"
        )


class SecretsUnavailable(WfauditError):
    """Some masked values could not be restored; their paths (never values) are listed."""

    def __init__(self, paths: Iterable[str], detail: str = "") -> None:
        self.paths = tuple(paths)
        message = "cannot restore the secrets at " + ", ".join(self.paths)
        if detail:
            message += f" ({detail})"
        super().__init__(message)


class SecretsMismatch(SecretsUnavailable):
    """Restored values that are not the snapshot's secrets; their paths (never values).

    :ivar rotated: keys whose restored value differs from the stored fingerprint
        (a rotated or wrong secret; a retrigger may accept them explicitly).
    :ivar invalid: keys whose answer is never accepted (empty, a placeholder,
        not JSON where JSON was masked, the whole string for a span).
    """

    def __init__(
        self, rotated: Iterable[str] = (), invalid: Iterable[str] = (), detail: str = ""
    ) -> None:
        self.rotated = tuple(rotated)
        self.invalid = tuple(invalid)
        self.paths = (*self.invalid, *self.rotated)
        parts = []
        if self.invalid:
            parts.append(
                "the restorers gave values that are never used (empty, a placeholder, or not "
                "fitting the masked value) for " + ", ".join(self.invalid)
            )
        if self.rotated:
            parts.append(
                "the restored secrets at "
                + ", ".join(self.rotated)
                + " differ from the ones the snapshot was taken with (rotated or wrong; "
                "accept rotated secrets explicitly: --accept-rotated PATH / accept_rotated=)"
            )
        message = "; ".join(parts) + "; nothing was launched"
        if detail:
            message += f" ({detail})"
        WfauditError.__init__(self, message)
