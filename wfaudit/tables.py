"""One rule for every table the command line prints.

A command describes its table once, as :class:`Column` objects and rows of
cells, and :func:`emit` prints it in the format asked for:

``table`` (the default)
    On a terminal, or when ``COLUMNS`` is set, the table fits the width: it shows
    the compact form of the columns that have one (``12-06 11:43`` for a time),
    then drops columns, least important first (``priority``, highest dropped
    first; 0 is never dropped), then shortens text cells with ``…``. An id is
    never split, wrapped or shortened: a column of ids is shown whole or not at
    all. Written to a pipe or a file with ``COLUMNS`` unset, the table is plain
    text: no borders, no colour, every column, whole values, one line per row
    (``grep`` finds a row; an embedded newline is written ``\\n``).
``tsv``
    For scripts: a header line of column keys, then one line per row, fields
    separated by tabs, whole values; a tab, newline, carriage return or
    backslash in a value is written ``\\t``, ``\\n``, ``\\r``, ``\\\\``; an empty
    value is an empty field (tables show ``-``).
``json``
    The command's ``--json`` output (every field, not only the table's).

Cells are plain text, never parsed as rich markup (:mod:`wfaudit.render`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any, Literal

import attrs
import click
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = [
    "Column",
    "Rows",
    "Shown",
    "emit",
    "fit",
    "output_width",
    "tsv_header",
    "tsv_line",
]

Kind = Literal["id", "fixed", "text"]

_GAP = 2
"""Characters between two columns of a table."""
_MIN_TEXT = 8
"""The narrowest a shortened text column gets (a shorter value stays whole)."""


@attrs.frozen
class Column:
    """A column of a table.

    :ivar header: what the table shows above it.
    :ivar key: its name in TSV (and the JSON field it comes from, where one does).
    :ivar kind: ``id`` (never split or shortened), ``fixed`` (short values kept
        whole: times, hashes, counts, statuses) or ``text`` (shortened with ``…``
        when the table does not fit; wrapped instead on a terminal if ``wrap``).
    :ivar priority: 0 is always shown; when the table does not fit, the column
        with the highest number is dropped first.
    :ivar compact: a shorter form of a cell, used before any column is dropped.
    :ivar wrap: on a terminal, wrap long text over lines instead of shortening it.
    :ivar min_width: the narrowest a ``text`` column is shortened to (default: its
        header's width, at least 8); a narrower table drops columns instead.
    :ivar justify: ``left`` or ``right`` (counts).
    """

    header: str
    key: str
    kind: Kind = "text"
    priority: int = 0
    compact: Callable[[str], str] | None = None
    wrap: bool = False
    min_width: int | None = None
    justify: Literal["left", "right"] = "left"


@attrs.frozen
class Shown:
    """A cell whose table form differs from its value: ``text`` is shown in a
    table (``1 step added  [1 note]``), ``value`` is written in TSV."""

    text: Text
    value: str | None


Cell = str | Text | Shown | None


@attrs.define
class Rows:
    """A table to print: a title, its columns and its rows of cells.

    A cell is a string, a rich :class:`~rich.text.Text` (for a style: a failed
    status in red), a :class:`Shown` (a table form and a TSV value) or None
    (empty: ``-`` in a table, an empty TSV field).
    """

    columns: list[Column]
    title: str | None = None
    rows: list[list[Cell]] = attrs.field(factory=list)

    def add(self, *cells: Cell) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(list(cells))


def _plain(cell: Cell) -> str:
    """What a table shows of a cell, as plain text."""
    if cell is None:
        return ""
    if isinstance(cell, Shown):
        return cell.text.plain
    return cell.plain if isinstance(cell, Text) else cell


def _value(cell: Cell) -> str:
    """What TSV writes of a cell."""
    if isinstance(cell, Shown):
        return cell.value or ""
    return _plain(cell)


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")


def output_width(console: Console | None = None) -> int | None:
    """The width tables fit: ``COLUMNS`` when set, the terminal's width on a
    terminal, else None (a pipe or a file: no limit)."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    if console is not None:
        return console.width if console.is_terminal else None
    return None


@attrs.frozen
class Fitted:
    """What :func:`fit` chose: the columns shown (indexes), whether in compact
    form, and each shown column's width (None: as wide as its widest cell)."""

    shown: list[int]
    compact: bool
    widths: list[int | None]


def _cells(rows: Rows, index: int, compact: bool) -> list[str]:
    column = rows.columns[index]
    texts = [_one_line(_plain(row[index])) or "-" for row in rows.rows]
    if compact and column.compact is not None:
        texts = [column.compact(text) if text != "-" else text for text in texts]
    return texts


def _natural(rows: Rows, index: int, compact: bool) -> int:
    header = cell_len(rows.columns[index].header)
    return max([header, *(cell_len(text) for text in _cells(rows, index, compact))])


def _narrowest(rows: Rows, index: int, compact: bool) -> int:
    column = rows.columns[index]
    natural = _natural(rows, index, compact)
    if column.kind != "text":
        return natural
    return min(natural, column.min_width or max(_MIN_TEXT, cell_len(column.header)))


def fit(rows: Rows, width: int | None) -> Fitted:
    """Choose the columns, their form and widths for ``width`` (None: no limit).

    Compact forms first, then columns dropped by priority, then text columns
    shortened: each of these only when the table does not fit without it.
    """
    everything = list(range(len(rows.columns)))
    if width is None:
        return Fitted(everything, False, [None] * len(everything))

    def needed(shown: list[int], compact: bool) -> int:
        return sum(_narrowest(rows, i, compact) for i in shown) + _GAP * (len(shown) - 1)

    def whole(shown: list[int], compact: bool) -> int:
        return sum(_natural(rows, i, compact) for i in shown) + _GAP * (len(shown) - 1)

    shown = everything
    compact = whole(shown, False) > width and any(c.compact is not None for c in rows.columns)
    while needed(shown, compact) > width:
        droppable = [i for i in shown if rows.columns[i].priority > 0]
        if not droppable:
            break  # the essential columns are wider than the screen: shown whole
        # The highest priority number goes first; of equals, the rightmost.
        drop = max(droppable, key=lambda i: (rows.columns[i].priority, i))
        shown = [i for i in shown if i != drop]
    naturals = {i: _natural(rows, i, compact) for i in shown}
    if whole(shown, compact) <= width:
        return Fitted(shown, compact, [None] * len(shown))
    # Text columns start at their narrowest; what is left goes to those that need
    # least first, each up to its whole width.
    text = [i for i in shown if rows.columns[i].kind == "text"]
    widths = {i: _narrowest(rows, i, compact) for i in text}
    spare = width - _GAP * (len(shown) - 1) - sum(naturals[i] for i in shown if i not in text)
    spare -= sum(widths.values())
    for position, i in enumerate(sorted(text, key=lambda i: naturals[i] - widths[i])):
        grow = max(0, min(naturals[i] - widths[i], spare // (len(text) - position)))
        widths[i] += grow
        spare -= grow
    return Fitted(shown, compact, [widths.get(i) for i in shown])


def _styled(cell: Cell, text: str) -> Text:
    if isinstance(cell, Shown):
        cell = cell.text
    if isinstance(cell, Text):
        if cell.plain == text:
            return cell
        return Text(text, style=cell.style)
    return Text(text)


def rich_table(rows: Rows, fitted: Fitted, *, terminal: bool) -> Table:
    """The rich table of ``rows`` as :func:`fit` chose (borders on a terminal only)."""
    table = Table(
        title=rows.title,
        title_justify="left",
        box=box.SIMPLE_HEAD if terminal else None,
        padding=(0, _GAP, 0, 0) if not terminal else (0, _GAP - 1, 0, 0),
        pad_edge=False,
        show_edge=False,
        collapse_padding=True,
    )
    for index, width in zip(fitted.shown, fitted.widths, strict=True):
        column = rows.columns[index]
        wrap = terminal and column.wrap and column.kind == "text"
        table.add_column(
            column.header,
            justify=column.justify,
            no_wrap=not wrap,
            overflow="fold" if wrap else "ellipsis",
            width=width,
            min_width=None if width is None else min(width, cell_len(column.header)),
        )
    for row in rows.rows:
        cells = []
        for index in fitted.shown:
            texts = _cells(Rows([rows.columns[index]], rows=[[row[index]]]), 0, fitted.compact)
            cells.append(_styled(row[index], texts[0]))
        table.add_row(*cells)
    return table


def plain_lines(rows: Rows) -> list[str]:
    """The plain form of a table for a pipe: the title, a header line, one line
    per row, columns aligned, every value whole."""
    shown = range(len(rows.columns))
    columns = [[rows.columns[i].header, *_cells(rows, i, False)] for i in shown]
    widths = [max(cell_len(text) for text in column) for column in columns]
    lines = [rows.title] if rows.title else []
    for line in range(len(rows.rows) + 1):
        parts = []
        for i, column in enumerate(columns):
            text = column[line]
            pad = " " * (widths[i] - cell_len(text))
            parts.append(pad + text if rows.columns[i].justify == "right" else text + pad)
        lines.append((" " * _GAP).join(parts).rstrip())
    return lines


def tsv_header(columns: Sequence[Column]) -> str:
    """The header line of a TSV table: the columns' keys."""
    return "\t".join(column.key for column in columns)


def tsv_line(cells: Sequence[Cell]) -> str:
    """One row of a TSV table."""
    return "\t".join(_escape(_value(cell)) for cell in cells)


def tsv_lines(rows: Rows) -> list[str]:
    """The TSV form: a header line of the columns' keys, then the rows."""
    return [tsv_header(rows.columns), *(tsv_line(row) for row in rows.rows)]


def emit(rows: Rows, fmt: str = "table", *, console: Console | None = None) -> None:
    """Print ``rows`` as ``table`` or ``tsv`` (``json`` is the command's own output).

    :param console: the console of the command (:func:`wfaudit.consoles.console`);
        made when None.
    """
    if fmt == "tsv":
        click.echo("\n".join(tsv_lines(rows)))
        return
    if fmt != "table":
        raise ValueError(f"no table format {fmt!r}")
    if console is None:
        from .consoles import console as make_console

        console = make_console()
    width = output_width(console)
    if width is None:
        click.echo("\n".join(plain_lines(rows)))
        return
    table = rich_table(rows, fit(rows, width), terminal=console.is_terminal)
    # Printed through click: rich ends the process with status 1 when its reader
    # goes away (`wfaudit log | head`); click raises BrokenPipeError instead, which
    # the command group ends quietly with status 0.
    with console.capture() as capture:
        console.print(table, width=max(width, console.measure(table).minimum), crop=False)
    # Rich pads every line to the table's width: the trailing blanks go.
    click.echo("\n".join(line.rstrip() for line in capture.get().splitlines()))


def empty(value: Any) -> str | None:
    """None for an empty value (shown as ``-``), else its text."""
    return None if value is None or value == "" else str(value)
