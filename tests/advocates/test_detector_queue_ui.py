"""The queue teaches the detector, and Settings › Detector models shows what it learned.

Through the real admin views, as social staff and marketing use them: every decision in the
queue fills the examples table, "wrong call" records the right class, "least sure first"
puts the closest calls on top, and the models page lists, activates and rolls back models.
"""

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from advocates.models import DetectorExample, DetectorModelVersion, Outreach
from tests.advocates.outreach_helpers import propose
from tests.advocates.routing_helpers import brand_settings
from tests.factories import MentionFactory, OutreachFactory, SocialIdentityFactory
from tests.roles import MARKETING, SOCIAL_STAFF, user_in_role

pytestmark = pytest.mark.django_db

QUEUE = reverse("kansha_outreach:queue")
MODELS = reverse("kansha_detector:models")
BACK = "/admin/outreach/?tab=thanks"


@pytest.fixture
def staff():
    return user_in_role(SOCIAL_STAFF, first_name="Sachi", last_name="Staff")


@pytest.fixture
def client(staff):
    client = Client()
    client.force_login(staff)
    return client


@pytest.fixture
def marketing_client():
    client = Client()
    client.force_login(user_in_role(MARKETING, first_name="Mai", last_name="Marketing"))
    return client


def _url(name, outreach):
    return reverse(f"kansha_outreach:{name}", args=[outreach.pk])


def _messages(response) -> list[str]:
    return [str(m).split("\n", 1)[0].strip() for m in get_messages(response.wsgi_request)]


def _example(outreach) -> DetectorExample:
    return DetectorExample.objects.get(mention_id=outreach.mention_id)


def _thank_you(text="Oh wonderful, the card machine is down again. Love it.", **mention):
    return propose(mention=MentionFactory(text=text, detection_label="positive",
                                          detection_intent="praise", **mention))


def _care(text="Is the Shibuya store open on the 31st?"):
    mention = MentionFactory(text=text, detection_label="neutral", detection_intent="question",
                             detection_confidence=0.7)
    return propose(kind="care", mention=mention, text="Thanks for asking! Yes, 8-20.")


# --- the examples table fills from the queue's own actions -------------------------------------


def test_reject_with_sarcasm_teaches_care(client, staff):
    row = _thank_you()

    response = client.post(_url("reject", row), {"reason": "sarcasm", "next": BACK})

    assert response.status_code == 302
    assert f"Rejected #{row.pk} (Sarcasm)." in _messages(response)
    example = _example(row)
    assert (example.decision, example.source, example.reason) == ("care", "rejected", "sarcasm")
    assert example.text == row.mention.text
    assert example.decided_by == staff


def test_reject_for_a_reason_that_says_nothing_about_the_post_teaches_nothing(client):
    row = _thank_you("Loving the new seasonal blend!")
    client.post(_url("reject", row), {"reason": "off_brand", "next": BACK})
    assert Outreach.objects.get(pk=row.pk).status == "rejected"
    assert not DetectorExample.objects.exists()


def test_the_new_reasons_are_offered_and_accepted(client):
    row = _care("Starbucks had the better pumpkin latte this year")
    html = client.get(QUEUE).content.decode()
    for label in ("A question to answer", "Actually praise", "Not about us", "Spam",
                  "About a competitor"):
        assert label in html, label

    client.post(_url("reject", row), {"reason": "competitor", "next": BACK})

    assert (_example(row).decision, _example(row).reason) == ("none", "competitor")


def test_approve_teaches_thank(client):
    row = _thank_you("Best cortado in town, @kanshacoffee!")
    client.post(_url("approve", row), {"final_text": row.proposed_text,
                                       "proposed_text": row.proposed_text, "next": BACK})
    assert (_example(row).decision, _example(row).source) == ("thank", "approved")


def test_edited_approve_is_an_edited_example(client):
    row = _thank_you("Best cortado in town, @kanshacoffee!")
    client.post(_url("approve", row), {"final_text": "Thank you! Come back soon.",
                                       "proposed_text": row.proposed_text, "next": BACK})
    assert (_example(row).decision, _example(row).source) == ("thank", "edited")


def test_bulk_reject_as_not_about_us_teaches_none(client):
    rows = [_thank_you(f"Kansha bank raised my card limit, great service {n}") for n in range(3)]

    response = client.post(reverse("kansha_outreach:bulk"), {
        "action": "reject", "ids": [r.pk for r in rows], "reason": "not_about_us",
        "next": BACK})

    assert "Rejected 3." in _messages(response)
    examples = DetectorExample.objects.filter(mention_id__in=[r.mention_id for r in rows])
    assert sorted(examples.values_list("decision", "source", "reason")) == [
        ("none", "rejected", "not_about_us")] * 3


# --- wrong call ---------------------------------------------------------------------------------


def test_wrong_call_records_the_right_class_and_rejects_the_item(client, staff):
    row = _thank_you()

    response = client.post(_url("wrong_call", row), {"decision": "care", "next": BACK})

    assert response.status_code == 302
    assert response["Location"] == BACK
    assert (f"Rejected #{row.pk} as a wrong call; the detector will learn “Needs care”."
            in _messages(response))
    row.refresh_from_db()
    assert row.status == "rejected"
    assert row.decided_by == staff
    example = _example(row)
    assert (example.decision, example.source) == ("care", "wrong_call")


def test_wrong_call_on_a_care_item_can_say_neither(client):
    row = _care("Meeting a friend at Kansha Coffee later?")
    client.post(_url("wrong_call", row), {"decision": "none", "next": BACK})
    assert Outreach.objects.get(pk=row.pk).status == "rejected"
    assert _example(row).decision == "none"


def test_a_right_call_is_refused_and_changes_nothing(client):
    row = _thank_you("Best cortado in town, @kanshacoffee!")

    response = client.post(_url("wrong_call", row), {"decision": "thank", "next": BACK})

    assert response.status_code == 302
    assert any(m.startswith("Not done:") and "thank" in m for m in _messages(response))
    assert Outreach.objects.get(pk=row.pk).status == "proposed"
    assert not DetectorExample.objects.exists()


def test_wrong_call_needs_a_decision(client):
    row = _thank_you()
    response = client.post(_url("wrong_call", row), {"decision": "maybe", "next": BACK})
    assert _messages(response) == [
        "Select a valid choice. maybe is not one of the available choices."]
    assert Outreach.objects.get(pk=row.pk).status == "proposed"


def test_wrong_call_is_offered_only_on_proposals_about_a_post(client):
    thanks = _thank_you()
    identity = SocialIdentityFactory()
    reward = OutreachFactory(kind="dm", mention=None, identity=identity,
                             advocate=identity.advocate, proposed_text="Here is your code")

    thanks_html = client.get(QUEUE, {"tab": "thanks"}).content.decode()
    reward_html = client.get(QUEUE, {"tab": "rewards"}).content.decode()

    assert f'data-id="{thanks.pk}" data-call="thank"' in thanks_html
    assert 'data-queue-open="wrong_call"' in thanks_html
    assert f'data-id="{reward.pk}" id=' in reward_html  # no data-call: no wrong call
    assert 'data-queue-open="wrong_call"' not in reward_html
    assert "<kbd>w</kbd>" in thanks_html


def test_wrong_call_needs_the_queue_permission(marketing_client):
    row = _thank_you()
    response = marketing_client.post(_url("wrong_call", row), {"decision": "care"})
    assert response.status_code == 403
    assert Outreach.objects.get(pk=row.pk).status == "proposed"


# --- least sure first ---------------------------------------------------------------------------


def _thanks_with_confidence(confidence: float):
    return OutreachFactory(mention=MentionFactory(
        detection_label="positive", detection_intent="praise",
        detection_confidence=confidence))


def test_least_sure_first_puts_the_closest_call_on_top(client):
    brand_settings(thank_threshold=0.5)
    sure = _thanks_with_confidence(0.97)
    middling = _thanks_with_confidence(0.75)
    closest = _thanks_with_confidence(0.52)

    working = client.get(QUEUE, {"tab": "thanks"})
    least_sure = client.get(QUEUE, {"tab": "thanks", "order": "least_sure"})

    assert [i.pk for i in working.context["page"].items] == [sure.pk, middling.pk, closest.pk]
    assert [i.pk for i in least_sure.context["page"].items] == [closest.pk, middling.pk,
                                                                sure.pk]
    assert 'value="least_sure" selected' in least_sure.content.decode()


def test_least_sure_first_pages_like_the_working_order(client):
    brand_settings(thank_threshold=0.5)
    rows = [_thanks_with_confidence(0.5 + n / 100) for n in range(52)]

    first = client.get(QUEUE, {"tab": "thanks", "order": "least_sure"}).context["page"]
    second = client.get(QUEUE, {"tab": "thanks", "order": "least_sure", "p": 2}).context["page"]

    assert [i.pk for i in first.items] == [r.pk for r in rows[:50]]
    assert [i.pk for i in second.items] == [r.pk for r in rows[50:]]
    assert (first.total, first.has_next, second.has_next) == (52, True, False)


# --- Settings › Detector models -----------------------------------------------------------------


def _model(version: str, status: str, **fields) -> DetectorModelVersion:
    figures = {"candidate": {"precision": 0.81, "recall": 0.62, "neg_thanked": 0.031,
                             "macro_f1": 0.74},
               "live": {"precision": 0.7, "recall": 0.6, "neg_thanked": 0.052, "macro_f1": 0.69},
               "live_version": "kansha-base-20261201", "held_back": 120, "trained_on": 480}
    return DetectorModelVersion.objects.create(version=version, status=status, weights=b"",
                                               figures=figures, examples=480, **fields)


def test_the_models_page_shows_models_figures_and_examples(marketing_client):
    _model("brand-20261205-020000", "retired")
    _model("brand-20261206-020000", "live")
    _model("brand-20261207-020000", "refused", note="not better than the live model")
    for n, decision in enumerate(["thank", "thank", "care"]):
        DetectorExample.objects.create(key=f"import:{n}", text=f"post {n}", decision=decision,
                                       source="imported")

    response = marketing_client.get(MODELS)

    assert response.status_code == 200
    html = response.content.decode()
    for text in ("brand-20261206-020000", "Live", "Retired", "Not promoted", "0.81",
                 "vs 0.70", "3.1%", "tested on 120", "not better than the live model",
                 "Retrain now", "Roll back to the base model", "Make live",
                 "What it learns from: 3 decisions", "Imported"):
        assert text in html, text
    assert html.count("Make live") == 2  # not on the live one
    assert '<tr data-kd-decision="thank"><td>Deserves a thank-you</td><td class="kd-num">2' \
        in html


def test_with_no_brand_model_live_the_base_is_live(marketing_client):
    _model("brand-20261207-020000", "candidate")
    html = marketing_client.get(MODELS).content.decode()
    assert "Roll back to the base model" not in html
    assert 'class="kd-live"' in html.split("brand-20261207-020000")[-1]  # the base row


def test_the_models_page_needs_the_detector_settings_permission(client):
    response = client.get(MODELS)
    assert response.status_code == 403
    live = _model("brand-20261206-020000", "live")
    assert client.post(reverse("kansha_detector:rollback")).status_code == 403
    assert DetectorModelVersion.objects.get(pk=live.pk).status == "live"


def test_the_models_page_is_in_the_settings_menu_for_marketing_only(marketing_client, client):
    assert MODELS in marketing_client.get(reverse("wagtailadmin_home")).content.decode()
    assert MODELS not in client.get(reverse("wagtailadmin_home")).content.decode()


def test_roll_back_leaves_no_model_live(marketing_client):
    _model("brand-20261205-020000", "retired")
    _model("brand-20261206-020000", "live")

    response = marketing_client.post(reverse("kansha_detector:rollback"))

    assert response.status_code == 302
    assert response["Location"] == MODELS
    assert "Rolled back: the shipped base model decides again." in _messages(response)
    assert not DetectorModelVersion.objects.filter(status="live").exists()


def test_make_live_activates_a_stored_model(marketing_client):
    old = _model("brand-20261205-020000", "retired")
    current = _model("brand-20261206-020000", "live")

    response = marketing_client.post(reverse("kansha_detector:activate"),
                                     {"version": old.version})

    assert "brand-20261205-020000 is live: new mentions are detected with it." in \
        _messages(response)
    assert DetectorModelVersion.objects.get(pk=old.pk).status == "live"
    assert DetectorModelVersion.objects.get(pk=current.pk).status == "retired"


def test_make_live_of_an_unknown_version_says_so(marketing_client):
    response = marketing_client.post(reverse("kansha_detector:activate"), {"version": "nope"})
    assert _messages(response) == ["Not done: no detector model nope."]
