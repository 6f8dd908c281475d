"""Disclosure watch: a rewarded advocate's later posts are checked for #ad / #PR / 広告, and an
undisclosed one gets one friendly private reminder a week at most (docs/compliance.md)."""

from __future__ import annotations

import importlib
from datetime import timedelta

import pytest
from django.apps import apps as django_apps
from django.core.exceptions import ValidationError

from advocates.models import (
    Advocate,
    Outreach,
    OutreachKind,
    OutreachStatus,
    ReplyTemplate,
    ReplyTemplateVariant,
    SandboxPost,
)
from advocates.services import outreach_approve, outreach_deliver
from advocates.services.templates import BUILT_IN_TEXTS
from rewards.models import DisclosureCheck, GrantStatus, RewardGrant, RewardsSettings
from rewards.services.disclosure import disclosure_marker_found, disclosures_check
from rewards.services.grants import grants_mark_delivered
from tests.advocates.outreach_helpers import (
    default_data,  # noqa: F401
    propose,
)
from tests.factories import MentionFactory
from tests.rewards.conftest import make_advocate, make_rule

UNDISCLOSED = "The oat flat white at @kanshacoffee is the best in Shibuya!"


@pytest.fixture
def rewarded(db, now):
    """Aiko's reward reached her a day ago."""
    advocate = make_advocate(display_name="Aiko Tanaka")
    RewardGrant.objects.create(
        advocate=advocate, rule=make_rule(), period_key="2026-12", reward={},
        reward_kind="discount", currency="jpy", status=GrantStatus.DELIVERED,
        created_at=now - timedelta(days=2), delivered_at=now - timedelta(days=1))
    return advocate


def _post(advocate, text=UNDISCLOSED, *, at, language="en", label="positive", **fields):
    return MentionFactory(author=advocate.identities.get(), text=text, language=language,
                          posted_at=at, detection_label=label, **fields)


def _reminders():
    return Outreach.objects.filter(kind=OutreachKind.DISCLOSURE)


def test_an_undisclosed_post_after_a_reward_yields_exactly_one_reminder(rewarded, now):
    first = _post(rewarded, at=now - timedelta(hours=3))
    _post(rewarded, "Second cortado of the day @kanshacoffee", at=now - timedelta(hours=2))

    counts = disclosures_check(now=now)
    disclosures_check(now=now)  # a re-run checks nothing twice
    _post(rewarded, "カンシャ珈琲のラテ最高でした", language="ja", at=now - timedelta(hours=1))
    disclosures_check(now=now + timedelta(days=2))  # the same week: no second reminder

    assert counts == {"checked": 2, "disclosed": 0, "reminders": 1, "no_private_channel": 0}
    (reminder,) = _reminders()
    assert (reminder.status, reminder.mention, reminder.identity) == (
        OutreachStatus.PROPOSED, first, rewarded.identities.get())
    assert reminder.proposed_text.startswith("Hi Aiko, thank you for posting about Kansha")
    assert "#ad or #PR" in reminder.proposed_text
    assert DisclosureCheck.objects.filter(advocate=rewarded, disclosed=False).count() == 3
    assert DisclosureCheck.objects.get(mention=first).reminder == reminder


def test_a_week_later_another_undisclosed_post_is_reminded_again_in_its_language(rewarded,
                                                                                 now):
    _post(rewarded, at=now - timedelta(hours=3))
    disclosures_check(now=now)
    later = now + timedelta(days=8)
    _post(rewarded, "カンシャ珈琲のラテ最高でした", language="ja", at=later - timedelta(hours=1))

    disclosures_check(now=later)

    assert _reminders().count() == 2
    newest = _reminders().order_by("-created_at").first()
    assert newest.proposed_text.startswith("Aikoさん、いつもKansha Coffeeについて")
    assert "#PR" in newest.proposed_text


@pytest.mark.parametrize(("text", "language", "marker"), [
    ("Loving this latte #ad", "en", "#ad"),
    ("Loving this latte #Sponsored", "en", "#sponsored"),
    ("Thanks @kanshacoffee for the gift! #gifted", "en", "#gifted"),
    ("カンシャ珈琲の新作ラテ「#PR」", "ja", "#PR"),
    ("カンシャ珈琲の新作ラテ ＃提供", "ja", "#提供"),
    ("カンシャ珈琲の新作ラテ #プロモーション", "ja", "#プロモーション"),
    ("広告：カンシャ珈琲の新作ラテがおいしい", "ja", "広告"),
    ("The new latte is great #PR", "ja", "#PR"),
    ("新作ラテおいしい #ad", "ja", "#ad"),  # an English marker counts in a Japanese post
])
def test_a_disclosed_post_yields_no_reminder(rewarded, now, text, language, marker):
    post = _post(rewarded, text, language=language, at=now - timedelta(hours=1))

    counts = disclosures_check(now=now)

    assert counts["disclosed"] == 1
    assert not _reminders().exists()
    check = DisclosureCheck.objects.get(mention=post)
    assert check.disclosed
    assert check.marker.lower() == marker.lower()


@pytest.mark.parametrize("text", [
    "What an #adventure at @kanshacoffee", "#PRO tips: the cold brew", "I made it ad hoc",
    "Loving this latte#ad",
])
def test_lookalikes_are_not_disclosures(db, text):
    markers = RewardsSettings().disclosure_markers("en")
    assert disclosure_marker_found(text, markers) == ""


def test_markers_are_configured_per_language_in_settings(rewarded, now):
    config = RewardsSettings.load()
    config.disclosure_markers_en = "#collab"
    config.save()
    _post(rewarded, "Our #collab with @kanshacoffee", at=now - timedelta(hours=2))
    _post(rewarded, "Loving this latte #ad", at=now - timedelta(hours=1))

    counts = disclosures_check(now=now)

    assert (counts["disclosed"], counts["reminders"]) == (1, 1)


def test_what_is_not_watched(rewarded, now):
    _post(rewarded, at=now - timedelta(days=3))  # before the reward reached her
    _post(rewarded, "The latte was cold today", label="negative", at=now - timedelta(hours=1))
    stranger = make_advocate()
    _post(stranger, at=now - timedelta(hours=1))  # never rewarded
    long_ago = make_advocate()
    RewardGrant.objects.create(
        advocate=long_ago, rule=make_rule(), period_key="old", reward={},
        reward_kind="discount", currency="jpy", status=GrantStatus.REDEEMED,
        delivered_at=now - timedelta(days=120))  # outside the 90-day window
    _post(long_ago, at=now - timedelta(hours=1))
    pending = make_advocate()
    RewardGrant.objects.create(
        advocate=pending, rule=make_rule(), period_key="p", reward={}, reward_kind="discount",
        currency="jpy", status=GrantStatus.PENDING_APPROVAL)  # not theirs yet
    _post(pending, at=now - timedelta(hours=1))

    assert disclosures_check(now=now)["checked"] == 0
    assert not DisclosureCheck.objects.exists()
    assert not _reminders().exists()


def test_no_public_reminder_where_the_advocate_cannot_be_messaged(db, now):
    reviewer = make_advocate(platform="google")
    RewardGrant.objects.create(
        advocate=reviewer, rule=make_rule(), period_key="g", reward={}, reward_kind="discount",
        currency="jpy", status=GrantStatus.DELIVERED, delivered_at=now - timedelta(days=1))
    _post(reviewer, at=now - timedelta(hours=1), platform="google", kind="review")

    counts = disclosures_check(now=now)

    assert (counts["checked"], counts["no_private_channel"], counts["reminders"]) == (1, 1, 0)
    assert not _reminders().exists()


@pytest.mark.django_db
@pytest.mark.usefixtures("default_data")
def test_an_approved_reminder_goes_out_as_a_private_message(rewarded, now,
                                                            django_user_model):
    _post(rewarded, at=now - timedelta(hours=1))
    disclosures_check(now=now)
    reminder = _reminders().get()

    outreach_approve(outreach_id=reminder.pk, user=django_user_model.objects.create_user("sora"))
    sent = outreach_deliver(outreach_id=reminder.pk)

    assert sent.status == OutreachStatus.SENT
    posted = SandboxPost.objects.get()
    assert posted.kind == "dm"
    assert posted.text == reminder.proposed_text
    assert posted.in_reply_to == ""  # not a public reply under her post


def test_a_rule_can_pause_rewards_for_someone_who_ignored_two_reminders(config, rewarded,
                                                                        now):
    from rewards import services
    from rewards.fraud import advocate_facts
    from tests.rewards.conftest import make_event

    for week in (0, 1):
        at = now + timedelta(days=8 * week)
        _post(rewarded, at=at - timedelta(hours=2))
        disclosures_check(now=at - timedelta(hours=1))
        assert Outreach.objects.filter(kind=OutreachKind.DISCLOSURE).update(
            status=OutreachStatus.SENT, sent_at=at) == week + 1
        assert _reminders().filter(status=OutreachStatus.SENT).count() == week + 1
        _post(rewarded, "Still the best latte @kanshacoffee", at=at + timedelta(hours=1))
        disclosures_check(now=at + timedelta(hours=2))  # posted again without #ad: ignored
    assert advocate_facts(advocate_ids=[rewarded.pk])[rewarded.pk].ignored_reminders == 2

    paused = make_rule(name="Thanks for visiting", trigger_count=1,
                       pause_after_ignored_reminders=True)
    other = make_rule(name="Regulars", trigger_count=1)
    make_event(rewarded, "checkin", venue="Shibuya", at=now)
    services.events_process_batch(now=now)

    assert not RewardGrant.objects.filter(rule=paused).exists()
    assert RewardGrant.objects.filter(rule=other, advocate=rewarded).exists()


def test_one_ignored_reminder_does_not_pause(config, rewarded, now):
    from rewards.fraud import advocate_facts

    _post(rewarded, at=now - timedelta(hours=2))
    disclosures_check(now=now - timedelta(hours=1))
    Outreach.objects.filter(kind=OutreachKind.DISCLOSURE).update(status=OutreachStatus.SENT,
                                                                 sent_at=now)
    _post(rewarded, "Loving it #ad", at=now + timedelta(hours=1))  # disclosed after all
    disclosures_check(now=now + timedelta(hours=2))
    assert advocate_facts(advocate_ids=[rewarded.pk])[rewarded.pk].ignored_reminders == 0


def test_the_ambassador_report_has_a_compliance_section(rewarded, now):
    from rewards.reports import ReportParams, ambassador_report

    other = make_advocate(display_name="Ren Sato")
    RewardGrant.objects.create(
        advocate=other, rule=make_rule(), period_key="r", reward={}, reward_kind="discount",
        currency="jpy", status=GrantStatus.DELIVERED, delivered_at=now - timedelta(days=1))
    _post(rewarded, at=now - timedelta(hours=3))
    _post(rewarded, "Second latte @kanshacoffee", at=now - timedelta(hours=2))
    _post(other, "Loving it #ad", at=now - timedelta(hours=2))
    disclosures_check(now=now)
    Outreach.objects.filter(kind=OutreachKind.DISCLOSURE).update(status=OutreachStatus.SENT)

    report = ambassador_report(ReportParams(now.date() - timedelta(days=1), now.date()),
                               direct=True)

    summary = report.sections["disclosure"].frame
    assert summary[["rewarded_posts", "disclosed", "reminders", "reminders_sent"]].sum(
        ).to_dict() == {"rewarded_posts": 3, "disclosed": 1, "reminders": 1,
                        "reminders_sent": 1}
    assert list(summary["disclosed_share"]) == [0.3333]
    (row,) = report.sections["offenders"].frame.to_dict("records")
    assert row == {"advocate_id": rewarded.pk, "advocate": rewarded.display_name,
                   "undisclosed": 2, "reminders_sent": 1}


# --- the reminder's words are a reply template marketing edits --------------------------------
@pytest.mark.usefixtures("db", "default_data")
def test_the_reminder_is_marketings_disclosure_template_in_the_posts_language(rewarded, now):
    ja = ReplyTemplate.objects.get(purpose="disclosure", language="ja", live=True)
    assert ja.variants.get().text == BUILT_IN_TEXTS["disclosure"]["ja"]  # shipped as default
    ReplyTemplateVariant.objects.filter(template=ja).update(
        text="{first_name}さん、{brand}の特典について投稿に「#PR」を添えてください。")
    _post(rewarded, "カンシャ珈琲のラテ最高でした", language="ja", at=now - timedelta(hours=1))

    disclosures_check(now=now)

    reminder = _reminders().get()
    assert reminder.proposed_text == ("Aikoさん、Kansha Coffeeの特典について投稿に「#PR」を"
                                      "添えてください。")
    assert (reminder.template_key, reminder.template_variant) == ("disclosure/ja", 1)


@pytest.mark.usefixtures("db", "default_data")
def test_without_a_live_disclosure_template_the_built_in_words_remind(rewarded, now):
    ReplyTemplate.objects.filter(purpose="disclosure").update(live=False)
    _post(rewarded, at=now - timedelta(hours=1))

    disclosures_check(now=now)

    reminder = _reminders().get()
    assert reminder.proposed_text == BUILT_IN_TEXTS["disclosure"]["en"].format(
        first_name="Aiko", brand="Kansha Coffee")
    assert (reminder.template_key, reminder.template_variant) == ("", None)


def test_a_disclosure_template_with_an_unknown_variable_cannot_be_saved(db):
    template = ReplyTemplate.objects.create(name="Nudge", purpose="disclosure", language="en")
    variant = ReplyTemplateVariant(template=template, text="Hi {first_name}, code {code}")
    with pytest.raises(ValidationError, match="Unknown variable"):
        variant.full_clean()


# --- a reshare of a rewarded advocate's post says so -----------------------------------------
@pytest.mark.usefixtures("db", "default_data")
def test_a_reward_delivered_after_a_reshare_was_proposed_still_puts_the_line_on_it(
        db, now, django_user_model):
    """The reshare was proposed before the reward (no line then); the reward's message is sent,
    `grants_mark_delivered` notes it on the advocate, and delivery adds the disclosure line."""
    aiko = make_advocate(display_name="Aiko Tanaka", handle="@aiko_cafe")
    post = _post(aiko, "Best flat white in Shibuya @kanshacoffee", at=now - timedelta(hours=2))
    reshare = propose(OutreachKind.RESHARE, mention=post, text="")
    assert reshare.proposed_text == ""
    message = propose(OutreachKind.DM, mention=post, text="Here is your code",
                      dedupe_key="grant-message")
    RewardGrant.objects.create(
        advocate=aiko, rule=make_rule(), period_key="p", reward={}, reward_kind="discount",
        currency="jpy", status=GrantStatus.ISSUED, outreach=message)
    Outreach.objects.filter(pk=message.pk).update(status="sent", sent_at=now)

    assert grants_mark_delivered(now=now) == 1
    aiko.refresh_from_db()
    assert aiko.reward_received_at == now

    outreach_approve(outreach_id=reshare.pk, user=django_user_model.objects.create_user("sora"))
    sent = outreach_deliver(outreach_id=reshare.pk)

    assert sent.status == OutreachStatus.SENT
    line = "#ad @aiko_cafe has received a reward from Kansha Coffee."
    assert sent.final_text == line
    assert SandboxPost.objects.get(kind="reshare").text == (
        f"{line}\n\nBest flat white in Shibuya @kanshacoffee")


def test_advocates_rewarded_before_the_upgrade_are_noted_by_the_backfill(rewarded, now):
    Advocate.objects.update(reward_received_at=None)

    importlib.import_module("rewards.migrations.0019_reward_received_backfill").backfill(
        django_apps, None)

    rewarded.refresh_from_db()
    assert rewarded.reward_received_at == now - timedelta(days=1)
    assert not Advocate.objects.exclude(pk=rewarded.pk).exclude(
        reward_received_at=None).exists()
