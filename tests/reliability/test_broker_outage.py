"""A worker that outlives its broker (issue 17): the broker goes away for 30 s while webhooks
keep arriving, the worker runs throughout and is never restarted, and every delivery is
processed within 60 s of the broker's return.

Everything the outage touches is private to the test: its own redis-server (broker, webhook
batch flag) on a free port, or its own RabbitMQ node, never the shared servers. Heavy: marked
`integration` and `slow` (about two minutes each).
"""

from __future__ import annotations

import logging
import threading
import time

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client

from advocates.models import Mention, WebhookDelivery
from advocates.services import platforms as platform_services
from cms import health
from tests.advocates.outreach_helpers import default_data  # noqa: F401  (fixture)
from tests.cms.test_health import heartbeats_seen
from tests.conftest import wait_for
from tests.reliability.faults import (
    OwnRabbit,
    OwnRedis,
    Worker,
    broker_switch,
    free_port,
    rabbitmq_server,
)
from tests.reliability.test_faults import _x_webhook, x_account  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow,
              pytest.mark.django_db(transaction=True)]

OUTAGE_SECONDS = 30
CATCH_UP_SECONDS = 60


class Sender(threading.Thread):
    """Posts signed X webhooks one after another until stopped; counts the answers."""

    def __init__(self, account) -> None:
        super().__init__(daemon=True)
        self.account = account
        self.statuses: list[int] = []
        self.halt = threading.Event()

    def run(self) -> None:
        client = Client()
        try:
            n = 0
            while not self.halt.is_set():
                self.statuses.append(_x_webhook(client, self.account, n).status_code)
                n += 1
                self.halt.wait(0.02)  # about 30-50 a second, as fast as one client goes
        finally:
            connection.close()

    def stop(self) -> None:
        self.halt.set()
        self.join(timeout=30)


def _all_processed() -> bool:
    return not WebhookDelivery.objects.filter(processed_at__isnull=True).exists()


def _outage_under_load(*, broker, account, settings, caplog, redis_url: str) -> None:
    """The scenario, on whichever broker `broker` is (started; .url, .stop(), .start())."""
    broker_switch(broker.url)
    # The web side's Redis (the webhook batch flag) is the private one too: a Redis outage
    # takes both away, as in production.
    settings.REDIS_URL = redis_url
    platform_services._redis.cache_clear()
    # The worker as `make worker` runs it: the prefork pool, gossip, mingle and heartbeats on.
    worker = Worker(broker_url=broker.url, pool="prefork", production=True,
                    extra_env={"REDIS_URL": redis_url, "BROKER_URL": broker.url}).start()
    sender = Sender(account)
    try:
        sender.start()
        wait_for(lambda: WebhookDelivery.objects.filter(processed_at__isnull=False).count() >= 20,
                 60)
        caplog.clear()
        broker.stop()
        down_at = time.monotonic()
        wait_for(lambda: time.monotonic() - down_at >= OUTAGE_SECONDS, OUTAGE_SECONDS + 5, 1)
        during = WebhookDelivery.objects.filter(processed_at__isnull=True).count()
        broker.start()
        back_at = time.monotonic()
        wait_for(lambda: len(sender.statuses) > 0 and WebhookDelivery.objects.count() > during + 20,
                 30)
        sender.stop()
        wait_for(lambda: _all_processed() or worker.proc.poll() is not None, CATCH_UP_SECONDS)
        caught_up = time.monotonic() - back_at
        assert worker.proc.poll() is None, worker.log()[-3000:]  # never exited, never restarted
        assert "Unrecoverable error" not in worker.log()
        assert _all_processed()
    finally:
        sender.stop()
        worker.stop()
        broker_switch(None)
        platform_services._redis.cache_clear()
    print(f"\n{len(sender.statuses)} webhooks, {during} stored while the broker was down, "
          f"all processed {caught_up:.1f}s after it came back")
    assert during > 0
    assert set(sender.statuses) == {200}
    total = WebhookDelivery.objects.count()
    assert total == len(sender.statuses)
    assert WebhookDelivery.objects.filter(error="").count() == total
    assert Mention.objects.filter(platform="x").count() == total
    # The web log: one warning for the outage, no traceback per request.
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert not tracebacks, tracebacks[0].getMessage()
    outage_warnings = [r for r in caplog.records if r.levelno == logging.WARNING
                       and "broker unreachable" in r.getMessage()]
    assert len(outage_warnings) == 1, [r.getMessage() for r in caplog.records][:10]


@pytest.mark.usefixtures("default_data")
def test_worker_outlives_a_redis_outage_under_load(x_account, settings, caplog):  # noqa: F811
    redis = OwnRedis(port=free_port()).start()
    try:
        _outage_under_load(broker=redis, account=x_account, settings=settings, caplog=caplog,
                           redis_url=redis.url)
    finally:
        redis.stop()


@pytest.mark.skipif(rabbitmq_server() is None, reason="rabbitmq-server is not installed")
@pytest.mark.usefixtures("default_data")
def test_worker_outlives_a_rabbitmq_outage_under_load(x_account, settings, caplog):  # noqa: F811
    redis = OwnRedis(port=free_port()).start()
    rabbit = OwnRabbit().start()
    try:
        # RabbitMQ as the broker; Redis (the cache and the batch flag) stays up.
        _outage_under_load(broker=rabbit, account=x_account, settings=settings, caplog=caplog,
                           redis_url=redis.url)
    finally:
        rabbit.remove()
        redis.stop()


def test_readyz_goes_unhealthy_while_redis_is_stopped_and_healthy_when_it_is_back(settings):
    redis = OwnRedis(port=free_port()).start()
    try:
        settings.REDIS_URL = settings.CELERY_BROKER_URL = redis.url
        heartbeats_seen()
        client = Client()
        assert client.get("/readyz").status_code == 200

        redis.stop()
        response = client.get("/readyz")
        assert response.status_code == 503
        checks = response.json()["checks"]
        assert checks["redis"]["error"] == "ConnectionError"
        assert checks["broker"]["error"] == "OperationalError"
        assert checks["database"]["ok"] is True

        redis.start()
        wait_for(lambda: client.get("/readyz").status_code == 200, 30)
    finally:
        redis.stop()
        cache.delete(health.WORKER_HEARTBEAT_KEY)
