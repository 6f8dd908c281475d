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


def test_a_spend_takes_the_soonest_expiring_points_so_their_expiry_never_leaves_a_debt():
    advocate, perk = make_advocate(), make_perk(price=100)
    now = datetime.now(UTC)
    soon, later = now + timedelta(days=10), now + timedelta(days=40)
    give_points(advocate, 60, expires_at=soon)
    give_points(advocate, 70, expires_at=later)
    give_points(advocate, 5)  # never expires: spent last
    spend = services.points_spend(advocate_id=advocate.pk, perk_id=perk.pk, key="lots")
    parts = PointsEntry.objects.filter(advocate=advocate, points__lt=0).order_by("pk")
    assert [(p.points, p.expires_at) for p in parts] == [(-60, soon), (-40, later)]
    assert parts[0] == spend.entry
    assert points_balance(advocate_id=advocate.pk) == 35
    # The first lot was spent whole, the second in part: each expiry takes only what is left.
    assert points_balance(advocate_id=advocate.pk, now=soon + timedelta(days=1)) == 35
    assert points_balance(advocate_id=advocate.pk, now=later + timedelta(days=1)) == 5


def test_points_spent_before_they_expire_do_not_take_the_balance_below_zero():
    advocate, perk = make_advocate(), make_perk(price=100)
    expiry = datetime.now(UTC) + timedelta(days=3)
    give_points(advocate, 100, expires_at=expiry)
    services.points_spend(advocate_id=advocate.pk, perk_id=perk.pk, key="all")
    assert points_balance(advocate_id=advocate.pk) == 0
    assert points_balance(advocate_id=advocate.pk, now=expiry + timedelta(seconds=1)) == 0


def test_points_owed_without_an_expiry_are_taken_from_the_soonest_points():
    # A negative adjustment (or a spend made before spends carried an expiry) is already
    # taken from the soonest lot, so a new spend cannot count those points twice.
    advocate, perk = make_advocate(), make_perk(price=50)
    soon = datetime.now(UTC) + timedelta(days=5)
    give_points(advocate, 80, expires_at=soon)
    give_points(advocate, 50, expires_at=soon + timedelta(days=30))
    give_points(advocate, -60)
    with pytest.raises(SpendError):  # 70 left: 20 of the first lot, all 50 of the second
        services.points_spend(advocate_id=advocate.pk, perk_id=make_perk(price=71).pk, key="no")
    services.points_spend(advocate_id=advocate.pk, perk_id=perk.pk, key="after-old")
    parts = PointsEntry.objects.filter(advocate=advocate, spend_key__isnull=False)
    assert sorted((p.points, p.expires_at) for p in parts) == [
        (-30, soon + timedelta(days=30)), (-20, soon)]
    assert points_balance(advocate_id=advocate.pk) == 20


def test_cancelling_a_spend_made_of_several_lots_gives_each_part_back_once():
    advocate, perk = make_advocate(), make_perk(price=100, stock=3)
    soon = datetime.now(UTC) + timedelta(days=10)
    give_points(advocate, 60, expires_at=soon)
    give_points(advocate, 60)
    spend = services.points_spend(advocate_id=advocate.pk, perk_id=perk.pk, key="split")
    for _ in range(2):
        services.perk_fulfilment_update(fulfilment_id=spend.fulfilment.pk, status="cancelled")
    assert points_balance(advocate_id=advocate.pk) == 120
    assert points_balance(advocate_id=advocate.pk, now=soon + timedelta(days=1)) == 60


def test_an_opted_out_advocate_cannot_spend():
    advocate, perk = make_advocate(), make_perk(price=100, stock=5)
    give_points(advocate, 150)
    advocate.opted_out_at = datetime.now(UTC)
    advocate.save(update_fields=["opted_out_at"])
    with pytest.raises(SpendError) as exc:
        services.points_spend(advocate_id=advocate.pk, perk_id=perk.pk, key="x" * 20)
    assert exc.value.code == SpendError.OPTED_OUT
    perk.refresh_from_db()
    assert perk.stock == 5
    assert points_balance(advocate_id=advocate.pk) == 150
    assert not PerkFulfilment.objects.exists()
