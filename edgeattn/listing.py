"""Output of the listing commands (`models`, `targets`, `backends`): a rich table on a terminal, plain
aligned text when piped, or JSON / CSV for scripts. Nothing is ever truncated outside the rich table."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from enum import Enum
from typing import Any


class ListFormat(str, Enum):
    """How a listing is printed; `auto` is `table` on a terminal and `plain` otherwise."""

    auto = "auto"
    table = "table"
    plain = "plain"
    json = "json"
    csv = "csv"


Columns = Sequence[tuple[str, str]]
"""(JSON key, column header) per column."""


def render(columns: Columns, rows: Sequence[Sequence[Any]], fmt: ListFormat) -> str | None:
    """The listing as text, or None when it should be printed as a rich table (fmt table/auto on a tty)."""
    chosen = fmt
    if fmt == ListFormat.auto:
        chosen = ListFormat.table if sys.stdout.isatty() else ListFormat.plain
    if chosen == ListFormat.table:
        return None
    headers = [header for _, header in columns]
    if chosen == ListFormat.json:
        keys = [key for key, _ in columns]
        return json.dumps([dict(zip(keys, row)) for row in rows], indent=2, default=str)
    cells = [[_text(value) for value in row] for row in rows]
    if chosen == ListFormat.csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows(cells)
        return buffer.getvalue().rstrip("\n")
    return _aligned(headers, cells)


def print_listing(title: str, columns: Columns, rows: Sequence[Sequence[Any]], fmt: ListFormat) -> None:
    """Print a listing in the chosen format (rich table only when stdout is a terminal or asked for)."""
    text = render(columns, rows, fmt)
    if text is not None:
        sys.stdout.write(text + "\n")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for _, header in columns:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*(_text(value) for value in row))
    Console().print(table)


def _aligned(columns: list[str], cells: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in [columns, *cells]) for i in range(len(columns))]
    lines = ["  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip() for row in [columns, *cells]]
    return "\n".join(lines)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value) or "-"
    return str(value)
