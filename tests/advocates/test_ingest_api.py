"""`POST /api/v1/mentions`: token auth, 400 with field errors, idempotent batches, OpenAPI."""

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone

from advocates.models import IngestToken, Mention, SocialIdentity
from advocates.services import ingest_token_issue
from tests.factories import mention_item

pytestmark = pytest.mark.django_db

URL = "/api/v1/mentions"


@pytest.fixture
def secret():
    _, secret = ingest_token_issue(name="listening tool")
    return secret


def _post(client, body, token=None, raw=False):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    data = body if raw else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", headers=headers)


def _batch(n, start=0, **overrides):
    return {"mentions": [mention_item(i, **overrides) for i in range(start, start + n)]}


def test_a_batch_is_ingested_and_counted(client, secret):
    response = _post(client, _batch(5), secret)

    assert response.status_code == 200, response.content
    assert response.json() == {"created": 5, "duplicate": 0, "invalid": []}
    assert Mention.objects.filter(source="api").count() == 5
    assert SocialIdentity.objects.count() == 5


def test_reposting_the_same_batch_creates_nothing(client, secret):
    _post(client, _batch(8), secret)
    before = list(Mention.objects.order_by("id").values())

    response = _post(client, _batch(8), secret)

    assert response.json() == {"created": 0, "duplicate": 8, "invalid": []}
    assert list(Mention.objects.order_by("id").values()) == before


def test_a_partly_new_batch_creates_only_the_new_mentions(client, secret):
    _post(client, _batch(4), secret)
    response = _post(client, _batch(6), secret)
    assert response.json() == {"created": 2, "duplicate": 4, "invalid": []}


@pytest.mark.parametrize("header", [None, "Bearer ksh_wrong", "Token abc", "Bearer "])
def test_without_a_valid_token_the_answer_is_401(client, header):
    headers = {"Authorization": header} if header else {}
    response = client.post(URL, data=json.dumps(_batch(1)), content_type="application/json",
                           headers=headers)
    assert response.status_code == 401
    assert Mention.objects.count() == 0


def test_a_revoked_token_is_refused(client, secret):
    IngestToken.objects.update(revoked_at=timezone.now())
    response = _post(client, _batch(1), secret)
    assert response.status_code == 401
    assert Mention.objects.count() == 0


def test_using_a_token_records_when_it_was_last_used(client, secret):
    _post(client, _batch(1), secret)
    assert IngestToken.objects.get().last_used_at is not None


def _errors(response):
    assert response.status_code == 400, response.content
    return response.json()["detail"]


def test_malformed_json_is_400_and_writes_nothing(client, secret):
    response = _post(client, '{"mentions": [', secret, raw=True)
    assert response.status_code == 400
    assert Mention.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        (_batch(1, rating="lots", kind="review"), "rating", "valid integer"),
        (_batch(1, posted_at="2026-11-20T09:30:00"), "posted_at", "UTC offset"),
        ({"mentions": [{k: v for k, v in mention_item(1).items() if k != "text"}]}, "text",
         "Field required"),
        (_batch(1, platform="myspace"), "platform", "Input should be"),
        ({"mentions": []}, "mentions", "at least 1 item"),
        (_batch(1001), "mentions", "at most 1000 items"),
        ({"items": [mention_item(1)]}, "mentions", "Field required"),
    ],
    ids=["wrong-type", "naive-datetime", "missing-field", "unknown-platform", "empty-list",
         "1001-items", "no-mentions-key"],
)
def test_a_malformed_batch_is_400_with_field_errors_and_writes_nothing(
    client, secret, body, field, message
):
    errors = _errors(_post(client, body, secret))

    assert any(field in error["loc"] and message in error["msg"] for error in errors), errors
    assert Mention.objects.count() == 0
    assert SocialIdentity.objects.count() == 0


def test_one_bad_item_rejects_the_whole_batch_and_says_which(client, secret):
    body = _batch(5)
    body["mentions"][3]["posted_at"] = "yesterday"

    errors = _errors(_post(client, body, secret))

    assert errors[0]["loc"][-3:] == ["mentions", "3", "posted_at"]
    assert Mention.objects.count() == 0


def test_1000_items_is_the_largest_batch_accepted(client, secret):
    response = _post(client, _batch(1000), secret)
    assert response.json()["created"] == 1000


def test_the_openapi_schema_documents_the_endpoint_and_its_auth(client):
    schema = client.get("/api/v1/openapi.json").json()

    operation = schema["paths"]["/api/v1/mentions"]["post"]
    scheme_name = next(iter(operation["security"][0]))
    assert schema["components"]["securitySchemes"][scheme_name] == {
        "type": "http", "scheme": "bearer"}
    body_ref = operation["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    batch = schema["components"]["schemas"][body_ref.rsplit("/", 1)[-1]]
    assert batch["properties"]["mentions"]["maxItems"] == 1000
    mention_ref = batch["properties"]["mentions"]["items"]["$ref"]
    mention = schema["components"]["schemas"][mention_ref.rsplit("/", 1)[-1]]
    assert set(mention["properties"]) == {
        "platform", "external_id", "author_id", "author_handle", "author_name", "text",
        "posted_at", "kind", "url", "language", "rating", "venue", "in_reply_to", "followers"}
    assert set(mention["required"]) == {"platform", "external_id", "author_id",
                                        "author_handle", "text", "posted_at", "kind"}
    assert {"200", "400", "401"} <= set(operation["responses"])


@pytest.fixture
def admin_client(client):
    user = get_user_model().objects.create_superuser("boss", "boss@example.com", "pw-12345!")
    client.force_login(user)
    return client


def test_the_admin_shows_a_new_tokens_secret_once_and_stores_only_its_hash(admin_client):
    add_url = reverse("wagtailsnippets_advocates_ingesttoken:add")

    response = admin_client.post(add_url, {"name": "Brandwatch export", "scopes": ["ingest"]},
                                 follow=True)

    assert response.status_code == 200
    html = response.content.decode()
    shown = re.search(r"<code>(ksh_[\w-]+)</code>", html)
    assert shown, "the success message shows the secret"
    secret = shown.group(1)
    token = IngestToken.objects.get()
    assert token.name == "Brandwatch export"
    assert token.key_hash == IngestToken.hash_key(secret)
    assert token.prefix == secret[:10]
    assert secret not in json.dumps(list(IngestToken.objects.values()), default=str)
    # The secret works, and the listing never shows it again.
    listing = admin_client.get(reverse("wagtailsnippets_advocates_ingesttoken:list"))
    assert secret not in listing.content.decode()
    assert _post(admin_client, _batch(1), secret).status_code == 200


def test_a_token_without_the_ingest_scope_gets_403_and_stores_nothing(client):
    _, secret = ingest_token_issue(name="till", scopes=["redeem"])
    response = _post(client, _batch(1), secret)
    assert response.status_code == 403
    assert "'ingest' scope" in response.json()["detail"]
    assert Mention.objects.count() == 0


def test_an_unknown_scope_is_refused_when_issuing():
    with pytest.raises(ValueError, match="Scopes must be"):
        ingest_token_issue(name="x", scopes=["admin"])
    assert not IngestToken.objects.exists()


def test_the_admin_issues_scoped_tokens_shows_the_scopes_and_revokes(admin_client):
    add_url = reverse("wagtailsnippets_advocates_ingesttoken:add")
    response = admin_client.post(add_url, {"name": "Till", "scopes": ["redeem"]}, follow=True)
    assert response.status_code == 200
    secret = re.search(r"<code>(ksh_[\w-]+)</code>", response.content.decode()).group(1)
    token = IngestToken.objects.get()
    assert token.scopes == ["redeem"]
    listing = admin_client.get(reverse("wagtailsnippets_advocates_ingesttoken:list")).text
    assert "redeem" in listing
    revoke_url = reverse("kansha_api_token_revoke", args=[token.pk])
    assert revoke_url in listing
    # A token with no scope at all is refused by the form (nothing stored).
    again = admin_client.post(add_url, {"name": "Nothing"})
    assert IngestToken.objects.count() == 1
    assert "This field is required" in again.content.decode()

    assert admin_client.get(revoke_url).status_code == 200
    response = admin_client.post(revoke_url, follow=True)
    assert "revoked" in response.content.decode()
    token.refresh_from_db()
    assert token.revoked_at is not None
    redeemed = admin_client.post("/api/v1/rewards/redemptions",
                                 {"code": "KAN-XXXX-XXXX", "order_amount_minor": 100,
                                  "currency": "jpy"}, content_type="application/json",
                                 HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert redeemed.status_code == 401


def test_existing_tokens_keep_only_the_ingest_scope():
    import importlib

    from django.apps import apps

    IngestToken.objects.create(name="old", prefix="ksh_old", key_hash="1" * 64, scopes=[])
    importlib.import_module(
        "advocates.migrations.0006_api_token_scopes").existing_tokens_ingest_only(apps, None)
    assert IngestToken.objects.get().scopes == ["ingest"]
