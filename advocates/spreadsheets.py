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
from decimal import Decimal
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
PERCENT_FORMAT = "0.0%"
WIDTH_MIN, WIDTH_MAX = 6, 60
# Said in the heading of a column whose times were written in UTC.
UTC_MARK = " (UTC)"


def amount_format(exponent: int) -> str:
    """Excel's number format for an amount with `exponent` decimals: `#,##0` for yen,
    `#,##0.00` for dollars, `#,##0.000` for dinars."""
    return "#,##0" + ("." + "0" * exponent if exponent > 0 else "")


@dataclass(frozen=True)
class Formatted:
    """A cell value with a number format of its own, for a column whose format changes from
    row to row (an amount, whose decimals follow the row's currency)."""

    value: Any
    number_format: str


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
    """One table: a title, its headings and its rows of plain values (or `Formatted` ones).
    `formats` maps a column index to an Excel number format for that column's cells (dates
    and datetimes get one by default)."""

    title: str
    headings: Sequence[str]
    rows: Iterable[Sequence[Any]]
    formats: dict[int, str] = field(default_factory=dict)
    table: bool = True  # heading row frozen and filtered; False for a free-form sheet


def _width(value: Any) -> int:
    """How many character widths a value takes in a cell (East Asian wide characters count
    two), the longest line of a multi-line text."""
    if isinstance(value, Formatted):
        number = value.value
        if isinstance(number, int | float | Decimal) and value.number_format.startswith("#"):
            decimals = value.number_format.partition(".")[2].count("0")
            return len(f"{number:,.{decimals}f}")
        if value.number_format == PERCENT_FORMAT and isinstance(number, int | float):
            return len(f"{number:.1%}")
        return _width(number)
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
    has no time zones, so their column's heading says UTC."""
    if isinstance(value, Formatted):
        return Formatted(_typed(value.value), value.number_format)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return cell_neutralise(value)


def _number_format(value: Any, column_format: str | None) -> str | None:
    """The cell's own format, else its column's, else a date's or a datetime's."""
    if isinstance(value, Formatted):
        return value.number_format
    if column_format:
        return column_format
    if isinstance(value, datetime):
        return DATETIME_FORMAT
    if isinstance(value, date):
        return DATE_FORMAT
    return None


def _is_aware(value: Any) -> bool:
    return isinstance(value, datetime) and value.tzinfo is not None


def _heading(heading: Any, *, utc: bool) -> str:
    text = str(heading)
    if utc and "UTC" not in text:
        text += UTC_MARK
    return cell_neutralise(text)


def xlsx_bytes(sheets: Iterable[Sheet]) -> bytes:
    """An XLSX workbook with one sheet per table: the heading row bold, frozen and with an
    autofilter, each column as wide as its content (6–60), dates and datetimes as real dates
    with a format (a column of aware datetimes is written in UTC and its heading says so),
    `Formatted` values with their own number format, text neutralised against formulas."""
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
        # Widths and formats are written before the rows (a write-only sheet streams them),
        # so the rows are read once here.
        raw = [list(row) for row in sheet.rows]
        utc = {i for row in raw for i, v in enumerate(row)
               if _is_aware(v.value if isinstance(v, Formatted) else v)}
        headings = [_heading(h, utc=i in utc) for i, h in enumerate(sheet.headings)]
        rows = [[_typed(v) for v in row] for row in raw]
        ncols = max([len(headings), *(len(r) for r in rows)]) if (headings or rows) else 0
        widths = [_width(h) for h in headings] + [0] * (ncols - len(headings))
        for row in rows:
            for i, value in enumerate(row):
                widths[i] = max(widths[i], _width(value))
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
                number_format = _number_format(value, sheet.formats.get(i))
                if isinstance(value, Formatted):
                    value = value.value
                cell = WriteOnlyCell(worksheet, value)
                if cell.data_type == "f":  # cannot happen after neutralising; never a formula
                    cell.data_type = "s"
                if number_format and value is not None:
                    cell.number_format = number_format
                cells.append(cell)
            worksheet.append(cells)
    if not taken:
        workbook.create_sheet("Sheet")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
