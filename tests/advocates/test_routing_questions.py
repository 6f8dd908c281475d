"""Questions get an answer (route `answer`) with the template their words pick, and care
items and answers count their SLA from when the person posted, not from the import."""

from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from advocates.detection import Detection, DetectionInput, DetectorConfig
from advocates.models import (
    BrandAccount,
    DetectorSettings,
    Outreach,
    OutreachKind,
    OutreachStatus,
    ReplyTemplate,
    Route,
    SandboxPost,
)
from advocates.routing import mentions_route
from advocates.routing_rules import route_decide
from advocates.selectors import outreach_sla_state
from advocates.services import outreach_approve, outreach_deliver
from advocates.template_text import keyword_normal
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.advocates.routing_helpers import brand_settings, ingest_and_detect, item
from tests.factories import MentionFactory, OutreachFactory
from tests.roles import SOCIAL_STAFF, user_in_role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_data")]

QUEUE = reverse("kansha_outreach:queue")


@pytest.fixture(autouse=True)
def _brand():
    brand_settings(reshare_requires_consent=False)


def _answer(mention) -> Outreach:
    return Outreach.objects.get(mention=mention, kind=OutreachKind.ANSWER)


def test_an_english_question_about_opening_hours_gets_the_opening_hours_answer():
    (mention,) = ingest_and_detect([item(
        1, "is the Shibuya store open on the 31st? @kanshacoffee", followers=300)])

    assert (mention.detection_intent, mention.route) == ("question", Route.ANSWER)
    answer = _answer(mention)
    opening = ReplyTemplate.objects.get(name="Opening hours (EN)")
    assert answer.template_key == f"answer/en/{opening.pk}"
    assert answer.proposed_text.startswith(("Hi Aiko! ", "Thanks for asking, Aiko!"))
    assert "8:00–20:00" in answer.proposed_text
    assert answer.reasons[-1].startswith("answer: Opening hours (EN), priority ")
    assert answer.status == OutreachStatus.PROPOSED
    assert answer.priority > 0
    assert not Outreach.objects.filter(mention=mention).exclude(pk=answer.pk).exists()


def test_a_japanese_wifi_question_gets_the_japanese_wifi_answer():
    (mention,) = ingest_and_detect([item(2, "カンシャ珈琲の渋谷店、Wi-Fiありますか？",
                                         language="ja", author_name="あいこ")])

    assert mention.route == Route.ANSWER
    answer = _answer(mention)
    assert answer.template_key == \
        f"answer/ja/{ReplyTemplate.objects.get(name='Wi-Fi (JA)').pk}"
    assert "Wi-Fi" in answer.proposed_text
    assert answer.proposed_text.startswith("あいこさん")


def test_a_question_no_topic_matches_gets_the_general_answer():
    (mention,) = ingest_and_detect([item(3, "@kanshacoffee do you sell gift cards?")])

    answer = _answer(mention)
    assert answer.template_key == "answer/en"
    assert answer.reasons[-1].startswith("answer: no topic template matched")


def test_without_any_answer_template_the_question_is_still_proposed_for_staff_to_write():
    ReplyTemplate.objects.filter(purpose="answer").delete()

    (mention,) = ingest_and_detect([item(4, "@kanshacoffee is there wifi at the Ebisu store?")])

    answer = _answer(mention)
    assert (answer.proposed_text, answer.template_key) == ("", "")
    assert mention.route == Route.ANSWER


def test_an_angry_question_is_a_complaint_and_a_question_is_never_thanked():
    (angry, friendly) = ingest_and_detect([
        item(5, "@kanshacoffee why was my latte cold and wrong again?? terrible service"),
        item(6, "Love @kanshacoffee! do you have oat milk?"),
    ])
    assert angry.route == Route.CARE
    assert friendly.route == Route.ANSWER
    assert not Outreach.objects.filter(kind=OutreachKind.REPLY).exists()


def test_a_question_is_answered_once_even_if_routed_again():
    (mention,) = ingest_and_detect([item(7, "@kanshacoffee are you open on new year's day?")])
    mention = type(mention).objects.select_related("author__advocate").get(pk=mention.pk)
    detection = Detection(language="en", label="neutral", intent="question", confidence=0.7,
                          reasons=("question mark",))
    mentions_route(mentions=[mention], detections=[detection],
                   config=DetectorSettings.load().to_config(), now=timezone.now())

    assert mention.skip_reason == "answer already proposed"
    assert Outreach.objects.filter(mention=mention).count() == 1


def test_route_decide_sends_questions_to_answer_whatever_the_label():
    config = DetectorConfig(brand_name="Kansha")
    item_in = DetectionInput(text="is it open?", platform="x", kind="post")
    for label, flags in (("neutral", frozenset()), ("positive", frozenset()),
                         ("neutral", frozenset({"competitor"}))):
        detection = Detection(language="en", label=label, intent="question", confidence=0.6,
                              reasons=(), version="t", flags=flags)
        assert route_decide(item_in, detection, config).route == "answer"
    spam = Detection(language="en", label="neutral", intent="question", confidence=0.6,
                     reasons=(), flags=frozenset({"spam"}), version="t")
    assert route_decide(item_in, spam, config).route == "none"


def test_keywords_compare_without_case_width_spaces_or_hyphens():
    assert keyword_normal("Ｗｉ－Ｆｉ") == keyword_normal("wi-fi") == keyword_normal("WI FI") \
        == "wifi"


# --- SLA from the posting time ---------------------------------------------------------------

def test_a_complaint_posted_three_weeks_ago_is_due_from_its_posting_time_and_overdue():
    posted = datetime.now(UTC) - timedelta(days=21)
    (mention,) = ingest_and_detect([item(
        10, "@kanshacoffee my order was wrong and cold, terrible", posted_at=posted.isoformat())])

    care = Outreach.objects.get(mention=mention, kind=OutreachKind.CARE)
    assert care.sla_due_at == mention.posted_at + timedelta(minutes=60)
    assert outreach_sla_state(care, now=timezone.now()) == "overdue"

    client = Client()
    client.force_login(user_in_role(SOCIAL_STAFF))
    html = client.get(QUEUE, {"tab": "care"}).content.decode()
    row = html[html.index(f'id="outreach-{care.pk}"'):]
    row = row[:row.index("</tr>")]
    assert "Overdue" in row
    assert "3\xa0weeks old" in row
    assert "0\xa0minutes old" not in row


def test_a_question_is_due_after_the_answer_sla_from_posting():
    brand_settings(answer_sla_minutes=30)
    posted = datetime.now(UTC) - timedelta(minutes=20)
    (mention,) = ingest_and_detect([item(
        11, "@kanshacoffee do you have wifi?", posted_at=posted.isoformat())])

    answer = _answer(mention)
    assert answer.sla_due_at == mention.posted_at + timedelta(minutes=30)
    # 10 of 30 minutes left: the last quarter would be 7.5, but "due soon" is at least 15.
    assert outreach_sla_state(answer, now=timezone.now()) == "due_soon"


# --- the queue and delivery --------------------------------------------------------------------

def test_answers_have_their_own_tab_next_to_care_and_come_before_thank_yous():
    OutreachFactory()
    complaint = OutreachFactory(kind="care", mention=MentionFactory(
        detection_intent="complaint"), sla_due_at=timezone.now() + timedelta(hours=1))
    answer = OutreachFactory(kind="answer", mention=MentionFactory(
        detection_intent="question"), sla_due_at=timezone.now() + timedelta(hours=4))
    client = Client()
    client.force_login(user_in_role(SOCIAL_STAFF))

    response = client.get(QUEUE, {"tab": ""})

    tabs = {tab["key"]: tab["count"] for tab in response.context["tabs"]}
    assert (tabs["care"], tabs["answers"], tabs["thanks"]) == (1, 1, 1)
    ids = [row.pk for row in response.context["page"].items]
    assert set(ids[:2]) == {complaint.pk, answer.pk}
    answers = client.get(QUEUE, {"tab": "answers"})
    assert [row.pk for row in answers.context["page"].items] == [answer.pk]
    assert "Answer · P" in answers.content.decode()


def test_an_approved_answer_is_posted_as_a_reply_to_the_question(django_user_model):
    BrandAccount.objects.get(platform="sandbox")
    (mention,) = ingest_and_detect([item(12, "@kanshacoffee is there wifi?")])
    answer = _answer(mention)
    staff = django_user_model.objects.create_user("sachi")

    outreach_approve(outreach_id=answer.pk, user=staff)
    outreach_deliver(outreach_id=answer.pk)

    answer.refresh_from_db()
    assert answer.status == OutreachStatus.SENT
    post = SandboxPost.objects.get(idempotency_key__startswith=str(answer.idempotency_key))
    assert post.in_reply_to == mention.external_id
    assert post.text == answer.proposed_text
