"""Cancelling a perk gives back its stock and its cost to the rule's monthly budget, once."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from rewards import services
from rewards.models import GrantStatus, Perk, PerkFulfilment, RewardGrant, RuleBudget
from tests.rewards.conftest import make_advocate, make_rule


def _perk_grant(stock=5):
    perk = Perk.objects.create(name="Tote bag", stock=stock, unit_cost_minor=800)
    rule = make_rule(trigger_count=1, reward_kind="perk", perk=perk, monthly_budget_minor=5000)
    grant = services.grant_create(rule=rule, advocate_id=make_advocate().pk)
    return perk, rule, grant, PerkFulfilment.objects.get(grant=grant)


def _committed(rule) -> int:
    return RuleBudget.objects.get(rule=rule).committed_minor


@pytest.mark.parametrize("path", [["cancelled"], ["shipped", "cancelled"]])
def test_cancelling_a_perk_releases_its_budget(config, path):
    perk, rule, grant, fulfilment = _perk_grant()
    assert _committed(rule) == 800
    for status in path:
        services.perk_fulfilment_update(fulfilment_id=fulfilment.pk, status=status)
    assert _committed(rule) == 0
    perk.refresh_from_db()
    assert perk.stock == 5
    assert RewardGrant.objects.get(pk=grant.pk).status == GrantStatus.REVOKED


def test_revoking_after_a_cancel_releases_nothing_more(config):
    _, rule, grant, fulfilment = _perk_grant()
    other = services.grant_create(rule=rule, advocate_id=make_advocate().pk)  # 1600 committed
    services.perk_fulfilment_update(fulfilment_id=fulfilment.pk, status="cancelled")
    with pytest.raises(services.GrantError):
        services.grant_revoke(grant_id=grant.pk, reason="again")
    assert _committed(rule) == 800  # the other grant's share is still held
    assert RewardGrant.objects.get(pk=other.pk).status == GrantStatus.APPROVED


def test_cancelling_a_shipped_perk_of_a_revoked_grant_releases_stock_not_budget(config):
    perk, rule, grant, fulfilment = _perk_grant()
    services.perk_fulfilment_update(fulfilment_id=fulfilment.pk, status="shipped")
    services.grant_revoke(grant_id=grant.pk, reason="fraud")  # shipped: stock stays out
    assert _committed(rule) == 0
    perk.refresh_from_db()
    assert perk.stock == 4
    services.perk_fulfilment_update(fulfilment_id=fulfilment.pk, status="cancelled",
                                    notes="returned unopened")
    assert _committed(rule) == 0
    perk.refresh_from_db()
    assert perk.stock == 5


@pytest.mark.django_db(transaction=True)
def test_a_cancel_racing_a_revoke_releases_the_budget_once(config):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    _, rule, grant, fulfilment = _perk_grant()
    services.grant_create(rule=rule, advocate_id=make_advocate().pk)  # 1600 committed
    barrier = threading.Barrier(2)
    errors: list[Exception] = []

    def run(fn):
        try:
            barrier.wait()
            fn()
        except services.GrantError:
            pass  # the other one won
        except Exception as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [
        threading.Thread(target=run, args=(lambda: services.perk_fulfilment_update(
            fulfilment_id=fulfilment.pk, status="cancelled"),)),
        threading.Thread(target=run, args=(lambda: services.grant_revoke(
            grant_id=grant.pk, reason="race"),)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors
    assert _committed(rule) == 800
    assert RewardGrant.objects.get(pk=grant.pk).status == GrantStatus.REVOKED
