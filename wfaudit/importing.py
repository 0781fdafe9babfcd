"""Importing: storing the snapshot of a trigger another system recorded.

:meth:`wfaudit.Auditor.import_snapshot` (``wfaudit import``, the Devtron import)
is :meth:`Importer.import_snapshot` here: the request passes the audit's own pipeline,
the record keeps the source's times and identities (:class:`~wfaudit.pipeline.Origin`),
and a failure is reported the way an import needs: a store failure is raised
(the import stops and resumes later), anything else is one line that quotes no
secret.
"""

from __future__ import annotations

from typing import Protocol

from wfaudit_hookspecs import AuditResult, SnapshotConflict, StoreError, TriggerRequest

from .pipeline import Origin, Stage, safe_message

__all__ = ["Audit", "Importer"]


class Audit(Protocol):
    """An auditor's audit of one request, from the pipeline to the store."""

    def __call__(
        self,
        request: TriggerRequest,
        stage: Stage,
        origin: Origin | None = None,
        *,
        dry_run: bool = False,
    ) -> AuditResult: ...


class Importer:
    """The imports of one auditor, through its ``audit``."""

    def __init__(self, audit: Audit) -> None:
        self.audit = audit

    def import_snapshot(
        self, request: TriggerRequest, origin: Origin, *, dry_run: bool = False
    ) -> AuditResult:
        """Store the snapshot of a trigger another system recorded (``wfaudit import``).

        The request passes the audit's pipeline (limits, adapters, identity
        checks, the current maskers); the record keeps ``origin``'s times and
        identities, and the fields the source had blanked are recorded as masked
        (:data:`wfaudit.retrigger.BLANKED_AT_SOURCE`). Idempotent as an audit is:
        the same import again is ``created=False``. Never spools: a store failure
        raises (:class:`StoreError`), so the caller stops and resumes later. Any
        other error is returned as ``ok=False`` with a one-line ``error`` that
        quotes no secret. With ``dry_run`` nothing is written.
        """
        stage = Stage()
        try:
            return self.audit(request, stage, origin, dry_run=dry_run)
        except SnapshotConflict as exc:
            return AuditResult(ok=False, error=str(exc), error_type=type(exc).__name__)
        except StoreError:
            raise
        except Exception as exc:
            return AuditResult(
                ok=False, error=safe_message(exc, stage), error_type=type(exc).__name__
            )
