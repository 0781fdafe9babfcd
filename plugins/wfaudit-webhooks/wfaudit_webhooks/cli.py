"""``wfaudit webhooks dlq list|replay``."""

from __future__ import annotations

import json

import click

from wfaudit import Column, Rows, Settings, chosen_format, emit, format_option
from wfaudit_hookspecs import ConfigurationError

from .config import WebhookConfig, redact_url
from .deadletters import DeadLetters
from .replay import replay

__all__ = ["webhooks"]


def _config() -> WebhookConfig:
    settings = Settings.load()
    config = WebhookConfig.from_options(settings.options, home=settings.home)
    if config is None:
        raise ConfigurationError(
            "no webhook endpoints are configured ([tool.wfaudit.webhooks] endpoints)"
        )
    return config


@click.group()
def webhooks() -> None:
    """Signed notifications: the dead-letter queue."""


@webhooks.group()
def dlq() -> None:
    """Deliveries that kept failing."""


DEAD_LETTER_COLUMNS = (
    Column("id", "id", "id"),
    Column("event", "event", "fixed", priority=3),
    Column("snapshot", "snapshot", "id", priority=2),
    Column("endpoint", "endpoint", priority=4, min_width=24),
    Column("attempts", "attempts", "fixed", priority=5, justify="right"),
    Column("last error", "last_error", priority=1),
)
"""The columns of ``wfaudit webhooks dlq list``, most important first."""


@dlq.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@format_option
def list_command(as_json: bool, output_format: str | None) -> None:
    """List the dead letters, oldest first (bodies are not printed)."""
    fmt = chosen_format(as_json, output_format)
    letters = DeadLetters(_config().dead_letters).list()
    rows = [
        {
            "id": letter.id,
            "event": letter.kind,
            "snapshot": letter.subject,
            "endpoint": redact_url(letter.endpoint),
            "attempts": letter.attempts,
            "last_error": letter.last_error,
            "first_failed_at": letter.first_failed_at,
            "last_failed_at": letter.last_failed_at,
        }
        for letter in letters
    ]
    if fmt == "json":
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows and fmt == "table":
        click.echo("no dead letters")
        return
    table = Rows(list(DEAD_LETTER_COLUMNS), title="Dead letters")
    for row in rows:
        table.add(*(str(row[column.key]) for column in DEAD_LETTER_COLUMNS))
    emit(table, fmt)


@dlq.command("replay")
@click.argument("ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter.")
def replay_command(ids: tuple[str, ...], replay_all: bool) -> None:
    """Send dead letters again, once each; delivered ones leave the queue.

    Give delivery IDS, or --all. Exits with status 1 when any is still failing.
    """
    if bool(ids) == replay_all:
        raise click.UsageError("give delivery ids or --all (not both)")
    config = _config()
    if ids:
        known = {letter.id for letter in DeadLetters(config.dead_letters).list(ids)}
        missing = [i for i in ids if i not in known]
        if missing:
            raise ConfigurationError(f"no dead letter with id {', '.join(missing)}")
    results = replay(config, ids)
    delivered = sum(result.delivered for result in results)
    for result in results:
        if not result.delivered:
            click.echo(f"{result.id}: still failing: {result.error}", err=True)
    click.echo(f"replayed {len(results)}: {delivered} delivered, {len(results) - delivered} failed")
    if delivered < len(results):
        click.get_current_context().exit(1)
