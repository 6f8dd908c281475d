"""End to end on PostgreSQL + Redis with a real Celery worker: a signed webhook is stored and
answered at once, the worker turns it into a mention; beat's fan-out polls a fake instance."""

import base64
import hashlib
import hmac
import json
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import requests

from advocates.models import Mention, WebhookDelivery
from advocates.services.platforms import brand_account_connect
from advocates.tasks import platforms_poll
from tests.conftest import wait_for
from tests.fakes.mastodon_server import FakeMastodon, notification


def _now_v1() -> str:
    """Now, as a v1.1 tweet's created_at (the X webhook rejects events older than 6 days)."""
    return datetime.now(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y")

pytestmark = pytest.mark.integration


def test_a_webhook_is_processed_by_the_worker(celery_worker_process, client):
    account = brand_account_connect(platform="x", name="brand", handle="@kanshacoffee",
                                    platform_user_id="999000",
                                    credentials={"consumer_secret": "cs"})
    body = json.dumps({"for_user_id": "999000", "tweet_create_events": [{
        "created_at": _now_v1(), "id_str": "1801", "text":
        "@kanshacoffee the hojicha latte is perfect",
        "user": {"id_str": "55", "screen_name": "latte_lover", "name": "Latte Lover"},
        "entities": {"user_mentions": [{"id_str": "999000", "screen_name": "kanshacoffee"}]},
    }]}).encode()
    signature = "sha256=" + base64.b64encode(
        hmac.new(b"cs", body, hashlib.sha256).digest()).decode()

    response = client.post(f"/webhooks/x/{account.pk}/", body, content_type="application/json",
                           headers={"x-twitter-webhooks-signature": signature})

    assert response.status_code == 200
    mention = wait_for(lambda: Mention.objects.filter(platform="x", external_id="1801").first())
    assert mention.source == "webhook"
    assert wait_for(lambda: WebhookDelivery.objects.get().processed_at)


def test_beat_fan_out_polls_each_account_on_the_worker(celery_worker_process):
    with FakeMastodon() as fake:
        fake.notifications = [notification(1), notification(2)]
        brand_account_connect(platform="mastodon", name="masto", credentials={
            "access_token": "t"}, config={"base_url": fake.url})
        platforms_poll.delay()
        wait_for(lambda: Mention.objects.filter(platform="mastodon").count() == 2)
        assert fake.calls("GET", "/api/v1/notifications")


def test_concurrent_webhooks_are_batched_by_the_worker_and_none_is_lost(celery_worker_process,
                                                                        live_server):
    """400 signed webhooks from 8 threads at once through a live server: every one answered
    200, turned into a mention and detected, by far fewer batch tasks than deliveries."""
    account = brand_account_connect(platform="x", name="brand", handle="@kanshacoffee",
                                    platform_user_id="999000",
                                    credentials={"consumer_secret": "cs"})
    url = f"{live_server.url}/webhooks/x/{account.pk}/"

    def post(n: int) -> int:
        body = json.dumps({"for_user_id": "999000", "tweet_create_events": [{
            "created_at": _now_v1(), "id_str": f"9{n:05d}",
            "text": f"@kanshacoffee the hojicha latte is perfect #{n}",
            "user": {"id_str": f"6{n}", "screen_name": f"fan{n}", "name": f"Fan {n}"},
            "entities": {"user_mentions": [{"id_str": "999000"}]}}]}).encode()
        signature = "sha256=" + base64.b64encode(
            hmac.new(b"cs", body, hashlib.sha256).digest()).decode()
        return requests.post(url, data=body, timeout=30, headers={
            "Content-Type": "application/json",
            "X-Twitter-Webhooks-Signature": signature}).status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(post, range(400)))

    assert statuses == [200] * 400
    wait_for(lambda: Mention.objects.filter(platform="x", detected_at__isnull=False)
             .count() == 400, 90)
    assert not WebhookDelivery.objects.filter(processed_at__isnull=True).exists()
    assert not WebhookDelivery.objects.exclude(error="").exists()
    batches = WebhookDelivery.objects.values("processed_at").distinct().count()
    assert batches <= 100, batches  # coalesced: many deliveries per task
