"""Deciding in the Outreach queue: each action through the admin view, as social staff."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from advocates.models import Outreach, OutreachLog, SandboxPost
from tests.factories import OutreachFactory
from tests.roles import SOCIAL_STAFF, user_in_role

pytestmark = pytest.mark.django_db

BACK = "/admin/outreach/?kind=thanks&platform=sandbox&p=2"


@pytest.fixture
def staff():
    return user_in_role(SOCIAL_STAFF, first_name="Sachi", last_name="Staff")


@pytest.fixture
def client(staff):
    client = Client()
    client.force_login(staff)
    return client


def _url(name, outreach):
    return reverse(f"kansha_outreach:{name}", args=[outreach.pk])


def _messages(response) -> list[str]:
    """The messages waiting to be shown, as text (Wagtail appends its button markup)."""
    return [str(m).split("\n", 1)[0].strip() for m in get_messages(response.wsgi_request)]


def test_approve_through_the_admin_view_delivers_to_the_sandbox_timeline(
        client, staff, django_capture_on_commit_callbacks):
    row = OutreachFactory(proposed_text="Thank you! Enjoy your flat white.")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url("approve", row), {
            "final_text": row.proposed_text, "proposed_text": row.proposed_text, "next": BACK})

    assert response.status_code == 302
    assert response["Location"] == BACK  # back to the same filters and page
    assert f"Approved #{row.pk}; it will be sent now." in _messages(response)
    row.refresh_from_db()
    assert row.decided_by == staff
    assert row.status == "sent"  # tasks run eagerly in unit tests
    post = SandboxPost.objects.get()
    assert post.text == "Thank you! Enjoy your flat white."
    assert post.in_reply_to == row.mention.external_id
    assert [e.action for e in OutreachLog.objects.filter(outreach=row)][:1] == ["approved"]
    timeline = client.get(reverse("kansha_sandbox_timeline")).content.decode()
    assert "Thank you! Enjoy your flat white." in timeline


def test_edit_and_approve_sends_the_edited_words(client, django_capture_on_commit_callbacks):
    row = OutreachFactory(proposed_text="Thanks!")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url("approve", row), {
            "final_text": "Thank you, Mika!\r\nSee you Saturday.", "proposed_text": "Thanks!"})

    assert f"Edited and approved #{row.pk}; it will be sent now." in _messages(response)
    row.refresh_from_db()
    assert row.final_text == "Thank you, Mika!\nSee you Saturday."
    assert SandboxPost.objects.get().text == "Thank you, Mika!\nSee you Saturday."
    log = OutreachLog.objects.get(outreach=row, action="approved")
    assert log.detail["edited"] is True


def test_an_empty_edit_is_refused_and_changes_nothing(client):
    row = OutreachFactory()
    response = client.post(_url("approve", row), {"final_text": "  ",
                                                  "proposed_text": row.proposed_text})
    assert "The reply cannot be empty." in _messages(response)
    assert Outreach.objects.get(pk=row.pk).status == "proposed"


def test_approving_twice_says_it_was_already_decided(client):
    row = OutreachFactory()
    client.post(_url("approve", row))
    response = client.post(_url("approve", row))
    assert _messages(response)[-1] == "Sachi Staff already approved this one; nothing more to do."


@pytest.mark.parametrize(("data", "reason"), [
    ({"reason": "sarcasm"}, "Sarcasm"),
    ({"reason": "complaint", "note": "angry about price"},
     "Complaint, not praise: angry about price"),
    ({"reason": "off_brand"}, "Off-brand wording"),
    ({"reason": "wrong_person"}, "Wrong person"),
    ({"reason": "duplicate"}, "Duplicate"),
    ({"reason": "other", "note": "a competitor's barista"}, "a competitor's barista"),
])
def test_reject_with_a_preset_reason_or_free_text(client, staff, data, reason):
    row = OutreachFactory()

    response = client.post(_url("reject", row), {**data, "next": BACK})

    assert response["Location"] == BACK
    row.refresh_from_db()
    assert (row.status, row.reject_reason, row.decided_by) == ("rejected", reason, staff)
    assert OutreachLog.objects.get(outreach=row, action="rejected").detail["reason"] == reason


@pytest.mark.parametrize("data", [{"reason": "other"}, {"reason": "bogus"}, {}])
def test_reject_without_a_usable_reason_changes_nothing(client, data):
    row = OutreachFactory()
    response = client.post(_url("reject", row), data)
    assert response.status_code == 302
    assert _messages(response)
    assert Outreach.objects.get(pk=row.pk).status == "proposed"


@pytest.mark.parametrize(("duration", "expected"), [("1h", timedelta(hours=1)),
                                                    ("1d", timedelta(days=1))])
def test_snooze_presets(client, duration, expected):
    row = OutreachFactory()
    before = timezone.now()

    client.post(_url("snooze", row), {"duration": duration})

    row.refresh_from_db()
    assert row.status == "snoozed"
    assert before + expected <= row.snoozed_until <= timezone.now() + expected


def test_snooze_until_a_custom_time(client):
    row = OutreachFactory()
    until = timezone.localtime() + timedelta(days=3)

    client.post(_url("snooze", row), {"duration": "custom",
                                      "until": until.strftime("%Y-%m-%dT%H:%M")})

    row.refresh_from_db()
    assert row.status == "snoozed"
    assert abs(row.snoozed_until - until.replace(second=0, microsecond=0)) < timedelta(
        seconds=1)


@pytest.mark.parametrize("until", ["", "2001-01-01T10:00", "tomorrow"])
def test_snooze_to_the_past_or_nowhere_is_refused(client, until):
    row = OutreachFactory()
    response = client.post(_url("snooze", row), {"duration": "custom", "until": until})
    assert _messages(response)
    assert Outreach.objects.get(pk=row.pk).status == "proposed"


def test_assign_to_me_to_a_colleague_and_back_to_nobody(client, staff):
    colleague = user_in_role(SOCIAL_STAFF, "kenji", first_name="Kenji")
    row = OutreachFactory()

    client.post(_url("assign", row), {"assignee": "me"})
    assert Outreach.objects.get(pk=row.pk).assignee == staff
    response = client.post(_url("assign", row), {"assignee": str(colleague.pk)})
    assert _messages(response)[-1] == f"Assigned #{row.pk} to Kenji."
    assert Outreach.objects.get(pk=row.pk).assignee == colleague
    client.post(_url("assign", row), {"assignee": ""})
    assert Outreach.objects.get(pk=row.pk).assignee is None
    assert OutreachLog.objects.filter(outreach=row, action="assigned").count() == 3


def test_the_dialogs_to_me_button_wins_over_its_select(client, staff):
    # The assign dialog posts the button ("to_me") and the select's current value together.
    row = OutreachFactory()
    client.post(_url("assign", row), {"to_me": "1", "assignee": ""})
    assert Outreach.objects.get(pk=row.pk).assignee == staff


def test_cannot_assign_to_someone_who_cannot_work_the_queue(client):
    outsider = user_in_role(None, "outsider")
    row = OutreachFactory()
    response = client.post(_url("assign", row), {"assignee": str(outsider.pk)})
    assert "That person cannot work the queue." in _messages(response)
    assert Outreach.objects.get(pk=row.pk).assignee is None


def test_retry_sends_a_failed_item_again(client, django_capture_on_commit_callbacks):
    row = OutreachFactory(status="failed", attempts=5, last_error="503 from sandbox")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(_url("retry", row))

    assert f"Retrying #{row.pk}; it will be sent again now." in _messages(response)
    row.refresh_from_db()
    assert row.status == "sent"
    assert SandboxPost.objects.count() == 1


def test_retry_of_a_proposed_item_is_refused(client):
    row = OutreachFactory()
    response = client.post(_url("retry", row))
    assert _messages(response)[0] == ("Only a failed delivery can be sent again; this one is "
                                      "proposed.")
    assert Outreach.objects.get(pk=row.pk).status == "proposed"


def test_bulk_approve_reports_done_and_skipped(client, django_capture_on_commit_callbacks):
    rows = OutreachFactory.create_batch(3)
    already = OutreachFactory(status="rejected")

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("kansha_outreach:bulk"), {
            "action": "approve", "ids": [r.pk for r in rows] + [already.pk], "next": BACK})

    assert response["Location"] == BACK
    messages = _messages(response)
    assert "Approved 3." in messages
    assert f"Skipped 1. #{already.pk}: This one was already rejected." in messages
    assert set(Outreach.objects.filter(pk__in=[r.pk for r in rows])
               .values_list("status", flat=True)) == {"sent"}
    assert SandboxPost.objects.count() == 3


def test_bulk_reject_needs_a_reason_and_uses_it(client):
    rows = OutreachFactory.create_batch(2)
    ids = [r.pk for r in rows]

    refused = client.post(reverse("kansha_outreach:bulk"),
                          {"action": "reject", "ids": ids, "reason": "other"})
    assert _messages(refused) == ["Say why when the reason is “Other”."]
    assert set(Outreach.objects.filter(pk__in=ids).values_list("status", flat=True)) == {
        "proposed"}

    done = client.post(reverse("kansha_outreach:bulk"),
                       {"action": "reject", "ids": ids, "reason": "off_brand"})
    assert "Rejected 2." in _messages(done)
    assert set(Outreach.objects.filter(pk__in=ids).values_list("reject_reason", flat=True)) \
        == {"Off-brand wording"}


@pytest.mark.parametrize("data", [
    {"action": "approve"},
    {"action": "approve", "ids": ["abc"]},
    {"action": "explode", "ids": ["1"]},
])
def test_bulk_with_bad_input_changes_nothing(client, data):
    row = OutreachFactory()
    response = client.post(reverse("kansha_outreach:bulk"), data)
    assert response.status_code == 302
    assert _messages(response)
    assert Outreach.objects.get(pk=row.pk).status == "proposed"


def test_next_cannot_send_staff_to_another_site(client):
    row = OutreachFactory()
    response = client.post(_url("reject", row), {"reason": "duplicate",
                                                 "next": "https://evil.example/"})
    assert response["Location"] == reverse("kansha_outreach:queue")


def test_unknown_outreach_is_an_error_message_not_a_crash(client):
    response = client.post(reverse("kansha_outreach:approve", args=[987654]))
    assert response.status_code == 302
    assert _messages(response)[0] == "This item no longer exists."
