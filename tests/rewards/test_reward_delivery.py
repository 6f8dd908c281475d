"""Rewards are delivered in private only: never a code in a public reply, never a second
owner reply replacing the thank-you on a Google review."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from advocates.models import AdvocacyEvent, BrandAccount, Outreach
from rewards import services
from rewards.models import GrantStatus, RewardGrant
from tests.factories import AdvocateFactory, MentionFactory, SocialIdentityFactory
from tests.rewards.conftest import make_rule

NO_DM = ["google", "foursquare"]


def _earned_on(platform, *, language="en", advocate=None):
    """An advocate whose reward was earned by a post on `platform` (already thanked there)."""
    advocate = advocate or AdvocateFactory()
    identity = SocialIdentityFactory(advocate=advocate, platform=platform)
    mention = MentionFactory(author=identity, platform=platform, language=language,
                             kind="review" if platform == "google" else "checkin",
                             rating=5 if platform == "google" else None)
    event = AdvocacyEvent.objects.create(
        advocate=advocate, kind="review" if platform == "google" else "checkin",
        mention=mention, platform=platform, occurred_at=datetime.now(UTC),
        dedupe_key=f"thanked:{mention.pk}")
    return advocate, event


def _issue(advocate, event):
    grant = services.grant_create(rule=make_rule(trigger_count=1), advocate_id=advocate.pk,
                                  trigger_event_id=event.pk)
    services.grant_issue(grant_id=grant.pk)
    grant.refresh_from_db()
    return grant


@pytest.mark.parametrize("platform", NO_DM)
def test_no_public_message_when_the_advocate_can_only_be_answered_in_public(
        config, platform):
    advocate, event = _earned_on(platform)

    grant = _issue(advocate, event)

    assert grant.status == GrantStatus.ISSUED
    assert grant.code.code  # the code exists, for staff and a later private message
    assert not Outreach.objects.filter(advocate=advocate).exists()  # no reply at all
    assert grant.outreach_id is None
    assert grant.private_channel_wait_since is not None


@pytest.mark.parametrize("platform", NO_DM)
def test_the_code_goes_by_dm_to_the_advocates_other_account(config, platform):
    advocate, event = _earned_on(platform, language="ja")
    sandbox = SocialIdentityFactory(advocate=advocate, platform="sandbox")

    grant = _issue(advocate, event)

    outreach = Outreach.objects.get(dedupe_key=f"grant:{grant.pk}")
    assert (outreach.kind, outreach.platform, outreach.identity, outreach.mention) == (
        "dm", "sandbox", sandbox, None)
    assert grant.code.code in outreach.proposed_text
    assert "さん" in outreach.proposed_text  # in the language of the post that earned it
    assert grant.private_channel_wait_since is None


def test_an_account_on_a_platform_we_do_not_run_is_no_private_channel(config):
    advocate, event = _earned_on("google")
    SocialIdentityFactory(advocate=advocate, platform="x")  # no active X brand account
    BrandAccount.objects.filter(platform="x").update(active=False)
    grant = _issue(advocate, event)
    assert not Outreach.objects.filter(advocate=advocate).exists()
    assert grant.private_channel_wait_since is not None


def test_a_waiting_reward_is_proposed_once_a_private_channel_appears(config):
    advocate, event = _earned_on("google")
    grant = _issue(advocate, event)
    other, other_event = _earned_on("sandbox")
    pending = RewardGrant.objects.create(
        advocate=other, rule=grant.rule, period_key="other", status=GrantStatus.ISSUED,
        reward=grant.reward, reward_kind="discount", currency="jpy",
        trigger_event=other_event)

    # The sweep proposes the other grant's message and leaves the waiting one alone.
    assert services.grants_message_missing() == 1
    assert Outreach.objects.filter(dedupe_key=f"grant:{pending.pk}").exists()
    assert services.grants_message_missing() == 0

    # The advocate messages us from the sandbox (an identity merged into them).
    SocialIdentityFactory(advocate=advocate, platform="sandbox")
    assert services.grants_message_missing() == 1
    grant.refresh_from_db()
    assert grant.outreach.kind == "dm"
    assert grant.code.code in grant.outreach.proposed_text
    assert grant.private_channel_wait_since is None


def test_staff_see_the_waiting_rewards(config, client):
    advocate, event = _earned_on("google")
    grant = _issue(advocate, event)
    client.force_login(get_user_model().objects.create_superuser("boss", "b@example.com", "pw"))

    dashboard = client.get(reverse("wagtailadmin_home")).content.decode()
    assert "Rewards waiting for a private channel" in dashboard
    assert reverse("wagtailsnippets_rewards_rewardgrant:inspect", args=[grant.pk]) in dashboard
    listing = client.get(reverse("wagtailsnippets_rewards_rewardgrant:list")).content.decode()
    assert "awaiting a private channel since" in listing
