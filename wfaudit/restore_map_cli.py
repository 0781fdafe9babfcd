"""The ``wfaudit restore-map`` command (added to the ``wfaudit`` group by ``wfaudit.cli``).

For one stored snapshot, which masked secrets a retrigger will restore, from
where (an environment variable, a keyring entry, by an explicit mapping, the
masker's reference or a profile's convention), and which it will not; never a
value.
"""

from __future__ import annotations

import sys

import click

from wfaudit_hookspecs import hookimpl

from . import render
from .cli_support import CliState, json_option, pass_state, store_options
from .retrigger import MATCHING, NOT_FOUND, RestoreMapEntry, restore_map
from .words import plural

__all__ = ["restore_map_command"]


@click.command("restore-map")
@click.argument("ref")
@click.option(
    "--check",
    is_flag=True,
    help="Exit 1 when any secret will not restore as the snapshot's own (missing, "
    "rotated, invalid).",
)
@store_options
@json_option
@pass_state
def restore_map_command(state: CliState, ref: str, check: bool, as_json: bool) -> None:
    """List where each masked secret of snapshot REF will be restored from.

    REF is a snapshot id (or unique prefix), WORKFLOW_ID:TYPE, a tag or HEAD.
    Each secret is looked up as a retrigger would (explicit mappings, the
    masker's restore reference, the restore profile of the snapshot's adapter,
    e.g. Devtron's), checked against the snapshot's fingerprint and dropped:
    values are never printed. A secret "will restore" only when the value found
    is the one the snapshot was taken with.
    """
    with state.auditor() as auditor:
        snapshot = auditor.get(ref)
        entries = restore_map(auditor, snapshot)
    missing = [entry for entry in entries if not entry.restores]
    if as_json:
        click.echo(
            render.dump_json(
                {
                    "snapshot_id": snapshot.id,
                    "workflow_id": snapshot.workflow_id,
                    "workflow_type": snapshot.workflow_type,
                    "adapter": snapshot.manifest.adapter,
                    "secrets": [
                        {
                            "key": e.key,
                            "rule": e.rule,
                            "state": e.state,
                            "restores": e.restores,
                            "reason": e.reason or None,
                            "source": e.source,
                        }
                        for e in entries
                    ],
                    "restore": len(entries) - len(missing),
                    "not_restore": len(missing),
                }
            )
        )
    else:
        click.echo(
            f"snapshot {snapshot.id}: {snapshot.workflow_type} {snapshot.workflow_id} "
            f"(adapter {snapshot.manifest.adapter or 'generic'}), "
            f"{plural(len(entries), 'masked secret')}"
        )
        width = max((len(e.key) for e in entries), default=0)
        for entry in entries:
            click.echo(f"  {entry.key:<{width}}  {_verdict(entry):<22}  {entry.source}")
        click.echo(
            f"{len(entries) - len(missing)} will restore, {len(missing)} will not"
            + ("" if not missing else ": a retrigger would be refused")
        )
    if check and missing:
        sys.exit(1)


def _verdict(entry: RestoreMapEntry) -> str:
    if not entry.restores:
        return f"WILL NOT ({entry.state})"
    if entry.state == MATCHING:
        return "restores"
    if entry.source.startswith(NOT_FOUND) or entry.source.startswith("no "):
        return "kept empty (blanked)"
    return f"restores ({entry.state})"


COMMANDS: tuple[click.Command, ...] = (restore_map_command,)
"""The commands this module adds to ``wfaudit``."""


@hookimpl
def wfaudit_register_commands(cli: click.Group) -> None:
    """Add :data:`COMMANDS` to the ``wfaudit`` group."""
    for command in COMMANDS:
        cli.add_command(command)
