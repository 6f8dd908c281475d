"""The advocate, whole, in a real browser (issue 15).

Kenji (Social staff) searches the advocates list for a handle, finds the person, opens the
profile and reads "2 open care items: answer before you reward" at the top, with the code
masked. Yui (Store staff, in Japanese) types that code at the till, sees whose it is and the
discount, records a ¥4,200 sale, and is told plainly when the same code comes back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from advocates.models import Mention
from rewards import services
from rewards.models import AdvocateTier, DiscountCode, GrantStatus, PointsEntry, Tier
from tests.factories import AdvocateFactory, OutreachFactory, SocialIdentityFactory
from tests.rewards.conftest import make_rule
from tests.roles import SOCIAL_STAFF, STORE_STAFF

pytestmark = [pytest.mark.integration, pytest.mark.browser]
CODE = "KAN-7XK2-MP9QRT"


def _seed() -> int:
    """Maya: a regular on X and Instagram, Silver, a delivered 10% code, two open complaints."""
    maya = AdvocateFactory(display_name="Maya Hall")
    on_x = SocialIdentityFactory(advocate=maya, platform="x", handle="@maya_drinks",
                                 profile_url="https://x.com/maya_drinks", verified=True,
                                 follower_count=4210)
    SocialIdentityFactory(advocate=maya, platform="instagram", handle="maya.hall",
                          follower_count=880)
    for n in range(4):
        SocialIdentityFactory(handle=f"@regular{n}")
    now = datetime.now(UTC)
    texts = ["Best flat white in Shibuya, thank you @kanshacoffee!",
             "Checked in at Kansha Coffee Shibuya ☕", "My order came cold today and nobody "
             "answered at the counter.", "Still waiting for my refund, two weeks now."]
    labels = [("positive", "praise", "thank"), ("positive", "checkin", "thank"),
              ("negative", "complaint", "care"), ("negative", "complaint", "care")]
    mentions = [Mention.objects.create(
        platform="x", external_id=f"maya-{n}", author=on_x, text=text, source="api",
        posted_at=now - timedelta(days=10 - n), detection_label=label,
        detection_intent=intent, detection_confidence=0.9, route=route)
        for n, (text, (label, intent, route)) in enumerate(zip(texts, labels, strict=True))]
    OutreachFactory(mention=mentions[0], status="sent",
                    final_text="Thank you Maya! See you soon at Shibuya.")
    for m in mentions[2:]:
        OutreachFactory(kind="care", mention=m, proposed_text="We're sorry, Maya. Could you DM "
                        "us your order number?")
    silver = Tier.objects.create(name="Silver", badge="🥈", level=1, threshold=100, live=True)
    Tier.objects.create(name="Gold", badge="🥇", level=2, threshold=500, live=True)
    AdvocateTier.objects.create(advocate=maya, tier=silver, points=320)
    PointsEntry.objects.bulk_create([
        PointsEntry(advocate=maya, points=p, reason=r, occurred_at=now - timedelta(days=d),
                    day=(now - timedelta(days=d)).date())
        for p, r, d in [(100, "praise on x", 10), (120, "check-in on x", 9),
                        (100, "review on instagram", 5)]])
    grant = services.grant_create(rule=make_rule(name="Regulars 10% off", trigger_count=1),
                                  advocate_id=maya.pk)
    grant.status = GrantStatus.DELIVERED
    grant.save()
    DiscountCode.objects.create(grant=grant, provider="local", code=CODE,
                                discount_type="percent", percent_off=10, currency="jpy",
                                max_redemptions=1, expires_at=now + timedelta(days=30))
    return maya.pk


def test_social_staff_find_a_person_by_handle_and_read_their_profile(journey, staff_user):
    staff_user(SOCIAL_STAFF, "kenji", first_name="Kenji")
    maya = _seed()
    page = journey.page

    journey.login("kenji")
    journey.goto("/admin/snippets/advocates/advocate/")
    expect(page.get_by_role("columnheader", name="Open care items")).to_be_visible()
    journey.step("advocates list", docs="advocates-list")
    page.get_by_role("textbox", name="Search").fill("@maya_drinks")
    page.keyboard.press("Enter")
    expect(page.get_by_role("link", name="Maya Hall")).to_be_visible()
    expect(page.get_by_text("There is 1 match")).to_be_visible()
    journey.step("search by handle", full_page=False)

    page.get_by_role("link", name="Maya Hall").click()
    page.wait_for_url(f"**/admin/advocates/people/{maya}/")
    expect(page.get_by_role("alert")).to_contain_text(
        "2 open care items: answer before you reward.")
    expect(page.get_by_text("180 points to Gold")).to_be_visible()
    expect(page.get_by_text("•••-••••-••9QRT")).to_be_visible()
    expect(page.get_by_text(CODE)).to_have_count(0)
    journey.step("profile", docs="advocate-profile")


def test_store_staff_redeem_a_code_at_the_till_in_japanese(journey, staff_user):
    staff_user(STORE_STAFF, "yui", first_name="Yui", language="ja")
    _seed()
    page = journey.page

    journey.login("yui")
    journey.goto("/admin/till/")
    page.locator("input[name=code]").fill("kan7xk2mp9qrt")
    page.locator("input[name=code]").press("Enter")
    expect(page.get_by_text("有効です。")).to_be_visible()
    expect(page.locator(".kt-facts")).to_contain_text("Maya")
    expect(page.locator(".kt-facts")).not_to_contain_text("Hall")
    journey.step("till: a valid code", docs="till-ja")

    page.locator("input[name=amount]").fill("4,200")
    page.locator("input[name=order_ref]").fill("R-1001")
    page.locator(".kt-redeem button[type=submit]").click()
    expect(page.get_by_text("Maya さんの利用を記録しました")).to_be_visible()
    expect(page.get_by_text("お支払い 3,780円")).to_be_visible()
    journey.step("till: recorded", full_page=False)

    page.locator("input[name=code]").fill(CODE)
    page.locator("input[name=code]").press("Enter")
    expect(page.get_by_text("このコードは")).to_be_visible()
    expect(page.locator(".kt-redeem")).to_have_count(0)
    journey.step("till: used again", docs="till-used-ja")
