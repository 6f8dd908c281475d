"""Each role's screens in English and in Japanese, in a real browser: the dashboard, the queue
and its tabs, the rule editor for two triggers, a report, and the public ambassador page on a
phone. The same steps run in both languages (the user's admin language is their profile's);
each checks the words on screen are that language's, not the other's.

`KANSHA_DOCS_IMG=1` saves the README's pictures (docs/img/*-en.png and *-ja.png) from here.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from advocates.models import AdvocacyEvent
from rewards.models import Perk, Tier
from tests.e2e.browser.test_finance_journey import _seed_program
from tests.factories import MentionFactory, OutreachFactory, SocialIdentityFactory
from tests.roles import FINANCE, MARKETING, SOCIAL_STAFF

pytestmark = [pytest.mark.integration, pytest.mark.browser]

LANGUAGES = ["en", "ja"]
# What each language says on the screens below (and the other must not).
WORDS = {
    "en": {"queue": "Your queue", "care": "Care", "answers": "Answers", "thanks": "Thank-yous",
           "reshares": "Reshares", "rewards": "Rewards", "approve_selected": "Approve selected…",
           "programme": "Programme health", "acts": "Acts of advocacy",
           "finance": "Approvals waiting",
           "report": "Totals per currency", "xlsx": "Download XLSX",
           "perks": "Perks", "checkin_trigger": "A first check-in at a venue"},
    "ja": {"queue": "あなたのキュー", "care": "ケア", "answers": "回答", "thanks": "お礼",
           "reshares": "シェア", "rewards": "特典", "approve_selected": "選択したものを承認…",
           "programme": "プログラムの状況", "acts": "推奨行動",
           "finance": "承認待ち",
           "report": "通貨ごとの合計", "xlsx": "XLSXをダウンロード",
           "perks": "特典", "checkin_trigger": "店舗での初めてのチェックイン"},
}


def _no_english(page, *texts: str) -> None:
    body = page.locator("main").inner_text()
    leaked = [t for t in texts if t in body]
    assert not leaked, f"English left on a Japanese screen: {leaked}"


def _seed_queue() -> None:
    now = timezone.now()
    OutreachFactory(kind="care", priority=80, sla_due_at=now - timedelta(minutes=20),
                    created_at=now - timedelta(hours=1),
                    proposed_text="So sorry about your order, Ren. We've sent you a DM.",
                    mention=MentionFactory(
                        text="My order was wrong again and nobody answers. Disappointed.",
                        detection_label="negative", detection_intent="complaint",
                        detection_reasons=["complaint cue: 'wrong again'"],
                        author=SocialIdentityFactory(handle="@ren", display_name="Ren Ito")))
    OutreachFactory(kind="care", priority=50, sla_due_at=now + timedelta(minutes=40),
                    proposed_text="Yes, Shibuya opens at 7:00 on weekdays!",
                    mention=MentionFactory(text="Does the Shibuya store open before 8?",
                                           detection_intent="question"))
    for n, (handle, name, text, reply, intent, cues) in enumerate([
            ("@aiko", "Aiko Tanaka", "Best cortado in town, thank you @kanshacoffee!",
             "Thank you, Aiko! See you at the roastery soon ☕", "praise",
             ["praise phrase: 'best cortado'"]),
            ("@mei", "佐藤めい", "カンシャ珈琲の抹茶ラテ、最高でした！",
             "めいさん、温かいお言葉ありがとうございます！またお待ちしています。", "praise",
             ["positive words: 最高"]),
            ("@sam", "Sam Lee", "Checked in at Kansha Coffee Kyoto, lovely staff.",
             "Great to have you at Kansha Coffee Kyoto, Sam. Thanks for checking in!",
             "checkin", ["brand mentioned: kansha coffee"])]):
        OutreachFactory(
            mention=MentionFactory(
                text=text, language="ja" if handle == "@mei" else "en",
                detection_intent=intent, detection_reasons=cues,
                author=SocialIdentityFactory(handle=handle, display_name=name)),
            proposed_text=reply, reasons=[f"thank-you for {intent}"],
            created_at=now - timedelta(minutes=10 * n))
    OutreachFactory(kind="reshare", proposed_text="")
    regular = SocialIdentityFactory(handle="@yuki", display_name="Yuki")
    OutreachFactory(kind="dm", mention=None, identity=regular, advocate=regular.advocate,
                    proposed_text="Thanks for coming back! Here is 10% off: KAN-7Q2M-4XPD")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_social_staff_dashboard_and_queue_tabs(journey, staff_user, lang):
    words = WORDS[lang]
    staff_user(SOCIAL_STAFF, f"sora_{lang}", first_name="Sora", language=lang)
    _seed_queue()
    page = journey.page
    journey.login(f"sora_{lang}")

    panel = page.get_by_role("region", name=words["queue"])
    expect(panel.get_by_role("link", name=re.compile(rf"^1 {words['care']}$"))).to_be_visible()
    expect(page).to_have_title(re.compile(r" - Kansha$"))
    journey.step("dashboard", docs=f"dashboard-social-{lang}", full_page=False)

    page.goto(journey.url("/admin/outreach/"))
    tabs = page.get_by_role("navigation", name=re.compile("Kinds of work|作業の種類"))
    counts = {"care": 1, "answers": 1, "thanks": 3, "reshares": 1, "rewards": 1}
    for key, n in counts.items():
        expect(tabs.get_by_role("link", name=re.compile(rf"^{words[key]} {n}$"))).to_be_visible()
    expect(page.locator("[data-queue-row]")).to_have_count(1)  # opens on Care
    expect(page.get_by_role("button", name=words["approve_selected"])).to_be_visible()
    journey.step("queue on care", docs=f"queue-care-{lang}", full_page=False)

    tabs.get_by_role("link", name=re.compile(rf"^{words['thanks']} 3$")).click()
    expect(page.locator("[data-queue-row]")).to_have_count(3)
    if lang == "ja":
        _no_english(page, "Approve selected", "Reject reason", "Outreach queue", "Thank-yous")
    journey.step("queue on thank-yous", docs=f"queue-thanks-{lang}", full_page=False)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_marketing_dashboard_rule_editor_and_ambassador_page(journey, staff_user, lang):
    words = WORDS[lang]
    staff_user(MARKETING, f"yui_{lang}", first_name="Yui", language=lang)
    tote = Perk.objects.create(name="Kansha tote bag", name_ja="カンシャ トートバッグ",
                               kind="swag", stock=3, unit_cost_minor=1200, currency="jpy",
                               description="A canvas tote.", description_ja="キャンバストート。",
                               live=True)
    gold = Tier.objects.create(name="Gold", name_ja="ゴールド", level=1, threshold=250,
                               badge="G", description="Our thanks, in person.",
                               description_ja="感謝の気持ちを、直接。")
    gold.perks.set([tote])
    now = timezone.now()
    for n, (name, acts) in enumerate([("Aiko Tanaka", 5), ("佐藤めい", 3), ("Sam Lee", 2)]):
        person = SocialIdentityFactory(display_name=name).advocate
        person.display_name = name
        person.save()
        for i in range(acts):
            AdvocacyEvent.objects.create(advocate=person, kind="praise", platform="sandbox",
                                         occurred_at=now - timedelta(hours=i + 1),
                                         dedupe_key=f"tour:{lang}:{n}:{i}")
    OutreachFactory(status="sent", sent_at=now - timedelta(hours=2))
    page = journey.page
    journey.login(f"yui_{lang}")

    panel = page.get_by_role("region", name=words["programme"])
    tote_name = "Kansha tote bag" if lang == "en" else "カンシャ トートバッグ"
    expect(panel.get_by_role("listitem").filter(has_text=tote_name)).to_be_visible()
    expect(panel.get_by_role("listitem").first).to_contain_text("Aiko Tanaka")
    journey.step("dashboard", docs=f"dashboard-marketing-{lang}", full_page=False)

    # The rule editor asks for the chosen trigger's fields only.
    page.goto(journey.url("/admin/snippets/rewards/rewardrule/add/"))
    expect(page.get_by_text(words["acts"], exact=True)).to_be_visible()
    expect(page.locator("#id_trigger_min_rating")).to_be_hidden()
    page.fill("#id_name", "Regulars" if lang == "en" else "常連さん")
    journey.step("rule editor: acts in days", docs=f"rule-events-{lang}", full_page=False)
    # A new rule is not offered a review trigger (docs/compliance.md).
    expect(page.locator("#id_trigger option[value=review]")).to_have_count(0)
    page.select_option("#id_trigger", "first_checkin")
    expect(page.locator("#id_trigger_count")).to_be_hidden()
    expect(page.locator("#id_trigger_min_rating")).to_be_hidden()
    expect(page.locator("#id_trigger")).to_contain_text(words["checkin_trigger"])
    if lang == "ja":
        _no_english(page, "Trigger min rating", "Trigger count", "When does it fire")
    journey.step("rule editor: a first check-in", docs=f"rule-checkin-{lang}", full_page=False)

    # The public ambassador page in its language, on a phone.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(journey.url("/ambassadors/" if lang == "en" else "/ambassadors-ja/"))
    perks = page.locator("ul.perks")
    if lang == "ja":
        expect(perks).to_contain_text("カンシャ トートバッグ")
        expect(perks).to_contain_text("グッズ")  # the kind, in Japanese
        expect(perks).not_to_contain_text("Swag")
    else:
        expect(perks).to_contain_text("Kansha tote bag (Swag")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "wider than a phone"
    journey.step("ambassador page on a phone", docs=f"ambassador-phone-{lang}")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_finance_dashboard_and_report(journey, staff_user, lang):
    words = WORDS[lang]
    staff_user(FINANCE, f"ken_{lang}", first_name="Ken", language=lang)
    _seed_program()
    page = journey.page
    journey.login(f"ken_{lang}")

    panel = page.get_by_role("region", name=re.compile("^(Finance|経理)$"))
    expect(panel).to_contain_text(words["finance"])
    expect(panel).to_contain_text("¥" if lang == "en" else "円")  # money in the language
    menu = page.get_by_role("navigation", name=re.compile("Main menu|メインメニュー"))
    for hidden in ("Pages", "Images", "Documents", "ページ", "画像", "ドキュメント"):
        expect(menu.get_by_role("link", name=hidden, exact=True)).to_have_count(0)
    journey.step("dashboard", docs=f"dashboard-finance-{lang}", full_page=False)

    page.goto(journey.url("/admin/kansha-reports/redemptions/"))
    expect(page.get_by_role("heading", name=words["report"])).to_be_visible()
    expect(page.get_by_role("link", name=words["xlsx"])).to_be_visible()
    if lang == "ja":
        _no_english(page, "Totals per currency", "Codes issued", "No rows for these filters")
        expect(page.locator("main")).to_contain_text("円")
    journey.step("redemption report", docs=f"report-{lang}", full_page=False)
