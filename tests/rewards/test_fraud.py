"""Fraud guards: flagged advocates' grants wait for review; employees never get rewards."""

from __future__ import annotations

from datetime import timedelta

from rewards.models import FraudFlag, GrantStatus, RewardGrant
from tests.rewards.conftest import make_advocate, make_event, make_rule


def _run(process, now):
    make_rule(trigger_count=1)
    return process(now=now)


def test_new_social_account_is_flagged(config, now, process):
    config.min_account_age_days = 14
    config.save()
    advocate = make_advocate(account_created_at=now - timedelta(days=3))
    make_event(advocate, at=now)
    _run(process, now)
    assert FraudFlag.objects.get(advocate=advocate).reason == "new_account"
    assert RewardGrant.objects.get().status == GrantStatus.PENDING_APPROVAL


def test_low_follower_account_is_flagged(config, now, process):
    config.min_followers = 50
    config.save()
    advocate = make_advocate(follower_count=3)
    make_event(advocate, at=now)
    _run(process, now)
    flag = FraudFlag.objects.get(advocate=advocate)
    assert (flag.reason, flag.detail) == ("low_followers", {"followers": 3})
    grant = RewardGrant.objects.get()
    assert grant.status == GrantStatus.PENDING_APPROVAL
    assert grant.review_reasons == ["fraud:low_followers"]


def test_same_text_from_several_identities_flags_them_all(config, now, process):
    config.duplicate_text_identities = 3
    config.save()
    text = "Kansha Coffee is the best coffee in Tokyo, go there now!!"
    ring = [make_advocate() for _ in range(3)]
    honest = make_advocate()
    for a in ring:
        make_event(a, at=now, text=text)
    make_event(honest, at=now, text="Lovely hojicha latte at the Ginza store today")
    _run(process, now)
    flagged = set(FraudFlag.objects.values_list("advocate_id", flat=True))
    assert flagged == {a.pk for a in ring}
    assert RewardGrant.objects.get(advocate=honest).status == GrantStatus.ISSUED


def test_employee_handles_get_no_reward(config, now, process):
    config.employee_handles = "@barista_ken\n"
    config.save()
    employee = make_advocate(handle="@Barista_Ken")
    make_event(employee, at=now)
    _run(process, now)
    assert FraudFlag.objects.get(advocate=employee).reason == "employee"
    assert not RewardGrant.objects.exists()


def test_a_cleared_flag_no_longer_holds_grants(config, now, process):
    config.min_followers = 50
    config.save()
    advocate = make_advocate(follower_count=3)
    make_event(advocate, at=now)
    _run(process, now)
    FraudFlag.objects.update(cleared_at=now)
    config.min_followers = 0
    config.save()
    make_rule(trigger_count=1, name="Second rule")
    make_event(advocate, at=now)
    process(now=now)
    assert RewardGrant.objects.get(rule__name="Second rule").status == GrantStatus.ISSUED


# --- velocity: counted by when the advocate acted, not when staff approved the thank-you ---


def test_a_burst_of_posts_is_flagged_even_when_approvals_came_days_apart(config, now, process):
    config.velocity_max_per_hour = 3
    config.save()
    advocate = make_advocate()
    # Five posts within 40 minutes last week; staff approved their thank-yous one a day.
    burst = now - timedelta(days=7)
    for n in range(5):
        make_event(advocate, at=burst + timedelta(minutes=10 * n),
                   created_at=now - timedelta(days=5 - n))
    _run(process, now)
    flag = FraudFlag.objects.get(advocate=advocate)
    assert flag.reason == "velocity"
    assert flag.detail["events_in_an_hour"] == 5
    assert RewardGrant.objects.get().status == GrantStatus.PENDING_APPROVAL


def test_posts_spread_over_days_are_not_flagged_when_staff_approve_them_together(
        config, now, process):
    config.velocity_max_per_hour = 3
    config.save()
    advocate = make_advocate()
    # One post a day for five days; the thank-yous were all approved in the last ten minutes.
    for n in range(5):
        make_event(advocate, at=now - timedelta(days=n + 1),
                   created_at=now - timedelta(minutes=n))
    _run(process, now)
    assert not FraudFlag.objects.exists()
    assert RewardGrant.objects.get().status == GrantStatus.ISSUED


def test_only_an_hour_holding_a_new_event_counts(config, now, process):
    config.velocity_max_per_hour = 3
    config.save()
    advocate = make_advocate()
    old_burst = now - timedelta(days=30)
    for n in range(5):
        make_event(advocate, at=old_burst + timedelta(minutes=n))
    process(now=now)  # no rule yet: the old burst is flagged once, then cleared by staff
    FraudFlag.objects.update(cleared_at=now)
    make_event(advocate, at=now)
    _run(process, now)
    assert not FraudFlag.objects.filter(cleared_at__isnull=True).exists()


def test_an_advocate_already_flagged_for_velocity_is_not_counted_again(config, now, process):
    config.velocity_max_per_hour = 3
    config.save()
    advocate = make_advocate()
    for n in range(5):
        make_event(advocate, at=now - timedelta(minutes=n))
    _run(process, now)
    first = FraudFlag.objects.get(advocate=advocate)
    for n in range(5):
        make_event(advocate, at=now - timedelta(minutes=30 + n))
    from rewards import fraud

    facts = fraud.advocate_facts(advocate_ids=[advocate.pk])
    assert fraud.velocity_excess(event_ids=[], limit=3) == {}
    process(now=now)
    assert list(FraudFlag.objects.all()) == [first]  # still the one open flag
    assert facts[advocate.pk].open_flags == ["velocity"]
