"""Arbitrary input that passes authentication (issue 17): a valid signature, a valid token.

For each entry point — the ingest API, the JSONL import, every platform's webhook (X, Facebook,
Instagram, Google, LINE, Foursquare) and the Stripe webhook — hypothesis mixes well-formed
items with junk (JSON of any shape, NUL, unpaired surrogates, posting times outside any sane
window, very deep nesting) in one request.
The answer is never a 500, an authentic delivery is acknowledged, and every well-formed item
in it is stored exactly once, even when the same request arrives twice.
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from advocates.importing import mentions_import
from advocates.models import Mention, WebhookDelivery
from advocates.platforms.x import webhook_signature
from advocates.services import ingest_token_issue
from advocates.services.platforms import brand_account_connect, webhooks_process_pending
from tests.factories import mention_item
from tests.fakes.facebook_server import sign as facebook_sign

pytestmark = pytest.mark.django_db

PROPERTY = settings(max_examples=10, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])
BRAND_ID = "1000"
POISON_TIMES = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00",
                "1999-01-01T00:00:00Z", "2999-01-01T00:00:00Z"]
NASTY = st.sampled_from(["\x00", "a\ud800b", "\udfff", "🍵", "", " "] + POISON_TIMES)
text = st.text(max_size=20) | NASTY
# Standard JSON has no Infinity or NaN (tested on their own below).
scalars = st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats(
    allow_nan=False, allow_infinity=False) | text
json_values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                           | st.dictionaries(text, inner, max_size=3), max_leaves=10)
DEEP = "[" * 100_000 + "]" * 100_000  # deeper than any JSON parser recurses


def _dumps(value) -> bytes:
    # ensure_ascii keeps unpaired surrogates as \ud800 escapes, as a sender's JSON would.
    return json.dumps(value).encode()


def _with_deep(body: bytes, deep: bool) -> bytes:
    """The body with a 100k-deep value spliced in as one more top-level member."""
    if not deep or not body.startswith(b"{") or body == b"{}":
        return body
    return b'{"deep": ' + DEEP.encode() + b", " + body[1:]


@pytest.fixture(autouse=True)
def _credentials_key(settings, monkeypatch):
    key = Fernet.generate_key().decode()
    settings.KANSHA_CREDENTIALS_KEY = key
    monkeypatch.setenv("KANSHA_CREDENTIALS_KEY", key)


@pytest.fixture
def accounts(db):
    def connect(platform, credentials, **config):
        return brand_account_connect(platform=platform, name=f"{platform} brand",
                                     credentials=credentials, handle="@kanshacoffee",
                                     platform_user_id=BRAND_ID,
                                     config={"base_url": "http://127.0.0.1:9", **config})

    return {
        "x": connect("x", {"consumer_secret": "x-secret", "bearer_token": "b"}),
        "facebook": connect("facebook", {"app_secret": "fb-secret", "access_token": "t",
                                         "verify_token": "v"}),
        "google": connect("google", {"push_token": "push-secret", "access_token": "t"},
                          locations={"locations/1": "Kansha Ginza"}),
        "instagram": connect("instagram", {"app_secret": "ig-secret", "access_token": "t",
                                           "verify_token": "v"}),
        "line": connect("line", {"channel_secret": "line-secret", "access_token": "t"}),
        "foursquare": connect("foursquare", {"push_secret": "4sq-push", "oauth_token": "t"}),
    }


def _stored_once(platform: str, ids: list[str]) -> None:
    """Each id is stored exactly once."""
    for external_id in ids:
        assert Mention.objects.filter(platform=platform, external_id=external_id).count() == 1


# --- X ---------------------------------------------------------------------------------------
def _tweet(tag: str) -> dict:
    return {"id_str": tag, "text": "@kanshacoffee lovely hojicha latte",
            "created_at": datetime.now(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y"),
            "user": {"id_str": f"fan-{tag}", "screen_name": "fan"},
            "entities": {"user_mentions": [{"id_str": BRAND_ID}]}}


@PROPERTY
@given(good=st.integers(0, 2), junk=st.lists(json_values | st.builds(
    lambda v, k: {**_tweet("junk"), k: v}, json_values,
    st.sampled_from(["id_str", "user", "created_at", "text", "entities"])), max_size=3),
    extra=st.dictionaries(text, json_values, max_size=2), deep=st.booleans(),
    whole=st.none() | json_values)
def test_signed_x_deliveries(client, accounts, good, junk, extra, deep, whole):
    account = accounts["x"]
    tag = f"{time.monotonic_ns()}"
    ids = [f"g{tag}{n}" for n in range(good)]
    if whole is not None and not good:  # sometimes the whole body is arbitrary JSON
        body = _dumps(whole)
    else:
        body = _with_deep(_dumps({**extra, "for_user_id": BRAND_ID,
                                  "tweet_create_events": [_tweet(i) for i in ids] + junk}),
                          deep)
    signature = webhook_signature("x-secret", body)
    for _ in range(2):  # a redelivery changes nothing
        response = client.post(f"/webhooks/x/{account.pk}/", body,
                               content_type="application/json",
                               headers={"x-twitter-webhooks-signature": signature})
        assert response.status_code < 500, response.content
        if ids:
            assert response.status_code == 200, response.content
    webhooks_process_pending()
    if deep and ids:
        # Too deep to parse at all, so no item in it can be read: acknowledged, rejected.
        assert response.json()["rejected"] == "malformed payload: nested too deeply"
        ids = []
    _stored_once("x", ids)


def test_a_signed_body_with_infinity_is_acknowledged_and_stored_rejected(client, accounts):
    body = b'{"for_user_id": "1000", "tweet_create_events": [{"followers": Infinity}]}'
    response = client.post(f"/webhooks/x/{accounts['x'].pk}/", body,
                           content_type="application/json", headers={
                               "x-twitter-webhooks-signature": webhook_signature("x-secret",
                                                                                 body)})
    assert response.status_code == 200
    assert response.json()["rejected"] == "malformed payload: body is not JSON"


def test_one_malformed_tweet_does_not_cost_the_good_one(client, accounts):
    body = _dumps({"for_user_id": BRAND_ID, "tweet_create_events": [
        _tweet("good-1"), {**_tweet("bad"), "id_str": {"nested": "object"}}]})
    response = client.post(f"/webhooks/x/{accounts['x'].pk}/", body,
                           content_type="application/json", headers={
                               "x-twitter-webhooks-signature": webhook_signature("x-secret",
                                                                                 body)})
    assert response.status_code == 200
    webhooks_process_pending()
    _stored_once("x", ["good-1"])
    delivery = WebhookDelivery.objects.get()
    assert delivery.processed_at
    assert delivery.error.startswith("1 item(s) rejected, 1 read: invalid item: external_id")


@pytest.mark.parametrize("posted", ["Fri Dec 31 23:59:59 -1400 9999",
                                    "Mon Jan 01 00:00:00 +0000 1990"])
def test_a_tweet_dated_outside_the_window_is_refused_with_its_reason(client, accounts, posted):
    event = {**_tweet("late"), "created_at": posted,
             "timestamp_ms": str(int(time.time() * 1000))}
    body = _dumps({"for_user_id": BRAND_ID, "tweet_create_events": [event, _tweet("ok")]})
    response = client.post(f"/webhooks/x/{accounts['x'].pk}/", body,
                           content_type="application/json", headers={
                               "x-twitter-webhooks-signature": webhook_signature("x-secret",
                                                                                 body)})
    assert response.status_code == 200
    webhooks_process_pending()
    assert not Mention.objects.filter(external_id="late").exists()
    _stored_once("x", ["ok"])
    assert "posted_at must lie between 2006-01-01" in WebhookDelivery.objects.get().error


# --- Facebook --------------------------------------------------------------------------------
def _change(tag: str) -> dict:
    return {"field": "feed", "value": {
        "from": {"id": f"fan-{tag}", "name": "Diner"}, "item": "status", "verb": "add",
        "post_id": tag, "message": "Loved the matcha", "created_time": int(time.time())}}


@PROPERTY
@given(good=st.integers(0, 2), junk_changes=st.lists(json_values, max_size=2),
       junk_entries=st.lists(json_values, max_size=2), deep=st.booleans(),
       whole=st.none() | json_values, long_post=st.booleans())
def test_signed_facebook_deliveries(client, accounts, good, junk_changes, junk_entries, deep,
                                    whole, long_post):
    account = accounts["facebook"]
    tag = f"{time.monotonic_ns()}"
    ids = [f"{BRAND_ID}_{tag}{n}" for n in range(good)]
    changes = [_change(i) for i in ids] + junk_changes
    if long_post:  # a 104k-character post: refused on its own, with its reason
        changes.append({**_change(f"{tag}long"), "value": {
            **_change(f"{tag}long")["value"], "message": "x" * 104_000}})
    if whole is not None and not good:
        body = _dumps(whole)
    else:
        body = _with_deep(_dumps({"object": "page", "entry": [
            {"id": BRAND_ID, "time": int(time.time()), "changes": changes}, *junk_entries]}),
            deep)
    for _ in range(2):
        response = client.post(f"/webhooks/facebook/{account.pk}/", body,
                               content_type="application/json",
                               headers={"X-Hub-Signature-256": facebook_sign(body, "fb-secret")})
        assert response.status_code < 500, response.content
        if ids:
            assert response.status_code == 200, response.content
    webhooks_process_pending()
    if deep and ids:  # too deep to parse at all: acknowledged and rejected
        assert response.json()["rejected"] == "malformed payload: nested too deeply"
        ids = []
    _stored_once("facebook", ids)
    assert not Mention.objects.filter(external_id=f"{tag}long").exists()


# --- Instagram and LINE (signed; the content is fetched later, so the delivery is the item) --
def _signed_twice(client, url: str, body: bytes, headers: dict[str, str]) -> None:
    """Post the same signed body twice: never a 500, and the second adds no delivery."""
    response = client.post(url, body, content_type="application/json", headers=headers)
    assert response.status_code < 500, response.content
    stored = WebhookDelivery.objects.count()
    response = client.post(url, body, content_type="application/json", headers=headers)
    assert response.status_code < 500, response.content
    assert WebhookDelivery.objects.count() == stored


@PROPERTY
@given(changes=st.lists(json_values | st.just({"field": "mentions", "value": {
    "media_id": "17900000000000001"}}), max_size=3), whole=st.none() | json_values,
    deep=st.booleans())
def test_signed_instagram_deliveries(client, accounts, changes, whole, deep):
    account = accounts["instagram"]
    body = _dumps(whole) if whole is not None else _with_deep(_dumps({
        "object": "instagram", "entry": [{"id": BRAND_ID, "time": int(time.time()),
                                          "changes": changes}]}), deep)
    _signed_twice(client, f"/webhooks/instagram/{account.pk}/", body,
                  {"X-Hub-Signature-256": facebook_sign(body, "ig-secret")})


@PROPERTY
@given(events=st.lists(json_values, max_size=3), whole=st.none() | json_values,
       deep=st.booleans())
def test_signed_line_deliveries(client, accounts, events, whole, deep):
    from advocates.platforms.line import line_signature

    account = accounts["line"]
    body = _dumps(whole) if whole is not None else _with_deep(_dumps({
        "destination": BRAND_ID, "events": events}), deep)
    _signed_twice(client, f"/webhooks/line/{account.pk}/", body,
                  {"X-Line-Signature": line_signature("line-secret", body)})


# --- Foursquare (a form with the push secret) ------------------------------------------------
@PROPERTY
@given(well_formed=st.booleans(), junk=json_values, extra=st.dictionaries(text, json_values,
                                                                          max_size=2),
       user=st.none() | json_values)
def test_signed_foursquare_pushes(client, accounts, well_formed, junk, extra, user):
    from urllib.parse import urlencode

    from tests.fakes.foursquare_server import checkin

    account = accounts["foursquare"]
    item = {**checkin(time.monotonic_ns() % 10**12, with_user=True), **extra}
    fields = {"secret": "4sq-push", "checkin": json.dumps(item if well_formed else junk)}
    if user is not None:
        fields["user"] = json.dumps(user)
    body = urlencode(fields)
    for _ in range(2):
        response = client.post(f"/webhooks/foursquare/{account.pk}/", body,
                               content_type="application/x-www-form-urlencoded")
        assert response.status_code < 500, response.content
    webhooks_process_pending()
    # Well-formed: a check-in whose own fields no junk replaced, with its user inside it.
    readable = well_formed and user is None and not set(extra) & set(checkin(1, with_user=True))
    if readable:
        assert response.status_code == 200, response.content
        _stored_once("foursquare", [item["id"]])


# --- Google (Pub/Sub push, token in the URL) -------------------------------------------------
@PROPERTY
@given(message=json_values, deep=st.booleans(), data=json_values)
def test_google_pushes_with_the_right_token_never_answer_500(client, accounts, message, deep,
                                                            data):
    account = accounts["google"]
    if isinstance(message, dict):
        message = {**message, "data": base64.b64encode(_dumps(data)).decode(),
                   "publishTime": datetime.now(UTC).isoformat()}
    body = _with_deep(_dumps({"message": message, "subscription": "projects/p/subs/s"}), deep)
    response = client.post(f"/webhooks/google/{account.pk}/?token=push-secret", body,
                           content_type="application/json")
    assert response.status_code < 500, response.content
    if response.status_code == 200 and "rejected" in response.json():
        assert WebhookDelivery.objects.get(pk=response.json()["id"]).processed_at


def test_google_push_with_a_string_message_is_acknowledged_and_stored_rejected(client,
                                                                                accounts):
    response = client.post(f"/webhooks/google/{accounts['google'].pk}/?token=push-secret",
                           _dumps({"message": "hello"}), content_type="application/json")
    assert response.status_code == 200
    assert response.json()["rejected"] == "malformed payload: message is not an object"
    stored = WebhookDelivery.objects.get()
    assert stored.error == "malformed payload: message is not an object"
    assert stored.body["text"] == '{"message": "hello"}'


# --- Stripe ----------------------------------------------------------------------------------
@pytest.fixture
def stripe_secret(settings):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_test"
    return "whsec_test"


@PROPERTY
@given(body=json_values, event_id=text | st.just("evt_" + "x" * 300), deep=st.booleans(),
       well_formed=st.booleans())
def test_signed_stripe_bodies(client, stripe_secret, body, event_id, deep, well_formed):
    from rewards.models import StripeEvent
    from rewards.stripe_client import webhook_signature_header

    good_id = f"evt_{time.monotonic_ns()}"
    if well_formed:
        body = {"id": good_id, "object": "event", "type": "customer.created",
                "created": int(time.time()), "data": {"object": {"junk": body}}}
    elif isinstance(body, dict):
        body = {**body, "id": event_id, "type": "checkout.session.completed"}
    payload = _with_deep(_dumps(body), deep and not well_formed)
    header = webhook_signature_header(payload=payload, secret=stripe_secret,
                                      timestamp=int(time.time()))
    for _ in range(2):
        response = client.post("/stripe/webhook/", data=payload,
                               content_type="application/json", HTTP_STRIPE_SIGNATURE=header)
        assert response.status_code == 200, response.content
    if well_formed:
        assert StripeEvent.objects.filter(event_id=good_id).count() == 1


def test_a_signed_stripe_list_body_is_acknowledged_and_stored_rejected(client, stripe_secret):
    from rewards.models import StripeEvent
    from rewards.stripe_client import webhook_signature_header

    payload = b'[{"id": "evt_1", "type": "invoice.paid"}]'
    header = webhook_signature_header(payload=payload, secret=stripe_secret,
                                      timestamp=int(time.time()))
    response = client.post("/stripe/webhook/", data=payload, content_type="application/json",
                           HTTP_STRIPE_SIGNATURE=header)
    assert response.status_code == 200
    assert response.json()["rejected"] == "body is not a JSON object"
    event = StripeEvent.objects.get()
    assert (event.outcome, event.error) == ("rejected", "body is not a JSON object")
    assert event.processed_at


# --- The ingest API ---------------------------------------------------------------------------
@PROPERTY
@given(good=st.integers(0, 3), junk=st.lists(json_values | st.builds(
    lambda v, k: {**mention_item(1), k: v}, json_values,
    st.sampled_from(["posted_at", "text", "external_id", "author_handle", "kind", "extra"])),
    max_size=2), deep=st.booleans())
def test_api_batches(client, good, junk, deep):
    _, secret = ingest_token_issue(name=f"hyp-{time.monotonic_ns()}")
    tag = f"{time.monotonic_ns()}"
    items = [mention_item(n, external_id=f"api-{tag}-{n}", extra_field={"kept": n})
             for n in range(good)] + junk
    body = _with_deep(_dumps({"mentions": items}), deep)
    for _ in range(2):
        response = client.post("/api/v1/mentions", body, content_type="application/json",
                               HTTP_AUTHORIZATION=f"Bearer {secret}")
        assert response.status_code < 500, response.content
    if response.status_code == 200:
        for n in range(good):
            mention = Mention.objects.get(platform="sandbox", external_id=f"api-{tag}-{n}")
            assert mention.raw["extra_field"] == {"kept": n}  # unknown fields are kept
    else:  # one bad item refuses the request, as documented; nothing is half-stored
        assert response.status_code == 400
        assert not Mention.objects.filter(external_id__startswith=f"api-{tag}-").exists()


@pytest.mark.parametrize("posted_at", POISON_TIMES)
def test_api_refuses_poison_posting_times_with_a_clear_reason(client, posted_at):
    _, secret = ingest_token_issue(name="poison")
    response = client.post("/api/v1/mentions", {"mentions": [mention_item(1,
                                                                          posted_at=posted_at)]},
                           content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 400
    assert "posted_at must lie between 2006-01-01 and one day from now" in response.content.decode()
    assert not Mention.objects.exists()


# --- The JSONL import ---------------------------------------------------------------------------
@PROPERTY
@given(lines=st.lists(st.booleans(), min_size=1, max_size=6), junk=st.lists(
    json_values | st.builds(lambda v, k: {**mention_item(1), k: v}, json_values,
                            st.sampled_from(["posted_at", "text", "extra"])), max_size=3),
    deep=st.booleans())
def test_jsonl_import_stores_every_good_line_once(tmp_path_factory, lines, junk, deep):
    tag = f"{time.monotonic_ns()}"
    good = [f"imp-{tag}-{n}" for n, is_good in enumerate(lines) if is_good]
    rows = [_dumps(mention_item(n, external_id=i, extra={"nul": "a\x00b", "lone": "\ud800"}))
            for n, i in enumerate(good)] + [_dumps(j) for j in junk]
    if deep:
        rows.append(DEEP.encode())
    path = Path(tmp_path_factory.mktemp("imp")) / "mentions.jsonl"
    path.write_bytes(b"\n".join(rows) + b"\n")
    for _ in range(2):
        result = mentions_import(path=path, batch_size=2)
        assert result.created + result.duplicate + len(result.invalid) >= len(good)
    _stored_once("sandbox", good)
    for external_id in good:
        raw = Mention.objects.get(external_id=external_id).raw
        assert raw["extra"] == {"nul": "a\ufffdb", "lone": "\ufffd"}


def test_import_command_isolates_a_deep_line_and_prints_no_personal_data(tmp_path, capsys):
    from django.core.management import call_command

    path = tmp_path / "mentions.jsonl"
    path.write_bytes(b"\n".join([
        _dumps(mention_item(1, external_id="imp-ok", author_handle="@secret_handle")),
        DEEP.encode(),
        _dumps(mention_item(2, external_id="imp-nul", author_handle="@secret_handle",
                            note="\x00")),
        _dumps(mention_item(3, external_id="imp-late", author_handle="@secret_handle",
                            posted_at="9999-12-31T23:59:59-14:00")),
    ]) + b"\n")
    call_command("import_mentions", str(path), verbosity=1)
    out = capsys.readouterr()
    assert "2 created, 0 duplicate, 2 invalid." in out.out
    assert "line 2: not valid JSON: nested too deeply" in out.err
    assert "line 4: posted_at: Value error, posted_at must lie between" in out.err
    assert "secret_handle" not in out.out + out.err
    assert set(Mention.objects.values_list("external_id", flat=True)) == {"imp-ok", "imp-nul"}
