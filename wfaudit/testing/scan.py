"""Looking for secrets everywhere wfaudit may have written something.

A secret is looked for in the forms it could take once written: as is, JSON
escaped, URL-encoded, and base64 encoded (standard and URL-safe, at each of
the three alignments it can have inside a longer base64 text).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import pathlib
import urllib.parse
from collections.abc import Iterable, Iterator

import attrs
import sqlalchemy as sa
import zstandard

from wfaudit.auditor import Auditor
from wfaudit.codec import MAX_BLOB_BYTES, bounded_decompress
from wfaudit_hookspecs import DecompressionBomb, HistoryQuery

__all__ = ["Finding", "find_secrets", "secret_forms"]


@attrs.frozen
class Finding:
    """Where a secret was found: ``where`` names the place, never the secret."""

    where: str
    form: str
    secret_index: int


def secret_forms(secret: str) -> dict[str, bytes]:
    """The byte strings under which ``secret`` could appear once written."""
    raw = secret.encode("utf-8")
    forms = {
        "plain": raw,
        "json-escaped": json.dumps(secret)[1:-1].encode("utf-8"),
        "url-encoded": urllib.parse.quote(secret, safe="").encode("ascii"),
        "url-encoded (plus)": urllib.parse.quote_plus(secret).encode("ascii"),
    }
    for skip in range(3):
        # Inside a longer base64 text the secret may start at any of the 3 byte
        # positions of a 4-character group; from the first group boundary inside
        # it, its whole groups encode to the same characters whatever surrounds it.
        whole = raw[skip:]
        whole = whole[: len(whole) // 3 * 3]
        if len(whole) >= 6:
            encoded = base64.b64encode(whole)
            forms[f"base64 (skip {skip})"] = encoded
            forms[f"base64url (skip {skip})"] = encoded.replace(b"+", b"-").replace(b"/", b"_")
    return {name: form for name, form in forms.items() if form}


def _search(data: bytes, secrets: list[dict[str, bytes]], where: str) -> Iterator[Finding]:
    for index, forms in enumerate(secrets):
        for form_name, form in forms.items():
            if form in data:
                yield Finding(where=where, form=form_name, secret_index=index)
                break


def _expand(value: object) -> Iterator[bytes]:
    """The bytes of a stored value, and its decompression when it is a zstd frame."""
    if value is None:
        return
    if isinstance(value, memoryview):
        value = value.tobytes()
    if isinstance(value, bytes):
        yield value
        if value[:4] == b"\x28\xb5\x2f\xfd":  # zstd magic number
            with contextlib.suppress(zstandard.ZstdError, DecompressionBomb):
                yield bounded_decompress(zstandard.ZstdDecompressor(), value, MAX_BLOB_BYTES)
    else:
        yield str(value).encode("utf-8")


def scan_database(url: str, secrets: list[dict[str, bytes]]) -> Iterator[Finding]:
    """Every column of every row of every table of a SQL database."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        metadata = sa.MetaData()
        metadata.reflect(engine)
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                for number, row in enumerate(connection.execute(sa.select(table))):
                    for column, value in zip(table.columns, row, strict=True):
                        for data in _expand(value):
                            yield from _search(
                                data,
                                secrets,
                                f"table {table.name}, row {number}, column {column.name}",
                            )
    finally:
        engine.dispose()


def scan_files(paths: Iterable[pathlib.Path], secrets: list[dict[str, bytes]]) -> Iterator[Finding]:
    """Files as bytes (a SQLite file with its WAL, a spool directory's files)."""
    for path in paths:
        if path.is_dir():
            yield from scan_files(sorted(path.rglob("*")), secrets)
        elif path.is_file():
            for data in _expand(path.read_bytes()):
                yield from _search(data, secrets, f"file {path}")


def scan_snapshots(auditor: Auditor, secrets: list[dict[str, bytes]]) -> Iterator[Finding]:
    """Every snapshot the auditor can read: record and decompressed masked config."""
    from wfaudit_hookspecs.converter import unstructure

    before: dt.datetime | None = None
    while True:
        records = auditor.store.history(_query(auditor, before))
        if not records:
            return
        for record in records:
            snapshot = auditor.load(record)
            text = json.dumps(unstructure(snapshot), default=str, ensure_ascii=False)
            yield from _search(text.encode("utf-8"), secrets, f"snapshot {record.id}")
        before = records[-1].created_on


def _query(auditor: Auditor, before: dt.datetime | None) -> HistoryQuery:
    return HistoryQuery(tenant=auditor.settings.tenant, before=before, limit=500)


def find_secrets(
    secrets: Iterable[str],
    *,
    auditor: Auditor | None = None,
    database_url: str | None = None,
    paths: Iterable[pathlib.Path] = (),
    texts: Iterable[tuple[str, str]] = (),
) -> list[Finding]:
    """Look for ``secrets`` in a database, files, an auditor's snapshots and texts.

    ``texts`` are ``(name, text)`` pairs: captured logs, command output.
    """
    forms = [secret_forms(secret) for secret in secrets]
    findings: list[Finding] = []
    if database_url:
        findings.extend(scan_database(database_url, forms))
    findings.extend(scan_files(paths, forms))
    if auditor is not None:
        findings.extend(scan_snapshots(auditor, forms))
    for name, text in texts:
        findings.extend(_search(text.encode("utf-8"), forms, name))
    return findings
