"""Replay as an auditor offers it: a snapshot's request with its secrets
restored, a retrigger planned (a dry run) or run, scoped to the auditor's tenant.

The work is :mod:`wfaudit.retrigger`'s; :class:`Replays` is its face on one
auditor, whose methods of the same names delegate here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import retrigger as replay

if TYPE_CHECKING:
    from wfaudit_hookspecs import TriggerRequest

    from .ports import OutcomeEngine

__all__ = ["Replays"]


class Replays:
    """The replay operations of one auditor (``engine``)."""

    def __init__(self, engine: OutcomeEngine) -> None:
        self.engine = engine

    def retrigger_request(
        self,
        workflow_id: str | int,
        workflow_type: str,
        *,
        tenant: str | None = None,
        accept_rotated: Sequence[str] = (),
    ) -> TriggerRequest:
        """The request a snapshot was taken of, with every secret restored.

        The restorers (``wfaudit_restore_secrets``) are asked for every masked
        field; if any stays unrestored, :class:`SecretsUnavailable` names the
        missing paths and nothing is returned: a retrigger never runs with
        placeholders. Each restored value is checked against the fingerprint the
        snapshot stored for it: one that differs raises ``SecretsMismatch``
        (paths only) unless ``accept_rotated`` names it; an empty value or a
        placeholder is never used (:func:`wfaudit.retrigger.check_secrets`).
        The returned request holds secrets: do not log it.
        """
        snapshot = self.engine.get_snapshot(workflow_id, workflow_type, tenant=tenant)
        return replay.restore_request(self.engine, snapshot, accept_rotated=accept_rotated)

    def plan_retrigger(
        self,
        workflow_id: str | int,
        workflow_type: str,
        new_workflow_id: str | int | None = None,
        *,
        tenant: str | None = None,
        allow_missing_plugins: bool = False,
        accept_rotated: Sequence[str] = (),
        refuse: bool = True,
    ) -> replay.ReplayPlan:
        """Validate a retrigger without recording or launching anything (a dry run).

        Checks everything :meth:`retrigger` checks, the secrets included (they
        are restored, checked, then dropped; ``plan.secret_checks`` says what was
        found for each); see :func:`wfaudit.retrigger.prepare`. With ``refuse``
        False, secrets that would stop the retrigger do not raise: the plan
        reports them (``wfaudit retrigger --dry-run``).
        """
        return replay.plan(
            self.engine,
            workflow_id,
            workflow_type,
            new_workflow_id,
            tenant=self.engine.scoped_tenant(tenant),
            allow_missing_plugins=allow_missing_plugins,
            accept_rotated=accept_rotated,
            refuse=refuse,
        )

    def retrigger(
        self,
        workflow_id: str | int,
        workflow_type: str,
        new_workflow_id: str | int | None,
        launcher: replay.Launcher,
        *,
        by: str | None = None,
        tenant: str | None = None,
        allow_missing_plugins: bool = False,
        accept_rotated: Sequence[str] = (),
    ) -> replay.RetriggerResult:
        """Run a failed workflow again from its snapshot, with its secrets restored.

        Validates the replay context (schema version, producing plugins, retry
        limit, every secret), records the new run's snapshot (``parent`` = the
        failed run's snapshot, ``attempt`` + 1, trigger kind ``retry``), then
        calls ``launcher`` with the restored request. ``new_workflow_id`` None
        names the new run ``<first run's id>-retry<n>``. Every restored secret
        must be the snapshot's (checked against its fingerprint) unless
        ``accept_rotated`` names it (recorded on the new run's trail). See
        :mod:`wfaudit.retrigger` and ``docs/retrigger.md``.
        """
        return replay.retrigger(
            self.engine,
            workflow_id,
            workflow_type,
            new_workflow_id,
            launcher,
            by=by,
            tenant=self.engine.scoped_tenant(tenant),
            allow_missing_plugins=allow_missing_plugins,
            accept_rotated=accept_rotated,
        )
