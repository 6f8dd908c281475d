"""Foursquare / Swarm: push payloads become check-in mentions; replies go to the v2 API."""

import time

import pytest

from advocates.models import Mention, WebhookDelivery
from advocates.services.platforms import brand_account_client
from tests.advocates.platforms.conftest import reloaded
from tests.fakes.foursquare_server import VENUE_ID, FakeFoursquare, checkin, user_push, venue_push

FORM = "application/x-www-form-urlencoded"


@pytest.fixture
def fake():
    with FakeFoursquare() as server:
        yield server


@pytest.fixture
def account(connect, fake):
    return connect("foursquare", fake.url, {"push_secret": "4sq-push", "oauth_token": "tok"},
                   config={"venue_ids": [VENUE_ID]}, handle="Kansha Coffee",
                   platform_user_id="1")


@pytest.fixture
def url(account):
    return f"/webhooks/foursquare/{account.pk}/"


def test_push_secret_valid_invalid_missing_and_stale(deliver, url):
    item = checkin(1)
    old = checkin(2, created=int(time.time()) - 3 * 24 * 3600)

    assert deliver(url, user_push(item, None), FORM).status_code == 403
    assert deliver(url, user_push(item, "wrong"), FORM).status_code == 403
    assert deliver(url, user_push(old, "4sq-push"), FORM).status_code == 400
    assert WebhookDelivery.objects.count() == 0

    assert deliver(url, user_push(item, "4sq-push"), FORM).status_code == 200
    assert deliver(url, user_push(item, "4sq-push"), FORM).json()["stored"] is False
    stored = WebhookDelivery.objects.get()
    assert "secret" not in stored.body  # the push secret is never stored


def test_user_push_becomes_a_checkin_mention_with_its_venue(deliver, url):
    item = checkin(3)
    assert deliver(url, user_push(item, "4sq-push"), FORM).status_code == 200
    mention = Mention.objects.get(platform="foursquare")
    assert (mention.kind, mention.venue, mention.text) == ("checkin", "Kansha Coffee Shibuya",
                                                           "Afternoon cortado ☕ #3")
    assert mention.author.platform_user_id == "33445566"
    assert mention.author.display_name == "Aiko T."
    assert mention.posted_at.timestamp() == item["createdAt"]


def test_venue_push_carries_the_user_inside_the_checkin(deliver, url):
    assert deliver(url, venue_push(checkin(4, with_user=True), "4sq-push"), FORM
                   ).status_code == 200
    assert Mention.objects.get(platform="foursquare").author.handle == "Aiko T."


def test_checkins_at_other_venues_make_no_mentions(deliver, url):
    deliver(url, user_push(checkin(5, venue_id="elsewhere"), "4sq-push"), FORM)
    assert WebhookDelivery.objects.get().processed_at is not None
    assert Mention.objects.count() == 0


def test_reply_to_a_checkin(fake, account):
    client = brand_account_client(account)
    result = client.reply(in_reply_to="5f3a01", text="Thanks for stopping by!",
                          idempotency_key="k")
    again = brand_account_client(reloaded(account)).reply(
        in_reply_to="5f3a01", text="Thanks for stopping by!", idempotency_key="k")
    call = fake.calls("POST", "/checkins/5f3a01/reply")
    assert len(call) == 1
    assert call[0].form() == {"text": ["Thanks for stopping by!"]}
    assert (call[0].q("oauth_token"), call[0].q("v")) == ("tok", "20231010")
    assert result.id == again.id == "reply1"
    assert reloaded(account).quota_remaining == 499
