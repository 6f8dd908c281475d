"""Delivery against a local fake platform: retries, backoff, rate limits, permanent errors.

A test-only client does real HTTP (requests) against tests/fakes/platform_server.py and maps
answers the way every real client must: 5xx and timeouts -> TransientError, 429 with
x-rate-limit-reset -> RateLimited(reset_at), other 4xx -> PermanentError.
"""

import threading
import time
from datetime import UTC, datetime

import pytest
import requests

from advocates import policies, ratelimit
from advocates.models import BrandAccount, Outreach, OutreachStatus
from advocates.platforms import registry
from advocates.platforms.base import (
    PermanentError,
    PlatformClient,
    PostResult,
    RateLimited,
    TransientError,
)
from advocates.services import outreach_approve, outreach_deliver
from advocates.services.outreach import MAX_ATTEMPTS, _backoff_seconds
from advocates.tasks import outreach_deliver as outreach_deliver_task
from tests.advocates.outreach_helpers import (
    actions,
    default_data,  # noqa: F401
    propose,
)
from tests.factories import MentionFactory, SocialIdentityFactory
from tests.fakes.platform_server import FakeServer, Reply

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_data")]
PLATFORM = "mastodon"  # its real client is swapped for HttpTestClient in these tests
POST_PATH = r"/api/v1/statuses"


class HttpTestClient(PlatformClient):
    policy = policies.MASTODON
    timeout = 0.5

    def reply(self, *, in_reply_to, text, idempotency_key):
        try:
            response = requests.post(
                f"{self.account.config['base_url']}/api/v1/statuses",
                json={"status": text, "in_reply_to_id": in_reply_to},
                headers={"Idempotency-Key": idempotency_key}, timeout=self.timeout)
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise TransientError(f"network: {exc.__class__.__name__}") from exc
        if response.status_code == 429:
            reset = response.headers.get("x-rate-limit-reset")
            raise RateLimited(datetime.fromtimestamp(float(reset), tz=UTC))
        if response.status_code >= 500:
            raise TransientError(f"{response.status_code} {response.reason}")
        if response.status_code >= 400:
            raise PermanentError(f"{response.status_code}: {response.text[:200]}")
        body = response.json()
        return PostResult(id=body["id"], url=body["url"], raw=body)


@pytest.fixture
def server():
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def account(server, settings, monkeypatch):
    settings.KANSHA_DELIVERY_BACKOFF_BASE = 0.01  # seconds: the test waits for real
    monkeypatch.setitem(registry.CLIENTS, PLATFORM, HttpTestClient)
    account = BrandAccount.objects.create(platform=PLATFORM, name="Test", handle="@kansha",
                                          config={"base_url": server.url})
    ratelimit.reset(account)
    yield account
    ratelimit.reset(account)


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("mika")


def _approved(staff):
    mention = MentionFactory(platform=PLATFORM, author=SocialIdentityFactory(platform=PLATFORM),
                             detection_intent="praise")
    outreach = propose(mention=mention)
    outreach_approve(outreach_id=outreach.pk, user=staff)  # on_commit not run: deliver below
    return outreach


def _ok(n=1):
    return Reply(200, {"id": f"1090{n}", "url": f"https://social.example/@kansha/1090{n}"})


def test_three_503s_then_200_delivers_once_with_four_attempts_and_one_key(server, account,
                                                                        staff):
    server.on("POST", POST_PATH, Reply(503), Reply(503), Reply(503), _ok())
    outreach = _approved(staff)

    outreach_deliver_task.delay(outreach.pk)

    outreach.refresh_from_db()
    assert (outreach.status, outreach.attempts) == (OutreachStatus.SENT, 4)
    assert (outreach.platform_result_id, outreach.platform_result_url) == (
        "10901", "https://social.example/@kansha/10901")
    calls = server.calls("POST", POST_PATH)
    assert len(calls) == 4
    assert {c.headers["idempotency-key"] for c in calls} == {str(outreach.idempotency_key)}
    attempts = outreach.log.filter(action="attempt").order_by("id")
    assert [a.detail["outcome"] for a in attempts] == ["transient"] * 3 + ["sent"]
    assert [a.detail["attempt"] for a in attempts] == [1, 2, 3, 4]


def test_backoff_grows_exponentially_with_jitter(settings):
    settings.KANSHA_DELIVERY_BACKOFF_BASE = 10
    for attempt in range(1, MAX_ATTEMPTS + 1):
        delays = {_backoff_seconds(attempt) for _ in range(50)}
        ceiling = 10 * 2 ** (attempt - 1)
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(delays) > 1  # jitter: retries of many rows do not fire together


def test_429_defers_until_reset_without_burning_an_attempt(server, account, staff):
    reset_at = datetime.now(UTC).timestamp() + 1
    server.on("POST", POST_PATH,
              Reply(429, {"error": "Too many requests"},
                    headers={"x-rate-limit-reset": str(reset_at)}),
              _ok())
    outreach = _approved(staff)

    started = datetime.now(UTC).timestamp()
    outreach_deliver_task.delay(outreach.pk)

    outreach.refresh_from_db()
    assert (outreach.status, outreach.attempts) == (OutreachStatus.SENT, 1)
    assert len(server.calls("POST", POST_PATH)) == 2
    assert datetime.now(UTC).timestamp() >= min(reset_at, started + 5) - 0.05
    deferred = outreach.log.get(action="deferred")
    assert datetime.fromisoformat(deferred.detail["until"]).timestamp() == pytest.approx(
        reset_at, abs=0.01)
    assert actions(outreach) == ["proposed", "approved", "deferred", "attempt"]


def test_a_permanent_error_fails_at_once(server, account, staff):
    server.on("POST", POST_PATH, Reply(422, {"error": "Text is too long"}), _ok())
    outreach = _approved(staff)

    outreach_deliver_task.delay(outreach.pk)

    outreach.refresh_from_db()
    assert (outreach.status, outreach.attempts) == (OutreachStatus.FAILED, 1)
    assert "422" in outreach.last_error
    assert "Text is too long" in outreach.last_error
    assert len(server.calls("POST", POST_PATH)) == 1


def test_transient_errors_fail_after_the_last_attempt(server, account, staff):
    server.on("POST", POST_PATH, Reply(502))
    outreach = _approved(staff)

    outreach_deliver_task.delay(outreach.pk)

    outreach.refresh_from_db()
    assert (outreach.status, outreach.attempts) == (OutreachStatus.FAILED, MAX_ATTEMPTS)
    assert outreach.last_error.startswith(f"gave up after {MAX_ATTEMPTS} attempts: 502")
    assert len(server.calls("POST", POST_PATH)) == MAX_ATTEMPTS


def test_a_timeout_is_retried_with_the_same_key(server, account, staff):
    answered = []

    def slow_then_fine(recorded, match):
        answered.append(recorded)
        if len(answered) == 1:
            time.sleep(1.0)  # longer than the client's 0.5 s timeout
        return _ok(len(answered))

    server.on("POST", POST_PATH, slow_then_fine)
    outreach = _approved(staff)

    outreach_deliver_task.delay(outreach.pk)

    outreach.refresh_from_db()
    assert (outreach.status, outreach.attempts) == (OutreachStatus.SENT, 2)
    first = outreach.log.filter(action="attempt").order_by("id").first()
    assert first.detail["error"] == "network: ReadTimeout"
    assert {r.headers["idempotency-key"] for r in answered} == {str(outreach.idempotency_key)}


def test_the_token_bucket_defers_without_burning_attempts(server, account, staff):
    account.config = {**account.config, "rate_limit": {"capacity": 1, "per_seconds": 1}}
    account.save()
    server.on("POST", POST_PATH, _ok(1), _ok(2))
    first, second = _approved(staff), _approved(staff)

    outreach_deliver_task.delay(first.pk)
    outreach_deliver_task.delay(second.pk)  # the bucket is empty for about a second

    for outreach in (first, second):
        outreach.refresh_from_db()
        assert (outreach.status, outreach.attempts) == (OutreachStatus.SENT, 1)
    assert second.log.get(action="deferred").detail["reason"] == "rate limit (token bucket)"


def test_in_process_waits_have_a_budget_and_the_sweep_sends_the_rest(server, account, staff,
                                                                      monkeypatch):
    """The demo's bulk approval of many rows must not hang on the rate limit: past the budget
    the rows stay approved, and the deliver sweep sends them once the bucket refills."""
    from advocates import tasks

    monkeypatch.setattr(tasks, "EAGER_WAIT_BUDGET", 0.5)
    monkeypatch.setattr(tasks, "_eager_waits", threading.local())
    account.config = {**account.config, "rate_limit": {"capacity": 1, "per_seconds": 2}}
    account.save()
    server.on("POST", POST_PATH, _ok(1), _ok(2), _ok(3))
    rows = [_approved(staff) for _ in range(3)]

    started = time.monotonic()
    results = [outreach_deliver_task.delay(o.pk).get() for o in rows]

    assert time.monotonic() - started < 2  # no waiting for the bucket's two seconds
    assert results == ["sent", "deferred", "deferred"]
    for outreach, status in zip(rows, ["sent", "approved", "approved"], strict=True):
        outreach.refresh_from_db()
        assert outreach.status == status

    ratelimit.reset(account)
    Outreach.objects.filter(pk__in=[o.pk for o in rows[1:]]).update(
        updated_at=datetime(2026, 1, 1, tzinfo=UTC))  # as if left for the sweep's age
    monkeypatch.setattr(tasks, "_eager_waits", threading.local())
    monkeypatch.setattr(tasks, "EAGER_WAIT_BUDGET", 15.0)
    assert tasks.outreach_deliver_sweep.delay().get() == 2
    assert set(Outreach.objects.filter(pk__in=[o.pk for o in rows])
               .values_list("status", flat=True)) == {"sent"}


def test_delivering_again_after_success_posts_nothing(server, account, staff):
    server.on("POST", POST_PATH, _ok())
    outreach = _approved(staff)
    outreach_deliver_task.delay(outreach.pk)

    again = outreach_deliver(outreach_id=outreach.pk)

    assert again.status == OutreachStatus.SENT
    assert len(server.calls("POST", POST_PATH)) == 1


def test_no_brand_account_fails_with_a_clear_error(staff):
    mention = MentionFactory(platform="bluesky",
                             author=SocialIdentityFactory(platform="bluesky"))
    outreach = propose(mention=mention)
    outreach_approve(outreach_id=outreach.pk, user=staff)

    result = outreach_deliver(outreach_id=outreach.pk)

    assert result.status == OutreachStatus.FAILED
    assert result.last_error == "no active brand account for bluesky"
