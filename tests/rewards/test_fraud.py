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
