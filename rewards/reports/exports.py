"""CSV (formula-neutralised), XLSX (one sheet per section) and JSON for a Report.

Spreadsheet programs run a cell that starts with =, +, - or @ (and, in some, a tab or carriage
return) as a formula; a mention's text or a reject reason is user input. Such text cells get a
leading apostrophe, which spreadsheets show as text. Numbers are written as numbers (a negative
number is not text, so it is left alone).
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any

import pandas as pd

from .params import Report

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A text cell that a spreadsheet would evaluate, made inert with a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


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


def report_xlsx(report: Report) -> bytes:
    """An XLSX workbook: an 'About' sheet (filters, notes) then one sheet per section."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    about = workbook.create_sheet("About")
    about.append([report.title])
    about.append([f"Filters: {report.params.describe()}"])
    for note in report.notes:
        about.append([note])
    for section in report.sections.values():
        sheet = workbook.create_sheet(section.title[:31].replace("/", "-").replace(":", ""))
        sheet.append(list(section.frame.columns))
        for row in frame_rows(section.frame):
            cells = []
            for value in row:
                cell = WriteOnlyCell(sheet, value)
                if cell.data_type == "f":  # openpyxl would store text starting '=' as formula
                    cell.data_type = "s"
                cells.append(cell)
            sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


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
