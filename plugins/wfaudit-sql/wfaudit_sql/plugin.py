"""The hook implementations of wfaudit-sql (entry point ``sql`` in group ``wfaudit``).

Kept light: SQLAlchemy and click are imported only when a hook needs them, so
loading the plugin costs nothing to ``wfaudit`` commands that never open a store.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wfaudit_hookspecs import hookimpl

from .urls import owns

if TYPE_CHECKING:
    import click

    from .store import SqlStore

__all__ = ["wfaudit_open_store", "wfaudit_register_commands"]


@hookimpl
def wfaudit_open_store(url: str, create: bool) -> SqlStore | None:
    """Open a :class:`~wfaudit_sql.store.SqlStore` for ``sqlite`` and ``postgresql`` URLs
    (a missing one is created only when ``create``)."""
    if not owns(url):
        return None
    from .store import SqlStore

    return SqlStore(url, create=create)


@hookimpl
def wfaudit_register_commands(cli: click.Group) -> None:
    """Add the ``db`` command group (``upgrade``, ``current``)."""
    from .cli import db

    cli.add_command(db)
