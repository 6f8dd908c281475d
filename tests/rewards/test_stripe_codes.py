"""Stripe promotion codes: one per grant, whatever fails and however many workers run."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from rewards import services, tasks
from rewards.models import DiscountCode, GrantStatus, RewardGrant, StripeCoupon
from tests.rewards.conftest import make_advocate, make_event, make_rule

PROMO = "/v1/promotion_codes"


@pytest.fixture
def eager_retries():
    """Eager Celery runs a task's retries inline only when it does not propagate errors."""
    from cms.celery import app

    previous = app.conf.task_eager_propagates
    app.conf.task_eager_propagates = False
    yield
    app.conf.task_eager_propagates = previous


def _grant(now, **rule):
    advocate = make_advocate()
    make_rule(trigger_count=1, **rule)
    make_event(advocate, at=now)
    services.events_process_batch(now=now, enqueue=False)
    return RewardGrant.objects.get()


def test_grant_gets_a_promotion_code_on_the_rule_coupon(config, stripe_on, now):
    grant = _grant(now, percent_off=20, minimum_order_minor=3000)

    tasks.grant_issue.delay(grant.pk)

    grant.refresh_from_db()
    code = DiscountCode.objects.get(grant=grant)
    assert grant.status == GrantStatus.ISSUED
    assert code.provider == "stripe"
    (coupon_call,) = stripe_on.calls("/v1/coupons")
    assert coupon_call.idempotency_key == f"coupon-rule-{grant.rule_id}-v0"
    assert coupon_call.params["percent_off"] == "20"
    (promo_call,) = stripe_on.calls(PROMO)
    assert promo_call.idempotency_key == f"grant-{grant.pk}-promo"
    assert promo_call.params["promotion"] == {"type": "coupon",
                                              "coupon": code.stripe_coupon_id}
    assert promo_call.params["code"] == code.code
    assert promo_call.params["max_redemptions"] == "1"
    assert promo_call.params["expires_at"] == str(int(code.expires_at.timestamp()))
    assert promo_call.params["restrictions"] == {"minimum_amount": "3000",
                                                 "minimum_amount_currency": "jpy"}
    assert code.stripe_promotion_code_id in stripe_on.promotion_codes
    assert StripeCoupon.objects.get().coupon_id == code.stripe_coupon_id


def test_stripe_500_then_success_gives_one_code_with_the_same_idempotency_key(
        config, stripe_on, now, eager_retries):
    grant = _grant(now)
    stripe_on.fail(PROMO, times=2, status=500)

    tasks.grant_issue.delay(grant.pk)  # eager: Celery's autoretry runs the retries inline

    calls = stripe_on.calls(PROMO)
    assert [c.status for c in calls] == [500, 500, 200]
    assert {c.idempotency_key for c in calls} == {f"grant-{grant.pk}-promo"}
    assert len({str(c.params) for c in calls}) == 1  # identical parameters every time
    assert len(stripe_on.promotion_codes) == 1
    grant.refresh_from_db()
    assert grant.status == GrantStatus.ISSUED
    assert grant.issue_attempts == 3
    assert grant.code.stripe_promotion_code_id == next(iter(stripe_on.promotion_codes))


def test_stripe_timeout_then_success_gives_one_code(config, stripe_on, now, eager_retries):
    grant = _grant(now)
    stripe_on.hang(PROMO, seconds=2.5)  # created at Stripe, but the reply comes too late

    tasks.grant_issue.delay(grant.pk)

    calls = stripe_on.calls(PROMO)
    assert len(calls) == 2
    assert calls[1].replayed
    assert {c.idempotency_key for c in calls} == {f"grant-{grant.pk}-promo"}
    assert len(stripe_on.promotion_codes) == 1
    grant.refresh_from_db()
    assert grant.status == GrantStatus.ISSUED
    assert grant.code.stripe_promotion_code_id == next(iter(stripe_on.promotion_codes))


def test_a_permanent_stripe_error_is_kept_on_the_grant_and_not_retried(config, stripe_on, now):
    grant = _grant(now)
    stripe_on.fail(PROMO, times=1, status=400)
    with pytest.raises(Exception, match="400"):
        tasks.grant_issue.delay(grant.pk)  # not a transient error: raised, not retried
    grant.refresh_from_db()
    assert grant.status == GrantStatus.APPROVED
    assert "400" in grant.last_error
    assert len(stripe_on.calls(PROMO)) == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_and_duplicate_events_give_one_code_per_grant(config, stripe_on):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    make_rule(trigger_count=1)
    advocates = [make_advocate() for _ in range(6)]
    for a in advocates:
        for _ in range(3):  # several events that each satisfy the rule: still one grant
            make_event(a, at=now, mention=False)
    stripe_on.fail(PROMO, times=2, status=503)
    errors = []
    barrier = threading.Barrier(2)

    def worker():
        try:
            barrier.wait()
            while True:
                r = services.events_process_batch(limit=5, enqueue=False)
                if not r.busy and not r.more:
                    break
            for _ in range(4):  # retry transient failures as the task would
                for grant_id in RewardGrant.objects.values_list("id", flat=True):
                    try:
                        services.grant_issue(grant_id=grant_id)
                    except Exception as exc:  # noqa: BLE001 - transient, retried
                        if "StripeTransientError" not in type(exc).__name__:
                            raise
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    grants = RewardGrant.objects.all()
    assert grants.count() == 6
    assert set(grants.values_list("status", flat=True)) == {GrantStatus.ISSUED}
    assert len(stripe_on.promotion_codes) == 6
    assert len(stripe_on.coupons) == 1
    keys = {c.idempotency_key for c in stripe_on.calls(PROMO)}
    assert keys == {f"grant-{g}-promo" for g in grants.values_list("id", flat=True)}
    assert set(DiscountCode.objects.values_list("stripe_promotion_code_id", flat=True)) == set(
        stripe_on.promotion_codes)


# --- revoking a grant switches its promotion code off at Stripe ------------------------------


def _issued(now, stripe_on):
    grant = _grant(now)
    tasks.grant_issue.delay(grant.pk)
    grant.refresh_from_db()
    assert grant.status == GrantStatus.ISSUED
    return grant, grant.code.stripe_promotion_code_id


def test_revoking_switches_the_promotion_code_off_after_commit(
        config, stripe_on, now, django_capture_on_commit_callbacks):
    grant, promo = _issued(now, stripe_on)

    with django_capture_on_commit_callbacks(execute=False) as pending:
        services.grant_revoke(grant_id=grant.pk, reason="two accounts")
        assert stripe_on.promotion_codes[promo]["active"]  # nothing called before commit
    for callback in pending:
        callback()

    (call,) = stripe_on.calls(f"/v1/promotion_codes/{promo}")
    assert (call.method, call.params, call.idempotency_key) == (
        "POST", {"active": "false"}, f"grant-{grant.pk}-promo-off")
    assert stripe_on.promotion_codes[promo]["active"] is False
    assert DiscountCode.objects.get(grant=grant).stripe_deactivated_at is not None
    # Idempotent: once switched off, a second run (a duplicate task, the sweep) calls nothing.
    assert services.grant_code_deactivate(grant_id=grant.pk) is False
    assert len(stripe_on.calls(f"/v1/promotion_codes/{promo}")) == 1


def test_switching_off_retries_transient_errors_with_the_same_key(
        config, stripe_on, now, eager_retries, django_capture_on_commit_callbacks):
    grant, promo = _issued(now, stripe_on)
    stripe_on.fail(f"/v1/promotion_codes/{promo}", times=2, status=502)

    with django_capture_on_commit_callbacks(execute=True):
        services.grant_revoke(grant_id=grant.pk, reason="fraud")

    calls = stripe_on.calls(f"/v1/promotion_codes/{promo}")
    assert [c.status for c in calls] == [502, 502, 200]
    assert {c.idempotency_key for c in calls} == {f"grant-{grant.pk}-promo-off"}
    assert stripe_on.promotion_codes[promo]["active"] is False


def test_the_sweep_switches_off_codes_whose_task_was_lost(config, stripe_on, now):
    from datetime import timedelta

    grant, promo = _issued(now, stripe_on)
    services.grant_revoke(grant_id=grant.pk, reason="lost task")  # on_commit never runs here
    assert services.grants_revoked_code_active_ids() == []  # too fresh: its task may run
    RewardGrant.objects.filter(pk=grant.pk).update(closed_at=now - timedelta(minutes=10))
    assert services.grants_revoked_code_active_ids() == [grant.pk]

    tasks.rewards_housekeeping.delay()

    assert stripe_on.promotion_codes[promo]["active"] is False
    assert services.grants_revoked_code_active_ids() == []


def test_a_permanent_error_is_kept_on_the_grant_and_left_to_a_person(config, stripe_on, now):
    from datetime import timedelta

    grant, promo = _issued(now, stripe_on)
    services.grant_revoke(grant_id=grant.pk, reason="fraud")
    RewardGrant.objects.filter(pk=grant.pk).update(closed_at=now - timedelta(minutes=10))
    stripe_on.fail(f"/v1/promotion_codes/{promo}", times=1, status=400)
    with pytest.raises(Exception, match="400"):
        services.grant_code_deactivate(grant_id=grant.pk)
    assert "switching the promotion code off" in RewardGrant.objects.get(pk=grant.pk).last_error
    assert services.grants_revoked_code_active_ids() == []  # not retried every minute


def test_a_code_made_while_the_grant_was_revoked_is_switched_off(
        config, stripe_on, now, django_capture_on_commit_callbacks):
    from unittest import mock

    grant = _grant(now)
    real = services.issuing.stripe_client.promotion_code_create

    def revoke_meanwhile(**kwargs):
        result = real(**kwargs)  # Stripe made the code, but we have not stored its id yet...
        services.grant_revoke(grant_id=grant.pk, reason="revoked while issuing")
        # ... when the revocation's own switch-off runs: there is nothing to switch off yet.
        assert services.grant_code_deactivate(grant_id=grant.pk) is False
        return result

    with mock.patch.object(services.issuing.stripe_client, "promotion_code_create",
                           revoke_meanwhile), \
            django_capture_on_commit_callbacks(execute=False) as pending:
        services.grant_issue(grant_id=grant.pk)
    assert len(pending) == 2  # the revocation's switch-off, and the issuer's own
    pending[1]()

    (promo,) = stripe_on.promotion_codes
    assert RewardGrant.objects.get(pk=grant.pk).status == GrantStatus.REVOKED
    assert stripe_on.promotion_codes[promo]["active"] is False
