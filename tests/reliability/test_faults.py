"""Faults on purpose, on real PostgreSQL, Redis and Celery workers: duplicate deliveries under
concurrency, a broker outage, a worker killed mid-batch, and a flaky Stripe.

Heavy: marked `integration` and `slow` (each under about a minute on 2 cores). Run with
DATABASE_URL (PostgreSQL) and REDIS_URL set, e.g.
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/kansha_h8 \
    REDIS_URL=redis://127.0.0.1:6379/9 .venv/bin/pytest -m slow tests/reliability
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import requests
from django.db import connection
from django.db.models import Count
from django.test import Client
from django.utils import timezone

from advocates.models import Mention, Outreach, OutreachLog, WebhookDelivery
from advocates.services import ingest_token_issue
from cms.celery import app as celery_app
from tests.advocates.outreach_helpers import default_data  # noqa: F401  (fixture)
from tests.conftest import celery_queues_purge, wait_for
from tests.factories import mention_item
from tests.reliability.faults import OwnRedis, Worker, broker_switch

pytestmark = [pytest.mark.integration, pytest.mark.slow,
              pytest.mark.django_db(transaction=True)]

BRAND_TEXTS = ["Best cortado in town, thank you @kanshacoffee!",
               "Kansha Coffee's flat white made my morning, love it",
               "カンシャ珈琲のラテ、最高でした！ありがとう",
               "Checked in at Kansha Coffee Shibuya, great beans"]


def _item(n: int, prefix: str) -> dict:
    return mention_item(n, external_id=f"{prefix}-{n}", author_id=f"{prefix}-a{n % 97}",
                        author_handle=f"@{prefix}fan{n % 97}", text=BRAND_TEXTS[n % 4]
                        + f" #{n}", posted_at=timezone.now().isoformat())


def _no_duplicate_proposals() -> None:
    dup = (Outreach.objects.values("mention_id", "kind").annotate(n=Count("id"))
           .filter(n__gt=1))
    assert not dup.exists(), list(dup[:5])
    logs = (OutreachLog.objects.filter(action="proposed").values("outreach_id")
            .annotate(n=Count("id")).filter(n__gt=1))
    assert not logs.exists()


# --- 1. Duplicates under concurrency ---------------------------------------------------------


@pytest.mark.usefixtures("default_data")
def test_500_events_delivered_20_times_concurrently_make_500_mentions_and_no_duplicates(
        live_server, celery_worker_process):
    _, secret = ingest_token_issue(name="dupes")
    events = [_item(n, "dup") for n in range(500)]
    # Every event 20 times, shuffled into requests of 25 items, posted by 16 threads at once:
    # the same event arrives in many requests racing each other.
    deliveries = [e for e in events for _ in range(20)]
    random.Random(8).shuffle(deliveries)
    bodies = [deliveries[i:i + 25] for i in range(0, len(deliveries), 25)]
    url = f"{live_server.url}/api/v1/mentions"
    local = threading.local()

    def post(batch):
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        r = session.post(url, json={"mentions": batch}, timeout=60,
                         headers={"Authorization": f"Bearer {secret}"})
        if r.status_code != 200:
            return r.status_code, {"error": r.text[-600:]}
        return r.status_code, r.json()

    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(post, bodies))
    took = time.monotonic() - started
    errors = [body for status, body in results if status != 200]
    assert Counter(status for status, _ in results) == {200: len(bodies)}, errors[:2]
    created = sum(body["created"] for _, body in results)
    duplicate = sum(body["duplicate"] for _, body in results)
    assert created == 500
    assert created + duplicate == 10_000
    assert Mention.objects.filter(external_id__startswith="dup-").count() == 500

    # Every mention detected once, at most one proposal of each kind per mention.
    wait_for(lambda: not Mention.objects.filter(detected_at__isnull=True).exists(), 60)
    _no_duplicate_proposals()
    assert Outreach.objects.count() > 0
    print(f"\n10,000 deliveries in {len(bodies)} requests: {took:.1f}s "
          f"({10_000 / took:.0f} deliveries/s), {Outreach.objects.count()} proposals")

    # Rewards: the recognition events for those proposals appended twice from 4 threads, then
    # the ledger processed from 4 threads at once: one grant per advocate, one code per grant.
    from advocates.models import AdvocacyEvent
    from rewards.models import DiscountCode, RewardGrant, RewardsSettings
    from rewards.services import events_process_batch
    from tests.rewards.conftest import make_rule

    s = RewardsSettings.load()
    s.velocity_max_per_hour = s.min_account_age_days = s.min_followers = 0
    s.duplicate_text_identities = 0
    s.save()
    make_rule(trigger_count=1)
    replies = list(Outreach.objects.filter(kind="reply").values_list(
        "pk", "advocate_id", "mention_id", "platform"))

    def append_events(_):
        AdvocacyEvent.objects.bulk_create(
            [AdvocacyEvent(advocate_id=a, kind="praise", mention_id=m, platform=p,
                           occurred_at=timezone.now(), dedupe_key=f"outreach:{pk}")
             for pk, a, m, p in replies], ignore_conflicts=True)
        connection.close()

    def drain(_):
        try:
            for _ in range(200):
                result = events_process_batch(limit=100)
                if not result.busy and not result.more and not result.processed:
                    return
                if result.busy:
                    time.sleep(0.05)
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(append_events, range(4)))
    assert AdvocacyEvent.objects.count() == len(replies)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(drain, range(4)))
    advocates = {a for _, a, _, _ in replies}
    assert RewardGrant.objects.count() == len(advocates)
    wait_for(lambda: DiscountCode.objects.count() == RewardGrant.objects.count(), 60)
    assert not (RewardGrant.objects.values("advocate", "rule", "period_key")
                .annotate(n=Count("id")).filter(n__gt=1).exists())
    assert not (DiscountCode.objects.values("grant").annotate(n=Count("id"))
                .filter(n__gt=1).exists())


# --- 2. Broker outage ------------------------------------------------------------------------


@pytest.fixture
def own_broker():
    redis = OwnRedis().start()
    broker_switch(redis.url)
    yield redis
    redis.stop()
    broker_switch(None)


@pytest.fixture
def x_account(settings, monkeypatch):
    from cryptography.fernet import Fernet

    from advocates.services.platforms import brand_account_connect

    key = Fernet.generate_key().decode()
    settings.KANSHA_CREDENTIALS_KEY = key
    monkeypatch.setenv("KANSHA_CREDENTIALS_KEY", key)
    return brand_account_connect(platform="x", name="main", handle="@kanshacoffee",
                                 platform_user_id="1000",
                                 credentials={"consumer_secret": "outage-secret",
                                              "bearer_token": "b"},
                                 config={"base_url": "http://127.0.0.1:9"})


def _x_webhook(client, account, n: int):
    body = json.dumps({"for_user_id": "1000", "tweet_create_events": [{
        "id_str": f"99{n}", "text": f"@kanshacoffee lovely latte #{n}", "lang": "en",
        "created_at": timezone.now().strftime("%a %b %d %H:%M:%S +0000 %Y"),
        "user": {"id_str": f"77{n}", "screen_name": f"xfan{n}", "name": f"X Fan {n}",
                 "followers_count": 40},
        "entities": {"user_mentions": [{"id_str": "1000", "screen_name": "kanshacoffee"}]},
    }]}).encode()
    digest = hmac.new(b"outage-secret", body, hashlib.sha256).digest()
    return client.post(f"/webhooks/x/{account.pk}/", data=body, content_type="application/json",
                       HTTP_X_TWITTER_WEBHOOKS_SIGNATURE="sha256="
                       + base64.b64encode(digest).decode())


@pytest.mark.usefixtures("default_data")
def test_broker_outage_loses_nothing_and_the_sweeper_finishes_the_work(own_broker, x_account):
    _, secret = ingest_token_issue(name="outage")
    own_broker.stop()  # Redis is down from here on
    client = Client()
    started = time.monotonic()
    statuses = []
    for batch in range(10):
        items = [_item(batch * 20 + i, "out") for i in range(20)]
        statuses.append(client.post("/api/v1/mentions", {"mentions": items},
                                    content_type="application/json",
                                    HTTP_AUTHORIZATION=f"Bearer {secret}").status_code)
    webhook_statuses = [_x_webhook(client, x_account, n).status_code for n in range(5)]
    took = time.monotonic() - started
    assert statuses == [200] * 10  # persisted first; the broker error is not the caller's
    assert webhook_statuses == [200] * 5
    assert Mention.objects.filter(external_id__startswith="out-").count() == 200
    assert WebhookDelivery.objects.count() == 5
    assert not Mention.objects.filter(detected_at__isnull=False).exists()
    print(f"\n15 requests with the broker down: {took:.1f}s")

    # Redis is back, a worker starts; the outage "lasted" a few minutes, so the sweepers
    # see the stranded work as overdue and re-enqueue it.
    own_broker.start()
    broker_switch(own_broker.url)
    worker = Worker(broker_url=own_broker.url).start()  # inherits KANSHA_CREDENTIALS_KEY
    try:
        earlier = timezone.now() - timedelta(minutes=10)
        Mention.objects.update(received_at=earlier)
        WebhookDelivery.objects.update(received_at=earlier)
        from advocates.tasks import mentions_detect_sweep, webhooks_sweep

        webhooks_sweep.delay()
        wait_for(lambda: not WebhookDelivery.objects.filter(processed_at__isnull=True).exists(),
                 60)
        Mention.objects.filter(detected_at__isnull=True).update(received_at=earlier)
        mentions_detect_sweep.delay()
        wait_for(lambda: not Mention.objects.filter(detected_at__isnull=True).exists(), 60)
    finally:
        worker.stop()
    assert Mention.objects.filter(external_id__startswith="out-").count() == 200
    assert Mention.objects.filter(platform="x").count() == 5
    assert WebhookDelivery.objects.filter(error="").count() == 5
    _no_duplicate_proposals()


# --- 3. Worker crash -------------------------------------------------------------------------


def _ingest_many(n: int, prefix: str) -> list[int]:
    from advocates.schemas import MentionIn
    from advocates.services import mentions_ingest

    items = [MentionIn.model_validate(_item(i, prefix)) for i in range(n)]
    return mentions_ingest(items=items, source="api", detect=False).mention_ids


def test_worker_killed_mid_batch_then_the_batch_completes_once(transactional_db):
    from advocates.tasks import mentions_detect

    ids = _ingest_many(1500, "crash")
    celery_queues_purge()
    worker = Worker(broker_url=celery_app.conf.broker_url, pool="prefork",
                    queues="detect").start()
    try:
        mentions_detect.delay(ids)  # one big batch: seconds of work in one transaction
        wait_for(lambda: "mentions_detect" in worker.log() and worker.children(), 30, 0.05)
        time.sleep(1.0)  # well inside the batch
        assert not Mention.objects.filter(detected_at__isnull=False).exists()
        (child,) = worker.children()
        worker.kill(child)  # SIGKILL the pool process running the task
        wait_for(lambda: "WorkerLostError" in worker.log() or "SIGKILL" in worker.log(), 30)
        # acks_late + reject_on_worker_lost: the message goes back and a new process runs it.
        started = time.monotonic()
        wait_for(lambda: not Mention.objects.filter(detected_at__isnull=True).exists(), 120)
        print(f"\nbatch of 1500 re-run after SIGKILL: {time.monotonic() - started:.1f}s")
    finally:
        worker.stop()
    assert Mention.objects.filter(detected_at__isnull=False).count() == 1500
    _no_duplicate_proposals()


def test_whole_worker_killed_then_a_new_worker_and_the_sweeper_finish(transactional_db):
    from advocates.tasks import mentions_detect, mentions_detect_sweep

    ids = _ingest_many(1500, "kill")
    celery_queues_purge()
    worker = Worker(broker_url=celery_app.conf.broker_url, queues="detect").start()
    mentions_detect.delay(ids)
    wait_for(lambda: "mentions_detect" in worker.log(), 30, 0.05)
    time.sleep(0.5)
    worker.kill()  # the whole worker: its unacked message waits for the visibility timeout
    assert not Mention.objects.filter(detected_at__isnull=False).exists()
    Mention.objects.update(received_at=timezone.now() - timedelta(minutes=5))
    worker = Worker(broker_url=celery_app.conf.broker_url, queues="detect").start()
    try:
        mentions_detect_sweep.delay()
        wait_for(lambda: not Mention.objects.filter(detected_at__isnull=True).exists(), 90)
    finally:
        worker.stop()
    _no_duplicate_proposals()


# --- 4. Stripe faults ------------------------------------------------------------------------


@pytest.fixture
def flaky_stripe(settings, monkeypatch):
    """The rewards helper's fake Stripe, failing 30% of calls: half 500s, half timeouts (the
    object is created but the reply never arrives in time)."""
    from tests.fakes.stripe_server import FakeStripe

    class Flaky(FakeStripe):
        rng = random.Random(30)

        def handle(self, method, path, key, params):
            roll = self.rng.random()
            if roll < 0.15:
                self.fail(path, times=1, status=500)
            elif roll < 0.30:
                self.hang(path, times=1, seconds=1.3)
            return super().handle(method, path, key, params)

    server = Flaky().start()
    settings.STRIPE_API_KEY = "sk_test_flaky"  # noqa: S105 - fake server
    settings.STRIPE_API_BASE = server.url
    settings.STRIPE_TIMEOUT_SECONDS = 1.0
    yield server
    server.stop()


def test_stripe_failing_30_percent_issues_every_grant_exactly_once(flaky_stripe):
    from rewards import tasks
    from rewards.models import DiscountCode, GrantStatus, RewardGrant, RewardsSettings
    from rewards.services import events_process_batch
    from tests.rewards.conftest import make_advocate, make_event, make_rule

    s = RewardsSettings.load()
    s.velocity_max_per_hour = s.min_account_age_days = s.min_followers = 0
    s.duplicate_text_identities = 0
    s.save()
    make_rule(trigger_count=1)
    for _ in range(24):
        make_event(make_advocate())
    events_process_batch(enqueue=False)
    grant_ids = list(RewardGrant.objects.values_list("pk", flat=True))
    assert len(grant_ids) == 24

    previous = celery_app.conf.task_eager_propagates
    celery_app.conf.task_eager_propagates = False  # retries run inline, as a worker would
    try:
        def issue(order):
            try:
                for pk in order:
                    tasks.grant_issue.apply(args=[pk])
            finally:
                connection.close()

        # Two "workers" issuing the same grants in different orders.
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(issue, [grant_ids, list(reversed(grant_ids))]))
    finally:
        celery_app.conf.task_eager_propagates = previous

    assert set(RewardGrant.objects.values_list("status", flat=True)) == {GrantStatus.ISSUED}
    assert DiscountCode.objects.count() == 24
    promo_calls = flaky_stripe.calls("/v1/promotion_codes")
    failures = [c for c in promo_calls if c.status >= 500]
    assert failures, "the fake should have failed some calls"
    assert len(flaky_stripe.promotion_codes) == 24  # one promotion code per grant at Stripe
    by_key: dict[str, set[str]] = {}
    for call in promo_calls:
        by_key.setdefault(call.idempotency_key, set()).add(json.dumps(call.params,
                                                                      sort_keys=True))
    assert set(by_key) == {f"grant-{pk}-promo" for pk in grant_ids}
    assert all(len(params) == 1 for params in by_key.values())  # same request every retry
    codes = set(DiscountCode.objects.values_list("stripe_promotion_code_id", flat=True))
    assert codes == set(flaky_stripe.promotion_codes)
    print(f"\n{len(promo_calls)} promotion-code calls for 24 grants, "
          f"{len(failures)} answered 5xx")
