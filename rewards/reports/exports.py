"""CSV (formula-neutralised), XLSX (one sheet per section) and JSON for a Report.

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
from datetime import date, datetime
from typing import Any

import pandas as pd

from advocates.spreadsheets import MONTH_FORMAT, Sheet, cell_neutralise, xlsx_bytes

from .params import Report

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


def _write_csv_section(writer, frame: pd.DataFrame) -> None:
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


def _is_date_column(column: str) -> bool:
    return column in DATE_COLUMNS or column.endswith(("_at", "_date"))


def _as_date(value: Any) -> Any:
    """ISO text as a date or datetime (UTC, as the queries write it); anything else as is."""
    if value == "":
        return None  # an empty cell, not an empty text, so a date filter has no odd entry
    if not isinstance(value, str):
        return value
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value).replace(tzinfo=None)
    except ValueError:
        return value


def _section_sheet(title: str, frame: pd.DataFrame) -> Sheet:
    columns = [str(c) for c in frame.columns]
    dated = [i for i, c in enumerate(columns) if _is_date_column(c)]
    rows = frame_rows(frame)
    for row in rows:
        for i in dated:
            row[i] = _as_date(row[i])
    formats = {i: MONTH_FORMAT for i, c in enumerate(columns) if c in MONTH_COLUMNS}
    return Sheet(title=title, headings=columns, rows=rows, formats=formats)


def report_xlsx(report: Report) -> bytes:
    """An XLSX workbook: an 'About' sheet (title, filters, notes) then one sheet per section,
    each named by its title (≤ 31 characters, shortened on a word boundary), with real dates,
    column widths, a frozen header row and an autofilter (advocates.spreadsheets)."""
    about = Sheet(title="About", headings=[report.title], table=False,
                  rows=[[f"Filters: {report.params.describe()}"],
                        *([note] for note in report.notes)])
    return xlsx_bytes([about, *(_section_sheet(s.title, s.frame)
                                for s in report.sections.values())])


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
    """The report in `fmt` (csv: every section; xlsx; json) as bytes to write or attach."""
    if fmt == "csv":
        return report_csv(report, sections=list(report.sections)).encode("utf-8")
    if fmt == "xlsx":
        return report_xlsx(report)
    if fmt == "json":
        return report_json(report).encode("utf-8")
    raise ValueError(f"unknown format {fmt!r}")
