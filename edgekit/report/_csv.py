"""CSV cells a spreadsheet will show as text, never run as a formula.

Excel, LibreOffice and Google Sheets evaluate a cell that starts with ``=``, ``+``, ``-`` or
``@`` (or a tab, carriage return, line feed or NUL before one) as a formula: a variant name
such as ``=HYPERLINK(...)`` in results.csv would run when someone opens the file. As OWASP's
CSV injection guidance recommends, such a text cell gets a leading single quote, and every
text cell is written in double quotes (embedded quotes doubled). Numbers are written as
numbers, so a negative value stays a number.
"""

from __future__ import annotations

import csv
import io
from typing import Iterable, Sequence

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")


def neutralise(cell: object) -> object:
    """A text cell that could start a formula, prefixed with ``'``; anything else unchanged."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def csv_text(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """The rows as CSV: text cells quoted and neutralised, numbers bare, None as an empty cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_NONNUMERIC)
    writer.writerow([neutralise(name) for name in header])
    for row in rows:
        writer.writerow(["" if cell is None else neutralise(cell) for cell in row])
    return buffer.getvalue()
