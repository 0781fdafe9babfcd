"""The ``wfaudit`` command.

Every command that reads takes ``--json``; every command that opens a store
takes ``--store URL`` (or ``WFAUDIT_STORE_URL``). Bad input ends with one line
on standard error and exit status 1, never a traceback (``WFAUDIT_DEBUG=1``
shows tracebacks of unexpected errors, which may quote data: use it locally).
Plugins add commands through ``wfaudit_register_commands``.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from typing import TYPE_CHECKING, Any

import click

from wfaudit_hookspecs import WfauditError

from ._version import __version__
from .cli_support import (  # re-exported: plugins' commands import them from here
    AuditRefused,
    CliState,
    WfauditGroup,
    _one_line_outcome,
    audit_and_say,
    chosen_format,
    format_option,
    json_option,
    pass_state,
    store_options,
)

# Start-up time matters (an orchestrator may run ``wfaudit trigger`` for every
# run): the engine, rich and the commands' modules are imported when a command
# needs them, not here (issue #18; bench/bench_cli.py measures it).
if TYPE_CHECKING:
    pass

from .command_modules import COMMAND_MODULES, add_engine_commands

CLI_PLUGINS: tuple[str, ...] = ("wfaudit.builtin.commands",)
"""The command line's own built-in plugins: registered by the command line (the host
of the commands), never by the engine's plugin manager, so that the engine, which the
commands use, does not load them (tests/test_architecture.py: no import cycle)."""

TRIGGER_KINDS = ("manual", "webhook", "schedule", "retry")
"""The values of :class:`~wfaudit_hookspecs.TriggerKind`, spelt here so that the
command line is built without the model's module (a test keeps them equal)."""
OUTCOME_STATUSES = ("running", "succeeded", "failed", "error", "cancelled")
"""The values of :class:`~wfaudit_hookspecs.Status` an outcome may take (all but
``triggered``), spelt here for the same reason."""


class RootGroup(WfauditGroup):
    """The ``wfaudit`` group: commands are imported on first use.

    Running one command imports its module only; the plugins' commands
    (``wfaudit_register_commands``) are registered when a name is not the
    engine's, or when every command is listed (``--help``).
    """

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        command = super().get_command(ctx, cmd_name)
        if command is None:
            module = COMMAND_MODULES.get(cmd_name)
            if module is not None:
                add_engine_commands(self, module)
                command = super().get_command(ctx, cmd_name)
        if command is None:
            _load_all_commands()
            command = super().get_command(ctx, cmd_name)
        return command

    def list_commands(self, ctx: click.Context) -> list[str]:
        _load_all_commands()
        return super().list_commands(ctx)


def _load_all_commands() -> None:
    # The engine's command modules come in through their built-in plugin
    # (wfaudit.builtin.commands), with the plugins' commands.
    _register_plugin_commands()


def _use_plugin_dirs(ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> None:
    # Eager, and through the environment: plugin commands are looked up before the
    # root command runs, and every plugin manager the command makes (and every
    # process it starts: serve's workers) reads it. Put back when the command ends,
    # so that a command run in process (click's CliRunner, a test) leaves nothing.
    if values:
        before = os.environ.get("WFAUDIT_PLUGINS_DIR")
        current = [d for d in (before or "").split(os.pathsep) if d]
        os.environ["WFAUDIT_PLUGINS_DIR"] = os.pathsep.join([*values, *current])
        ctx.call_on_close(functools.partial(_put_back, "WFAUDIT_PLUGINS_DIR", before))


def _put_back(name: str, value: str | None) -> None:
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


@click.group(cls=RootGroup, invoke_without_command=True)
@click.option(
    "--store",
    "store_url",
    metavar="URL",
    envvar="WFAUDIT_STORE_URL",
    default=None,
    help="Store URL (default: the embedded SQLite store in the user's data directory).",
)
@click.option(
    "--tenant", envvar="WFAUDIT_TENANT", default=None, help="Scope every command to this tenant."
)
@click.option(
    "--plugins-dir",
    "plugins_dirs",
    metavar="DIR",
    multiple=True,
    is_eager=True,
    expose_value=False,
    callback=_use_plugin_dirs,
    help="Also load the plugin modules in DIR, without installing them (repeatable; "
    "WFAUDIT_PLUGINS_DIR).",
)
@click.version_option(version=__version__, prog_name="wfaudit")
@click.pass_context
def cli(ctx: click.Context, store_url: str | None, tenant: str | None) -> None:
    """Audit workflow triggers: immutable, secret-free snapshots of what ran."""
    if ctx.invoked_subcommand is None:  # `wfaudit` alone: the help, not an error
        click.echo(ctx.get_help())
        ctx.exit(0)
    ctx.obj = CliState(store_url=store_url, tenant=tenant)


@cli.command()
@click.option("--all", "show_all", is_flag=True, help="Include the engine's built-in plugins.")
@click.option("--hook", default=None, help="Only plugins implementing this hook.")
@json_option
@format_option
def plugins(show_all: bool, hook: str | None, as_json: bool, output_format: str | None) -> None:
    """List the plugins found, their distributions and the hooks they implement.

    With --hook, only the plugins implementing that hook, in the order a call
    reaches them, each marked as a wrapper (runs around the others: timing,
    spooling, notifications) or an implementation.
    """
    from . import render, tables
    from .plugins import make_plugin_manager

    fmt = chosen_format(as_json, output_format)

    pm = make_plugin_manager(builtins=CLI_PLUGINS)
    infos = [i for i in pm.describe() if show_all or not i.builtin]
    if hook:
        known = pm.hooks.names()
        if hook not in known:
            raise click.ClickException(f"there is no hook {hook!r}; the hooks: {', '.join(known)}")
        # In the order a call reaches them, wrappers (timing, spooling) marked apart.
        order = {name: index for index, (name, _) in enumerate(pm.call_order(hook))}
        infos = sorted((i for i in infos if hook in i.hooks), key=lambda i: order[i.name])
        if not infos and fmt == "table":
            hint = "" if show_all else " (--all shows the engine's built-in ones too)"
            click.echo(f"no plugin implements {hook}{hint}")
            return
    if fmt == "json":
        from .json_data import plugins_data

        click.echo(render.dump_json(plugins_data(infos, hook=hook)))
    else:
        tables.emit(render.plugins_rows(infos, hook=hook), fmt)


def _parse_labels(
    _ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]
) -> dict[str, str]:
    from wfaudit_hookspecs.util import parse_key_value

    labels = {}
    for item in values:
        try:
            key, value = parse_key_value(item)
        except WfauditError as exc:
            raise click.BadParameter(str(exc)) from None
        labels[key] = value
    return labels


@cli.command()
@click.argument("payload", metavar="FILE|-")
@click.option(
    "--type",
    "workflow_type",
    required=True,
    help="Workflow type: CI, PRE_CD, POST_CD, or one an adapter declares.",
)
@click.option("--workflow-id", required=True, help="The orchestrator's id of this run.")
@click.option("--pipeline-id", required=True, help="The pipeline the run belongs to.")
@click.option("--triggered-by", default=None, help="Who or what triggered the run.")
@click.option(
    "--kind",
    "trigger_kind",
    type=click.Choice(TRIGGER_KINDS),
    default="manual",
    show_default=True,
)
@click.option(
    "--label",
    "labels",
    multiple=True,
    callback=_parse_labels,
    metavar="KEY=VALUE",
    help="A label (repeatable).",
)
@click.option(
    "--format", "payload_format", default=None, help="Force the payload format (an adapter's name)."
)
@click.option(
    "--parent",
    metavar="REF",
    default=None,
    help="The id of the snapshot this run retries or follows.",
)
@click.option(
    "--attempt",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Which attempt of the run this is.",
)
@click.option(
    "--strict",
    is_flag=True,
    help=(
        "Fail (exit 1) when the store is unavailable instead of spooling the audit "
        "(with --server: when the server cannot be reached)."
    ),
)
@click.option(
    "--server",
    metavar="URL",
    envvar="WFAUDIT_SERVER",
    default=None,
    help=(
        "Send the trigger to a running `wfaudit serve` (http://HOST:PORT), which masks "
        "and stores it; the engine is not loaded here (default: WFAUDIT_SERVER). The "
        "token: WFAUDIT_INGEST_TOKEN or --token-file."
    ),
)
@click.option(
    "--token-file",
    metavar="PATH",
    default=None,
    help="With --server: a file holding the write token (instead of WFAUDIT_INGEST_TOKEN).",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    help="With --server: seconds to get an answer, retries included.",
)
@store_options
@json_option
def trigger(
    payload: str,
    workflow_type: str,
    workflow_id: str,
    pipeline_id: str,
    triggered_by: str | None,
    trigger_kind: str,
    labels: dict[str, str],
    payload_format: str | None,
    parent: str | None,
    attempt: int,
    strict: bool,
    server: str | None,
    token_file: str | None,
    timeout: float,
    as_json: bool,
) -> None:
    """Audit one trigger from a JSON or YAML payload file (or - for stdin).

    Prints one line: ``audited: TYPE ID, snapshot ID (new snapshot | already
    audited (no-op), N masked)``, or the audit result as JSON with --json.

    Non-blocking by default: when the store is down, locked or full, the masked
    snapshot goes to the local durable spool, a line says so and the exit status
    is 0; ``wfaudit drain`` (with the same --store) stores it later. Bad input (an
    invalid or oversized request, a conflicting second trigger of a run) still
    exits 1. With --strict a store failure fails too, and nothing is spooled.

    With --server URL the trigger goes to a running `wfaudit serve` (POST
    /api/v1/triggers), which masks and stores it or, its store down, spools it on
    the server (the "spooled:" line); the lines and exit statuses are the local
    ones. A server that cannot be reached (or answers 5xx after retries within
    --timeout) gives a "not audited:" line and exit 0: the trigger is then kept
    nowhere (it holds secrets and cannot be masked here); --strict exits 1
    instead, for the caller to retry.
    With auditing switched off (WFAUDIT_ENABLED=false or ENABLE_WORKFLOW_AUDIT=false)
    it says so and exits 0.

    A warm local agent, started by an earlier trigger of the same configuration
    and store, audits it when one runs, with the same answers: much faster
    start-up. It exits when idle, and whenever its configuration, plugins or
    store changed (the trigger is then audited in process). WFAUDIT_AGENT=0 audits
    every trigger in process and starts no agent.
    """
    state: CliState = click.get_current_context().find_root().obj
    if server is not None:
        fields: dict[str, Any] = {
            "workflow_id": workflow_id,
            "workflow_type": workflow_type,
            "pipeline_id": pipeline_id,
            "triggered_by": triggered_by,
            "trigger_kind": trigger_kind,
            "labels": labels,
            "format": payload_format,
            "parent": parent,
            "attempt": attempt,
            "tenant": state.tenant,
        }
        from .settings_file import strict_setting

        # As locally: WFAUDIT_STRICT or the settings file may say strict too.
        strict = strict or strict_setting()
        _trigger_remote(
            server, token_file, timeout, payload, fields, strict=strict, as_json=as_json
        )
        return
    config = _load(payload)
    fields = {
        "workflow_id": workflow_id,
        "workflow_type": workflow_type,
        "pipeline_id": pipeline_id,
        "triggered_by": triggered_by,
        "trigger_kind": trigger_kind,
        "tenant": state.tenant,
        "labels": labels,
        "format": payload_format,
        "parent": parent,
        "attempt": attempt,
    }
    from . import agent  # a warm local process audits, when one matches (docs/user-guide.md)

    answer = agent.hand_over(state.given_store_url, fields, config, strict, as_json)
    if answer is not None:
        answer.say()
        return
    try:
        # Non-strict unless asked: WFAUDIT_STRICT or the settings file may still say strict.
        with _one_line_outcome(), state.auditor(strict=strict or None, create=True) as auditor:
            audit_and_say(auditor, fields, config, as_json)
    finally:
        agent.start_pending()  # for the next trigger, once this one is audited


def _trigger_remote(
    server: str,
    token_file: str | None,
    timeout: float,
    payload: str,
    fields: dict[str, Any],
    *,
    strict: bool,
    as_json: bool,
) -> None:
    """``trigger --server``: the payload read here, masked and stored by the server."""
    from . import remote  # neither the engine nor a plugin: a light process

    token = remote.read_token(token_file)
    remote.endpoint(server)  # a bad URL is refused before the payload is read
    body = {key: value for key, value in fields.items() if value is not None}
    body["config"] = _load(payload)
    answer = remote.send_trigger(server, token, body, timeout=timeout)
    workflow = f"{fields['workflow_type']} {fields['workflow_id']}"
    status = answer.status
    if status in (200, 201, 202):
        data = answer.body
        ref = data.get("ref") if isinstance(data.get("ref"), dict) else None
        snapshot = (
            f"snapshot {data.get('snapshot_id')}" if data.get("snapshot_id") else "no snapshot"
        )
        if ref is not None and ref.get("workflow_id") is not None:
            workflow = f"{ref.get('workflow_type')} {ref.get('workflow_id')}"
        if status == 202:
            line = (
                f"spooled: the server's store is unavailable; {workflow} ({snapshot}) is kept "
                "in the server's durable spool, which its drain stores"
            )
        else:
            outcome = "new snapshot" if status == 201 else "already audited (no-op)"
            line = f"audited: {workflow}, {snapshot} ({outcome}, {data.get('masked', 0)} masked)"
        result = {
            "ok": True,
            "ref": ref,
            "created": status == 201,
            "error": None,
            "error_type": None,
            "masked": data.get("masked", 0),
            "spooled": status == 202,
        }
        _say(line, result, as_json, line_to_stderr=status == 202)
        return
    if status is not None and 400 <= status < 500 and status != 408:
        raise remote.refused(answer)
    problem = answer.problem or remote.answered(answer)
    if strict:
        raise AuditRefused(f"the wfaudit server at {server} cannot take the trigger: {problem}")
    line = (
        f"not audited: the wfaudit server at {server} cannot take the trigger ({problem}); "
        f"{workflow} is NOT kept anywhere: retry, or pass --strict to fail"
    )
    result = {
        "ok": False,
        "ref": None,
        "created": False,
        "error": line,
        "error_type": "ServerUnavailable",
        "masked": 0,
        "spooled": False,
    }
    _say(line, result, as_json, line_to_stderr=True)


def _say(line: str, result: dict[str, Any], as_json: bool, *, line_to_stderr: bool) -> None:
    if as_json:
        click.echo(json.dumps(result, indent=2, ensure_ascii=False))
        if line_to_stderr:
            click.echo(line, err=True)
    else:
        click.echo(line)


def _load(payload: str) -> Any:
    from .loading import load_payload  # PyYAML is only needed by the commands that read files

    return load_payload(payload)


@cli.command()
@click.argument("workflow_id")
@click.argument("status", type=click.Choice(OUTCOME_STATUSES))
@click.option("--type", "workflow_type", required=True, help="Workflow type of WORKFLOW_ID.")
@click.option(
    "--reason",
    default=None,
    help="Why the run ended so (for failures: the reason retry policies read).",
)
@click.option("--by", default=None, help="Who reports the outcome.")
@store_options
@json_option
@pass_state
def status(
    state: CliState,
    workflow_id: str,
    status: str,
    workflow_type: str,
    reason: str | None,
    by: str | None,
    as_json: bool,
) -> None:
    """Record the outcome of a run: running, succeeded, failed, error or cancelled."""
    from . import render

    with state.auditor() as auditor:
        outcome = auditor.record_outcome(workflow_id, workflow_type, status, reason, by=by)
    if as_json:
        click.echo(render.dump_json(render.to_json_data(outcome)))
        return
    record = outcome.record
    click.echo(f"{record.workflow_type} {record.workflow_id}: {record.status.value}")
    if outcome.retry is not None:
        verdict = "retry" if outcome.retry.retry else "no retry"
        click.echo(f"retry policy: {verdict} ({outcome.retry.reason})")


@cli.command()
@store_options
@pass_state
def demo(state: CliState) -> None:
    """Audit a CI, a pre-CD and a post-CD trigger carrying secrets; list, show and diff them.

    The demo writes into a new throw-away store in a temporary directory, which it
    prints with the commands to look at it: never into your store (neither the
    default one nor WFAUDIT_STORE_URL's). Give --store (before or after `demo`) to
    run it on that store instead.
    """
    from . import render
    from .demo import run_demo, throwaway_auditor, throwaway_hint

    ctx = click.get_current_context()
    console = render.console()
    if _store_given_on_command_line(ctx):
        run_demo(state.auditor(strict=False, create=True), console)
        return
    auditor, home = throwaway_auditor(tenant=state.tenant)
    run_demo(auditor, console)
    click.echo()
    click.echo(throwaway_hint(home))


def _store_given_on_command_line(ctx: click.Context) -> bool:
    """Whether ``--store`` was given as an option (not taken from the environment)."""
    given = click.core.ParameterSource.COMMANDLINE
    return (
        ctx.get_parameter_source("store") == given
        or ctx.find_root().get_parameter_source("store_url") == given
    )


_plugin_commands_registered = False


def _register_plugin_commands() -> None:
    """Let the plugins add their commands (once per process)."""
    global _plugin_commands_registered
    if _plugin_commands_registered:
        return
    from .plugins import make_plugin_manager

    try:
        pm = make_plugin_manager(builtins=CLI_PLUGINS)
    except WfauditError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(1)
    _plugin_commands_registered = True
    pm.hooks.register_commands(cli)


def main() -> None:
    """Entry point of the ``wfaudit`` script."""
    cli(prog_name="wfaudit")
