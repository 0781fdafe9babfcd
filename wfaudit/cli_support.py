"""What the ``wfaudit`` command and its command modules share: the command line's
state (:class:`CliState`, :data:`pass_state`), the options every command takes
(:func:`store_options`, :func:`json_option`, :func:`format_option`) and the
group turning errors into one line (:class:`WfauditGroup`).

A leaf of the command line: it imports no command module and not
:mod:`wfaudit.cli`, so that the command modules (``history_cli``...), which
``wfaudit.cli`` loads by name, import their helpers without an import cycle
(tests/test_architecture.py). :mod:`wfaudit.cli` re-exports these names.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, TypeVar

import click

from wfaudit_hookspecs import WfauditError

if TYPE_CHECKING:
    from .auditor import Auditor

__all__ = [
    "FORMATS",
    "AuditRefused",
    "CliState",
    "WfauditGroup",
    "audit_and_say",
    "chosen_format",
    "format_option",
    "json_option",
    "pass_state",
    "store_options",
]

F = TypeVar("F", bound=Callable[..., Any])


class CliState:
    """What the root command hands its subcommands (and plugins' commands).

    :ivar store_url: the resolved store URL (``--store``, ``WFAUDIT_STORE_URL``,
        the settings file, or the embedded default), resolved when first read:
        ``trigger --server`` never reads the settings.
    :ivar tenant: the tenant to scope to, if any.
    """

    def __init__(self, store_url: str | None = None, tenant: str | None = None) -> None:
        self._store_url = store_url
        self.tenant = tenant

    @property
    def store_url(self) -> str:
        if self._store_url is None:
            from .settings import Settings

            self._store_url = Settings.load().store_url
        return self._store_url

    @store_url.setter
    def store_url(self, value: str | None) -> None:
        self._store_url = value

    @property
    def given_store_url(self) -> str | None:
        """The store URL given (``--store``, ``WFAUDIT_STORE_URL``), without the settings."""
        return self._store_url

    def __repr__(self) -> str:
        return f"CliState(store_url={self._store_url!r}, tenant={self.tenant!r})"

    def auditor(self, strict: bool | None = True, *, create: bool = False) -> Auditor:
        """An auditor on the command's store.

        :param strict: raise store errors (True, the default of the commands);
            None leaves it to ``WFAUDIT_STRICT`` and the settings file.
        :param create: the command adds data and may create a store that does
            not exist yet. Every other command (all that only read, and those
            that change what is already stored) leaves it False: a mistyped
            ``--store`` then fails with :class:`StoreNotFound` instead of
            creating an empty store and reporting on it.
        """
        from .auditor import Auditor

        return Auditor.from_url(self.store_url, tenant=self.tenant, strict=strict, create=create)


pass_state = click.make_pass_decorator(CliState)
"""Hand a command the :class:`CliState` of the ``wfaudit`` group as its first argument.

A plugin's command uses it too::

    @click.command()
    @store_options
    @pass_state
    def mine(state: CliState) -> None:
        with state.auditor() as auditor: ...
"""


class WfauditGroup(click.Group):
    """A click group that turns wfaudit errors into one line and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except WfauditError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(1)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:
            # The reader went away (`wfaudit log --json | head`): not an error of
            # ours. Point stdout at /dev/null so the flush at exit fails no more.
            _silence_stdout()
            ctx.exit(0)
        except Exception as exc:
            if os.environ.get("WFAUDIT_DEBUG"):
                raise
            # The message of an unexpected error could quote data: name the type only.
            click.echo(
                f"Error: unexpected {type(exc).__name__}; run with WFAUDIT_DEBUG=1 for details",
                err=True,
            )
            ctx.exit(70)


def _silence_stdout() -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # no real stdout (captured in tests)
        pass
    finally:
        os.close(devnull)


def _override(attribute: str) -> Callable[[click.Context, click.Parameter, str | None], None]:
    def callback(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        # Subcommand options are parsed after the root callback made the state.
        if value:
            setattr(ctx.find_root().obj, attribute, value)

    return callback


def store_options(function: F) -> F:
    """``--store`` and ``--tenant`` on a command, overriding the root's."""
    function = click.option(
        "--tenant",
        default=None,
        expose_value=False,
        callback=_override("tenant"),
        help="Scope reads and writes to this tenant.",
    )(function)
    return click.option(
        "--store",
        metavar="URL",
        default=None,
        expose_value=False,
        callback=_override("store_url"),
        help="Store URL (default: WFAUDIT_STORE_URL, else the embedded SQLite store).",
    )(function)


def json_option(function: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")(
        function
    )


FORMATS = ("table", "tsv", "json")
"""The values of ``--format`` on the commands that print tables (:mod:`wfaudit.tables`)."""


def format_option(function: F) -> F:
    """``--format table|tsv|json`` on a command that prints a table (json is --json)."""
    return click.option(
        "--format",
        "output_format",
        type=click.Choice(FORMATS),
        default=None,
        help="table (fits the terminal; plain when piped), tsv (for scripts) or json (--json).",
    )(function)


def chosen_format(as_json: bool, output_format: str | None) -> str:
    """The format ``--json`` and ``--format`` ask for (``table`` by default).

    :raises click.UsageError: both given, and they disagree.
    """
    if as_json and output_format not in (None, "json"):
        raise click.UsageError(f"--json and --format {output_format} disagree: give one")
    return "json" if as_json else output_format or "table"


def audit_and_say(auditor: Auditor, fields: dict[str, Any], config: Any, as_json: bool) -> None:
    """The local ``trigger``: audit ``config`` with ``auditor`` and print its one line.

    :raises AuditRefused: the audit failed and nothing was kept (exit status 1).
    """
    import attrs

    from wfaudit_hookspecs import TriggerRequest

    request = TriggerRequest(config=config, **fields)
    result = auditor.audit_trigger(request)
    if result.disabled:
        line = (
            f"disabled: auditing is switched off (WFAUDIT_ENABLED / ENABLE_WORKFLOW_AUDIT); "
            f"{request.workflow_type} {request.workflow_id} was not audited"
        )
        if as_json:
            click.echo(json.dumps(attrs.asdict(result), indent=2, ensure_ascii=False))
            click.echo(line, err=True)
        else:
            click.echo(line)
        return
    workflow = result.ref.workflow_id if result.ref else request.workflow_id
    if not result.ok:  # non-blocking mode returns what strict mode raises
        raise AuditRefused(result.error or result.error_type or "the audit failed")
    snapshot = f"snapshot {result.ref.id}" if result.ref else "no snapshot"
    if result.spooled:
        line = (
            f"spooled: the store is unavailable; {request.workflow_type} {workflow} "
            f"({snapshot}) is kept in the local spool: run `wfaudit drain` with the same "
            "--store to store it"
        )
    else:
        # One plain line (no table): an orchestrator logs it, and rich stays unimported.
        outcome = "new snapshot" if result.created else "already audited (no-op)"
        line = (
            f"audited: {request.workflow_type} {workflow}, {snapshot} "
            f"({outcome}, {result.masked} masked)"
        )
    if as_json:
        # An AuditResult holds strings, numbers and booleans only: no converter (and
        # no rich, through render) is needed for it.
        click.echo(json.dumps(attrs.asdict(result), indent=2, ensure_ascii=False))
        if result.spooled:
            click.echo(line, err=True)
    else:
        click.echo(line)


_AUDIT_LOGGERS = ("wfaudit", "wfaudit.spool")
"""The loggers of the audit path, whose records the trigger command says in its own line."""


@contextlib.contextmanager
def _one_line_outcome() -> Iterator[None]:
    """Keep the audit path's log records (failed, spooled) off the terminal.

    The command prints one line saying what happened; with logging not configured,
    Python would print each record too. Other records (a plugin that failed to
    load) still reach standard error, as they would without this.
    """
    import logging  # the local audit path only: --server and --version go without

    if logging.getLogger().handlers or os.environ.get("WFAUDIT_DEBUG"):
        yield
        return
    handler = logging.StreamHandler()
    handler.setLevel(logging.WARNING)
    handler.addFilter(lambda record: record.name not in _AUDIT_LOGGERS)
    logger = logging.getLogger("wfaudit")
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


class AuditRefused(WfauditError):
    """``wfaudit trigger`` could not audit the request (one line, exit status 1)."""
