"""The Brand accounts admin (secrets encrypted, never shown again), `manage.py platforms`,
the beat fan-out, and the shared HTTP error mapping."""

from io import StringIO

import pytest
import requests
from django.core.management import CommandError, call_command
from django.urls import reverse

from advocates.models import BrandAccount, Mention
from advocates.platforms.base import PermanentError, RateLimited, TransientError
from advocates.platforms.credentials import credentials_decrypt
from advocates.platforms.http import ApiSession, QuotaHeaders
from advocates.services.platforms import AccountStore
from advocates.tasks import platforms_poll
from tests.advocates.platforms.conftest import reloaded
from tests.fakes.mastodon_server import FakeMastodon, notification
from tests.fakes.platform_server import FakeServer, Reply


@pytest.fixture
def admin_client(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("ops", "ops@example.com", "pw"))
    return client


def _form(**overrides):
    data = {"platform": "mastodon", "name": "Main", "handle": "@kansha@social.example",
            "platform_user_id": "109000", "active": "on",
            "config": '{"base_url": "https://social.example"}',
            "secret_access_token": "masto-secret-token"}
    data.update(overrides)
    return data


def test_admin_creates_an_account_with_encrypted_secrets_never_shown_again(admin_client):
    response = admin_client.post(reverse("wagtailsnippets_advocates_brandaccount:add"), _form())
    assert response.status_code == 302, response.content[:2000]

    account = BrandAccount.objects.get(platform="mastodon")
    assert account.config == {"base_url": "https://social.example"}
    assert "masto-secret-token" not in account.credentials_encrypted
    assert credentials_decrypt(account.credentials_encrypted) == {
        "access_token": "masto-secret-token"}
    edit = admin_client.get(reverse("wagtailsnippets_advocates_brandaccount:edit",
                                    args=[account.pk]))
    assert edit.status_code == 200
    assert b"masto-secret-token" not in edit.content
    assert "stored (leave blank to keep)" in edit.content.decode()
    listing = admin_client.get(reverse("wagtailsnippets_advocates_brandaccount:list"))
    assert b"masto-secret-token" not in listing.content


def test_admin_edit_keeps_blank_secrets_and_can_replace_them(admin_client):
    admin_client.post(reverse("wagtailsnippets_advocates_brandaccount:add"),
                      _form(secret_consumer_secret="other"))
    account = BrandAccount.objects.get(platform="mastodon")
    url = reverse("wagtailsnippets_advocates_brandaccount:edit", args=[account.pk])

    admin_client.post(url, _form(name="Renamed", secret_access_token=""))
    assert reloaded(account).name == "Renamed"
    assert credentials_decrypt(reloaded(account).credentials_encrypted) == {
        "access_token": "masto-secret-token", "consumer_secret": "other"}

    admin_client.post(url, _form(secret_access_token="new", replace_credentials="on"))
    assert credentials_decrypt(reloaded(account).credentials_encrypted) == {
        "access_token": "new"}


def test_admin_rejects_bad_config_json(admin_client):
    response = admin_client.post(reverse("wagtailsnippets_advocates_brandaccount:add"),
                                 _form(config="{not json"))
    assert response.status_code == 200
    assert not BrandAccount.objects.filter(platform="mastodon").exists()


def test_platforms_check_prints_health_and_quota(connect):
    with FakeMastodon() as fake:
        good = connect("mastodon", fake.url, {"access_token": "t"}, platform_user_id="109000")
        broken = connect("mastodon", fake.url, {}, name="broken")  # no token stored
        out = StringIO()
        with pytest.raises(CommandError, match="1 of 2 account"):
            call_command("platforms", "check", "--account", str(good.pk), "--account",
                         str(broken.pk), stdout=out)
    text = out.getvalue()
    assert "main" in text
    assert "ok  as kansha  quota remaining: 299" in text
    assert "FAILED" in text
    assert "credential 'access_token' is not set" in text


def test_platforms_poll_command_and_beat_fan_out(connect):
    with FakeMastodon() as fake:
        fake.notifications = [notification(1), notification(2)]
        account = connect("mastodon", fake.url, {"access_token": "t"})
        pushes = connect("foursquare", "http://127.0.0.1:9", {}, name="venue")
        out = StringIO()
        call_command("platforms", "poll", "--account", str(account.pk), stdout=out)
        assert "2 new, 0 duplicate, 1 page(s)" in out.getvalue()

        fake.notifications.append(notification(3))
        assert platforms_poll.delay().get() == 1  # one polling account; Foursquare pushes
        assert Mention.objects.filter(platform="mastodon").count() == 3
        assert reloaded(pushes).last_error == ""


# --- the shared HTTP session --------------------------------------------------------------------
@pytest.fixture
def server():
    with FakeServer() as fake:
        yield fake


@pytest.fixture
def session(server, connect):
    account = connect("mastodon", server.url, {})
    return ApiSession(state=AccountStore(account), base_url=server.url, timeout=(1.0, 1.0),
                      quota=QuotaHeaders(remaining="X-Remaining", reset="X-Reset"))


def test_http_errors_are_classified(server, session):
    server.on("GET", "/boom", Reply(503, {"error": "down"}))
    server.on("GET", "/bad", Reply(422, {"error": "text too long"}))
    server.on("GET", "/slow", Reply(429, {}, {"X-Remaining": "0", "X-Reset": "4102444800"}))
    with pytest.raises(TransientError, match="503"):
        session.get("/boom")
    with pytest.raises(PermanentError, match="422 .*text too long"):
        session.get("/bad")
    with pytest.raises(RateLimited) as limited:
        session.get("/slow")
    assert limited.value.reset_at.year == 2100
    assert reloaded(session.account).quota_remaining == 0


def test_connection_failures_and_timeouts_are_transient(session, monkeypatch):
    session.base_url = "http://127.0.0.1:9"  # nothing listens there
    with pytest.raises(TransientError):
        session.get("/x")

    def timeout(*args, **kwargs):
        raise requests.ReadTimeout("read timed out")

    monkeypatch.setattr(session.session, "request", timeout)
    with pytest.raises(TransientError, match="ReadTimeout"):
        session.get("/x")


def test_platforms_stream_command_reads_the_mastodon_user_stream(connect):
    with FakeMastodon() as fake:
        fake.stream = [*fake.sse(notification(1)), ":thump", *fake.sse(notification(2))]
        account = connect("mastodon", fake.url, {"access_token": "t"})
        out = StringIO()
        call_command("platforms", "stream", "--account", str(account.pk), "--once", stdout=out)
    assert "stream ended, 2 new" in out.getvalue()
    assert Mention.objects.filter(platform="mastodon", source="stream").count() == 2
