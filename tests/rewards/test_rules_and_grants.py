"""Reward rules fire grants once per period, within eligibility, budget and stock."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection

from advocates.models import Outreach
from rewards import services
from rewards.models import (
    DiscountCode,
    FraudFlag,
    GrantStatus,
    Perk,
    PerkFulfilment,
    RewardGrant,
    RewardSnapshot,
    RuleBudget,
    Tier,
    TierChange,
)
from tests.rewards.conftest import make_advocate, make_event, make_rule


def test_three_events_in_thirty_days_fire_one_grant_per_month(config, advocate, now):
    rule = make_rule(trigger_count=3, trigger_days=30)
    for d in (1, 2):
        make_event(advocate, at=now - timedelta(days=d))
    services.events_process_batch(now=now)
    assert not RewardGrant.objects.exists()

    make_event(advocate, at=now)
    make_event(advocate, at=now)  # a fourth in the same month fires nothing new
    services.events_process_batch(now=now)

    grant = RewardGrant.objects.get()
    assert (grant.rule, grant.advocate, grant.period_key) == (rule, advocate, f"{now:%Y-%m}")
    assert grant.reward["percent_off"] == 10


def test_only_live_rules_fire(config, advocate, now):
    make_rule(trigger_count=1, live=False)
    make_event(advocate, at=now)
    services.events_process_batch(now=now)
    assert not RewardGrant.objects.exists()


def test_approved_grant_gets_a_local_code_and_a_message_in_the_queue(
        config, advocate, now, process):
    make_rule(trigger_count=1, percent_off=15, code_expiry_days=14)
    make_event(advocate, at=now)
    process(now=now)  # eager Celery: issued after commit

    grant = RewardGrant.objects.get()
    assert grant.status == GrantStatus.ISSUED
    code = DiscountCode.objects.get(grant=grant)
    assert code.provider == "local"
    assert code.max_redemptions == 1
    assert not set(code.code.replace("KAN-", "").replace("-", "")) & set("01OIL")
    outreach = Outreach.objects.get(dedupe_key=f"grant:{grant.pk}")
    assert outreach.status == "proposed"
    assert outreach.kind == "dm"
    assert code.code in outreach.proposed_text
    assert "15% off" in outreach.proposed_text
    assert grant.outreach_id == outreach.pk


def test_grant_becomes_delivered_when_its_message_was_sent(config, advocate, now, process):
    make_rule(trigger_count=1)
    make_event(advocate, at=now)
    process(now=now)
    grant = RewardGrant.objects.get()
    Outreach.objects.filter(pk=grant.outreach_id).update(status="sent", sent_at=now)

    assert services.grants_mark_delivered() == 1
    grant.refresh_from_db()
    assert grant.status == GrantStatus.DELIVERED
    assert grant.delivered_at == now


def test_first_checkin_at_each_venue_fires_once_per_venue(config, advocate, now):
    make_rule(trigger="first_checkin")
    make_event(advocate, "checkin", venue="Shibuya", at=now)
    services.events_process_batch(now=now)
    make_event(advocate, "checkin", venue="shibuya ", at=now)  # same venue again
    make_event(advocate, "checkin", venue="Ginza", at=now)
    services.events_process_batch(now=now)
    assert RewardGrant.objects.count() == 2


def test_reaching_a_tier_fires_the_tier_rule_and_records_the_change(config, advocate, now):
    silver = Tier.objects.create(name="Silver", threshold=20, window_days=90)
    rule = make_rule(trigger="tier_reached", trigger_tier=silver, period="ever")
    make_event(advocate, at=now)
    services.events_process_batch(now=now)
    assert not RewardGrant.objects.exists()
    make_event(advocate, at=now)
    services.events_process_batch(now=now)

    change = TierChange.objects.get()
    assert (change.from_tier, change.to_tier, change.direction) == (None, silver, "up")
    grant = RewardGrant.objects.get(rule=rule)
    assert grant.tier == silver


def test_tier_is_demoted_when_windowed_points_lapse(config, advocate, now):
    silver = Tier.objects.create(name="Silver", threshold=20, window_days=30)
    make_event(advocate, at=now - timedelta(days=25))
    make_event(advocate, at=now - timedelta(days=25))
    services.events_process_batch(now=now)
    assert advocate.reward_tier.tier == silver

    assert services.tiers_demote_lapsed(now=now + timedelta(days=10)) == 1
    down = TierChange.objects.order_by("-id").first()
    assert (down.from_tier, down.to_tier, down.direction, down.reason) == (
        silver, None, "down", "points lapsed")


@pytest.mark.parametrize("setup", ["employee", "opted_out", "few_followers"])
def test_ineligible_advocates_get_nothing(config, now, setup):
    rule = make_rule(trigger_count=1, min_followers=100)
    advocate = make_advocate(follower_count=10 if setup == "few_followers" else 1000)
    if setup == "employee":
        advocate.is_employee = True
    if setup == "opted_out":
        advocate.opted_out_at = now
    advocate.save()
    make_event(advocate, at=now)
    services.events_process_batch(now=now)
    assert not RewardGrant.objects.filter(rule=rule).exists()


def test_flagged_advocate_grant_waits_for_review_then_approval_issues_it(
        config, advocate, now, process, django_capture_on_commit_callbacks):
    advocate.flagged, advocate.flagged_reason = True, "suspicious"
    advocate.save()
    make_rule(trigger_count=1)
    make_event(advocate, at=now)
    process(now=now)

    grant = RewardGrant.objects.get()
    assert grant.status == GrantStatus.PENDING_APPROVAL
    assert "flagged:suspicious" in grant.review_reasons
    assert not DiscountCode.objects.exists()

    with django_capture_on_commit_callbacks(execute=True):
        services.grant_approve(grant_id=grant.pk)
    grant.refresh_from_db()
    assert grant.status == GrantStatus.ISSUED
    assert DiscountCode.objects.filter(grant=grant).exists()


def test_grant_above_the_finance_limit_waits_for_approval(config, advocate, now):
    make_rule(trigger_count=1, discount_type="amount", percent_off=None, amount_off_minor=5000,
              finance_approval_above_minor=3000)
    make_event(advocate, at=now)
    services.events_process_batch(now=now)
    grant = RewardGrant.objects.get()
    assert grant.status == GrantStatus.PENDING_APPROVAL
    assert grant.review_reasons == ["finance: cost 5000 > 3000"]


def test_monthly_budget_stops_grants_once_spent(config, now):
    rule = make_rule(trigger_count=1, discount_type="amount", percent_off=None,
                     amount_off_minor=500, monthly_budget_minor=1200)
    for _ in range(4):
        make_event(make_advocate(), at=now)
    services.events_process_batch(now=now)
    assert RewardGrant.objects.filter(rule=rule).count() == 2
    assert RuleBudget.objects.get(rule=rule).committed_minor == 1000


def test_revoking_releases_budget_and_perk_stock(config, advocate, now):
    perk = Perk.objects.create(name="Tote bag", kind="swag", stock=2, unit_cost_minor=800)
    rule = make_rule(trigger_count=1, reward_kind="perk", perk=perk, monthly_budget_minor=5000)
    make_event(advocate, at=now)
    services.events_process_batch(now=now)
    grant = RewardGrant.objects.get()
    perk.refresh_from_db()
    assert perk.stock == 1
    assert PerkFulfilment.objects.get(grant=grant).status == "granted"
    assert RuleBudget.objects.get(rule=rule).committed_minor == 800

    services.grant_revoke(grant_id=grant.pk, reason="duplicate account")
    perk.refresh_from_db()
    assert perk.stock == 2
    assert RuleBudget.objects.get(rule=rule).committed_minor == 0
    assert PerkFulfilment.objects.get(grant=grant).status == "cancelled"


def test_no_stock_no_perk_grant(config, now):
    perk = Perk.objects.create(name="Barista class", kind="experience", stock=1)
    make_rule(trigger_count=1, reward_kind="perk", perk=perk)
    for _ in range(3):
        make_event(make_advocate(), at=now)
    services.events_process_batch(now=now)
    assert RewardGrant.objects.count() == 1
    perk.refresh_from_db()
    assert perk.stock == 0


def test_fraud_velocity_flags_and_sends_grant_to_review(config, advocate, now):
    config.velocity_max_per_hour = 3
    config.save()
    make_rule(trigger_count=1)
    for _ in range(5):
        make_event(advocate, at=now, created_at=now)
    services.events_process_batch(now=now)
    assert FraudFlag.objects.get(advocate=advocate).reason == "velocity"
    assert RewardGrant.objects.get().status == GrantStatus.PENDING_APPROVAL


@pytest.mark.django_db(transaction=True)
def test_monthly_budget_is_never_exceeded_under_concurrency(config):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    rule = make_rule(trigger_count=1, discount_type="amount", percent_off=None,
                     amount_off_minor=700, monthly_budget_minor=5000)  # room for 7
    advocates = [make_advocate() for _ in range(24)]
    start = threading.Barrier(8)
    errors = []

    def worker(chunk):
        try:
            start.wait()
            for a in chunk:
                services.grant_create(rule=rule, advocate_id=a.pk)
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(advocates[i::8],)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert RewardGrant.objects.filter(rule=rule).count() == 7
    assert RuleBudget.objects.get(rule=rule).committed_minor == 4900


def test_the_reward_snapshot_is_stored_as_the_same_json_and_read_back_typed(config, advocate,
                                                                            now):
    rule = make_rule(trigger_count=1)
    make_event(advocate, at=now)
    services.events_process_batch(now=now)
    grant = RewardGrant.objects.get()
    assert set(grant.reward) == {"rule", "rule_name", "revision", "reward_kind",
                                 "discount_type", "percent_off", "amount_off_minor", "currency",
                                 "code_expiry_days", "minimum_order_minor", "single_use",
                                 "perk", "perk_name"}
    assert grant.reward == rule.reward_snapshot().as_json()
    assert grant.snapshot == rule.reward_snapshot()
    # A grant made by hand with no snapshot reads as the defaults the readers always used.
    empty = RewardSnapshot.from_json({})
    assert (empty.rule_name, empty.perk_name, empty.currency, empty.single_use,
            empty.discount_type) == ("Kansha reward", "a perk", "jpy", True, "")
    assert RewardSnapshot.from_json({"percent_off": 5, "unknown": 1}).percent_off == 5
