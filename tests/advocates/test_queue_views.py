"""The Outreach queue in the Wagtail admin, used the way social staff use it."""

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from advocates.models import Outreach, OutreachLog, SandboxPost
from tests.factories import MentionFactory, OutreachFactory, SocialIdentityFactory
from tests.roles import SOCIAL_STAFF, user_in_role

pytestmark = pytest.mark.django_db

QUEUE = reverse("kansha_outreach:queue")


@pytest.fixture
def staff():
    return user_in_role(SOCIAL_STAFF, first_name="Sachi", last_name="Staff")


@pytest.fixture
def client(staff):
    client = Client()
    client.force_login(staff)
    return client


def _ids(response) -> list[int]:
    return [item.pk for item in response.context["page"].items]


def _care(**kwargs):
    mention = MentionFactory(text="My latte had a hair in it. Disgusting.",
                             detection_label="negative", detection_intent="complaint",
                             detection_confidence=0.88, detection_reasons=["complaint cue"],
                             route="care")
    return OutreachFactory(kind="care", mention=mention,
                           proposed_text="We're so sorry. Could you DM us your order?",
                           sla_due_at=timezone.now() + timedelta(minutes=50), **kwargs)


def test_the_queue_shows_what_a_row_needs_to_decide(client):
    identity = SocialIdentityFactory(handle="@mika_drinks", display_name="Mika Tanaka",
                                     follower_count=1532)
    mention = MentionFactory(author=identity, text="Best cortado in town, @kanshacoffee!",
                             url="https://sandbox.example/p/1", detection_label="positive",
                             detection_intent="praise", detection_confidence=0.93,
                             detection_reasons=["praise word: best"])
    OutreachFactory(mention=mention, proposed_text="Thank you Mika! See you soon.")

    response = client.get(QUEUE)

    assert response.status_code == 200
    html = response.content.decode()
    for text in ("Best cortado in town", "@mika_drinks", "Mika Tanaka", "1,532 followers",
                 "Sandbox", "https://sandbox.example/p/1", "Positive", "Praise", "0.93",
                 "praise word: best", "Thank you Mika! See you soon."):
        assert text in html, text


def test_care_items_are_pinned_first_then_priority_then_oldest(client):
    now = timezone.now()
    old_thanks = OutreachFactory(created_at=now - timedelta(hours=3))
    new_thanks = OutreachFactory(created_at=now - timedelta(minutes=5))
    urgent_thanks = OutreachFactory(priority=40, created_at=now)
    care_low = _care(priority=20)
    care_high = _care(priority=80)

    response = client.get(QUEUE, {"tab": ""})  # "All": every kind, care pinned first

    assert _ids(response) == [care_high.pk, care_low.pk, urgent_thanks.pk, old_thanks.pk,
                              new_thanks.pk]
    assert "due " in response.content.decode()  # the care items' due time


def test_the_queue_opens_on_care_and_shows_every_tab_with_its_count(client):
    OutreachFactory.create_batch(2)
    OutreachFactory(kind="reshare")
    OutreachFactory(kind="dm")
    complaint = _care()
    question = OutreachFactory(kind="care", mention=MentionFactory(detection_intent="question"))

    response = client.get(QUEUE)

    assert _ids(response) == [complaint.pk]
    tabs = {tab["key"]: (tab["count"], tab["current"]) for tab in response.context["tabs"]}
    assert tabs == {"care": (1, True), "answers": (1, False), "thanks": (2, False),
                    "reshares": (1, False), "rewards": (1, False), "": (6, False)}
    assert _ids(client.get(QUEUE, {"tab": "answers"})) == [question.pk]
    assert len(_ids(client.get(QUEUE, {"tab": "thanks"}))) == 2
    html = response.content.decode()
    for label in ("Care", "Answers", "Thank-yous", "Reshares", "Rewards"):
        assert f"{label} <span class=\"kq-tab__count" in html, label


def test_with_no_care_waiting_the_queue_opens_on_the_next_tab(client):
    thanks = OutreachFactory()
    response = client.get(QUEUE)
    assert _ids(response) == [thanks.pk]
    assert [t["key"] for t in response.context["tabs"] if t["current"]] == ["thanks"]


def test_no_reject_reason_is_preselected(client):
    OutreachFactory()
    html = client.get(QUEUE).content.decode()
    assert 'name="reason"' in html
    assert not re.search(r'name="reason"[^>]*checked', html)
    assert "<option selected" not in html.split('id="kq-bulk"')[1].split("</form>")[0]
    assert "window.confirm" not in (Path(settings.BASE_DIR) / "advocates/static/advocates/"
                                    "queue.js").read_text()


def test_default_status_is_proposed_and_any_status_can_be_asked_for(client):
    proposed = OutreachFactory()
    sent = OutreachFactory(status="sent")

    assert _ids(client.get(QUEUE)) == [proposed.pk]
    assert set(_ids(client.get(QUEUE, {"status": ""}))) == {proposed.pk, sent.pk}
    assert _ids(client.get(QUEUE, {"status": "sent"})) == [sent.pk]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"kind": "care"}, {"care"}),
        ({"kind": "thanks"}, {"reply", "reshare", "x", "ja", "old"}),
        ({"kind": "reshare"}, {"reshare"}),
        ({"platform": "x"}, {"x"}),
        ({"language": "ja"}, {"ja"}),
        ({"intent": "complaint"}, {"care"}),
        ({"age": "gt24h"}, {"old"}),
        ({"age": "lt1h"}, {"reply", "reshare", "care", "x", "ja"}),
        ({"q": "matcha"}, {"ja"}),
        ({"q": "@yuki"}, {"ja"}),
        ({"q": "Yuki Sato"}, {"ja"}),
    ],
)
def test_filters_and_search(client, params, expected):
    rows = {
        "reply": OutreachFactory(),
        "reshare": OutreachFactory(kind="reshare"),
        "care": _care(),
        "x": OutreachFactory(platform="x"),
        "ja": OutreachFactory(mention=MentionFactory(
            text="抹茶ラテ最高 matcha", language="ja", detection_intent="praise",
            author=SocialIdentityFactory(handle="@yuki_s", display_name="Yuki Sato"))),
        "old": OutreachFactory(created_at=timezone.now() - timedelta(days=2)),
    }
    by_id = {row.pk: name for name, row in rows.items()}

    response = client.get(QUEUE, {"tab": "", **params})

    assert {by_id[pk] for pk in _ids(response)} == expected


def test_assignee_filter(client, staff):
    mine = OutreachFactory(assignee=staff)
    theirs = OutreachFactory(assignee=user_in_role(SOCIAL_STAFF, "kenji"))
    nobodys = OutreachFactory()

    assert _ids(client.get(QUEUE, {"assignee": "me"})) == [mine.pk]
    assert _ids(client.get(QUEUE, {"assignee": "none"})) == [nobodys.pk]
    assert _ids(client.get(QUEUE, {"assignee": str(theirs.assignee_id)})) == [theirs.pk]


def test_a_bad_filter_value_is_ignored_not_an_error(client):
    row = OutreachFactory()
    response = client.get(QUEUE, {"kind": "nonsense", "p": "x", "age": "ever"})
    assert response.status_code == 200
    assert _ids(response) == [row.pk]


def test_sla_badge_ok_due_soon_and_overdue(client):
    now = timezone.now()
    ok = _care()
    ok.sla_due_at, ok.created_at = now + timedelta(minutes=50), now - timedelta(minutes=10)
    soon = _care()
    soon.sla_due_at, soon.created_at = now + timedelta(minutes=5), now - timedelta(minutes=55)
    late = _care()
    late.sla_due_at, late.created_at = now - timedelta(minutes=1), now - timedelta(minutes=61)
    old_thanks = OutreachFactory(created_at=now - timedelta(hours=5))
    Outreach.objects.bulk_update([ok, soon, late], ["sla_due_at", "created_at"])

    page = client.get(QUEUE, {"tab": ""}).context["page"]

    states = {item.pk: item.sla_state for item in page.items}
    assert states == {ok.pk: "ok", soon.pk: "due_soon", late.pk: "overdue",
                      old_thanks.pk: "overdue"}
    overdue = client.get(QUEUE, {"kind": "care", "sla": "overdue"})
    assert _ids(overdue) == [late.pk]


def test_keyboard_shortcuts_are_listed_and_the_script_is_served_locally(client):
    OutreachFactory()
    html = client.get(QUEUE).content.decode()
    for key, words in (("j", "Next item"), ("k", "Previous item"), ("a", "Approve"),
                       ("e", "Edit the reply"), ("r", "Reject"), ("x", "Select"),
                       ("?", "Show these shortcuts")):
        assert f"<kbd>{key}</kbd>" in html
        assert words in html
    assert "/static/advocates/queue.js" in html
    assert "/static/advocates/queue.css" in html


def test_pagination_is_fifty_a_page_with_next_and_previous(client):
    OutreachFactory.create_batch(55)

    first = client.get(QUEUE)
    second = client.get(QUEUE, {"p": 2})

    assert len(first.context["page"].items) == 50
    assert first.context["page"].has_next
    assert 'rel="next"' in first.content.decode()
    assert len(second.context["page"].items) == 5
    assert not second.context["page"].has_next
    assert second.context["page"].total == 55
    assert set(_ids(first)).isdisjoint(_ids(second))


def test_failed_items_show_their_error_and_a_retry_button(client):
    failed = OutreachFactory(status="failed", attempts=5,
                             last_error="503 Service Unavailable from sandbox")
    html = client.get(QUEUE, {"status": "failed"}).content.decode()
    assert "503 Service Unavailable from sandbox" in html
    assert reverse("kansha_outreach:retry", args=[failed.pk]) in html


def test_history_shows_every_decision_and_attempt(client, staff):
    row = OutreachFactory()
    OutreachLog.objects.create(outreach=row, action="proposed", detail={"reasons": ["praise"]})
    OutreachLog.objects.create(outreach=row, action="approved", actor=staff,
                               detail={"edited": False})
    OutreachLog.objects.create(outreach=row, action="attempt",
                               detail={"attempt": 1, "error": "timeout"})

    response = client.get(reverse("kansha_outreach:history", args=[row.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert [entry.what for entry in response.context["log"]] == [
        "Proposed by Kansha", "Approved", "Delivery attempt 1: "]
    assert "Sachi Staff" in html
    assert str(row.idempotency_key) not in html  # an internal key, not for people
    assert "[&#x27;" not in html
    assert "['" not in html
    assert "timeout" in html
    assert client.get(reverse("kansha_outreach:history", args=[999999])).status_code == 404


def test_empty_queue_says_so(client):
    assert "The queue is clear" in client.get(QUEUE).content.decode()


def test_timeline_lists_sandbox_posts_newest_first_with_their_target(client):
    row = OutreachFactory(status="sent")
    SandboxPost.objects.create(kind="reply", account_handle="@kanshacoffee",
                               text="Older reply", in_reply_to="m-1", target_handle="@fan1",
                               idempotency_key="k-old",
                               posted_at=timezone.now() - timedelta(minutes=5))
    SandboxPost.objects.create(kind="reply", account_handle="@kanshacoffee",
                               text="Thanks so much!", in_reply_to="m-2",
                               target_handle="@fan2", idempotency_key=str(row.idempotency_key))

    response = client.get(reverse("kansha_sandbox_timeline"))

    html = response.content.decode()
    assert response.status_code == 200
    assert html.index("Thanks so much!") < html.index("Older reply")
    assert "@fan2" in html
    assert "m-2" in html
    assert reverse("kansha_outreach:history", args=[row.pk]) in html
