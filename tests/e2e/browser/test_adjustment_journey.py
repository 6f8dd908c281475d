"""A manual points adjustment, made by one person and approved by another, in a real browser
(issue 15).

Mika (Marketing) opens Maya's profile after a cold order, proposes 50 goodwill points from
it (Maya is already picked), and is told it waits for finance. Nothing is on Maya's points
yet, and Mika cannot approve it. Fumi (Finance) reads what it is, approves it,
and on Maya's profile the balance has moved and the adjustment says who asked and who
approved.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect

from rewards.models import PointsAdjustment, PointsEntry
from tests.factories import AdvocateFactory, SocialIdentityFactory
from tests.roles import FINANCE, MARKETING

pytestmark = [pytest.mark.integration, pytest.mark.browser]
REASON = "Goodwill: a cold order at Shibuya on 3 Dec"


def _seed() -> int:
    maya = AdvocateFactory(display_name="Maya Hall")
    SocialIdentityFactory(advocate=maya, platform="x", handle="@maya_drinks",
                          display_name="Maya Hall", follower_count=4210)
    now = datetime.now(UTC)
    PointsEntry.objects.create(advocate=maya, points=120, reason="praise",
                               occurred_at=now - timedelta(days=3),
                               day=(now - timedelta(days=3)).date())
    return maya.pk


def test_marketing_proposes_an_adjustment_and_another_person_in_finance_approves_it(
        journey, staff_user):
    staff_user(MARKETING, "mika", first_name="Mika")
    staff_user(FINANCE, "fumi", first_name="Fumi")
    maya = _seed()
    page = journey.page

    journey.login("mika")
    journey.goto(f"/admin/advocates/people/{maya}/")
    page.get_by_role("link", name="Propose a points adjustment…").click()
    expect(page.locator("#w-editor-form")).to_contain_text("Maya Hall")  # already picked
    page.locator("input[name=points]").fill("50")
    page.locator("input[name=reason]").fill(REASON)
    journey.step("adjustment: proposed from the profile", docs="adjustment-propose")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("it reaches the ledger once another person in finance "
                            "approves it")).to_be_visible()
    adjustment = PointsAdjustment.objects.get()
    assert not PointsEntry.objects.filter(adjustment=adjustment).exists()
    # Marketing asks; only finance decides (and never the person who asked).
    journey.goto(f"/admin/kansha-rewards/changes/adjustment/{adjustment.pk}/approve/")
    expect(page.get_by_text("you do not have permission")).to_be_visible()
    adjustment.refresh_from_db()
    assert adjustment.status == "pending"

    journey.page.context.clear_cookies()
    journey.login("fumi")
    journey.goto("/admin/snippets/rewards/pointsadjustment/")
    page.get_by_role("link", name="Approve…").click()
    expect(page.get_by_role("heading", name="+50 points for Maya Hall")).to_be_visible()
    expect(page.get_by_text(REASON)).to_be_visible()
    expect(page.get_by_text("Made by mika")).to_be_visible()
    journey.step("adjustment: finance reads it", docs="adjustment-approve")
    page.get_by_role("button", name="Approve").click()
    expect(page.get_by_text("Approved: the change is live.")).to_be_visible()

    journey.goto(f"/admin/advocates/people/{maya}/")
    line = page.locator("li", has_text=REASON)
    expect(line).to_contain_text("Approved")
    expect(line).to_contain_text("mika → fumi")
    expect(page.locator("dt:has-text('Points balance') + dd")).to_have_text("170")
    journey.step("adjustment: on the profile")
    line.scroll_into_view_if_needed()
    journey.step("adjustment: who asked, who approved", full_page=False,
                 docs="advocate-profile-adjustment")
    assert PointsEntry.objects.get(adjustment=adjustment).points == 50
