"""Importing: storing the snapshot of a trigger another system recorded.

:meth:`wfaudit.Auditor.import_snapshot` (``wfaudit import``, the Devtron import)
is :func:`import_snapshot` here: the request passes the audit's own pipeline,
the record keeps the source's times and identities (:class:`~wfaudit.pipeline.Origin`),
and a failure is reported the way an import needs: a store failure is raised
(the import stops and resumes later), anything else is one line that quotes no
secret.
"""

from __future__ import annotations

from typing import Protocol

from wfaudit_hookspecs import AuditResult, SnapshotConflict, StoreError, TriggerRequest

from .pipeline import Origin, Stage, safe_message

__all__ = ["Audit", "import_snapshot"]


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


def import_snapshot(
    audit: Audit, request: TriggerRequest, origin: Origin, *, dry_run: bool = False
) -> AuditResult:
    """Store the snapshot of ``request`` as ``origin`` recorded it (see
    :meth:`wfaudit.Auditor.import_snapshot`); never spools."""
    stage = Stage()
    try:
        return audit(request, stage, origin, dry_run=dry_run)
    except SnapshotConflict as exc:
        return AuditResult(ok=False, error=str(exc), error_type=type(exc).__name__)
    except StoreError:
        raise
    except Exception as exc:
        return AuditResult(ok=False, error=safe_message(exc, stage), error_type=type(exc).__name__)
