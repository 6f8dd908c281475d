"""CSV (formula-neutralised; one table, or every table in a zip), XLSX (a cover sheet, then
one sheet per section) and JSON for a Report.

Spreadsheet programs run a cell that starts with =, +, - or @ (and, in some, a tab or carriage
return) as a formula; a mention's text or a reject reason is user input. Such text cells get a
leading apostrophe, which spreadsheets show as text (advocates/spreadsheets.py, shared with
Wagtail's list exports). Numbers are written as numbers (a negative number is not text, so it
is left alone).
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import zipfile
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, Protocol

import pandas as pd

from advocates.spreadsheets import (
    MONTH_FORMAT,
    PERCENT_FORMAT,
    UTC_MARK,
    Formatted,
    Sheet,
    amount_format,
    cell_neutralise,
    xlsx_bytes,
)
from rewards.money import currency_exponent, money_to_units

from .params import Report, Section

neutralise = cell_neutralise

# The frames carry dates as ISO text (SQL buckets them the same way on PostgreSQL and SQLite,
# queries.py); the workbook gets them back as real dates so that a filter or a sort by month
# works in Excel. Month buckets show as 2026-11, weeks and days as 2026-11-02.
MONTH_COLUMNS = frozenset({"month", "expiry_month"})
DATE_COLUMNS = frozenset({"period", "date", "day", "week"}) | MONTH_COLUMNS


def _cell(value: Any) -> Any:
    """A frame value as a plain Python value (NaN/NA → None, numpy scalars → Python)."""
    if value is None or value is pd.NA:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
        if isinstance(value, float) and math.isnan(value):
            return None
    return value


def frame_rows(frame: pd.DataFrame) -> list[list[Any]]:
    return [[_cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]


class _RowWriter(Protocol):
    """What `csv.writer` returns (its class is private to the csv module)."""

    def writerow(self, row: Iterable[Any], /) -> Any: ...


def _write_csv_section(writer: _RowWriter, frame: pd.DataFrame) -> None:
    writer.writerow([neutralise(str(c)) for c in frame.columns])
    for row in frame_rows(frame):
        writer.writerow(["" if v is None else neutralise(v) for v in row])


def report_csv(report: Report, *, sections: list[str] | None = None) -> str:
    """The primary table as CSV; with `sections`, those tables one after another, each under a
    `# title` line."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    if sections is None:
        _write_csv_section(writer, report.main.frame)
        return out.getvalue()
    for i, key in enumerate(sections):
        if i:
            writer.writerow([])
        writer.writerow([neutralise(f"# {report.sections[key].title}")])
        _write_csv_section(writer, report.sections[key].frame)
    return out.getvalue()


def is_share_column(column: str) -> bool:
    """A share or a rate: a fraction of one, shown as a percentage."""
    return column == "share" or column.endswith(("_share", "_rate"))


def _is_date_column(column: str) -> bool:
    return column in DATE_COLUMNS or column.endswith(("_at", "_date"))


def _as_date(value: Any) -> Any:
    """ISO text as a date or an aware UTC datetime (the queries write UTC); anything else as
    is."""
    if value == "":
        return None  # an empty cell, not an empty text, so a date filter has no odd entry
    if not isinstance(value, str):
        return value
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _amount(value: Any, currency: Any) -> Any:
    """Minor units as the currency's units with its decimals (4200 JPY → 4,200; 1250 USD →
    12.50): a number finance can add up, formatted by the currency's ISO 4217 exponent."""
    if not isinstance(value, int) or not isinstance(currency, str) or not currency:
        return value
    return Formatted(money_to_units(value, currency), amount_format(currency_exponent(currency)))


def _section_sheet(section: Section) -> Sheet:
    """A section as a sheet: dates as dates, amounts in their currency's units (the heading
    loses `_minor`), shares as percentages."""
    columns = [str(c) for c in section.frame.columns]
    dated = [i for i, c in enumerate(columns) if _is_date_column(c)]
    money = [(i, columns.index(section.money[c])) for i, c in enumerate(columns)
             if c in section.money and section.money[c] in columns]
    rows = frame_rows(section.frame)
    for row in rows:
        for i in dated:
            row[i] = _as_date(row[i])
        for i, currency in money:
            row[i] = _amount(row[i], row[currency])
    formats = {i: MONTH_FORMAT for i, c in enumerate(columns) if c in MONTH_COLUMNS}
    formats |= {i: PERCENT_FORMAT for i, c in enumerate(columns) if is_share_column(c)}
    headings = [c.removesuffix("_minor") if c in section.money else c for c in columns]
    return Sheet(title=section.title, headings=headings, rows=rows, formats=formats)


def report_cover(report: Report) -> list[list[Any]]:
    """The cover's rows: the filters used (each a label and its value), when it was made, that
    times are UTC, how amounts are written, then the report's notes."""
    return [
        ["Report", report.title],
        *([label, value] for label, value in report.filters),
        ["Generated", report.generated_at],
        ["Times", "All dates and times are UTC."],
        ["Amounts", "In each currency's own units: JPY whole yen, USD with cents (ISO 4217)."],
        [],
        *(["Note", note] for note in report.notes),
    ]


def report_xlsx(report: Report) -> bytes:
    """An XLSX workbook: an 'About' cover sheet (the filters used, the time it was made, the
    notes), then one sheet per section, each named by its title (≤ 31 characters, shortened
    on a word boundary), with real dates, amounts formatted by currency, percentages, column
    widths, a frozen header row and an autofilter (advocates.spreadsheets)."""
    about = Sheet(title="About", headings=["Kansha", report.title], table=False,
                  rows=report_cover(report))
    return xlsx_bytes([about, *(_section_sheet(s) for s in report.sections.values())])


def _csv_text(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow(["" if v is None else neutralise(v) for v in row])
    return out.getvalue()


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "table"


def report_csv_zip(report: Report, *, bom: bool = False) -> bytes:
    """Every table of the report as its own CSV file in one zip (`01-about.csv`, then
    `02-<section title>.csv`, ...), formula-neutralised, columns as in the report (amounts in
    minor units), times in UTC and said so in their heading. `bom` starts each file with a
    UTF-8 byte order mark: Excel opens a CSV without one in the system's code page, which
    garbles Japanese text."""
    files = [("about", _csv_text(report_cover(report)))]
    for section in report.sections.values():
        columns = [str(c) for c in section.frame.columns]
        headings = [c + UTC_MARK if c.endswith("_at") else c for c in columns]
        files.append((section.title, _csv_text([headings, *frame_rows(section.frame)])))
    folder = report_filename(report)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for n, (title, text) in enumerate(files, start=1):
            data = ("\ufeff" if bom else "") + text
            archive.writestr(f"{folder}/{n:02d}-{_slug(title)}.csv", data.encode("utf-8"))
    return buffer.getvalue()


def report_filename(report: Report) -> str:
    """`kansha-redemptions-2026-11-01-2026-11-30`: the report and its dates, without extension
    (a download or an attachment named `download.xlsx` says nothing once it is saved)."""
    p = report.params
    return f"kansha-{report.name}-{p.date_from:%Y-%m-%d}-{p.date_to:%Y-%m-%d}"


def report_json(report: Report) -> str:
    payload = {
        "report": report.name, "title": report.title,
        "params": {"from": report.params.date_from.isoformat(),
                   "to": report.params.date_to.isoformat(), "period": report.params.period,
                   "platform": report.params.platform, "rule": report.params.rule_id,
                   "currency": report.params.currency},
        "notes": report.notes,
        "sections": {key: {"title": s.title, "columns": list(s.frame.columns),
                           "rows": frame_rows(s.frame)} for key, s in report.sections.items()},
    }
    return json.dumps(payload, ensure_ascii=False, indent=1, default=str)


def report_bytes(report: Report, fmt: str) -> bytes:
    """The report in `fmt` (csv: every section in one file; xlsx; json; zip: a CSV per
    section; zip-bom: the same for Excel in Japanese) as bytes to write or attach."""
    if fmt in ("zip", "zip-bom"):
        return report_csv_zip(report, bom=fmt == "zip-bom")
    if fmt == "csv":
        return report_csv(report, sections=list(report.sections)).encode("utf-8")
    if fmt == "xlsx":
        return report_xlsx(report)
    if fmt == "json":
        return report_json(report).encode("utf-8")
    raise ValueError(f"unknown format {fmt!r}")
