"""Wagtail's list exports (the "Download CSV/XLSX" of a listing or a report), made safe and
usable.

Wagtail 8's SpreadsheetExportMixin writes CSV cells raw (a mention text `=HYPERLINK(...)`
reaches the spreadsheet as a formula) and, for XLSX, only retypes what openpyxl took for a
formula as a string; its sheet is "Sheet1" with no widths, frozen header or filter, and the
file is named after the table (`advocates_mention.xlsx`). Every Kansha view that exports mixes
this in before Wagtail's view, so all of them share advocates/spreadsheets.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone

from advocates.spreadsheets import Sheet, cell_neutralise, xlsx_bytes

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class SafeSpreadsheetExportMixin:
    """For a view with Wagtail's SpreadsheetExportMixin: text cells and headings neutralised
    in both formats, the XLSX written by `xlsx_bytes`, a file name with the date."""

    # The sheet's name in the XLSX (shortened on a word boundary if needed).
    export_sheet_title = ""

    # Wagtail makes aware datetimes naive before the XLSX writer sees them; `xlsx_bytes` wants
    # them aware, to write them in UTC and say "(UTC)" in their column's heading.
    @property
    def custom_value_preprocess(self) -> dict:
        preprocess = dict(super().custom_value_preprocess)  # type: ignore[misc]
        preprocess[datetime] = {self.FORMAT_XLSX: None}  # type: ignore[attr-defined]
        return preprocess

    def preprocess_field_value(self, field: str, value: Any, export_format: str) -> Any:
        value = super().preprocess_field_value(field, value, export_format)  # type: ignore[misc]
        return cell_neutralise(value)

    def get_heading(self, queryset: Any, field: str) -> str:
        return cell_neutralise(super().get_heading(queryset, field))  # type: ignore[misc]

    def get_filename(self) -> str:
        """`kansha-mentions-2026-11-30`: what the list is and the day it was taken."""
        base = super().get_filename()  # type: ignore[misc]
        return f"{base}-{timezone.localdate():%Y-%m-%d}"

    def get_export_sheet_title(self) -> str:
        if self.export_sheet_title:
            return str(self.export_sheet_title)
        model = getattr(getattr(self, "model", None), "_meta", None)
        return str(model.verbose_name_plural).capitalize() if model else "Export"

    def xlsx_value(self, field: str, value: Any, item: Any) -> Any:
        """A value as the XLSX holds it; a view may return a `Formatted` one (an amount)."""
        return value

    def xlsx_heading(self, field: str, heading: str) -> str:
        return heading

    def write_xlsx(self, queryset: Any, output: Any) -> None:
        fields = list(self.list_export)  # type: ignore[attr-defined]
        rows = ([self.xlsx_value(f, self.preprocess_field_value(  # type: ignore[attr-defined]
                    f, v, self.FORMAT_XLSX), item)  # type: ignore[attr-defined]
                 for f, v in self.to_row_dict(item).items()]  # type: ignore[attr-defined]
                for item in queryset)
        output.write(xlsx_bytes([Sheet(
            title=self.get_export_sheet_title(),
            headings=[self.xlsx_heading(f, self.get_heading(queryset, f)) for f in fields],
            rows=rows)]))
