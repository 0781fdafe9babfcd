"""The ``wfaudit db`` commands: show and upgrade a SQL store's schema revision."""

from __future__ import annotations

import json

import click

from wfaudit_hookspecs import BadStoreURL, ConfigurationError, StoreNotFound

from .store import SqlStore
from .urls import owns

__all__ = ["db"]

_store_option = click.option(
    "--store",
    "store_url",
    envvar="WFAUDIT_STORE_URL",
    metavar="URL",
    help="Store URL (default: the one wfaudit is configured with).",
)


@click.group()
def db() -> None:
    """Manage the schema of a SQL store (SQLite, PostgreSQL)."""


@db.command()
@_store_option
def upgrade(store_url: str | None) -> None:
    """Migrate the store's schema to the revision this wfaudit needs (creating
    the store if there is none)."""
    store = _open(store_url, create=True)
    try:
        before, after = store.upgrade()
    finally:
        store.close()
    if before == after:
        click.echo(f"{store.url}: already at {after}")
    else:
        click.echo(f"{store.url}: upgraded {before or '(empty)'} -> {after} (head)")


@db.command()
@_store_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def current(store_url: str | None, as_json: bool) -> None:
    """Show the store's schema revision and the one this wfaudit needs."""
    store = _open(store_url, create=False)
    try:
        revision = store.current_revision()
    finally:
        store.close()
    if revision is None:  # a database without the wfaudit tables: no store here
        raise StoreNotFound(
            f"no wfaudit store at {store.url}: the database has no wfaudit tables; check "
            "the URL (database, schema, search_path), or create the store with "
            "`wfaudit db upgrade --store URL`"
        )
    head = store.head_revision()
    if as_json:
        click.echo(
            json.dumps(
                {
                    "url": store.url,
                    "current": revision,
                    "head": head,
                    "up_to_date": revision == head,
                }
            )
        )
        return
    click.echo(f"store:   {store.url}")
    click.echo(f"current: {revision}")
    click.echo(f"head:    {head}" + ("" if revision == head else "  (run `wfaudit db upgrade`)"))


def _open(store_url: str | None, *, create: bool) -> SqlStore:
    """The store to work on, opened *without* checking or upgrading its schema
    (``create``: a missing SQLite file may be created)."""
    url = store_url or _configured_url()
    if not owns(url):
        raise BadStoreURL(
            "the db commands work on SQL stores (sqlite://, postgresql://); "
            "the store URL given is not one"
        )
    return SqlStore(url, check_schema=False, create=create)


def _configured_url() -> str:
    """The store URL the engine's CLI resolved (``ctx.obj.store_url`` of the root)."""
    root = click.get_current_context().find_root()
    url = getattr(root.obj, "store_url", None)
    if not isinstance(url, str) or not url:
        raise ConfigurationError("no store URL: pass --store URL or set WFAUDIT_STORE_URL")
    return url
