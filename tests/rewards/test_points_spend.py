"""Spending points on a perk: a ledger entry, stock reserved, a fulfilment, exactly once."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection

from rewards import services
from rewards.models import Perk, PerkFulfilment, PointsEntry
from rewards.selectors import points_balance
from rewards.services import SpendError
from tests.rewards.conftest import make_advocate


def give_points(advocate, points, *, expires_at=None):
    now = datetime.now(UTC)
    return PointsEntry.objects.create(advocate=advocate, points=points, reason="test",
                                      occurred_at=now, day=now.date(), expires_at=expires_at)


def make_perk(*, price=100, stock=5, **extra):
    return Perk.objects.create(name="Tote bag", name_ja="トートバッグ", points_price=price,
                               stock=stock, **extra)


pytestmark = pytest.mark.django_db


def test_spend_writes_a_negative_entry_reserves_stock_and_makes_a_fulfilment():
    advocate, perk = make_advocate(), make_perk(price=100, stock=5)
    give_points(advocate, 150)
    spend = services.points_spend(advocate_id=advocate.pk, perk_id=perk.pk, key="a" * 32)
    assert not spend.repeated
    assert spend.entry.points == -100
    assert spend.fulfilment.perk == perk
    assert spend.fulfilment.status == PerkFulfilment.Status.GRANTED
    assert points_balance(advocate_id=advocate.pk) == 50
    perk.refresh_from_db()
    assert perk.stock == 4


def test_same_key_twice_is_one_spend():
    advocate, perk = make_advocate(), make_perk(price=100)
    give_points(advocate, 500)
    first = services.points_spend(advocate_id=advocate.pk, perk_id=perk.pk, key="k1")
    again = services.points_spend(advocate_id=advocate.pk, perk_id=perk.pk, key="k1")
    assert again.repeated
    assert again.entry.pk == first.entry.pk
    assert PerkFulfilment.objects.count() == 1
    assert points_balance(advocate_id=advocate.pk) == 400


@pytest.mark.parametrize(("price", "stock", "live", "code"), [
    (200, 5, True, SpendError.NOT_ENOUGH),
    (100, 0, True, SpendError.OUT_OF_STOCK),
    (100, 5, False, SpendError.UNKNOWN),
    (None, 5, True, SpendError.UNKNOWN),
])
def test_refusals_change_nothing(price, stock, live, code):
    advocate, perk = make_advocate(), make_perk(price=price, stock=stock, live=live)
    give_points(advocate, 150)
    with pytest.raises(SpendError) as exc:
        services.points_spend(advocate_id=advocate.pk, perk_id=perk.pk, key="x")
    assert exc.value.code == code
    perk.refresh_from_db()
    assert perk.stock == stock
    assert points_balance(advocate_id=advocate.pk) == 150
    assert not PerkFulfilment.objects.exists()


def test_expired_points_cannot_be_spent():
    advocate, perk = make_advocate(), make_perk(price=100)
    give_points(advocate, 100, expires_at=datetime.now(UTC) - timedelta(days=1))
    with pytest.raises(SpendError):
        services.points_spend(advocate_id=advocate.pk, perk_id=perk.pk, key="x")


def test_cancelling_a_bought_perk_gives_points_and_stock_back_once():
    advocate, perk = make_advocate(), make_perk(price=100, stock=3)
    give_points(advocate, 100)
    spend = services.points_spend(advocate_id=advocate.pk, perk_id=perk.pk, key="x")
    services.perk_fulfilment_update(fulfilment_id=spend.fulfilment.pk, status="cancelled")
    services.perk_fulfilment_update(fulfilment_id=spend.fulfilment.pk, status="cancelled")
    perk.refresh_from_db()
    assert perk.stock == 3
    assert points_balance(advocate_id=advocate.pk) == 100


@pytest.mark.django_db(transaction=True)
def test_spending_is_exactly_once_under_20_concurrent_requests_and_never_below_zero():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    advocate, perk = make_advocate(), make_perk(price=100, stock=50)
    give_points(advocate, 350)  # room for three spends
    # Ten double clicks: pairs of requests share a key. At most three spends can be paid for.
    keys = [f"click-{i // 2}" for i in range(20)]
    start = threading.Barrier(20)
    outcomes: list[str] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(key):
        try:
            start.wait()
            try:
                spend = services.points_spend(advocate_id=advocate.pk, perk_id=perk.pk, key=key)
                result = "repeat" if spend.repeated else "spent"
            except SpendError as exc:
                result = exc.code
            with lock:
                outcomes.append(result)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in keys]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert len(outcomes) == 20
    spends = PointsEntry.objects.filter(advocate=advocate, points__lt=0)
    assert spends.count() == outcomes.count("spent") == 3
    assert len({e.spend_key for e in spends}) == 3
    assert PerkFulfilment.objects.filter(perk=perk).count() == 3
    assert points_balance(advocate_id=advocate.pk) == 50
    perk.refresh_from_db()
    assert perk.stock == 47
