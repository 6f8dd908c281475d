"""Webhook deliveries are coalesced: the view stores the row and makes sure one batch task is
queued; the task claims every waiting delivery and ingests them together."""

import base64
import hashlib
import hmac
import json
from datetime import timedelta

import pytest
from django.db import DatabaseError
from django.utils import timezone

from advocates import tasks
from advocates.models import Mention, WebhookDelivery
from advocates.platforms.base import TransientError
from advocates.platforms.x import XClient
from advocates.services import platforms as services

SECRET = "batch-consumer-secret"
BRAND_ID = "1000"


@pytest.fixture
def account(connect):
    return connect("x", "http://127.0.0.1:9", {"consumer_secret": SECRET},
                   handle="@kanshacoffee", platform_user_id=BRAND_ID)


@pytest.fixture
def queued(monkeypatch):
    """Record batch tasks instead of running them (as if the broker held them)."""
    calls = []
    monkeypatch.setattr(tasks.webhooks_process, "apply_async",
                        lambda *args, **kwargs: calls.append(kwargs))
    services._pending_clear()
    yield calls
    services._pending_clear()


def _body(n: int, **tweet) -> bytes:
    event = {"id_str": f"55{n:04d}", "text": f"@kanshacoffee lovely latte #{n}", "lang": "en",
             "created_at": timezone.now().strftime("%a %b %d %H:%M:%S +0000 %Y"),
             "user": {"id_str": f"77{n}", "screen_name": f"fan{n}", "name": f"Fan {n}"},
             "entities": {"user_mentions": [{"id_str": BRAND_ID, "screen_name": "kanshacoffee"}]},
             **tweet}
    return json.dumps({"for_user_id": BRAND_ID, "tweet_create_events": [event]}).encode()


def _post(deliver, account, body: bytes):
    signature = "sha256=" + base64.b64encode(
        hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    response = deliver(f"/webhooks/x/{account.pk}/", body,
                       headers={"x-twitter-webhooks-signature": signature})
    assert response.status_code == 200, response.content
    return response


def test_many_deliveries_queue_one_task_and_are_ingested_and_detected_by_it(
        deliver, account, queued, monkeypatch):
    for n in range(30):
        _post(deliver, account, _body(n))

    assert len(queued) == 1  # the first delivery queued it; the other 29 found it queued
    assert WebhookDelivery.objects.filter(processed_at__isnull=True).count() == 30
    assert not Mention.objects.exists()

    detected = []
    original = services.mentions_detect  # the batch task detects through this name
    monkeypatch.setattr(services, "mentions_detect",
                        lambda *, mention_ids: detected.append(mention_ids) or original(
                            mention_ids=mention_ids))
    outcome = services.webhooks_process_pending()

    assert (outcome.claimed, outcome.created, outcome.failed) == (30, 30, 0)
    assert [len(ids) for ids in detected] == [30]  # one detection batch for the 30 mentions
    assert not WebhookDelivery.objects.filter(processed_at__isnull=True).exists()
    assert len(set(WebhookDelivery.objects.values_list("processed_at", flat=True))) == 1
    assert Mention.objects.filter(platform="x", source="webhook").count() == 30
    assert not Mention.objects.filter(detected_at__isnull=True).exists()


def test_a_bad_delivery_among_good_ones_is_recorded_and_the_others_go_through(
        account, monkeypatch):
    good = [services.webhook_accept(account=account, dedupe_key=f"good-{n}",
                                    body=json.loads(_body(n)))[0] for n in range(3)]
    malformed = services.webhook_accept(account=account, dedupe_key="malformed", body={
        "for_user_id": BRAND_ID, "tweet_create_events": True})[0]
    refused = services.webhook_accept(account=account, dedupe_key="refused",
                                      body=json.loads(_body(9, id_str="poison")))[0]

    # The database refuses whatever batch holds the "poison" tweet (as it would a value it
    # cannot store): the batch is split and only that delivery fails.
    original = services.mentions_ingest

    def ingest(*, items, **kwargs):
        if any(item.external_id == "poison" for item in items):
            raise DatabaseError("value refused")
        return original(items=items, **kwargs)

    monkeypatch.setattr(services, "mentions_ingest", ingest)

    outcome = services.webhook_batch_process()

    assert (outcome.claimed, outcome.created, outcome.failed) == (5, 3, 2)
    rows = {d.pk: d for d in WebhookDelivery.objects.all()}
    assert all(rows[pk].processed_at and rows[pk].error == "" for pk in good)
    assert rows[malformed].processed_at
    assert rows[malformed].error.startswith("malformed payload")
    assert rows[refused].processed_at
    assert rows[refused].error.startswith("ingest failed")
    assert Mention.objects.count() == 3
    assert services.webhook_batch_process().claimed == 0  # failures are not retried forever


def test_a_transient_parse_error_leaves_the_delivery_for_its_own_retrying_task(
        account, monkeypatch, queued):
    flaky = services.webhook_accept(account=account, dedupe_key="flaky",
                                    body=json.loads(_body(1)))[0]
    services.webhook_accept(account=account, dedupe_key="fine", body=json.loads(_body(2)))
    original = XClient.webhook_items
    state = {"fail": True}

    def items(self, body):
        if state["fail"] and body["tweet_create_events"][0]["id_str"] == "550001":
            raise TransientError("platform hiccup")
        return original(self, body)

    monkeypatch.setattr(XClient, "webhook_items", items)
    retries = []
    monkeypatch.setattr(tasks.webhook_process, "apply_async",
                        lambda args, **kwargs: retries.append(args))

    outcome = services.webhooks_process_pending()

    assert (outcome.claimed, outcome.created, outcome.retrying) == (2, 1, [flaky])
    assert retries == [(flaky,)]
    row = WebhookDelivery.objects.get(pk=flaky)
    assert row.processed_at is None
    assert row.error == "platform hiccup"
    assert services.webhook_batch_process().claimed == 0  # the batch leaves it to its task
    state["fail"] = False
    assert services.webhook_process(delivery_id=flaky) == 1  # what the retry runs
    assert WebhookDelivery.objects.get(pk=flaky).error == ""


def test_a_delivery_arriving_while_a_batch_runs_is_not_lost(account, queued, monkeypatch):
    first = services.webhook_accept(account=account, dedupe_key="first",
                                    body=json.loads(_body(1)))[0]
    services.webhook_batch_schedule()
    assert len(queued) == 1
    late = {}
    original = services.webhook_batch_process

    def batch(**kwargs):
        outcome = original(**kwargs)  # the claim is done: the late delivery is not in it
        late["id"] = services.webhook_accept(account=account, dedupe_key="late",
                                             body=json.loads(_body(2)))[0]
        services.webhook_batch_schedule()  # what its on_commit runs
        return outcome

    monkeypatch.setattr(services, "webhook_batch_process", batch)
    assert services.webhooks_process_pending().claimed == 1
    monkeypatch.setattr(services, "webhook_batch_process", original)

    # The running task had cleared the flag before it claimed, so the late delivery queued
    # a task of its own instead of trusting the one that was already running.
    assert len(queued) == 2
    assert WebhookDelivery.objects.get(pk=first).processed_at
    assert WebhookDelivery.objects.get(pk=late["id"]).processed_at is None
    assert services.webhooks_process_pending().claimed == 1
    assert WebhookDelivery.objects.get(pk=late["id"]).processed_at


def test_a_failed_enqueue_clears_the_flag_so_the_next_delivery_tries_again(
        account, monkeypatch):
    services._pending_clear()
    attempts = []

    def broker_down(*args, **kwargs):
        attempts.append(1)
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.webhooks_process, "apply_async", broker_down)
    with pytest.raises(ConnectionError):
        services.webhook_batch_schedule()
    with pytest.raises(ConnectionError):
        services.webhook_batch_schedule()
    assert len(attempts) == 2
    services._pending_clear()


def test_the_sweeper_picks_up_deliveries_the_broker_never_got(account, connect, monkeypatch):
    # Stored, but their tasks never reached a broker (the test's transaction never commits,
    # so no on_commit runs): the beat fan-out finds them once they are overdue.
    for n in range(4):
        services.webhook_accept(account=account, dedupe_key=f"lost-{n}",
                                body=json.loads(_body(n)))
    ig = connect("instagram", "http://127.0.0.1:9", {"access_token": "t", "app_secret": "s"},
                 name="ig", platform_user_id="17841400000000000")
    fetching = services.webhook_accept(account=ig, dedupe_key="ig-lost", body={
        "object": "instagram", "entry": [{"changes": [{"field": "mentions", "value": {
            "media_id": "1"}}]}]})[0]
    assert services.webhook_unprocessed() == (False, [])  # not overdue yet

    # Overdue after a minute: with the sweep every 30 s, stranded work waits at most 90 s.
    WebhookDelivery.objects.update(received_at=timezone.now() - timedelta(seconds=61))
    assert services.webhook_unprocessed() == (True, [fetching])
    singles, polls = [], []
    monkeypatch.setattr(tasks.webhook_process, "delay", singles.append)
    monkeypatch.setattr(tasks.account_poll, "delay", polls.append)  # no platform to poll here

    tasks.webhooks_sweep.delay()  # eager: the batch task runs inline

    assert WebhookDelivery.objects.filter(platform="x", processed_at__isnull=False).count() == 4
    assert Mention.objects.filter(platform="x").count() == 4
    assert singles == [fetching]  # Instagram fetches the media: one task of its own
