"""The schema revision of a store, and upgrading it with Alembic.

Opening a store reads the revision with one or two plain queries; Alembic is
imported only when a migration has to run. :data:`HEAD_REVISION` and
:data:`KNOWN_REVISIONS` mirror the scripts in ``migrations/versions`` (a test
checks that they agree), so that checking needs no Alembic either.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import column, select, table, text
from sqlalchemy.engine import Connection

from wfaudit_hookspecs import SchemaMismatch, env_flag

__all__ = [
    "AUTO_UPGRADE_ENV",
    "HEAD_REVISION",
    "KNOWN_REVISIONS",
    "MIGRATIONS_DIR",
    "VERSION_TABLE",
    "auto_upgrade_from_env",
    "check_revision",
    "read_revision",
    "upgrade_in",
]

HEAD_REVISION = "0010_bytes"
KNOWN_REVISIONS = (
    "0001_initial",
    "0002_audit_chain",
    "0003_blob_base",
    "0004_tags_annotations",
    "0005_manifest_store",
    "0006_retention",
    "0007_chain",
    "0008_keyid",
    "0009_archive_expiry",
    "0010_bytes",
)
"""Every revision this version of the code can upgrade from, oldest first."""

VERSION_TABLE = "wfaudit_alembic_version"
"""Alembic's version table, under a name of its own so that a database (or a
PostgreSQL schema) shared with an application that uses Alembic too is safe."""

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

AUTO_UPGRADE_ENV = "WFAUDIT_DB_AUTO_UPGRADE"

# A lock per database *and* schema: stores in different schemas of one database
# can migrate at the same time.
_PG_LOCK_KEY = "hashtextextended('wfaudit-sql migrate ' || current_schema(), 0)"


def auto_upgrade_from_env() -> bool:
    """Whether a store behind the head revision is upgraded when opened (default yes;
    unset or empty keeps the default, see :func:`wfaudit_hookspecs.parse_bool`)."""
    return env_flag(AUTO_UPGRADE_ENV, default=True)


def read_revision(connection: Connection) -> str | None:
    """The store's schema revision, or None when it has no wfaudit schema yet."""
    if connection.dialect.name == "sqlite":
        exists = connection.execute(
            text("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = :name"),
            {"name": VERSION_TABLE},
        ).first()
    else:
        # to_regclass resolves through the search_path, as the queries do.
        exists = connection.execute(
            text("SELECT to_regclass(:name)"), {"name": VERSION_TABLE}
        ).scalar()
    if not exists:
        return None
    revision = connection.execute(
        select(column("version_num")).select_from(table(VERSION_TABLE))
    ).scalar()
    return str(revision) if revision is not None else None


def check_revision(revision: str | None, url: str, *, auto_upgrade: bool) -> bool:
    """True when the store must be upgraded before use; :class:`SchemaMismatch` if it
    cannot be used by this code as it is."""
    if revision == HEAD_REVISION:
        return False
    _refuse_unknown(revision, url)
    if not auto_upgrade:
        state = "has no wfaudit schema" if revision is None else f"is at revision {revision}"
        raise SchemaMismatch(
            f"the store at {url} {state}, this wfaudit needs {HEAD_REVISION} "
            f"({AUTO_UPGRADE_ENV}=0 turned automatic upgrades off); "
            "run `wfaudit db upgrade`"
        )
    return True


def upgrade_in(connection: Connection, url: str) -> str | None:
    """Upgrade the schema to head inside ``connection``'s transaction.

    The caller holds whatever lock serialises migrations (``BEGIN IMMEDIATE`` on
    SQLite, an advisory lock on PostgreSQL), so the revision read here is still
    true when the migrations run. Returns the revision found before.
    """
    before = read_revision(connection)
    if before == HEAD_REVISION:
        return before
    _refuse_unknown(before, url)
    _run_alembic(connection)
    return before


def lock_postgresql(connection: Connection) -> None:
    """Take the session-level advisory lock that serialises migrations."""
    connection.execute(text(f"SELECT pg_advisory_lock({_PG_LOCK_KEY})"))


def unlock_postgresql(connection: Connection) -> None:
    connection.execute(text(f"SELECT pg_advisory_unlock({_PG_LOCK_KEY})"))


def _refuse_unknown(revision: str | None, url: str) -> None:
    if revision is not None and revision not in KNOWN_REVISIONS:
        raise SchemaMismatch(
            f"the store at {url} is at schema revision {revision}, which this "
            f"wfaudit-sql does not know (it was written by a newer wfaudit); "
            "upgrade wfaudit-sql to use it"
        )


def _run_alembic(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    # ConfigParser interpolation would read a '%' in the path as a reference.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
