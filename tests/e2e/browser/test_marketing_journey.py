"""Marketing's afternoon, in a real browser: the rewards program and the words it uses.

Yui (Marketing) adds a perk with a small stock and a tier that carries it, and a reward rule
that gives it: each is money, so she saves a draft and submits it to the "Money change
approval" workflow (she has no Publish), and Ken (Finance) approves it; the rule from his
dashboard, which publishes it and says so. Yui also rewords a reply template and checks it in the
preview, and sees the dashboard warn that the perk runs low.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from advocates.models import ReplyTemplate
from rewards.models import Perk, RewardRule, Tier
from tests.roles import FINANCE, MARKETING

pytestmark = [pytest.mark.integration, pytest.mark.browser]

NEW_VARIANT = "Thank you, {first_name}! Come by for a cortado on us this week ☕"


def _menu(page, group: str, item: str) -> None:
    """Open a sidebar group and follow one of its links."""
    page.get_by_role("navigation", name="Main menu").get_by_role("button", name=group).click()
    page.get_by_role("navigation", name="Main menu").get_by_role("link", name=item).click()


def _message(page, text: str) -> None:
    expect(page.locator(".messages")).to_contain_text(text)


def _publish(page) -> None:
    """The editor footer: Publish sits in the "More actions" menu next to Save draft."""
    page.get_by_role("button", name="More actions").click()
    page.get_by_role("button", name="Publish").click()


def _submit(page, what: str) -> None:
    """The editor footer: "Submit to Money change approval" sits in the "More actions" menu
    (rules, tiers and perks go live only through another person's finance sign-off)."""
    page.get_by_role("button", name="More actions").click()
    expect(page.get_by_role("button", name="Publish", exact=True)).to_have_count(0)
    page.get_by_role("button", name="Submit to Money change approval").click()
    _message(page, "submitted for moderation")


def _finance_approves(obj, approver) -> None:
    """Another person in finance approves (as Ken does from his dashboard for the rule)."""
    state = obj.current_workflow_state.current_task_state
    state.task.specific.on_action(state, approver, "approve")


def _choose(page, field: str, title: str) -> None:
    """Pick a snippet in a chooser field (a modal listing the snippets)."""
    page.locator(f"[data-contentpath={field}]").get_by_role("button", name=re.compile(
        "^Choose")).click()
    modal = page.locator(".modal-dialog")
    modal.get_by_role("link", name=title).click()
    expect(modal).to_be_hidden()


def test_marketing_set_up_a_perk_tier_and_rule_and_edit_a_template(journey, staff_user):
    staff_user(MARKETING, "yui", first_name="Yui", last_name="Abe")
    ken = staff_user(FINANCE, "ken", first_name="Ken", last_name="Sato")
    page = journey.page
    journey.login("yui")

    # A perk with three totes left: saved as a draft, then submitted to finance (its cost and
    # stock are money), who approves it.
    _menu(page, "Rewards", "Perks")
    page.get_by_role("link", name=re.compile("Add perk")).first.click()
    page.fill("#id_name", "Kansha tote bag")
    page.fill("#id_description", "Canvas tote with the Kansha crane.")
    page.select_option("#id_kind", "swag")
    page.fill("#id_stock", "3")
    page.fill("#id_unit_cost_minor", "1200")
    page.fill("#id_currency", "jpy")
    viewport = page.viewport_size
    page.set_viewport_size({"width": 1440, "height": 1300})  # the whole form in one picture
    page.mouse.move(700, 400)
    page.mouse.wheel(0, -3000)
    journey.step("perk editor", full_page=False, docs="journey-perk-editor")
    page.set_viewport_size(viewport)
    page.get_by_role("button", name="Save draft").click()
    _message(page, "Kansha tote bag")
    perk = Perk.objects.get(name="Kansha tote bag")
    assert (perk.live, perk.stock) == (False, 3)
    _submit(page, "Kansha tote bag")
    _finance_approves(perk, ken)
    perk.refresh_from_db()
    assert perk.live

    # A tier that carries the perk.
    _menu(page, "Rewards", "Tiers")
    page.get_by_role("link", name=re.compile("Add tier")).first.click()
    page.fill("#id_name", "Gold")
    page.fill("#id_threshold", "100")
    page.fill("#id_badge", "🥇")
    perks = page.locator("[data-contentpath=perks]")
    if perks.locator("input[type=checkbox]").count():
        perks.get_by_label("Kansha tote bag").check()
    else:
        perks.locator("select").select_option(label="Kansha tote bag")
    page.get_by_role("button", name="Save draft").click()
    _message(page, "Gold")
    _submit(page, "Gold")
    tier = Tier.objects.get(name="Gold")
    assert not tier.live
    _finance_approves(tier, ken)
    tier.refresh_from_db()
    assert tier.live
    assert list(tier.perks.all()) == [perk]

    # A rule: reaching Gold earns the tote. Draft first, then submitted for finance's sign-off.
    _menu(page, "Rewards", "Reward rules")
    page.get_by_role("link", name=re.compile("Add reward rule")).first.click()
    page.fill("#id_name", "Gold members get a tote")
    # The editor asks only for what the chosen trigger uses.
    expect(page.locator("#id_trigger_count")).to_be_visible()
    expect(page.locator("[data-contentpath=trigger_tier]")).to_be_hidden()
    expect(page.locator("#id_trigger_min_rating")).to_be_hidden()
    page.select_option("#id_trigger", "tier_reached")
    expect(page.locator("#id_trigger_count")).to_be_hidden()
    expect(page.locator("[data-contentpath=trigger_tier]")).to_be_visible()
    _choose(page, "trigger_tier", "🥇 Gold")
    page.select_option("#id_reward_kind", "perk")
    _choose(page, "perk", "Kansha tote bag")
    page.get_by_role("button", name="Save draft").click()
    _message(page, "Gold members get a tote")
    rule = RewardRule.objects.get(name="Gold members get a tote")
    assert not rule.live
    journey.step("rule saved as draft")
    _submit(page, "Gold members get a tote")
    rule.refresh_from_db()
    assert not rule.live
    assert rule.current_workflow_task.name == "Finance sign-off"
    # The list says where it stands; in its editor (locked while finance reviews it) the main
    # button is not "Cancel workflow", which Wagtail would put there: that is in the menu.
    row = page.get_by_role("row").filter(has_text="Gold members get a tote")
    expect(row).to_contain_text("Awaiting finance")
    page.get_by_role("link", name="Gold members get a tote").first.click()
    expect(page.get_by_role("button", name=re.compile("Cancel workflow"))).to_be_hidden()
    journey.step("rule submitted for finance sign-off")

    # A reply template reworded, checked in the preview, published.
    template = ReplyTemplate.objects.filter(purpose="praise", language="en").first()
    page.get_by_role("navigation", name="Main menu").get_by_role(
        "link", name="Reply templates").click()
    page.get_by_role("link", name=template.name).first.click()
    variant = page.locator("textarea[name$='-text']").first
    variant.fill(NEW_VARIANT)
    page.get_by_role("button", name=re.compile("Toggle preview|Preview")).first.click()
    preview = page.frame_locator("iframe[title*='Preview'], iframe.preview-panel__iframe").first
    expect(preview.locator("main")).to_contain_text("Come by for a cortado on us this week")
    expect(preview.locator("main")).not_to_contain_text("{first_name}")
    journey.step("template preview", full_page=False, docs="journey-template-preview")
    page.get_by_role("button", name="Save draft").click()
    _message(page, template.name)
    _publish(page)
    _message(page, "published")
    template.refresh_from_db()
    assert NEW_VARIANT in [v.text for v in template.variants.all()]

    # The dashboard warns that only three totes are left.
    page.get_by_role("link", name="Dashboard").click()
    panel = page.get_by_role("region", name="Programme health")
    expect(panel).to_contain_text("Perks running low")
    expect(panel.get_by_role("listitem").filter(has_text="Kansha tote bag")).to_contain_text(
        "3 left")
    expect(panel.get_by_role("region", name="Rules awaiting finance")).to_contain_text(
        "Gold members get a tote")
    journey.step("low-stock warning")

    # Ken (Finance) finds the rule awaiting his review on the dashboard and approves it,
    # which publishes it.
    page.context.clear_cookies()
    journey.login("ken")
    review = page.get_by_role("region", name="Awaiting your review")
    row = review.get_by_role("row").filter(has_text="Gold members get a tote")
    expect(row).to_be_visible()
    journey.step("rule awaiting finance review")
    row.get_by_role("button", name="Actions").click()
    row.get_by_role("button", name="Approve", exact=True).click()
    page.wait_for_url(re.compile(r"/admin/"))
    expect(page.get_by_role("region", name="Awaiting your review")).to_have_count(0)
    _message(page, "Approved: “Gold members get a tote” is live.")
    rule.refresh_from_db()
    assert (rule.live, rule.trigger_tier, rule.perk) == (True, tier, perk)
    journey.step("rule approved and live")
