"""The admin home: one dashboard per role, every number a link to the list behind it."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from wagtail.users.models import UserProfile

from advocates import selectors
from advocates.models import AdvocacyEvent
from rewards import services
from rewards.models import Perk, RewardsSettings
from tests.factories import AdvocateFactory, MentionFactory, OutreachFactory
from tests.rewards.conftest import make_advocate, make_rule
from tests.roles import FINANCE, MARKETING, SOCIAL_STAFF, user_in_role

pytestmark = pytest.mark.django_db


def _care(due_in: timedelta, intent="complaint", **kwargs):
    return OutreachFactory(kind="care", sla_due_at=timezone.now() + due_in,
                           mention=MentionFactory(detection_intent=intent), **kwargs)


@pytest.fixture
def waiting():
    OutreachFactory.create_batch(3)
    OutreachFactory(kind="reshare")
    OutreachFactory(status="sent")  # not pending
    _care(timedelta(minutes=30))
    _care(-timedelta(minutes=5))
    _care(-timedelta(hours=2))
    _care(timedelta(hours=3), intent="question")
    _care(-timedelta(hours=2), status="rejected")  # decided, so not overdue


def _home(role: str, *, language: str = "") -> str:
    user = user_in_role(role)
    if language:
        profile = UserProfile.get_for_user(user)
        profile.preferred_language = language
        profile.save()
    client = Client()
    client.force_login(user)
    return client.get(reverse("wagtailadmin_home")).content.decode()


def _card(html: str, label: str) -> tuple[str, str]:
    """(value, href) of the dashboard card with this label."""
    match = re.search(r'<a class="kansha-card[^"]*" href="([^"]+)">\s*<span class="kansha-card'
                      r'__value">([^<]+)</span>\s*<span class="kansha-card__label">'
                      + re.escape(label) + "</span>", html)
    assert match, f"no card {label!r} on the dashboard"
    return match.group(2), match.group(1).replace("&amp;", "&")


def test_counts_pending_thank_yous_and_overdue_care(waiting):
    counts = selectors.outreach_queue_counts()
    assert (counts.pending_thanks, counts.pending_care, counts.overdue_care,
            counts.due_soon_care) == (4, 4, 2, 1)


def test_social_staff_see_care_the_queue_by_tab_and_today(waiting):
    html = _home(SOCIAL_STAFF)

    assert _card(html, "overdue") == ("2", "/admin/outreach/?tab=care&sla=overdue")
    assert _card(html, "due within the hour") == ("1", "/admin/outreach/?tab=care&sla=due_soon")
    assert _card(html, "Care") == ("3", "/admin/outreach/?tab=care")
    assert _card(html, "Answers") == ("1", "/admin/outreach/?tab=answers")
    assert _card(html, "Thank-yous") == ("3", "/admin/outreach/?tab=thanks")
    assert _card(html, "Reshares") == ("1", "/admin/outreach/?tab=reshares")
    assert _card(html, "Rewards") == ("0", "/admin/outreach/?tab=rewards")
    assert _card(html, "rejected")[1] == "/admin/outreach/?status=rejected&decided=today"
    assert "Programme health" not in html
    assert "Approvals waiting" not in html


def test_each_card_leads_to_the_same_number_of_rows(waiting):
    client = Client()
    client.force_login(user_in_role(SOCIAL_STAFF))
    html = client.get(reverse("wagtailadmin_home")).content.decode()
    for label in ("overdue", "due within the hour", "Care", "Answers", "Thank-yous",
                  "Reshares"):
        value, url = _card(html, label)
        page = client.get(url).context["page"]
        assert len(page.items) == int(value), label


def test_marketing_sees_programme_health():
    Perk.objects.create(name="Enamel pin", stock=2, live=True)
    Perk.objects.create(name="Plenty of stickers", stock=500, live=True)
    star = AdvocateFactory(display_name="Mika")
    for n in range(3):
        AdvocacyEvent.objects.create(advocate=star, kind="praise", platform="x",
                                     occurred_at=timezone.now(), dedupe_key=f"e{n}")

    html = _home(MARKETING)

    assert "Programme health" in html
    assert _card(html, "active in the last 30 days")[0] == "1"
    assert "Mika" in html
    assert "3 acts of advocacy" in html
    assert "Enamel pin" in html
    assert "2 left" in html
    assert "Plenty of stickers" not in html
    assert "No rule is waiting for finance" in html
    assert "Your queue" not in html
    assert "Approvals waiting" not in html


def test_marketing_in_japanese_sees_a_perks_japanese_name():
    Perk.objects.create(name="Enamel pin", name_ja="エナメルピン", stock=2, live=True)
    html = _home(MARKETING, language="ja")
    assert "エナメルピン" in html
    assert "Enamel pin" not in html


def test_finance_sees_approvals_redemptions_and_liability():
    relaxed = RewardsSettings.load()
    relaxed.velocity_max_per_hour = relaxed.min_account_age_days = relaxed.min_followers = 0
    relaxed.duplicate_text_identities = 0
    relaxed.save()
    rule = make_rule(trigger_count=1, finance_approval_above_minor=0,
                     discount_type="amount", percent_off=None, amount_off_minor=200)
    services.grant_create(rule=rule, advocate_id=make_advocate().pk)

    html = _home(FINANCE)

    assert _card(html, "grants to approve") == (
        "1", "/admin/snippets/rewards/rewardgrant/?status=pending_approval")
    assert "Redemptions this month" in html
    assert "Liability now" in html
    assert reverse("kansha_reports:liability") in html
    assert "Your queue" not in html
    assert "Programme health" not in html
