"""Consent before a reshare: request, answer by reply hashtag or on the page, revoke."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from advocates.models import (
    AdvocacyEvent,
    ConsentRecord,
    ConsentStatus,
    Outreach,
    OutreachKind,
    OutreachStatus,
    Route,
    SandboxPost,
)
from advocates.services import outreach_approve
from advocates.services.consent import consent_grant, consents_expire, mention_command
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.advocates.routing_helpers import brand_settings, ingest_and_detect, item

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_data")]

PRAISE = "Best flat white in town, thank you @kanshacoffee! ☕"


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("sora")


@pytest.fixture
def asked(staff, django_capture_on_commit_callbacks):
    """A praised post whose consent request went out on the sandbox timeline."""
    brand_settings(reshare_requires_consent=True)
    (mention,) = ingest_and_detect([item(1, PRAISE)])
    request = Outreach.objects.get(mention=mention, kind=OutreachKind.CONSENT)
    with django_capture_on_commit_callbacks(execute=True):
        outreach_approve(outreach_id=request.pk, user=staff)
    request.refresh_from_db()
    assert request.status == OutreachStatus.SENT
    assert SandboxPost.objects.get(kind="consent").text == request.final_text
    return mention, request


def _answer(n, text, request, **overrides):
    fields = {"author_id": "author-r1", "kind": "reply",
              "in_reply_to": request.platform_result_id}
    fields.update(overrides)
    (answer,) = ingest_and_detect([item(n, text, **fields)])
    return answer


@pytest.mark.parametrize(
    ("text", "command"),
    [("@kanshacoffee #yes", "yes"), ("#YES of course!", "yes"), ("「#はい」", "yes"),
     ("＃はい　どうぞ", "yes"), ("#no thanks", "no"), ("#いいえ", "no"), ("stop", "stop"),
     ("@kanshacoffee STOP.", "stop"), ("停止", "stop"), ("配信停止してください", "stop"),
     ("Don't stop making this latte", None), ("#yesterday was great", None),
     ("I said no to the muffin", None)],
)
def test_commands_are_recognised_only_when_they_are_the_answer(text, command):
    assert mention_command(text) == command


def test_yes_reply_grants_consent_and_proposes_the_reshare(asked, staff,
                                                           django_capture_on_commit_callbacks):
    mention, request = asked

    answer = _answer(2, "@kanshacoffee #yes, go ahead!", request)

    assert (answer.route, answer.skip_reason) == (Route.NONE, "consent answer (#yes)")
    record = ConsentRecord.objects.get(mention=mention)
    assert (record.status, record.method, record.terms_version) == (
        ConsentStatus.GRANTED, "reply_hashtag", "2026-11")
    assert record.expires_at - record.granted_at == timedelta(days=365)
    assert record.evidence["granted"]["mention"] == answer.external_id
    reshare = Outreach.objects.get(mention=mention, kind=OutreachKind.RESHARE)
    assert reshare.reasons == ["consent granted (reply_hashtag, terms 2026-11)"]

    with django_capture_on_commit_callbacks(execute=True):
        outreach_approve(outreach_id=reshare.pk, user=staff)

    assert SandboxPost.objects.get(kind="reshare").in_reply_to == mention.external_id
    event = AdvocacyEvent.objects.get(dedupe_key=f"outreach:{reshare.pk}")
    assert event.kind == "reshare"


def test_japanese_hashtag_grants_too(asked):
    mention, request = asked
    _answer(2, "＠kanshacoffee 「#はい」よろこんで！", request, language="ja")
    assert ConsentRecord.objects.get(mention=mention).status == ConsentStatus.GRANTED


def test_no_after_a_reshare_revokes_and_proposes_a_takedown(asked, staff,
                                                           django_capture_on_commit_callbacks):
    mention, request = asked
    _answer(2, "#yes", request)
    reshare = Outreach.objects.get(mention=mention, kind=OutreachKind.RESHARE)
    with django_capture_on_commit_callbacks(execute=True):
        outreach_approve(outreach_id=reshare.pk, user=staff)

    answer = _answer(3, "#no, please take it down", request)

    assert answer.skip_reason == "consent answer (#no)"
    record = ConsentRecord.objects.get(mention=mention)
    assert record.status == ConsentStatus.REVOKED
    assert record.revoked_at is not None
    takedown = Outreach.objects.get(mention=mention, kind=OutreachKind.TAKEDOWN)
    assert takedown.priority == 80
    with django_capture_on_commit_callbacks(execute=True):
        outreach_approve(outreach_id=takedown.pk, user=staff)
    assert SandboxPost.objects.get(kind="reshare").deleted_at is not None


def test_no_before_the_reshare_went_out_rejects_it(asked):
    mention, request = asked
    _answer(2, "#yes", request)
    _answer(3, "#no sorry, changed my mind", request)

    reshare = Outreach.objects.get(mention=mention, kind=OutreachKind.RESHARE)
    assert (reshare.status, reshare.reject_reason) == (OutreachStatus.REJECTED,
                                                       "consent revoked")
    assert not Outreach.objects.filter(kind=OutreachKind.TAKEDOWN).exists()


def test_a_hashtag_from_someone_we_did_not_ask_is_an_ordinary_mention(asked):
    _, request = asked
    other = _answer(2, "#yes best coffee ever @kanshacoffee, thank you!", request,
                    author_id="someone-else")
    assert other.skip_reason != "consent answer (#yes)"
    assert ConsentRecord.objects.filter(status=ConsentStatus.GRANTED).count() == 0


# --- The public consent page ------------------------------------------------------------------

def test_consent_page_shows_the_post_and_terms_and_records_a_yes(asked, client):
    mention, _ = asked
    record = ConsentRecord.objects.get(mention=mention)

    page = client.get(f"/consent/?token={record.token}")

    assert page.status_code == 200
    html = page.content.decode()
    assert mention.text in html
    assert "Terms version: 2026-11" in html
    record.refresh_from_db()
    assert record.status == ConsentStatus.REQUESTED  # looking changes nothing

    answered = client.post("/consent/", {"token": str(record.token), "answer": "yes"})

    assert answered.status_code == 200
    assert "We may now share your post" in answered.content.decode()
    record.refresh_from_db()
    assert (record.status, record.method, record.terms_version) == (
        ConsentStatus.GRANTED, "page", "2026-11")
    assert Outreach.objects.filter(mention=mention, kind=OutreachKind.RESHARE).exists()


def test_japanese_consent_page_records_a_no(asked, client):
    mention, _ = asked
    record = ConsentRecord.objects.get(mention=mention)

    page = client.get(f"/consent-ja/?token={record.token}")
    assert "はい、紹介してもかまいません" in page.content.decode()
    answered = client.post("/consent-ja/", {"token": str(record.token), "answer": "no"})

    assert "承知しました" in answered.content.decode()
    record.refresh_from_db()
    assert record.status == ConsentStatus.REVOKED


def test_consent_page_with_a_bad_token_is_not_found(client):
    assert client.get("/consent/?token=not-a-token").status_code == 404
    assert client.post("/consent/", {"token": "5d0c5a52-6f0e-4e59-9b8e-000000000000",
                                     "answer": "yes"}).status_code == 404


@pytest.mark.parametrize(("url", "words"), [
    ("/consent/", ["How consent works", "We never reshare a post without asking",
                   "Terms version: 2026-11", 'href="/opt-out/"']),
    ("/consent-ja/", ["投稿のご紹介への同意について", "規約バージョン: 2026-11",
                      'href="/opt-out-ja/"']),
])
def test_consent_page_without_a_token_explains_how_consent_works(client, db, url, words):
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    for text in words:
        assert text in html
    assert "not valid" not in html
    assert 'name="answer"' not in html  # nothing to answer without a request


# --- Consent that expires ---------------------------------------------------------------------

def _lapse(record: ConsentRecord) -> None:
    ConsentRecord.objects.filter(pk=record.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1))


def test_a_lapsed_consent_expires_its_reshare_is_taken_down_and_it_is_asked_again(
        asked, staff, django_capture_on_commit_callbacks):
    from advocates import tasks

    mention, request = asked
    brand_settings(reshare_requires_consent=True, cooldown_days=0)
    _answer(2, "#yes", request)
    reshare = Outreach.objects.get(mention=mention, kind=OutreachKind.RESHARE)
    with django_capture_on_commit_callbacks(execute=True):
        outreach_approve(outreach_id=reshare.pk, user=staff)
    record = ConsentRecord.objects.get(mention=mention)
    assert tasks.consents_expire() == 0  # not yet due
    _lapse(record)

    assert tasks.consents_expire() == 1

    record.refresh_from_db()
    assert record.status == ConsentStatus.EXPIRED
    assert record.revoked_at is None  # expiry is not a revocation; the export shows which
    takedown = Outreach.objects.get(mention=mention, kind=OutreachKind.TAKEDOWN)
    assert takedown.reasons == ["consent expired: take the reshare down"]
    assert takedown.priority == 80
    assert tasks.consents_expire() == 0  # once
    assert Outreach.objects.filter(kind=OutreachKind.TAKEDOWN).count() == 1
    # The expired consent cannot be granted again: a new request is needed.
    with pytest.raises(ValidationError, match="expired; ask again"):
        consent_grant(record=record, method="page")

    # Their next post: a consent request, no reshare, until they say yes again.
    (later,) = ingest_and_detect([item(5, "Another lovely flat white @kanshacoffee, thank "
                                          "you! ☕", author_id="author-r1")])
    assert not Outreach.objects.filter(mention=later, kind=OutreachKind.RESHARE).exists()
    ask_again = Outreach.objects.get(mention=later, kind=OutreachKind.CONSENT)
    with django_capture_on_commit_callbacks(execute=True):
        outreach_approve(outreach_id=ask_again.pk, user=staff)
    ask_again.refresh_from_db()
    _answer(6, "#yes", ask_again)
    assert ConsentRecord.objects.get(mention=later).status == ConsentStatus.GRANTED
    assert Outreach.objects.filter(mention=later, kind=OutreachKind.RESHARE).exists()


def test_a_reshare_waiting_when_consent_lapses_is_rejected_and_never_sent(asked, staff):
    mention, request = asked
    _answer(2, "#yes", request)
    reshare = Outreach.objects.get(mention=mention, kind=OutreachKind.RESHARE)
    _lapse(ConsentRecord.objects.get(mention=mention))

    assert consents_expire() == 1

    reshare.refresh_from_db()
    assert (reshare.status, reshare.reject_reason) == (OutreachStatus.REJECTED,
                                                       "consent expired")
    assert not Outreach.objects.filter(kind=OutreachKind.TAKEDOWN).exists()
    assert not SandboxPost.objects.filter(kind="reshare").exists()


def test_the_consents_expire_task_is_on_the_beat_schedule(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["consents-expire"]
    assert entry["task"] == "advocates.tasks.consents_expire"
    assert entry["schedule"] <= 3600


@pytest.mark.parametrize(("url", "valid", "expired"), [
    ("/consent/", "Your yes is valid until", "Your yes expired on this day"),
    ("/consent-ja/", "同意の有効期限", "同意の有効期限が切れました"),
])
def test_the_consent_page_shows_the_expiry(asked, client, url, valid, expired):
    mention, request = asked
    _answer(2, "#yes", request)
    record = ConsentRecord.objects.get(mention=mention)

    html = client.get(f"{url}?token={record.token}").content.decode()
    assert f"{valid}: {record.expires_at:%Y-%m-%d}" in html

    _lapse(record)
    consents_expire()
    record.refresh_from_db()
    html = client.get(f"{url}?token={record.token}").content.decode()
    assert expired in html
    assert f"{record.expires_at:%Y-%m-%d}" in html
    assert 'value="yes"' not in html  # a new request asks again


def test_expiry_and_revocation_are_in_the_advocates_export(asked):
    from advocates.services.privacy import advocate_export

    mention, request = asked
    _answer(2, "#yes", request)
    record = ConsentRecord.objects.get(mention=mention)
    _lapse(record)
    consents_expire()
    later = ConsentRecord.objects.create(advocate=record.advocate, identity=record.identity,
                                         status=ConsentStatus.REVOKED,
                                         revoked_at=timezone.now())

    rows = {row["id"]: row for row in
            advocate_export(advocate_id=record.advocate_id)["consents"]}

    assert rows[record.pk]["status"] == "expired"
    assert rows[record.pk]["expires_at"]
    assert rows[record.pk]["evidence"]["expired"]["at"]
    assert rows[later.pk]["status"] == "revoked"
    assert rows[later.pk]["revoked_at"]


def test_an_expired_consent_is_asked_again_and_a_new_yes_reshares_the_post_again(
        asked, staff, django_capture_on_commit_callbacks):
    mention, request = asked
    _answer(2, "#yes", request)
    first = Outreach.objects.get(mention=mention, kind=OutreachKind.RESHARE)
    with django_capture_on_commit_callbacks(execute=True):
        outreach_approve(outreach_id=first.pk, user=staff)
    old = ConsentRecord.objects.get(mention=mention)
    _lapse(old)

    consents_expire()

    again = Outreach.objects.get(mention=mention, dedupe_key=f"reconsent:{old.pk}")
    assert (again.kind, again.status, again.reasons) == (
        OutreachKind.CONSENT, OutreachStatus.PROPOSED, ["consent expired: ask again"])
    fresh = ConsentRecord.objects.get(mention=mention, status=ConsentStatus.REQUESTED)
    assert fresh.token != old.token
    assert str(fresh.token) in again.proposed_text  # the new link, not the expired one
    assert consents_expire() == 0  # asked once

    with django_capture_on_commit_callbacks(execute=True):
        outreach_approve(outreach_id=again.pk, user=staff)
    again.refresh_from_db()
    _answer(7, "#yes, share it again", again)

    fresh.refresh_from_db()
    assert fresh.status == ConsentStatus.GRANTED
    second = Outreach.objects.get(mention=mention, kind=OutreachKind.RESHARE,
                                  status=OutreachStatus.PROPOSED)
    assert second.dedupe_key == f"reshare:{mention.pk}:{fresh.pk}"
