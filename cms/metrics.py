"""Prometheus metrics at `/metrics`, behind a bearer token (docs/operations.md).

Two kinds:
- Request counters and latencies for the entry points (platform webhooks, the Stripe webhook,
  the ingest API), counted by `RequestMetricsMiddleware` in each web process. They are per
  process, as Prometheus expects from a scrape of that process; behind several gunicorn
  workers, each scrape sees the worker that answered it, so alert on rates summed over time.
- State read from the database and Redis at scrape time by `StateCollector`: queue depths,
  open dead letters, stranded work, overdue care items, grants and redemptions, detections,
  and the worker and beat heartbeat ages; and the tasks the workers ran, by queue, task and
  outcome, with their durations per queue, which the workers record in Redis
  (`cms/task_metrics.py`). These are the same whichever process answers.

`KANSHA_METRICS_TOKEN` unset: `/metrics` answers 404 (nothing is exposed by default).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Iterator

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from advocates.models import (
    DeadLetter,
    DeadLetterStatus,
    Mention,
    Outreach,
    OutreachKind,
    OutreachStatus,
    WebhookDelivery,
)
from cms import health
from cms.task_metrics import BUCKETS, task_metrics_read
from rewards.models import Redemption, RewardGrant

REGISTRY = CollectorRegistry()

REQUESTS = Counter("kansha_requests", "Requests to an entry point, by answer status",
                   ["endpoint", "status"], registry=REGISTRY)
LATENCY = Histogram("kansha_request_seconds", "Time to answer an entry point", ["endpoint"],
                    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
                    registry=REGISTRY)

# Path prefix → endpoint label; other paths are not counted (the admin, pages, probes).
ENDPOINTS = (("/webhooks/", "platform_webhook"), ("/stripe/webhook/", "stripe_webhook"),
             ("/api/", "api"))


def _endpoint(path: str) -> str | None:
    return next((name for prefix, name in ENDPOINTS if path.startswith(prefix)), None)


class RequestMetricsMiddleware:
    """Count and time the entry points' requests (whatever they answer, 500s included)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        endpoint = _endpoint(request.path)
        if endpoint is None:
            return self.get_response(request)
        started = time.perf_counter()
        status = 500  # an exception that escapes is answered 500 by Django
        try:
            response = self.get_response(request)
            status = response.status_code
            return response
        finally:
            LATENCY.labels(endpoint).observe(time.perf_counter() - started)
            REQUESTS.labels(endpoint, str(status)).inc()


def _queue_depths() -> dict[str, int]:
    """Messages waiting per Celery queue (Redis broker only; empty otherwise)."""
    url = settings.CELERY_BROKER_URL
    if not url.startswith(("redis://", "rediss://")):
        return {}
    # Only with a Redis broker: the embedded demo and RabbitMQ deployments never load it.
    import redis

    client = redis.Redis.from_url(url, socket_connect_timeout=health.CHECK_TIMEOUT_SECONDS,
                                  socket_timeout=health.CHECK_TIMEOUT_SECONDS)
    try:
        pipe = client.pipeline()
        for queue in settings.CELERY_TASK_QUEUE_NAMES:
            pipe.llen(queue)
        return dict(zip(settings.CELERY_TASK_QUEUE_NAMES, pipe.execute(), strict=True))
    finally:
        client.close()


def _gauge(name: str, doc: str, values: dict[str, float] | float,
           label: str = "") -> GaugeMetricFamily:
    if not isinstance(values, dict):
        return GaugeMetricFamily(name, doc, value=values)
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def _counts(queryset, field: str) -> dict[str, float]:
    return {str(row[field]): row["n"] for row in queryset.values(field).annotate(n=Count("id"))}


class StateCollector(Collector):
    """What an operator alerts on, read fresh at each scrape."""

    def describe(self) -> list[GaugeMetricFamily]:
        return []  # nothing to check at registration: no query before the first scrape

    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        try:
            depths = {queue: float(n) for queue, n in _queue_depths().items()}
        except Exception:  # the broker is down: /readyz says so; the other metrics still count
            depths = {}
        yield _gauge("kansha_queue_depth", "Messages waiting in a Celery queue", depths, "queue")
        yield _gauge("kansha_dead_letters_open", "Rows set aside by a batch task, not yet "
                     "replayed or discarded",
                     _counts(DeadLetter.objects.filter(status=DeadLetterStatus.OPEN), "task"),
                     "task")
        yield _gauge("kansha_webhook_deliveries_unprocessed", "Stored webhook deliveries not "
                     "yet processed",
                     WebhookDelivery.objects.filter(processed_at__isnull=True).count())
        yield _gauge("kansha_mentions_undetected", "Stored mentions not yet detected",
                     Mention.objects.filter(detected_at__isnull=True).count())
        yield _gauge("kansha_detections", "Detected mentions by route",
                     _counts(Mention.objects.filter(detected_at__isnull=False), "route"), "route")
        yield _gauge("kansha_care_overdue", "Care items past their SLA and not yet answered",
                     Outreach.objects.filter(
                         kind=OutreachKind.CARE, sla_due_at__lt=now,
                         status__in=[OutreachStatus.PROPOSED, OutreachStatus.APPROVED,
                                     OutreachStatus.SNOOZED, OutreachStatus.FAILED]).count())
        yield _gauge("kansha_grants", "Reward grants by status",
                     _counts(RewardGrant.objects.all(), "status"), "status")
        yield _gauge("kansha_redemptions", "Redemptions recorded", Redemption.objects.count())
        yield from _task_families()
        seen = cache.get(health.WORKER_HEARTBEAT_KEY)
        if seen is not None:
            yield _gauge("kansha_worker_heartbeat_age_seconds", "Seconds since a worker ran "
                         "the heartbeat task", time.time() - float(seen))


def _task_families() -> Iterator[Metric]:
    """`kansha_tasks_total{queue,task,outcome}` and `kansha_task_seconds{queue}`, as the
    workers recorded them (nothing when Redis cannot be read: /readyz says so)."""
    try:
        figures = task_metrics_read()
    except Exception:
        return
    counts = CounterMetricFamily("kansha_tasks", "Celery tasks finished, by queue, task and "
                                 "outcome (succeeded, failed, retried)",
                                 labels=["queue", "task", "outcome"])
    for (queue, task, outcome), value in sorted(figures.counts.items()):
        counts.add_metric([queue, task, outcome], value)
    yield counts
    seconds = HistogramMetricFamily("kansha_task_seconds", "Time Celery tasks took, per queue",
                                    labels=["queue"])
    for queue, count in sorted(figures.seconds_count.items()):
        bounds = figures.buckets.get(queue, {})
        buckets = [(str(bound), bounds.get(bound, 0.0)) for bound in BUCKETS]
        seconds.add_metric([queue], buckets + [("+Inf", count)],
                           sum_value=figures.seconds_sum.get(queue, 0.0))
    yield seconds


REGISTRY.register(StateCollector())


def metrics_authorized(request: HttpRequest) -> bool | None:
    """None when no token is configured (the endpoint is off), else whether the request
    carries it as `Authorization: Bearer <token>`."""
    token = settings.KANSHA_METRICS_TOKEN
    if not token:
        return None
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    return hmac.compare_digest(given.encode(), token.encode())


def metrics_render() -> tuple[bytes, str]:
    """The exposition text and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
