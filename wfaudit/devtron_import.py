"""Importing Devtron's history: its ``workflow_config_snapshot`` table into a wfaudit store.

Devtron (its config-snapshot feature) stores one row per triggered run::

    id                               int4         primary key
    workflow_id                      int4         ci_workflow.id or cd_workflow_runner.id
    workflow_type                    varchar(20)  CI, PRE_CD, POST_CD
    pipeline_id                      int4
    workflow_request_json            text         base64(gzip(JSON of the WorkflowRequest))
    workflow_request_schema_version  varchar(20)  V1
    created_on, updated_on           timestamptz
    created_by, updated_by           int4         Devtron user ids (1: the system user)
    unique (workflow_id, workflow_type)

Each row is decoded (standard base64, gzip, JSON: Go's ``encoding/base64``
``StdEncoding`` of ``compress/gzip`` output), held to the identity rules of a live
trigger, and audited through the pipeline with the **current** maskers (Devtron
only blanked eight fields; the rest of its secrets are masked now), keeping the
row's times and identities (:class:`wfaudit.auditor.Origin`). The eight fields
Devtron blanked are recorded as masked fields without a fingerprint
(:data:`wfaudit.retrigger.BLANKED_AT_SOURCE`), so that a retrigger restores them
(the Devtron restore profile of wfaudit-keyring names where).

Idempotent and resumable: rows are read in ``id`` order, in pages; a run already
in the store (imported before, or audited live) is counted as *already present*
and left as it is, so re-running imports nothing new and an interrupted run
continues where it stopped. A row that cannot be imported is *refused* with a
one-line reason that quotes no request data (never a secret); the others are
imported. A store failure stops the import (nothing is half-written: each
snapshot is one transaction); run it again to continue.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import json
import re
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from wfaudit_hookspecs import (
    ConfigurationError,
    HistoryQuery,
    InvalidRequest,
    StoreUnavailable,
    TriggerRequest,
    WfauditError,
    normalize_workflow_type,
)

from .auditor import Origin
from .spool import sanitize_url

if TYPE_CHECKING:
    from .auditor import Auditor

__all__ = [
    "BLANKED_FIELDS",
    "DEFAULT_TABLE",
    "IMPORT_LABEL",
    "SCHEMA_VERSIONS",
    "DevtronRow",
    "ImportReport",
    "Refusal",
    "RowRefused",
    "decode_request",
    "encode_request",
    "import_rows",
    "read_rows",
]

DEFAULT_TABLE = "workflow_config_snapshot"

SCHEMA_VERSIONS = frozenset({"V1"})
"""The ``workflow_request_schema_version`` values this wfaudit reads."""

BLANKED_FIELDS: tuple[str, ...] = (
    "/blobStorageS3Config/accessKey",
    "/blobStorageS3Config/passkey",
    "/azureBlobConfig/accountKey",
    "/gcpBlobConfig/credentialFileData",
    "/dockerPassword",
    "/accessKey",
    "/secretKey",
    "/dockerCert",
)
"""The eight fields Devtron's sanitiser blanks (``maskSecretsInWorkflowRequest``):
``BlobStorageS3Config.AccessKey``/``Passkey``, ``AzureBlobConfig.AccountKey``,
``GcpBlobConfig.CredentialFileJsonData`` (JSON ``credentialFileData``) and the
registry's ``DockerPassword``, ``AccessKey``, ``SecretKey``, ``DockerCert``."""

IMPORT_LABEL = ("imported-from", "devtron")
"""The label every imported snapshot carries (``wfaudit log --label imported-from=devtron``);
one of :data:`wfaudit.retrigger.ORIGIN_LABELS`, which a retrigger's new run does not inherit."""

PAGE_SIZE = 500
"""Rows read from Devtron's database per query (keyset paging on ``id``)."""

_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?$")
_COLUMNS = (
    "id",
    "workflow_id",
    "workflow_type",
    "pipeline_id",
    "workflow_request_json",
    "workflow_request_schema_version",
    "created_on",
    "created_by",
    "updated_on",
    "updated_by",
)


class RowRefused(WfauditError):
    """One Devtron row cannot be imported; the message quotes no request data."""


@attrs.frozen(kw_only=True)
class DevtronRow:
    """One row of Devtron's ``workflow_config_snapshot`` (its request still encoded)."""

    id: int
    workflow_id: Any
    workflow_type: Any
    pipeline_id: Any
    request_json: Any = attrs.field(repr=False)
    schema_version: Any
    created_on: Any
    created_by: Any
    updated_on: Any
    updated_by: Any


@attrs.frozen(kw_only=True)
class Refusal:
    """A row that was not imported, and why (one line, no request data)."""

    row_id: int
    workflow_id: str
    workflow_type: str
    reason: str


@attrs.frozen(kw_only=True)
class ImportReport:
    """What an import did (or, with ``dry_run``, would do)."""

    source: str
    table: str
    rows: int = 0
    imported: int = 0
    present: int = 0
    refused: tuple[Refusal, ...] = ()
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return not self.refused


# -- the encoding -------------------------------------------------------------------


def encode_request(request: Any) -> str:
    """A request as Devtron stores it: standard base64 of gzip of its JSON (for tests
    and tools; Go's ``json.Marshal``, ``gzip.Writer``, ``base64.StdEncoding``)."""
    data = json.dumps(request, separators=(",", ":")).encode("utf-8")
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return base64.standard_b64encode(compressor.compress(data) + compressor.flush()).decode()


def decode_request(text: object, *, max_bytes: int) -> Any:
    """Decode ``workflow_request_json``: base64 (standard alphabet, padded), gzip, JSON.

    :param max_bytes: the most bytes of JSON accepted (the audit's request limit);
        a gzip stream that inflates further is refused before it is inflated.
    :raises RowRefused: saying which layer is bad, never quoting the data.
    """
    if not isinstance(text, str):
        raise RowRefused(f"workflow_request_json is {type(text).__name__}, not text")
    try:
        compressed = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise RowRefused("bad base64 in workflow_request_json") from None
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip only: header and CRC checked
    try:
        data = inflater.decompress(compressed, max_bytes + 1)
        if len(data) > max_bytes or inflater.unconsumed_tail:
            raise RowRefused(
                f"the gzip stream inflates beyond max_request_bytes ({max_bytes:,} bytes)"
            )
        data += inflater.flush()
    except zlib.error:
        raise RowRefused("bad gzip in workflow_request_json") from None
    if not inflater.eof:
        raise RowRefused("bad gzip in workflow_request_json (truncated stream)")
    if inflater.unused_data.strip(b"\x00"):
        raise RowRefused("bad gzip in workflow_request_json (bytes after the stream)")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise RowRefused("workflow_request_json is not JSON (after base64 and gzip)") from None


# -- reading Devtron's table ----------------------------------------------------------


def _connect_url(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower().split("+", 1)[0] not in ("postgresql", "postgres"):
        raise ConfigurationError(
            "--from must be a PostgreSQL URL (postgresql://USER@HOST:PORT/DATABASE), "
            f"not {sanitize_url(url)!r}"
        )
    return f"postgresql://{rest}"


def check_table_name(table: str) -> tuple[str, ...]:
    """``table`` or ``schema.table`` as identifiers; anything else is refused."""
    if not _TABLE_NAME.match(table):
        raise ConfigurationError(
            f"--table {table!r} is not a table name (NAME or SCHEMA.NAME, letters, digits, _)"
        )
    return tuple(table.split("."))


class _Source:
    """Devtron's database, read-only, in pages of rows by ``id``."""

    def __init__(self, url: str, table: str) -> None:
        try:
            import psycopg
            from psycopg import sql
        except ImportError:  # pragma: no cover - psycopg ships with wfaudit-sql
            raise ConfigurationError(
                "reading Devtron's PostgreSQL needs psycopg (install wfaudit-sql)"
            ) from None
        self.display = sanitize_url(url)
        self._psycopg = psycopg
        names = check_table_name(table)
        self._table = sql.Identifier(*names)
        self._columns = sql.SQL(", ").join(sql.Identifier(name) for name in _COLUMNS)
        self._sql = sql
        try:
            self._connection = psycopg.connect(_connect_url(url), autocommit=True)
        except psycopg.Error as error:
            raise StoreUnavailable(
                f"cannot connect to Devtron's database {self.display}: {_pg_reason(error)}"
            ) from None

    def close(self) -> None:
        self._connection.close()

    def count(self, after: int) -> int:
        query = self._sql.SQL("SELECT count(*) FROM {} WHERE id > %s").format(self._table)
        row = self._execute(query, (after,)).fetchone()
        return int(row[0]) if row else 0

    def page(self, after: int, limit: int) -> list[DevtronRow]:
        query = self._sql.SQL("SELECT {} FROM {} WHERE id > %s ORDER BY id LIMIT %s").format(
            self._columns, self._table
        )
        return [
            DevtronRow(
                id=row[0],
                workflow_id=row[1],
                workflow_type=row[2],
                pipeline_id=row[3],
                request_json=row[4],
                schema_version=row[5],
                created_on=row[6],
                created_by=row[7],
                updated_on=row[8],
                updated_by=row[9],
            )
            for row in self._execute(query, (after, limit)).fetchall()
        ]

    def _execute(self, query: Any, params: tuple[Any, ...]) -> Any:
        try:
            return self._connection.execute(query, params)
        except self._psycopg.errors.UndefinedTable:
            raise ConfigurationError(
                f"Devtron's database {self.display} has no table {self._table.as_string(None)}"
                " (--table names another)"
            ) from None
        except self._psycopg.errors.UndefinedColumn:
            raise ConfigurationError(
                f"the table {self._table.as_string(None)} of {self.display} is not Devtron's "
                f"workflow_config_snapshot (it lacks a column of: {', '.join(_COLUMNS)})"
            ) from None
        except self._psycopg.Error as error:
            raise StoreUnavailable(
                f"reading Devtron's database {self.display} failed: {_pg_reason(error)}"
            ) from None


def _pg_reason(error: BaseException) -> str:
    # psycopg's messages name the host, user and database, never the password;
    # keep the first line (the server's reason).
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def read_rows(source: _Source, *, after: int = 0, page: int = PAGE_SIZE) -> Iterator[DevtronRow]:
    """Every row with ``id > after``, in ``id`` order, a page at a time."""
    while True:
        rows = source.page(after, page)
        yield from rows
        if len(rows) < page:
            return
        after = rows[-1].id


# -- one row ----------------------------------------------------------------------------


def _identity(value: Any, column: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise RowRefused(f"{column} is not an integer")
    if value < 1:
        raise RowRefused(f"{column} must be a positive integer (Devtron's ids are serial keys)")
    return str(value)


def _user(value: Any, column: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise RowRefused(f"{column} is not an integer")
    return str(value)


def _time(value: Any, column: str) -> _dt.datetime:
    if not isinstance(value, _dt.datetime):
        raise RowRefused(f"{column} is not a timestamp")
    when: _dt.datetime = value
    if when.tzinfo is None:  # a timestamp column without a zone: Devtron writes UTC
        when = when.replace(tzinfo=_dt.UTC)
    return when.astimezone(_dt.UTC)


def _blanked(config: Any) -> tuple[str, ...]:
    """Which of :data:`BLANKED_FIELDS` hold the empty string in ``config``."""
    if not isinstance(config, dict):
        return ()
    found = []
    for pointer in BLANKED_FIELDS:
        node: Any = config
        for token in pointer.split("/")[1:]:
            node = node.get(token) if isinstance(node, dict) else None
        if node == "":
            found.append(pointer)
    return tuple(found)


def request_of(
    row: DevtronRow, *, max_bytes: int, tenant: str | None
) -> tuple[TriggerRequest, Origin]:
    """The trigger request and origin of one row.

    :raises RowRefused: a bad column, a bad encoding, an unknown schema version.
    :raises InvalidRequest: an identity the live audit would refuse.
    """
    workflow_id = _identity(row.workflow_id, "workflow_id")
    pipeline_id = _identity(row.pipeline_id, "pipeline_id")
    if not isinstance(row.workflow_type, str):
        raise RowRefused("workflow_type is not text")
    try:
        workflow_type = normalize_workflow_type(row.workflow_type)
    except InvalidRequest as error:
        raise RowRefused(f"workflow_type: {error}") from None
    version = row.schema_version.strip() if isinstance(row.schema_version, str) else None
    if version not in SCHEMA_VERSIONS:
        shown = version if version and version.isprintable() and len(version) <= 20 else "?"
        raise RowRefused(
            f"workflow_request_schema_version {shown!r} is not one this wfaudit reads "
            f"({', '.join(sorted(SCHEMA_VERSIONS))})"
        )
    origin = Origin(
        created_on=_time(row.created_on, "created_on"),
        created_by=_user(row.created_by, "created_by"),
        updated_on=_time(row.updated_on, "updated_on"),
        updated_by=_user(row.updated_by, "updated_by"),
    )
    config = decode_request(row.request_json, max_bytes=max_bytes)
    origin = attrs.evolve(origin, blanked=_blanked(config))
    request = TriggerRequest(
        workflow_id=workflow_id,
        workflow_type=workflow_type,
        pipeline_id=pipeline_id,
        config=config,
        tenant=tenant,
        labels=dict([IMPORT_LABEL]),
    )
    return request, origin


def _refusal(row: DevtronRow, reason: str) -> Refusal:
    def shown(value: Any) -> str:
        text = str(value)
        return text if text.isprintable() and len(text) <= 64 else "?"

    return Refusal(
        row_id=row.id,
        workflow_id=shown(row.workflow_id),
        workflow_type=shown(row.workflow_type),
        reason=reason,
    )


# -- the import -------------------------------------------------------------------------


def import_rows(
    auditor: Auditor,
    url: str,
    *,
    table: str = DEFAULT_TABLE,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
    page: int = PAGE_SIZE,
) -> ImportReport:
    """Import every row of Devtron's table at ``url`` into ``auditor``'s store.

    :param progress: called as ``progress(done, total)`` after each row.
    :raises StoreError: the store failed; what was imported stays imported, and
        running the import again continues.
    :raises ConfigurationError: a bad URL or table, a table that is not Devtron's.
    """
    source = _Source(url, table)
    try:
        total = source.count(0)
        imported = present = done = 0
        refused: list[Refusal] = []
        store = auditor.store
        tenant = auditor.settings.tenant
        # What earlier imports stored, read once in pages: a rerun skips those rows
        # before decoding them. A run audited live is found when its save says so.
        seen = _imported_runs(auditor)
        for row in read_rows(source, page=page):
            try:
                request, origin = request_of(
                    row, max_bytes=auditor.settings.max_request_bytes, tenant=tenant
                )
            except (RowRefused, InvalidRequest) as error:
                refused.append(_refusal(row, str(error)))
            else:
                if (request.workflow_id, request.workflow_type) in seen or (
                    dry_run  # (a dry run cannot learn it from a save)
                    and store.get_record(
                        workflow_id=request.workflow_id,
                        workflow_type=request.workflow_type,
                        tenant=tenant,
                    )
                    is not None
                ):
                    present += 1
                else:
                    result = auditor.import_snapshot(request, origin, dry_run=dry_run)
                    if result.ok and result.created:
                        imported += 1
                    elif result.ok or (
                        result.error_type == "SnapshotConflict"
                        and store.get_record(
                            workflow_id=request.workflow_id,
                            workflow_type=request.workflow_type,
                            tenant=tenant,
                        )
                        is not None
                    ):
                        present += 1  # audited live (or imported) already: left as it is
                    else:
                        refused.append(_refusal(row, result.error or "refused"))
            done += 1
            if progress is not None:
                progress(done, max(total, done))
    finally:
        source.close()
    return ImportReport(
        source=source.display,
        table=table,
        rows=done,
        imported=imported,
        present=present,
        refused=tuple(refused),
        dry_run=dry_run,
    )


def _imported_runs(auditor: Auditor) -> set[tuple[str, str]]:
    """``(workflow_id, workflow_type)`` of every snapshot an import stored, newest first
    in pages of 1,000 (keyset paging)."""
    seen: set[tuple[str, str]] = set()
    query = HistoryQuery(tenant=auditor.settings.tenant, labels=dict([IMPORT_LABEL]), limit=1000)
    while True:
        records = auditor.store.history(query)
        seen.update((r.workflow_id, r.workflow_type) for r in records)
        if len(records) < query.limit:
            return seen
        last = records[-1]
        query = attrs.evolve(query, before=last.created_on, before_id=last.id)


def summary_lines(report: ImportReport, *, limit: int = 50) -> Sequence[str]:
    """The import's summary for people: counts, then each refused row with its reason."""
    verb = "would import" if report.dry_run else "imported"
    lines = [
        f"{report.source} {report.table}: {report.rows:,} rows; {verb} {report.imported:,}, "
        f"already present {report.present:,}, refused {len(report.refused):,}"
        + (" (dry run: nothing was written)" if report.dry_run else "")
    ]
    for refusal in report.refused[:limit]:
        lines.append(
            f"refused row id={refusal.row_id} ({refusal.workflow_type} {refusal.workflow_id}): "
            f"{refusal.reason}"
        )
    if len(report.refused) > limit:
        lines.append(f"... and {len(report.refused) - limit:,} more refused (see --json)")
    return lines
