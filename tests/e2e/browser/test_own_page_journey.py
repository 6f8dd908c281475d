"""The advocate's own page on a phone, in Japanese: from the signed link to a spent perk."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from playwright.sync_api import expect

from advocates.services.consent import own_page_token_make
from rewards.models import AdvocateTier, DiscountCode, Perk, PointsEntry, RewardGrant, Tier
from tests.factories import AdvocateFactory, SocialIdentityFactory
from tests.rewards.conftest import make_rule

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def _seed():
    advocate = AdvocateFactory(display_name="田中 愛子")
    SocialIdentityFactory(advocate=advocate, handle="@aiko_coffee")
    now = datetime.now(UTC)
    for points, reason in ((10, "praise"), (25, "review 5★"), (15, "reshare"), (300, "praise")):
        PointsEntry.objects.create(advocate=advocate, points=points, reason=reason,
                                   occurred_at=now, day=now.date())
    silver = Tier.objects.create(name="Silver", name_ja="シルバー", level=1, threshold=100)
    Tier.objects.create(name="Gold", name_ja="ゴールド", level=2, threshold=500)
    AdvocateTier.objects.create(advocate=advocate, tier=silver, points=350)
    Perk.objects.create(name="Kansha tote bag", name_ja="カンシャ トートバッグ",
                        description_ja="オーガニックコットンのトートバッグ", points_price=200,
                        stock=12)
    Perk.objects.create(name="Barista class", name_ja="バリスタ教室", points_price=800, stock=4)
    rule = make_rule(trigger_count=1)
    grant = RewardGrant.objects.create(
        advocate=advocate, rule=rule, period_key="2026-12", status="delivered",
        reward={"discount_type": "percent", "percent_off": 10}, reward_kind="discount",
        currency="jpy")
    DiscountCode.objects.create(grant=grant, provider="local", code="KAN-7XK2-MP9QRT",
                                discount_type="percent", percent_off=10, currency="jpy")
    return advocate


def test_own_page_on_a_phone_in_japanese(journey, journey_db):
    advocate = _seed()
    page = journey.page
    page.set_viewport_size({"width": 390, "height": 844})
    journey.goto(f"/me/{own_page_token_make(advocate)}/?lang=ja")
    expect(page.get_by_role("heading", name="あなたのポイント")).to_be_visible()
    expect(page.locator("body")).to_contain_text("シルバー")
    expect(page.locator("body")).to_contain_text("ゴールド まであと 150 ポイント")
    code = page.get_by_text("KAN-7XK2-MP9QRT")
    expect(code).to_be_hidden()
    page.get_by_text("コードを表示").click()
    expect(code).to_be_visible()

    tote = page.get_by_role("listitem").filter(has_text="カンシャ トートバッグ")
    tote.get_by_role("button", name="交換する").dblclick()
    expect(page.get_by_role("status")).to_contain_text("カンシャ トートバッグ")
    assert PointsEntry.objects.filter(advocate=advocate, points=-200).count() == 1
    expect(page.locator(".big")).to_have_text("150")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "wider than a phone"
    journey.step("own page on a phone", docs="own-page-phone-ja")
