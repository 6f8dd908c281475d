"""Finance's month end, in a real browser: the redemption report, filtered and exported.

Hana (Finance) opens Reports → Redemptions, narrows it to last month in yen, downloads the
XLSX, and the numbers in the file are the numbers on the screen (and the ones counted by hand
from the seed below).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from rewards import services
from rewards.models import RewardRule, RewardsSettings
from rewards.money import money_display as money_format
from rewards.money import money_to_minor
from tests.factories import AdvocateFactory, SocialIdentityFactory
from tests.roles import FINANCE

pytestmark = [pytest.mark.integration, pytest.mark.browser]


@dataclass(frozen=True)
class Month:
    start: datetime

    @property
    def last_day(self) -> datetime:
        following = (self.start + timedelta(days=32)).replace(day=1)
        return following - timedelta(days=1)

    def on(self, day: int, hour: int = 10) -> datetime:
        return self.start.replace(day=day, hour=hour)


def _months() -> tuple[Month, Month]:
    """Last month (the one finance closes) and this month."""
    this = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    last = (this - timedelta(days=1)).replace(day=1)
    return Month(last), Month(this)


def _redeemed(rule: RewardRule, *, name: str, granted: datetime, order_minor: int,
              currency: str, order_ref: str):
    """A grant issued through the rewards services, its local code used at the till."""
    advocate = AdvocateFactory(display_name=name)
    SocialIdentityFactory(advocate=advocate, follower_count=800)
    grant = services.grant_create(rule=rule, advocate_id=advocate.pk, now=granted)
    assert grant is not None, f"{name} got no grant of {rule.name}"
    grant = services.grant_issue(grant_id=grant.pk, now=granted)
    code = grant.code
    redemption, _ = services.code_redeem(code=code.code, order_amount_minor=order_minor,
                                         currency=currency, order_ref=order_ref,
                                         at=granted + timedelta(days=4))
    return redemption


def _seed_program() -> dict:
    """Two months of codes in yen and dollars; returns what last month's yen should add up to."""
    settings = RewardsSettings.load()
    settings.velocity_max_per_hour = settings.min_account_age_days = 0
    settings.min_followers = settings.duplicate_text_identities = 0
    settings.save()
    regulars = RewardRule.objects.create(
        name="Regulars 10% off", trigger="events_in_days", trigger_count=3, trigger_days=30,
        reward_kind="discount", discount_type="percent", percent_off=10, currency="jpy",
        period="month", live=True)
    dollars = RewardRule.objects.create(
        name="Five dollars off", trigger="events_in_days", trigger_count=3, trigger_days=30,
        reward_kind="discount", discount_type="amount", amount_off_minor=500, currency="usd",
        period="month", live=True)
    last, this = _months()
    yen = [
        _redeemed(regulars, name="Aiko", granted=last.on(3), order_minor=4500, currency="jpy",
                  order_ref="POS-1001"),
        _redeemed(regulars, name="Kenji", granted=last.on(9), order_minor=3000,
                  currency="jpy", order_ref="POS-1002"),
    ]
    _redeemed(dollars, name="Sam", granted=last.on(5), order_minor=2500, currency="usd",
              order_ref="POS-1003")
    _redeemed(regulars, name="Ren", granted=this.on(1, hour=1), order_minor=6000,
              currency="jpy", order_ref="POS-1004")
    return {"month": last, "discount_minor": sum(r.discount_minor for r in yen),
            "paid_minor": sum(r.order_amount_minor for r in yen), "redeemed": len(yen)}


def _totals_on_screen(page) -> dict[str, dict[str, str]]:
    """The "Totals per currency" table as {currency: {column: cell text}}."""
    table = page.locator("table", has=page.locator("th", has_text="codes issued")).filter(
        has_not=page.locator("th", has_text="rule")).filter(
        has_not=page.locator("th", has_text="month")).first
    header = table.locator("thead th").all_inner_texts()
    rows = {}
    for row in table.locator("tbody tr").all():
        cells = dict(zip(header, row.locator("td").all_inner_texts(), strict=True))
        rows[cells["Currency"].lower()] = cells
    return rows


def _xlsx_totals(path) -> dict[str, dict]:
    sheet = load_workbook(path, read_only=True)["Totals per currency"]
    header, *rows = sheet.iter_rows(values_only=True)
    return {row[header.index("currency")]: dict(zip(header, row, strict=True)) for row in rows}


def test_finance_filter_the_redemption_report_and_export_it(journey, staff_user, tmp_path):
    staff_user(FINANCE, "hana", first_name="Hana", last_name="Kato")
    expected = _seed_program()
    month = expected["month"]
    page = journey.page

    journey.login("hana")
    menu = page.get_by_role("navigation", name="Main menu")
    menu.get_by_role("button", name="Reports").click()
    menu.get_by_role("link", name="Redemptions", exact=True).click()
    page.wait_for_url("**/admin/kansha-reports/redemptions/")
    expect(page.get_by_role("heading", name="Totals per currency")).to_be_visible()
    assert set(_totals_on_screen(page)) == {"jpy", "usd"}  # the default span has both
    journey.step("redemption report")

    # Filters: last month, in yen.
    page.get_by_role("button", name="Show filters").click()
    page.get_by_role("button", name="Date range").click()
    page.locator("input[name=date_range_from]").fill(f"{month.start:%Y-%m-%d}")
    page.keyboard.press("Tab")
    page.locator("input[name=date_range_to]").fill(f"{month.last_day:%Y-%m-%d}")
    page.keyboard.press("Tab")
    page.get_by_role("button", name="Back").click()
    page.get_by_role("button", name="Currency").click()
    page.locator("#id_currency").select_option("jpy")
    describe = page.locator(".kansha-report .help-block").first
    expect(describe).to_contain_text(f"{month.start:%Y-%m-%d} to {month.last_day:%Y-%m-%d}")
    expect(page).to_have_url(re.compile(r"currency=jpy"))
    page.get_by_role("button", name="Show filters").click()  # close them: read the report
    expect(page.locator("#id_currency")).to_be_hidden()
    page.mouse.wheel(0, -5000)
    journey.step("filtered to last month in yen", full_page=False,
                 docs="journey-finance-report")

    screen = _totals_on_screen(page)
    assert set(screen) == {"jpy"}, f"the currency filter left {sorted(screen)} on screen"
    jpy = screen["jpy"]
    assert jpy["Discount"] == money_format(expected["discount_minor"], "jpy")
    assert jpy["Order revenue"] == money_format(expected["paid_minor"], "jpy")
    assert jpy["Redemptions"] == str(expected["redeemed"])

    # The XLSX: what finance files is what finance saw.
    # The exports are buttons in the header (not in a "…" menu).
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download XLSX").click()
    download = download_info.value
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    assert download.suggested_filename.endswith(".xlsx")
    journey.step("xlsx downloaded")

    workbook = _xlsx_totals(path)
    assert set(workbook) == {"jpy"}, f"the XLSX has {sorted(workbook)}, the screen only jpy"
    row = workbook["jpy"]
    # The workbook holds amounts in the currency's units (yen have no minor unit).
    discount, revenue = (money_to_minor(row[c], "jpy") for c in ("discount", "order_revenue"))
    assert money_format(discount, "jpy") == jpy["Discount"]
    assert money_format(revenue, "jpy") == jpy["Order revenue"]
    assert str(row["redemptions"]) == jpy["Redemptions"]
    assert (discount, revenue) == (expected["discount_minor"], expected["paid_minor"])
