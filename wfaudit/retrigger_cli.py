"""The ``wfaudit retrigger`` command (added to the ``wfaudit`` group by ``wfaudit.cli``).

The restored request holds secrets, so it goes only where the user sends it:
a file created with mode 0600 (``--output``), or the standard input of an
orchestrator command run without a shell (``--exec``). ``--dry-run`` validates
everything and prints the plan, with the state of each secret (matching,
rotated, missing ...), never a secret.
"""

from __future__ import annotations

import os
import pathlib
import sys
from typing import Any

import click

from wfaudit_hookspecs import InvalidRequest, SnapshotNotFound, Status, hookimpl

from . import render
from .auditor import Auditor, Outcome
from .cli_support import CliState, json_option, pass_state, store_options
from .retrigger import (
    BLANKED_AT_SOURCE,
    MATCHING,
    ExecLauncher,
    FileLauncher,
    Launcher,
    ReplayPlan,
    RetriggerResult,
    SecretCheck,
    failure_of,
    parse_command,
)

__all__ = ["retrigger"]


@click.command()
@click.option("--workflow-id", default=None, help="The failed run to retrigger.")
@click.option(
    "--pipeline",
    "pipeline_id",
    default=None,
    help="Retrigger the latest failed run of this pipeline instead of --workflow-id.",
)
@click.option("--type", "workflow_type", required=True, help="Workflow type of the run.")
@click.option(
    "--new-workflow-id",
    default=None,
    help="The new run's workflow id (default: <first run's id>-retry<n>).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=pathlib.Path),
    default=None,
    help="Write the restored request (JSON, with secrets) to this file, mode 0600.",
)
@click.option(
    "--exec",
    "command",
    metavar="CMD",
    default=None,
    help="Run CMD (split like a shell would, but run without one) with the restored "
    "request as JSON on its standard input; its exit status is the run's outcome.",
)
@click.option(
    "--success-status",
    type=click.Choice([Status.SUCCEEDED.value, Status.RUNNING.value]),
    default=Status.SUCCEEDED.value,
    show_default=True,
    help="The outcome recorded when CMD exits with 0 (running: CMD only submits the run).",
)
@click.option(
    "--allow-missing-plugins",
    is_flag=True,
    help="Replay even if plugins that produced the snapshot are not installed (warns).",
)
@click.option(
    "--accept-rotated",
    "accept_rotated",
    metavar="PATH",
    multiple=True,
    help="Launch even though the secret at PATH (a path, or path#start:end) differs from "
    "the one the snapshot was taken with (it was rotated); recorded on the trail. Repeat "
    "for several secrets. An empty or placeholder value is never accepted.",
)
@click.option("--by", default=None, help="Who retriggers (default: who triggered the run).")
@click.option(
    "--dry-run", is_flag=True, help="Validate and print what would happen; record nothing."
)
@store_options
@json_option
@pass_state
def retrigger(
    state: CliState,
    workflow_id: str | None,
    pipeline_id: str | None,
    workflow_type: str,
    new_workflow_id: str | None,
    output: pathlib.Path | None,
    command: str | None,
    success_status: str,
    allow_missing_plugins: bool,
    accept_rotated: tuple[str, ...],
    by: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Run a failed workflow again from its snapshot, with its secrets restored.

    Checks the replay context first (schema version, the plugins that produced
    the snapshot, the retry limit, every secret restorable and equal to the one
    the snapshot was taken with, by its fingerprint); then records the
    new run's snapshot (linked to its parent, attempt + 1, kind retry) and hands
    the restored request to --output FILE or --exec CMD. Give exactly one of
    --output, --exec and --dry-run.
    """
    if (workflow_id is None) == (pipeline_id is None):
        raise InvalidRequest("give --workflow-id W or --pipeline P (one of them)")
    chosen = [
        name
        for name, given in (("--output", output), ("--exec", command), ("--dry-run", dry_run))
        if given is not None and given is not False
    ]
    if len(chosen) != 1:
        raise InvalidRequest(
            "give exactly one of --output FILE, --exec CMD and --dry-run"
            + (f" (not {' and '.join(chosen)})" if chosen else "")
        )
    argv = parse_command(command) if command is not None else None
    if output is not None:
        _check_writable(output)
    with state.auditor() as auditor:
        failed_id = workflow_id or _latest_failed(auditor, str(pipeline_id), workflow_type)
        if dry_run:
            plan = auditor.plan_retrigger(
                failed_id,
                workflow_type,
                new_workflow_id,
                allow_missing_plugins=allow_missing_plugins,
                accept_rotated=accept_rotated,
                refuse=False,
            )
            _print_plan(plan, as_json)
            refused = [c.key for c in plan.secret_checks if not c.usable]
            if refused:
                click.echo(
                    "Error: the retrigger would be refused: the secrets at "
                    + ", ".join(refused)
                    + " cannot be used (see above)",
                    err=True,
                )
                sys.exit(1)
            return
        launcher: Launcher
        if argv is not None:
            launcher = ExecLauncher(argv, parent_workflow_id=failed_id)
        else:
            assert output is not None
            launcher = FileLauncher(output, parent_workflow_id=failed_id)
        result = auditor.retrigger(
            failed_id,
            workflow_type,
            new_workflow_id,
            launcher,
            by=by,
            allow_missing_plugins=allow_missing_plugins,
            accept_rotated=accept_rotated,
        )
        outcome = None
        if argv is not None:
            outcome = _record_exit(auditor, result, int(result.launched), success_status, by)
    _report(result, output, outcome, as_json)
    if outcome is not None and outcome.record.status.is_failure:
        click.echo(
            f"Error: the command exited with status {result.launched}; "
            f"outcome {outcome.record.status.value} recorded",
            err=True,
        )
        sys.exit(1)


def _check_writable(path: pathlib.Path) -> None:
    directory = path.parent if str(path.parent) else pathlib.Path(".")
    if path.is_dir():
        raise InvalidRequest(f"--output {path} is a directory")
    if not directory.is_dir():
        raise InvalidRequest(f"--output {path}: directory {directory} does not exist")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise InvalidRequest(f"--output {path}: directory {directory} is not writable")


def _latest_failed(auditor: Auditor, pipeline_id: str, workflow_type: str) -> str:
    record = auditor.find_latest_failed(pipeline_id=pipeline_id, workflow_type=workflow_type)
    if record is None:
        raise SnapshotNotFound(f"pipeline {pipeline_id!r} has no failed {workflow_type} run")
    return record.workflow_id


def _record_exit(
    auditor: Auditor, result: RetriggerResult, returncode: int, success: str, by: str | None
) -> Outcome:
    record = result.record
    if returncode == 0:
        return auditor.record_outcome(
            record.workflow_id, record.workflow_type, success, by=by, tenant=record.tenant
        )
    failure = failure_of(returncode)
    return auditor.record_outcome(
        record.workflow_id,
        record.workflow_type,
        failure.status,
        failure.reason,
        by=by,
        tenant=record.tenant,
    )


def _warn(plan: ReplayPlan) -> None:
    for warning in plan.warnings:
        click.echo(f"Warning: {warning}", err=True)


def _print_plan(plan: ReplayPlan, as_json: bool) -> None:
    if as_json:
        click.echo(render.dump_json({"dry_run": True, **plan.to_json()}))
        return
    _warn(plan)
    parent = plan.parent
    reason = f" ({parent.status_reason})" if parent.status_reason else ""
    click.echo("dry run: nothing recorded, nothing launched")
    click.echo(
        f"would retrigger {parent.workflow_type} {parent.workflow_id}: {parent.status.value}"
        f"{reason}, snapshot {parent.id}, schema version {parent.schema_version}"
    )
    click.echo(
        f"as {parent.workflow_type} {plan.workflow_id}: attempt {plan.attempt}, "
        f"retry {plan.retry_number} of {plan.max_retries} ({plan.limit_source})"
    )
    usable = sum(1 for check in plan.secret_checks if check.usable)
    click.echo(
        f"secrets: {'' if usable == len(plan.secrets) else f'{usable} of '}"
        f"{len(plan.secrets)} restorable"
        + (f" ({', '.join(plan.secrets)})" if plan.secrets else "")
    )
    for check in plan.secret_checks:
        click.echo(f"  {check.key}: {_describe(check)}")
    click.echo(f"produced by: {', '.join(plan.plugins) or 'unrecorded'}")


_STATES = {
    MATCHING: "restored, matches the snapshot's fingerprint",
    "rotated": "restored, differs from the snapshot's (rotated or wrong)",
    "unverified": "restored, not verifiable (the snapshot recorded no fingerprint)",
    "invalid": "refused",
    "missing": "missing (no restorer has it)",
}


def _describe(check: SecretCheck) -> str:
    text = _STATES.get(check.state, check.state)
    if check.reason and check.state == "invalid":
        text += f": {check.reason}"
    if check.state in ("rotated", "unverified"):
        text += "; accepted (--accept-rotated)" if check.accepted else "; refused"
    return text


def _report(
    result: RetriggerResult, output: pathlib.Path | None, outcome: Outcome | None, as_json: bool
) -> None:
    record, plan = result.record, result.plan
    if as_json:
        data: dict[str, Any] = {
            "dry_run": False,
            **plan.to_json(),
            "snapshot_id": record.id,
            "output": None if output is None else str(output),
            "exit_status": None if outcome is None else int(result.launched),
            "outcome": None if outcome is None else render.to_json_data(outcome),
        }
        click.echo(render.dump_json(data))
        return
    _warn(plan)
    click.echo(
        f"retriggered {record.workflow_type} {plan.parent.workflow_id} as {record.workflow_id}: "
        f"attempt {record.attempt}, retry {plan.retry_number} of {plan.max_retries}, "
        f"snapshot {record.id} (parent {plan.parent.id})"
    )
    source_blanked = {f.key for f in plan.parent.manifest.fields if f.rule == BLANKED_AT_SOURCE}
    accepted = [check.key for check in plan.secret_checks if check.accepted]
    rotated = [key for key in accepted if key not in source_blanked]
    blanked = [key for key in accepted if key in source_blanked]
    if rotated:
        click.echo(f"launched with rotated secrets (recorded): {', '.join(rotated)}")
    if blanked:
        click.echo(
            "launched with the secrets the source had blanked, unverified or kept empty "
            f"(recorded): {', '.join(blanked)}"
        )
    if output is not None:
        click.echo(f"restored request written to {output} (mode 0600; it holds secrets)")
    if outcome is not None:
        click.echo(
            f"command exited with status {result.launched}: outcome {outcome.record.status.value}"
        )
        if outcome.retry is not None:
            verdict = "retry" if outcome.retry.retry else "no retry"
            click.echo(f"retry policy: {verdict} ({outcome.retry.reason})")


COMMANDS: tuple[click.Command, ...] = (retrigger,)
"""The commands this module adds to ``wfaudit``."""


@hookimpl
def wfaudit_register_commands(cli: click.Group) -> None:
    """Add :data:`COMMANDS` to the ``wfaudit`` group."""
    for command in COMMANDS:
        cli.add_command(command)
