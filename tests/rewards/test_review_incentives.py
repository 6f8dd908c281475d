"""Rewards never depend on a review where the platform forbids it, nor on a rating anywhere.

Google's policy forbids any incentive tied to a review (loyalty points and progress toward a
discount included); the FTC's rule on consumer reviews (16 CFR 465.4) forbids rewards
conditional on a positive review on every platform. See docs/compliance.md.
"""

from __future__ import annotations

import dataclasses
import importlib

import pytest
from django.apps import apps
from django.core.exceptions import ValidationError

from advocates.models import AdvocacyEvent, Outreach
from rewards import services
from rewards.demo import FIRST_VISIT_RULE, _rules
from rewards.models import PointsEntry, RewardGrant, RewardRule, Tier, TierChange
from rewards.wagtail_hooks import RewardRuleViewSet
from tests.advocates.routing_helpers import brand_settings, ingest_and_detect, item
from tests.rewards.conftest import make_advocate, make_event, make_rule


def _google_review(n: int) -> dict:
    return item(n, f"Best cortado in town, the staff at Kansha Coffee are lovely #{n}",
                platform="google", kind="review", rating=5, author_id="g-aiko",
                author_handle="Aiko", author_name="Aiko")


def test_three_google_five_star_reviews_are_thanked_and_earn_nothing(config, now):
    brand_settings(cooldown_days=0)
    regulars = make_rule(trigger_count=3, trigger_days=30)  # counts acts of any kind
    Tier.objects.create(name="Bronze", threshold=1)
    mentions = ingest_and_detect([_google_review(n) for n in (1, 2, 3)])

    thanks = Outreach.objects.filter(dedupe_key__startswith="thank:")
    assert thanks.count() == 3  # the thank-you is still proposed
    # Each thank-you delivered becomes a review event, as `outreach_deliver` records it.
    for n, mention in enumerate(mentions):
        AdvocacyEvent.objects.create(
            advocate=mention.author.advocate, kind="review", mention=mention,
            platform="google", rating=5, occurred_at=now, created_at=now,
            dedupe_key=f"outreach:test-{n}")

    services.events_process_batch(now=now)

    entries = PointsEntry.objects.filter(advocate=mentions[0].author.advocate)
    assert entries.count() == 3  # processed, once each ...
    assert set(entries.values_list("points", flat=True)) == {0}  # ... for no points
    assert "platform policy" in entries.first().reason
    assert not RewardGrant.objects.filter(rule=regulars).exists()  # no rule progress
    assert not TierChange.objects.exists()  # no tier either


def test_google_reviews_do_not_count_toward_a_rule_that_other_acts_complete(config, advocate,
                                                                            now):
    make_rule(trigger_count=3, trigger_days=30)
    for _ in range(2):
        review = make_event(advocate, "review", rating=5, at=now)
        AdvocacyEvent.objects.filter(pk=review.pk).update(platform="google")
    make_event(advocate, "praise", at=now)
    services.events_process_batch(now=now)
    assert not RewardGrant.objects.exists()  # 1 praise counts, 2 Google reviews do not

    make_event(advocate, "checkin", venue="Shibuya", at=now)
    make_event(advocate, "review", rating=5, at=now)  # a sandbox review may count
    services.events_process_batch(now=now)
    assert RewardGrant.objects.count() == 1


@pytest.mark.parametrize("fields", [
    {"trigger": "review", "trigger_min_rating": 4},
    {"trigger": "review", "trigger_min_rating": 1},  # thanked reviews are positive ones
    {"trigger": "events_in_days", "trigger_event_kind": "review"},
])
def test_a_rule_that_depends_on_reviews_or_ratings_cannot_be_saved(db, fields):
    rule = RewardRule(name="Great review", reward_kind="discount", discount_type="percent",
                      percent_off=10, currency="jpy", **fields)
    with pytest.raises(ValidationError) as refused:
        rule.full_clean()
    [(field, [message])] = refused.value.message_dict.items()
    assert field in fields
    assert "16 CFR 465" in message
    assert "positive review" in message


def _rule_form(data, instance):
    return RewardRuleViewSet().get_edit_handler().get_form_class()(data=data, instance=instance)


def test_the_rule_editor_refuses_a_saved_review_rule_with_the_reason(db):
    rule = make_rule(trigger="review", trigger_min_rating=4, live=False)
    form = _rule_form({
        "name": rule.name, "trigger": "review", "trigger_min_rating": "4",
        "trigger_event_kind": "", "min_account_age_days": "0", "min_followers": "0",
        "reward_kind": "discount", "discount_type": "percent", "percent_off": "10",
        "currency": "jpy", "code_expiry_days": "30", "single_use": "on", "period": "month",
        "budget_estimate_minor": "500"}, rule)
    assert not form.is_valid()
    assert list(form.errors) == ["trigger"]
    assert "FTC 16 CFR 465.4" in form.errors["trigger"][0]
    new = _rule_form(None, RewardRule())
    assert "review" not in {value for value, _ in new.fields["trigger"].choices}
    assert "review" not in {value for value, _ in new.fields["trigger_event_kind"].choices}


def test_a_review_rule_that_exists_anyway_never_fires(config, now):
    make_rule(trigger="review", trigger_min_rating=4, period="ever")
    make_rule(trigger="events_in_days", trigger_event_kind="review", trigger_count=1)
    make_event(make_advocate(), "review", rating=5, at=now)
    services.events_process_batch(now=now)
    assert not RewardGrant.objects.exists()


def test_the_demo_rule_is_compliant_and_the_migration_replaces_the_old_one(db):
    assert all(not RewardRule(**fields).compliance_refusal()
               for fields in _rules({"Gold": Tier(name="Gold")}, {"Kansha tote bag": None}))

    old = make_rule(name="Great review: 4 stars or more", trigger="review",
                    trigger_min_rating=4, period="year")
    old.save_revision(clean=False).publish()
    other = make_rule(name="Three reviews", trigger_event_kind="review")
    other.save_revision(clean=False).publish()
    fine = make_rule(name="Regulars")
    migration = importlib.import_module("rewards.migrations.0014_review_rules_refused")
    migration.refuse_review_rules(apps, None)

    old.refresh_from_db()
    assert (old.name, old.trigger, old.live) == (FIRST_VISIT_RULE, "first_checkin", True)
    assert not old.compliance_refusal()
    # The editor opens the latest revision: it shows the compliant rule too.
    assert old.get_latest_revision_as_object().trigger == "first_checkin"
    other.refresh_from_db()
    assert (other.live, other.trigger_event_kind) == (False, "")
    assert other.get_latest_revision_as_object().trigger_event_kind == ""
    fine.refresh_from_db()
    assert fine.live


def test_google_policy_is_what_the_ledger_asks():
    from advocates.policies import GOOGLE, event_may_earn_incentive

    assert not GOOGLE.review_incentives_allowed
    assert not event_may_earn_incentive(kind="review", platform="google")
    assert event_may_earn_incentive(kind="checkin", platform="google")
    assert event_may_earn_incentive(kind="review", platform="sandbox")


def test_the_ledger_and_the_rules_ask_the_policy_not_a_list_of_their_own(config, advocate,
                                                                         now, monkeypatch):
    """Flip the policies: sandbox reviews forbidden, Google reviews allowed. A ledger or a rule
    engine with its own list of platforms ("google") would still pay the one and not the other,
    and this test would fail."""
    from advocates import policies

    monkeypatch.setitem(policies.POLICIES, "sandbox", dataclasses.replace(
        policies.SANDBOX, review_incentives_allowed=False))
    monkeypatch.setitem(policies.POLICIES, "google", dataclasses.replace(
        policies.GOOGLE, review_incentives_allowed=True))
    make_rule(trigger_count=2, trigger_days=30)
    sandbox_review = make_event(advocate, "review", rating=5, at=now)
    google_reviews = [_google(make_event(advocate, "review", rating=5, at=now))
                      for _ in range(2)]

    services.events_process_batch(now=now)

    points = dict(PointsEntry.objects.values_list("event_id", "points"))
    assert points[sandbox_review.pk] == 0
    assert all(points[review.pk] > 0 for review in google_reviews)
    # The two Google reviews count, the sandbox one does not (with a list: 1 of 2, no grant).
    assert RewardGrant.objects.count() == 1


def _google(event):
    AdvocacyEvent.objects.filter(pk=event.pk).update(platform="google")
    event.refresh_from_db()
    return event


def test_the_command_lists_past_grants_the_policy_would_refuse_and_touches_none(config, now):
    """Grants made before the checks: finance gets the ones today's rules would refuse."""
    from io import StringIO

    from django.core.management import call_command

    from rewards.models import GrantStatus

    def grant(advocate, rule, event, key):
        return RewardGrant.objects.create(
            advocate=advocate, rule=rule, period_key=key, status=GrantStatus.ISSUED,
            reward={}, reward_kind="discount", currency="jpy", cost_minor=200,
            trigger_event=event, created_at=now)

    regulars = make_rule(name="Regulars", trigger_count=3, trigger_days=30)
    demo = make_rule(name="First check-in at a store", trigger="first_checkin")
    gold = Tier.objects.create(name="Gold", threshold=30)
    tiered = make_rule(name="Gold reward", trigger="tier_reached", trigger_tier=gold)
    leaner, honest, reviewer = make_advocate(), make_advocate(), make_advocate()
    # Two Google reviews made up the three acts.
    reviews = [_google(make_event(leaner, "review", rating=5, at=now)) for _ in range(2)]
    last = make_event(leaner, "praise", at=now)
    leaned = grant(leaner, regulars, last, "2026-12")
    # Three check-ins, no review: nothing to refuse.
    for _ in range(3):
        make_event(honest, "checkin", venue="Shibuya", at=now)
    fine = grant(honest, regulars, None, "2026-12")
    # The old demo rule, rewritten to first check-ins by the migration, paid for a review.
    old_demo = grant(reviewer, demo, make_event(reviewer, "review", rating=4, at=now), "shibuya")
    # Gold reached with points from Google reviews.
    PointsEntry.objects.create(advocate=leaner, event=reviews[0], kind="review",
                               platform="google", points=25, reason="review", occurred_at=now,
                               day=now.date())
    PointsEntry.objects.create(advocate=leaner, event=last, kind="praise", platform="sandbox",
                               points=10, reason="praise", occurred_at=now, day=now.date())
    golden = grant(leaner, tiered, last, "ever")
    before = list(RewardGrant.objects.order_by("id").values())

    out = StringIO()
    call_command("grants_policy_review", stdout=out)

    text = out.getvalue()
    assert f"grant #{leaned.pk} " in text
    assert "2 review(s) where the platform forbids review incentives counted toward it: " \
           "1 of 3 acts without them" in text
    assert f"grant #{old_demo.pk} " in text
    assert "a review on Sandbox fired it (FTC 16 CFR 465.4)" in text
    assert f"grant #{golden.pk} " in text
    assert "25 of its points came from reviews" in text
    assert "10 of 30 for Gold" in text
    assert f"grant #{fine.pk} " not in text
    assert text.strip().endswith("3 grant(s) the current policy would have refused.")
    assert list(RewardGrant.objects.order_by("id").values()) == before  # nothing touched

    later = StringIO()
    call_command("grants_policy_review", "--since", f"{now.year + 1}-01-01", stdout=later)
    assert later.getvalue().strip() == "0 grant(s) the current policy would have refused."
