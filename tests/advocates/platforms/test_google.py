"""Google Business Profile: the real client against a fake API and Pub/Sub push envelopes."""

from datetime import UTC, datetime, timedelta

import pytest

from advocates.models import Mention, WebhookDelivery
from advocates.platforms.credentials import credentials_decrypt
from advocates.services.platforms import brand_account_client, brand_account_poll
from tests.advocates.platforms.conftest import reloaded
from tests.fakes.google_server import ACCOUNT, LOCATIONS, FakeGoogle, push, review
from tests.fakes.platform_server import Reply

SHIBUYA, KYOTO = sorted(LOCATIONS)


@pytest.fixture
def fake():
    with FakeGoogle() as server:
        yield server


@pytest.fixture
def account(connect, fake):
    return connect("google", fake.url, {
        "access_token": "ya29.first", "refresh_token": "1//refresh", "client_id": "cid",
        "client_secret": "csecret", "push_token": "push-secret"},
        config={"token_url": f"{fake.url}/token", "locations": LOCATIONS},
        handle="Kansha Coffee", platform_user_id=ACCOUNT)


def test_reviews_of_every_location_become_rated_review_mentions(fake, account):
    fake.reviews[SHIBUYA] = [review(1, stars=5), review(2, stars=2, anonymous=True)]
    fake.reviews[KYOTO] = [review(3, KYOTO, stars=4)]

    outcome = brand_account_poll(account_id=account.pk)

    assert (outcome.created, outcome.pages) == (3, 2)
    call = fake.calls("GET", f"/{SHIBUYA}/reviews")[0]
    assert (call.q("pageSize"), call.q("orderBy")) == ("50", "updateTime desc")
    five = Mention.objects.get(external_id=review(1)["reviewId"])
    assert (five.kind, five.rating, five.venue) == ("review", 5, "Kansha Shibuya")
    assert five.author.handle == "Reviewer 1"
    two = Mention.objects.get(external_id=review(2)["reviewId"])
    assert two.rating == 2
    assert two.author.platform_user_id.startswith("anonymous:")
    assert Mention.objects.get(external_id=review(3)["reviewId"]).venue == "Kansha Kyoto"


def test_paging_resumes_per_location_after_a_restart(fake, account):
    fake.reviews[SHIBUYA] = [review(n) for n in range(1, 121)]  # 3 pages
    fake.reviews[KYOTO] = [review(n, KYOTO) for n in range(200, 205)]
    brand_account_poll(account_id=account.pk)  # the first run takes each newest page
    fake.reviews[SHIBUYA] += [review(n) for n in range(121, 181)]  # 60 new

    assert brand_account_poll(account_id=account.pk, max_pages=1).created == 50
    cursor = reloaded(account).cursor["poll"]
    assert cursor["index"] == 0
    assert cursor["per_location"][SHIBUYA]["page"] == "50"
    again = brand_account_poll(account_id=account.pk)
    assert (again.created, again.duplicate) == (10, 0)
    assert Mention.objects.filter(platform="google").count() == 50 + 5 + 60


def test_expired_token_is_refreshed_with_the_refresh_token(fake, account):
    fake.token = "ya29.rotated"  # the stored access token no longer works
    fake.reviews[SHIBUYA] = [review(1)]

    assert brand_account_poll(account_id=account.pk).created == 1

    form = fake.calls("POST", "/token")[0].form()
    assert form["grant_type"] == ["refresh_token"]
    assert form["refresh_token"] == ["1//refresh"]
    assert credentials_decrypt(reloaded(account).credentials_encrypted)["access_token"] == \
        "ya29.refreshed"


def test_429_defers_polling(fake, account):
    fake.once("GET", f"/{SHIBUYA}/reviews", Reply(429, {"error": {
        "code": 429, "status": "RESOURCE_EXHAUSTED"}}, {"Retry-After": "120"}))
    outcome = brand_account_poll(account_id=account.pk)
    assert outcome.deferred_until > datetime.now(UTC) + timedelta(seconds=100)
    assert brand_account_poll(account_id=account.pk).skipped == "quota exhausted"


def test_reply_puts_the_documented_body(fake, account):
    fake.reviews[SHIBUYA] = [review(1)]
    brand_account_poll(account_id=account.pk)
    result = brand_account_client(reloaded(account)).reply(
        in_reply_to=review(1)["reviewId"], text="Thank you for visiting!", idempotency_key="k")
    put = fake.calls("PUT")[0]
    assert put.path == f"/{review(1)['name']}/reply"
    assert put.json() == {"comment": "Thank you for visiting!"}
    assert result.id == f"{review(1)['reviewId']}/reply"


def test_pubsub_push_token_and_freshness_then_the_review_is_fetched(deliver, fake, account):
    fake.reviews[KYOTO] = [review(7, KYOTO, stars=3)]
    url = f"/webhooks/google/{account.pk}/"
    body = push({"type": "NEW_REVIEW", "reviewName": review(7, KYOTO)["name"],
                 "locationName": KYOTO})
    old = (datetime.now(UTC) - timedelta(days=9)).isoformat()
    stale = push({"type": "NEW_REVIEW", "reviewName": review(7, KYOTO)["name"]},
                 message_id="9002", publish_time=old)

    assert deliver(url, body).status_code == 403
    assert deliver(f"{url}?token=wrong", body).status_code == 403
    assert deliver(f"{url}?token=push-secret", stale).status_code == 400
    assert WebhookDelivery.objects.count() == 0

    assert deliver(f"{url}?token=push-secret", body).status_code == 200
    assert deliver(f"{url}?token=push-secret", body).json()["stored"] is False
    mention = Mention.objects.get(platform="google")
    assert (mention.rating, mention.venue, mention.source) == (3, "Kansha Kyoto", "webhook")
    assert fake.calls("GET", f"/{review(7, KYOTO)['name']}")
