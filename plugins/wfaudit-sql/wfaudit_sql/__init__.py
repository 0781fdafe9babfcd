"""wfaudit-sql: the wfaudit store on SQLAlchemy (SQLite and PostgreSQL).

The engine finds this package through the ``sql`` entry point of the ``wfaudit``
group (:mod:`wfaudit_sql.plugin`). :class:`SqlStore` is also usable directly.
It is imported on first use, so that loading the plugin (which every
``wfaudit`` command does) does not import SQLAlchemy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .store import SqlStore

__version__ = "0.1.0"

__all__ = ["SqlStore", "__version__"]


def __getattr__(name: str) -> object:
    if name == "SqlStore":
        from .store import SqlStore

        return SqlStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
