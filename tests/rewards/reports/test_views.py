"""The report pages in the Wagtail admin: who sees them, what they show, what they export."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from rewards.money import money_display as money_format
from rewards.money import money_to_minor
from tests.roles import FINANCE, MARKETING, SOCIAL_STAFF, user_in_role

FILTERS = {"date_range_from": "2026-11-01", "date_range_to": "2026-11-30"}
NAMES = ["ambassador", "redemptions", "ledger", "liability"]


@pytest.mark.parametrize("role", [FINANCE, MARKETING])
@pytest.mark.parametrize("name", NAMES)
def test_finance_and_marketing_open_every_report(client, db, role, name):
    client.force_login(user_in_role(role))
    response = client.get(reverse(f"kansha_reports:{name}"), FILTERS)
    assert response.status_code == 200


@pytest.mark.parametrize("name", NAMES)
def test_social_staff_get_403(client, db, name):
    client.force_login(user_in_role(SOCIAL_STAFF))
    response = client.get(reverse(f"kansha_reports:{name}"), FILTERS)
    assert response.status_code == 403
    assert client.get(reverse(f"kansha_reports:{name}"),
                      {**FILTERS, "export": "csv"}).status_code == 403


def test_anonymous_is_sent_to_the_login_page(client, db):
    response = client.get(reverse("kansha_reports:redemptions"))
    assert response.status_code == 302
    assert reverse("wagtailadmin_login") in response["Location"]


def test_reports_menu_shows_the_reports_only_to_readers(client, db):
    client.force_login(user_in_role(FINANCE))
    assert reverse("kansha_reports:liability") in client.get(reverse("wagtailadmin_home")).text
    client.force_login(user_in_role(SOCIAL_STAFF, username="staff2"))
    assert reverse("kansha_reports:liability") not in client.get(
        reverse("wagtailadmin_home")).text


def test_redemption_page_shows_charts_tables_and_totals(client, program):
    client.force_login(user_in_role(FINANCE))
    page = client.get(reverse("kansha_reports:redemptions"), FILTERS).text
    assert "<svg" in page
    assert "Discount cost by month (JPY" in page
    assert "Totals per currency" in page
    assert money_format(500, "usd") in page  # 5.00 USD discount
    assert money_format(4500, "jpy") in page  # ¥4,500


def test_filters_narrow_the_report(client, program):
    client.force_login(user_in_role(FINANCE))
    page = client.get(reverse("kansha_reports:redemptions"), {**FILTERS, "currency": "usd"})
    cells = [c.strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", page.text, re.S)]
    assert "USD five off" in cells
    assert "Regulars 10%" not in cells  # (still offered in the rule filter's options)


def test_xlsx_export_shows_the_same_totals_as_the_screen(client, program):
    client.force_login(user_in_role(FINANCE))
    url = reverse("kansha_reports:redemptions")
    page = client.get(url, FILTERS).text
    response = client.get(url, {**FILTERS, "export": "xlsx"})
    assert response.status_code == 200
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    sheet = workbook["Totals per currency"]
    rows = list(sheet.iter_rows(values_only=True))
    header, data = rows[0], rows[1:]
    totals = {row[header.index("currency")]: dict(zip(header, row, strict=True))
              for row in data}
    assert set(totals) == {"jpy", "usd"}
    # The workbook holds amounts in the currency's units (¥500, $25.00), the screen shows them.
    assert totals["jpy"]["discount"] == 500
    assert totals["usd"]["order_revenue"] == 25
    for currency, row in totals.items():
        for column in ("discount", "order_revenue"):
            assert money_format(money_to_minor(row[column], currency), currency) in page
        assert f'<td class="kansha-num">{row["codes_issued"]:,}</td>' in page


def test_liability_xlsx_matches_the_screen(client, program):
    client.force_login(user_in_role(FINANCE))
    url = reverse("kansha_reports:liability")
    page = client.get(url, FILTERS).text
    response = client.get(url, {**FILTERS, "export": "xlsx"})
    workbook = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(workbook["Totals per currency"].iter_rows(values_only=True))
    header = rows[0]
    for row in rows[1:]:
        record = dict(zip(header, row, strict=True))
        minor = money_to_minor(record["max_exposure"], record["currency"])
        assert money_format(minor, record["currency"]) in page


def test_admin_csv_export_neutralises_formulas(client, program):
    """A reject reason '=HYPERLINK(...)' is user input; the CSV must not run it."""
    client.force_login(user_in_role(MARKETING))
    from rewards.models import RewardRule

    RewardRule.objects.filter(name="USD five off").update(name="@SUM(A1:A9)")
    response = client.get(reverse("kansha_reports:redemptions"),
                          {**FILTERS, "export": "csv"})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["month", "rule_id", "rule"]
    rules = {row[2] for row in rows[1:]}
    assert "'@SUM(A1:A9)" in rules
    assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)


def test_ledger_export_has_one_row_per_grant_with_stripe_ids(client, program):
    client.force_login(user_in_role(FINANCE))
    response = client.get(reverse("kansha_reports:ledger"), {**FILTERS, "export": "csv"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 6
    assert {r["stripe_promotion_code_id"] for r in rows} >= {"promo_JPYONE", "promo_USDFIVE"}


@pytest.fixture
def client_finance(client, program):
    client.force_login(user_in_role(FINANCE))
    return client


def test_each_report_offers_only_the_filters_it_uses(client_finance):
    liability = client_finance.get(reverse("kansha_reports:liability")).content.decode()
    assert 'name="date_range_from"' not in liability
    assert 'name="currency"' in liability
    redemptions = client_finance.get(reverse("kansha_reports:redemptions")).content.decode()
    assert 'name="date_range_from"' in redemptions
    assert 'name="period"' not in redemptions  # always by month
    ambassador = client_finance.get(reverse("kansha_reports:ambassador")).content.decode()
    assert 'name="platform"' in ambassador


def test_exports_are_buttons_in_the_header_and_tables_scroll_in_their_box(client_finance):
    html = client_finance.get(reverse("kansha_reports:redemptions"), FILTERS).content.decode()
    assert 'data-kansha-export="xlsx"' in html
    assert 'data-kansha-export="csv"' in html
    assert html.count('class="kansha-scroll') >= 2  # the sections and the main table
    assert "row" in html.split("Totals per currency")[1][:120]  # each table's own count


def test_the_ledger_says_its_times_are_utc(client, program):
    client.force_login(user_in_role(FINANCE))
    page = client.get(reverse("kansha_reports:ledger"), FILTERS).text
    assert "Created (UTC)" in page
    assert "Issued (UTC)" in page
