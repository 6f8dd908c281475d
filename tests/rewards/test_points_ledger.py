"""The points ledger: each advocacy event becomes exactly one PointsEntry."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection

from advocates.models import AdvocacyEvent
from rewards import selectors, services
from rewards.models import PointsEntry
from tests.factories import AdvocateFactory
from tests.rewards.conftest import make_advocate, make_event


def test_points_per_kind_and_review_rating(config, advocate, now):
    make_event(advocate, "praise", at=now)
    make_event(advocate, "checkin", at=now, venue="Shibuya")
    make_event(advocate, "review", at=now, rating=5)
    make_event(advocate, "review", at=now, rating=2)
    make_event(advocate, "reshare", at=now)

    result = services.events_process_batch(now=now)

    assert result.processed == 5
    points = list(PointsEntry.objects.order_by("event_id").values_list("kind", "points"))
    assert points == [("praise", 10), ("checkin", 5), ("review", 20), ("review", 8),
                      ("reshare", 15)]
    assert selectors.points_balance(advocate_id=advocate.pk) == 58


def test_an_event_is_processed_once_however_often_the_batch_runs(config, advocate, now):
    make_event(advocate, at=now)
    services.events_process_batch(now=now)
    again = services.events_process_batch(now=now)

    assert again.processed == 0
    assert PointsEntry.objects.count() == 1


def test_daily_cap_per_advocate(config, advocate, now):
    config.daily_cap = 25
    config.save()
    for _ in range(3):
        make_event(advocate, "praise", at=now)  # 10 + 10 + 5 (capped)
    make_event(advocate, "praise", at=now - timedelta(days=1))  # another day: full 10
    services.events_process_batch(now=now)

    assert sorted(PointsEntry.objects.values_list("points", flat=True)) == [5, 10, 10, 10]
    capped = PointsEntry.objects.get(points=5)
    assert "daily cap 25" in capped.reason
    # The cap holds across batches too.
    make_event(advocate, "praise", at=now)
    services.events_process_batch(now=now)
    assert PointsEntry.objects.order_by("-id").first().points == 0


def test_balance_drops_expired_points_lifetime_keeps_them(config, advocate, now):
    config.expiry_days = 30
    config.save()
    make_event(advocate, "praise", at=now - timedelta(days=40))
    make_event(advocate, "praise", at=now - timedelta(days=1))
    services.events_process_batch(now=now)

    assert selectors.points_balance(advocate_id=advocate.pk, now=now) == 10
    assert selectors.points_lifetime(advocate_id=advocate.pk) == 20


def test_events_of_a_merged_advocate_count_for_the_survivor(config, now):
    survivor, absorbed = make_advocate(), AdvocateFactory()
    absorbed.merged_into = survivor
    absorbed.save()
    AdvocacyEvent.objects.create(advocate=absorbed, kind="praise", platform="sandbox",
                                 occurred_at=now, dedupe_key="merged-1")
    services.events_process_batch(now=now)
    assert PointsEntry.objects.get().advocate_id == survivor.pk


def test_batches_are_bounded_and_say_there_is_more(config, advocate, now):
    for _ in range(5):
        make_event(advocate, at=now - timedelta(hours=1))
    first = services.events_process_batch(limit=3, now=now)
    second = services.events_process_batch(limit=3, now=now)
    assert (first.processed, first.more, second.processed, second.more) == (3, True, 2, False)


def test_the_periodic_task_processes_all_waiting_events(config, advocate, now):
    from rewards import tasks

    for _ in range(4):
        make_event(advocate, at=now)
    assert tasks.events_sweep.delay().get() is True
    assert PointsEntry.objects.count() == 4


def test_scan_start_skips_settled_events_but_rescan_finds_stragglers(config, advocate, now):
    old = make_event(advocate, at=now - timedelta(hours=2))
    make_event(advocate, at=now - timedelta(hours=1))
    services.events_process_batch(now=now)
    # A straggler: an id below the scan start that was never processed (simulated by
    # deleting its entry, as if its transaction had committed very late).
    PointsEntry.objects.filter(event=old).delete()
    assert services.events_process_batch(now=now).processed == 0
    assert services.ledger_rescan() == 1
    assert services.events_process_batch(now=now).processed == 1


@pytest.mark.django_db(transaction=True)
def test_two_workers_process_each_event_exactly_once(config):
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL")
    advocates = [make_advocate() for _ in range(5)]
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    for i in range(400):
        make_event(advocates[i % 5], at=now - timedelta(minutes=i % 50), mention=False)
    errors = []

    def worker():
        try:
            while True:
                r = services.events_process_batch(limit=37)
                if not r.busy and not r.more:
                    break
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors
    assert PointsEntry.objects.count() == 400
    assert PointsEntry.objects.values("event_id").distinct().count() == 400


def test_a_recent_event_committed_late_is_still_found(config, advocate, now):
    """An event whose id is below the newest processed one (its transaction committed late)
    is found in the recent window without any rescan."""
    first = make_event(advocate, at=now, created_at=now)
    make_event(advocate, at=now, created_at=now)
    services.events_process_batch(now=now)
    PointsEntry.objects.filter(event=first).delete()  # as if it had not been visible yet

    again = services.events_process_batch(now=now)

    assert again.processed == 1
    assert PointsEntry.objects.filter(event=first).exists()
