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
    "ConfigurationError",
    "InvalidRequest",
    "MaskingError",
    "MaskingRequired",
    "PluginError",
    "SchemaMismatch",
    "SecretsUnavailable",
    "SnapshotConflict",
    "SnapshotNotFound",
    "StoreError",
    "StoreNotFound",
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


class StoreNotFound(StoreError):
    """There is no store at the URL (no file, no wfaudit schema), and the command
    only reads: a command that only reads never creates a store."""


class SchemaMismatch(StoreError):
    """The database schema is older or newer than this version of the store expects."""


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
