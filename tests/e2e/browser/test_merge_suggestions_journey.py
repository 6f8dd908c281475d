"""Merge suggestions in a real browser (issue 15): the lead reads why each pair looks like one
person (the same profile link, accounts that mention each other, one Stripe customer), and
dismisses a pair that is two people; it does not come back."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from advocates.models import MergeDismissal
from rewards.models import DiscountCode, Redemption, RewardGrant, StripeCustomer
from tests.factories import AdvocateFactory, MentionFactory, SocialIdentityFactory
from tests.rewards.conftest import make_rule

pytestmark = [pytest.mark.integration, pytest.mark.browser]


def _person(name, **identity):
    advocate = AdvocateFactory(display_name=name)
    SocialIdentityFactory(advocate=advocate, display_name=name, **identity)
    return advocate


def _paid_with_code_of(advocate, customer, n):
    grant = RewardGrant.objects.create(advocate=advocate, rule=make_rule(name=f"r{n}"),
                                       period_key=f"p{n}", reward={}, reward_kind="discount",
                                       currency="jpy", status="redeemed")
    code = DiscountCode.objects.create(grant=grant, provider="local", code=f"KAN-2222-22222{n}",
                                       discount_type="percent", percent_off=10, currency="jpy")
    Redemption.objects.create(grant=grant, code=code, rule=grant.rule, advocate=advocate,
                              source="local", source_id=f"o-{n}", currency="jpy",
                              order_amount_minor=3600, discount_minor=400,
                              stripe_customer_id=customer)


def _seed():
    maya = _person("Maya Hall", platform="x", handle="@maya_drinks",
                   profile_url="https://x.com/maya_drinks")
    _person("Maya H.", platform="bluesky", handle="maya.bsky.social",
            profile_url="https://x.com/maya_drinks")
    ken = _person("Ken Sato", platform="x", handle="@ken_sato")
    ken_jp = _person("佐藤 健", platform="instagram", handle="ken.sato.jp")
    MentionFactory(author=ken.identities.get(), text="日本語のアカウントは @ken.sato.jp です")
    MentionFactory(author=ken_jp.identities.get(), text="English posts: @ken_sato ☕")
    aiko, friend = _person("Aiko Tanaka", platform="x"), _person("Rin Mori", platform="x")
    StripeCustomer.objects.create(advocate=aiko, customer_id="cus_aiko", learned_from="cs_1")
    _paid_with_code_of(aiko, "cus_aiko", 1)
    _paid_with_code_of(friend, "cus_aiko", 2)  # Aiko paid with Rin's code: a code passed on
    return maya, aiko, friend


def test_the_lead_reads_why_and_dismisses_a_pair_that_is_two_people(journey, journey_db,
                                                                    django_user_model,
                                                                    settings):
    settings.WAGTAIL_ENABLE_UPDATE_CHECK = False  # a superuser's dashboard would ask the web
    django_user_model.objects.create_superuser("lead", "lead@example.com", "pw-for-tests-only")
    _maya, aiko, rin = _seed()
    page = journey.page

    journey.login("lead")
    journey.goto("/admin/advocates/people/merge-suggestions/")
    rows = page.locator("table.listing tbody tr")
    expect(rows).to_have_count(3)
    expect(page.get_by_role("row", name="Maya Hall")).to_contain_text("Same profile link")
    expect(page.get_by_role("row", name="Ken Sato")).to_contain_text(
        "Their accounts mention each other")
    expect(page.get_by_role("row", name="Aiko Tanaka")).to_contain_text("Same Stripe customer")
    journey.step("merge suggestions", docs="merge-suggestions")

    page.get_by_role("row", name="Aiko Tanaka").get_by_role(
        "button", name="Two people: dismiss").click()
    expect(page.get_by_text(f"#{aiko.pk} and #{rin.pk} are two people")).to_be_visible()
    expect(rows).to_have_count(2)
    expect(page.get_by_text("Aiko Tanaka")).to_have_count(0)
    journey.step("merge suggestions: one dismissed", full_page=False)
    assert MergeDismissal.objects.filter(first=aiko, second=rin).exists()
