"""Opt-out: a reply, the public page (EN/JA, handle or signed link) or staff."""

import pytest
from django.core.cache import cache

from advocates.models import Outreach, OutreachStatus, Route
from advocates.services import advocate_opt_out
from advocates.services.consent import opt_out_token_make
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.advocates.routing_helpers import brand_settings, ingest_and_detect, item

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_data")]

PRAISE = "Best flat white in town, thank you @kanshacoffee! ☕"


@pytest.fixture(autouse=True)
def _no_rate_limit_leftovers():
    """The opt-out rate limit counts in the cache (the Redis db of the test run, which
    outlives a run): start and end each test with no counts."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def fan():
    brand_settings(reshare_requires_consent=False)
    (mention,) = ingest_and_detect([item(1, PRAISE, author_handle="@aiko_coffee")])
    assert Outreach.objects.filter(mention=mention, status=OutreachStatus.PROPOSED).exists()
    return mention.author.advocate


def _never_again(advocate):
    advocate.refresh_from_db()
    assert advocate.opted_out
    assert not Outreach.objects.filter(advocate=advocate,
                                       status=OutreachStatus.PROPOSED).exists()
    (later,) = ingest_and_detect([item(9, "Still the best latte @kanshacoffee, thank you!",
                                       author_id="author-r1")])
    assert (later.route, later.skip_reason) == (Route.NONE, "advocate opted out")
    assert not Outreach.objects.filter(mention=later).exists()


def test_opt_out_page_by_handle(fan, client):
    page = client.get("/opt-out/")
    assert page.status_code == 200
    assert "Stop all contact" in page.content.decode()

    response = client.post("/opt-out/", {"platform": "sandbox", "handle": "aiko_coffee"})

    assert response.status_code == 200
    assert "We will not reply to, reshare or message you again" in response.content.decode()
    fan.refresh_from_db()
    assert fan.opt_out_source == "page"
    _never_again(fan)
    rejected = Outreach.objects.filter(advocate=fan, status=OutreachStatus.REJECTED)
    assert set(rejected.values_list("reject_reason", flat=True)) == {"opted out"}


def test_unknown_handle_gets_the_same_answer_and_changes_nothing(fan, client):
    response = client.post("/opt-out-ja/", {"platform": "x", "handle": "@nobody"})
    assert "停止しました" in response.content.decode()
    fan.refresh_from_db()
    assert not fan.opted_out


def test_a_blank_handle_is_a_form_error(fan, client):
    response = client.post("/opt-out/", {"platform": "sandbox", "handle": ""})
    assert response.status_code == 400
    fan.refresh_from_db()
    assert not fan.opted_out


def test_signed_link_confirms_with_one_click_but_not_on_get(fan, client):
    token = opt_out_token_make(fan)

    shown = client.get(f"/opt-out/?token={token}")
    fan.refresh_from_db()
    assert shown.status_code == 200
    assert not fan.opted_out  # link scanners follow GETs

    client.post("/opt-out/", {"token": token})
    _never_again(fan)


def test_a_forged_link_is_refused(fan, client):
    assert client.get("/opt-out/?token=123:forged").status_code == 404


def test_staff_opt_out_is_recorded(fan, django_user_model):
    user = django_user_model.objects.create_user("sora")
    rejected = advocate_opt_out(advocate=fan, source="staff", user=user)
    assert rejected >= 1
    fan.refresh_from_db()
    assert fan.opt_out_source == "staff"
    _never_again(fan)


def test_a_stop_reply_opts_out(fan):
    ingest_and_detect([item(2, "@kanshacoffee stop", author_id="author-r1", kind="reply")])
    _never_again(fan)


def test_opt_out_by_handle_is_rate_limited_per_address(fan, client, settings):
    """Opting out by handle needs no proof, so one address may only try a few handles."""
    settings.KANSHA_OPT_OUT_MAX_PER_HOUR = 3
    for n in range(3):
        answer = client.post("/opt-out/", {"platform": "x", "handle": f"@nobody{n}"},
                             REMOTE_ADDR="203.0.113.20")
        assert answer.status_code == 200
    refused = client.post("/opt-out/", {"platform": "sandbox", "handle": "aiko_coffee"},
                          REMOTE_ADDR="203.0.113.20")
    assert refused.status_code == 429
    assert "Too many requests" in refused.content.decode()
    assert int(refused["Retry-After"]) > 0
    fan.refresh_from_db()
    assert not fan.opted_out
    # Another address is not held back, and a signed link is never limited.
    other = client.post("/opt-out-ja/", {"platform": "x", "handle": "@nobody"},
                        REMOTE_ADDR="198.51.100.20")
    assert other.status_code == 200
    client.post("/opt-out/", {"token": opt_out_token_make(fan)}, REMOTE_ADDR="203.0.113.20")
    _never_again(fan)
