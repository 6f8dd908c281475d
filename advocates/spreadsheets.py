"""Spreadsheets Kansha hands to people: formula-safe cells and XLSX sheets that open ready to
use. Every CSV and XLSX export goes through here (the reports, the Wagtail list exports of
mentions, grants and redemptions), so the rules below hold for all of them.

Formula injection (OWASP, "CSV Injection"): a spreadsheet program runs a cell that starts with
`=`, `+`, `-` or `@` as a formula, and some treat a leading tab or carriage return the same
way. A mention's text, an advocate's display name or a reject reason is somebody else's input,
so `=HYPERLINK("http://evil", "click")` or `=cmd|' /C calc'!A0` must arrive as text. Such
a text cell gets a leading apostrophe. XLSX cells get the apostrophe too, not only a string
type: a sheet saved again as CSV (finance does) would otherwise carry the formula on raw.
Numbers, dates and booleans are typed cells and are never touched (a negative number is not a
formula).

This module knows nothing of Django models; it takes headings and rows of plain values.
"""

from __future__ import annotations

import io
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

# Excel's own limits on a sheet's name.
SHEET_TITLE_MAX = 31
_SHEET_TITLE_BAD = re.compile(r"[\[\]:*?/\\]")

_DANGLING = frozenset({"a", "an", "and", "as", "at", "by", "for", "from", "in", "of", "on",
                       "or", "per", "the", "to", "with", "without"})

DATE_FORMAT = "yyyy-mm-dd"
MONTH_FORMAT = "yyyy-mm"
DATETIME_FORMAT = "yyyy-mm-dd hh:mm:ss"
WIDTH_MIN, WIDTH_MAX = 6, 60


def cell_neutralise(value: Any) -> Any:
    """A text cell that a spreadsheet would evaluate, made inert with a leading apostrophe;
    any other value unchanged."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def sheet_title(text: str, *, taken: Iterable[str] = ()) -> str:
    """A sheet name Excel accepts: no `[]:*?/\\`, at most 31 characters, shortened at a word
    boundary ("Outstanding liability by expiry month" → "Outstanding liability by expiry"),
    and unique in the workbook (case-insensitively, as Excel compares them) by a " (2)"."""
    clean = " ".join(_SHEET_TITLE_BAD.sub(" ", text).split()).strip("'") or "Sheet"
    used = {t.casefold() for t in taken}
    title = _shorten(clean, SHEET_TITLE_MAX)
    n = 2
    while title.casefold() in used:
        suffix = f" ({n})"
        title = _shorten(clean, SHEET_TITLE_MAX - len(suffix)) + suffix
        n += 1
    return title


def _shorten(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    head = text[:limit + 1]
    # One word longer than the limit has no boundary to cut at: cut the word.
    cut = head.rsplit(" ", 1)[0] if " " in head else text[:limit]
    # A bracket left open says the rest was cut off: drop the bracketed words instead.
    if cut.count("(") > cut.count(")"):
        cut = cut[:cut.rindex("(")] or cut
    cut = cut.rstrip(" -–—,;.&(")
    # Nor does a name end on a joining word ("by month of" → "by month").
    words = cut.split(" ")
    while len(words) > 1 and words[-1].casefold() in _DANGLING:
        words.pop()
        words[-1] = words[-1].rstrip(" -–—,;.&(")
    return " ".join(words)


@dataclass
class Sheet:
    """One table: a title, its headings and its rows of plain values. `formats` maps a column
    index to an Excel number format for that column's cells (dates get one by default)."""

    title: str
    headings: Sequence[str]
    rows: Iterable[Sequence[Any]]
    formats: dict[int, str] = field(default_factory=dict)
    table: bool = True  # heading row frozen and filtered; False for a free-form sheet


def _width(value: Any) -> int:
    """How many character widths a value takes in a cell (East Asian wide characters count
    two), the longest line of a multi-line text."""
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 19
    if isinstance(value, date):
        return 10
    text = value if isinstance(value, str) else f"{value:,}" if isinstance(value, int) \
        else str(value)
    longest = 0
    for line in text.splitlines() or [""]:
        longest = max(longest, sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1
                                   for ch in line))
    return longest


def _typed(value: Any) -> Any:
    """A value openpyxl can store as a typed cell. Aware datetimes become naive UTC: Excel
    has no time zones, and every Kansha export states its times in UTC."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return cell_neutralise(value)


def xlsx_bytes(sheets: Iterable[Sheet]) -> bytes:
    """An XLSX workbook with one sheet per table: the heading row bold, frozen and with an
    autofilter, each column as wide as its content (6–60), dates and datetimes as real dates
    with a format, text neutralised against formulas."""
    # openpyxl loads only when a workbook is written (exports, reports), not for every CSV.
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    workbook = Workbook(write_only=True)
    taken: list[str] = []
    bold = Font(bold=True)
    for sheet in sheets:
        title = sheet_title(sheet.title, taken=taken)
        taken.append(title)
        worksheet = workbook.create_sheet(title)
        headings = [cell_neutralise(str(h)) for h in sheet.headings]
        # Widths and formats are written before the rows (a write-only sheet streams them),
        # so the rows are read once here.
        rows = [[_typed(v) for v in row] for row in sheet.rows]
        ncols = max([len(headings), *(len(r) for r in rows)]) if (headings or rows) else 0
        widths = [_width(h) for h in headings] + [0] * (ncols - len(headings))
        formats = dict(sheet.formats)
        for row in rows:
            for i, value in enumerate(row):
                widths[i] = max(widths[i], _width(value))
                if i not in formats and isinstance(value, date):
                    formats[i] = DATETIME_FORMAT if isinstance(value, datetime) else DATE_FORMAT
        for i, width in enumerate(widths):
            worksheet.column_dimensions[get_column_letter(i + 1)].width = \
                min(WIDTH_MAX, max(WIDTH_MIN, width + 2))
        if sheet.table and headings:
            worksheet.freeze_panes = "A2"
            worksheet.auto_filter.ref = \
                f"A1:{get_column_letter(max(ncols, 1))}{len(rows) + 1}"
            header_cells = []
            for heading in headings:
                cell = WriteOnlyCell(worksheet, heading)
                cell.font = bold
                header_cells.append(cell)
            worksheet.append(header_cells)
        elif headings:
            worksheet.append(headings)
        for row in rows:
            cells = []
            for i, value in enumerate(row):
                cell = WriteOnlyCell(worksheet, value)
                if cell.data_type == "f":  # cannot happen after neutralising; never a formula
                    cell.data_type = "s"
                if i in formats and value is not None:
                    cell.number_format = formats[i]
                cells.append(cell)
            worksheet.append(cells)
    if not taken:
        workbook.create_sheet("Sheet")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
