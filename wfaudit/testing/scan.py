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
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import attrs
import sqlalchemy as sa
import zstandard

from wfaudit.auditor import Auditor
from wfaudit.codec import MAX_BLOB_BYTES, bounded_decompress
from wfaudit.words import plural
from wfaudit_hookspecs import DecompressionBomb, HistoryQuery

__all__ = ["Finding", "Secrets", "find_secrets", "label_secrets", "secret_forms"]


@attrs.frozen
class Finding:
    """Where a secret was found: ``where`` names the place (a table, row and
    column, a file, a snapshot and the JSON pointer in it, a text), ``label``
    which secret (the label it was given, or ``secret #N``), never the secret."""

    where: str
    form: str
    secret_index: int
    label: str = ""


class Secrets(dict[str, str]):
    """Labelled secrets (label -> value) whose repr never shows a value: safe as
    a local of a test (``pytest -l`` shows locals)."""

    def __repr__(self) -> str:
        return f"<{plural(len(self), 'secret')}: {', '.join(self)}; values not shown>"

    __str__ = __repr__


def label_secrets(secrets: Iterable[str] | Mapping[str, str]) -> list[tuple[str, str]]:
    """``(label, secret)`` pairs: a mapping's keys are labels; a plain list's
    secrets are labelled ``secret #1``, ``secret #2``, ... in order."""
    if isinstance(secrets, Mapping):
        return [(str(label), secret) for label, secret in secrets.items()]
    return [(f"secret #{number}", secret) for number, secret in enumerate(secrets, 1)]


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
    """Every snapshot the auditor can read: record and decompressed masked config,
    each finding at the JSON pointer of the string (or key) that holds it."""
    from wfaudit_hookspecs.converter import unstructure

    before: dt.datetime | None = None
    while True:
        records = auditor.store.history(_query(auditor, before))
        if not records:
            return
        for record in records:
            snapshot = auditor.load(record)
            document = json.loads(json.dumps(unstructure(snapshot), default=str))
            for pointer, text, is_key in _strings(document, ""):
                place = f"snapshot {record.id} at {'a key of ' if is_key else ''}{pointer or '/'}"
                data = text.encode("utf-8")
                yield from _search(data, secrets, place)
                escaped = json.dumps(text, ensure_ascii=False)[1:-1].encode("utf-8")
                if escaped != data:
                    # a secret with a quote or a newline, stored inside a JSON string
                    yield from _search(escaped, secrets, place)
        before = records[-1].created_on


def _strings(node: Any, pointer: str) -> Iterator[tuple[str, str, bool]]:
    """``(pointer, string, is_key)`` for every string and key of a JSON document."""
    if isinstance(node, str):
        yield pointer, node, False
    elif isinstance(node, dict):
        for key, value in node.items():
            yield pointer, str(key), True
            escaped = str(key).replace("~", "~0").replace("/", "~1")
            yield from _strings(value, f"{pointer}/{escaped}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{pointer}/{index}")


def _query(auditor: Auditor, before: dt.datetime | None) -> HistoryQuery:
    return HistoryQuery(tenant=auditor.settings.tenant, before=before, limit=500)


def find_secrets(
    secrets: Iterable[str] | Mapping[str, str],
    *,
    auditor: Auditor | None = None,
    database_url: str | None = None,
    paths: Iterable[pathlib.Path] = (),
    texts: Iterable[tuple[str, str]] = (),
) -> list[Finding]:
    """Look for ``secrets`` in a database, files, an auditor's snapshots and texts.

    ``texts`` are ``(name, text)`` pairs: captured logs, command output.
    ``secrets`` may be a mapping of labels to secrets: findings then carry the
    label (else ``secret #N``). A secret found twice in one place is one finding.
    """
    labelled = label_secrets(secrets)
    forms = [secret_forms(secret) for _, secret in labelled]
    found: list[Finding] = []
    if database_url:
        found.extend(scan_database(database_url, forms))
    found.extend(scan_files(paths, forms))
    if auditor is not None:
        found.extend(scan_snapshots(auditor, forms))
    for name, text in texts:
        found.extend(_search(text.encode("utf-8"), forms, name))
    findings: dict[tuple[str, int], Finding] = {}
    for finding in found:
        label = labelled[finding.secret_index][0]
        findings.setdefault(
            (finding.where, finding.secret_index), attrs.evolve(finding, label=label)
        )
    return list(findings.values())
