"""Care conversations: a care item opens or joins the person's thread, staff answer publicly
or by direct message through the delivery machinery, assign, tag, note and resolve with an
outcome; the admin view reads and answers it."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from advocates.models import (
    Conversation,
    ConversationMessage,
    ConversationStatus,
    MessageKind,
    Outreach,
    OutreachKind,
    OutreachStatus,
    SandboxPost,
)
from advocates.services import outreach_deliver
from advocates.services.conversations import (
    ConversationError,
    conversation_assign,
    conversation_message_receive,
    conversation_note_add,
    conversation_reply,
    conversation_resolve,
    conversation_status_set,
    conversation_tags_set,
)
from advocates.services.privacy import advocate_erase
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.advocates.routing_helpers import brand_settings, ingest_and_detect, item
from tests.roles import SOCIAL_STAFF, user_in_role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_data")]

COMPLAINT = "@kanshacoffee my order was wrong and cold, terrible service"
AUTHOR = {"author_id": "author-c1", "author_handle": "@mika", "author_name": "Mika Tanaka"}


@pytest.fixture(autouse=True)
def _brand():
    brand_settings(reshare_requires_consent=False)


@pytest.fixture
def staff():
    return user_in_role(SOCIAL_STAFF, username="sachi", first_name="Sachi", last_name="Staff")


def _complaint(n: int = 1, text: str = COMPLAINT, **overrides):
    (mention,) = ingest_and_detect([item(n, text, **{**AUTHOR, **overrides})])
    return mention


def _kinds(conversation) -> list[str]:
    return list(conversation.messages.values_list("kind", flat=True))


def test_a_care_item_opens_a_conversation_and_a_second_complaint_joins_it():
    first = _complaint(1)
    care = Outreach.objects.get(mention=first)
    conversation = care.conversation

    assert conversation is not None
    assert (conversation.status, conversation.platform) == (ConversationStatus.OPEN, "sandbox")
    assert conversation.identity == first.author
    assert _kinds(conversation) == [MessageKind.MENTION]

    second = _complaint(2, "@kanshacoffee still no answer, and the refund never came")
    assert Outreach.objects.get(mention=second).conversation == conversation
    assert Conversation.objects.count() == 1
    assert list(conversation.messages.values_list("mention_id", flat=True)) == [first.pk,
                                                                                second.pk]


def test_a_follow_up_that_is_not_a_complaint_joins_the_open_thread_too():
    _complaint(1)
    (later,) = ingest_and_detect([item(2, "@kanshacoffee ok thanks for looking into it",
                                       **AUTHOR)])

    conversation = Conversation.objects.get()
    assert ConversationMessage.objects.get(mention=later).conversation == conversation


def test_an_account_on_another_platform_has_its_own_conversation():
    _complaint(1)
    _complaint(2, platform="mastodon")

    assert sorted(Conversation.objects.values_list("platform", flat=True)) == [
        "mastodon", "sandbox"]


def test_a_public_reply_takes_over_the_pending_care_item_and_is_delivered_once(staff):
    mention = _complaint(1)
    care = Outreach.objects.get(mention=mention)
    token = str(uuid.uuid4())

    sent = conversation_reply(conversation_id=care.conversation_id, user=staff,
                              text="So sorry Mika! Could you DM us your order number?",
                              channel="public", token=token)
    again = conversation_reply(conversation_id=care.conversation_id, user=staff,
                               text="So sorry Mika! Could you DM us your order number?",
                               channel="public", token=token)

    assert sent.pk == again.pk == care.pk
    outreach_deliver(outreach_id=care.pk)
    care.refresh_from_db()
    assert care.status == OutreachStatus.SENT
    assert care.final_text.startswith("So sorry Mika!")
    post = SandboxPost.objects.get()
    assert post.in_reply_to == mention.external_id
    conversation = care.conversation
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.WAITING
    assert _kinds(conversation) == [MessageKind.MENTION, MessageKind.REPLY]


def test_a_direct_message_reply_goes_out_as_a_dm_with_its_own_idempotency_key(staff):
    mention = _complaint(1)
    conversation = Outreach.objects.get(mention=mention).conversation

    dm = conversation_reply(conversation_id=conversation.pk, user=staff,
                            text="Hi Mika, here is a voucher for the trouble.", channel="dm",
                            token=str(uuid.uuid4()))
    outreach_deliver(outreach_id=dm.pk)

    dm.refresh_from_db()
    assert (dm.kind, dm.mention_id, dm.status) == (OutreachKind.CARE, None, OutreachStatus.SENT)
    post = SandboxPost.objects.get()
    assert (post.kind, post.target_handle) == ("dm", "@mika")
    assert post.idempotency_key.startswith(str(dm.idempotency_key))
    assert _kinds(conversation) == [MessageKind.MENTION, MessageKind.DM_OUT]
    # The templated first response is still waiting in the queue for its own decision.
    assert Outreach.objects.get(mention=mention).status == OutreachStatus.PROPOSED


def test_an_empty_reply_or_an_unknown_channel_changes_nothing(staff):
    conversation = Outreach.objects.get(mention=_complaint(1)).conversation
    for text, channel in (("  ", "public"), ("hello", "carrier pigeon")):
        with pytest.raises(ValidationError):
            conversation_reply(conversation_id=conversation.pk, user=staff, text=text,
                               channel=channel, token=str(uuid.uuid4()))
    assert _kinds(conversation) == [MessageKind.MENTION]
    assert Outreach.objects.count() == 1


def test_an_inbound_message_joins_the_thread_reopens_it_and_a_redelivery_adds_nothing(staff):
    mention = _complaint(1)
    conversation = Outreach.objects.get(mention=mention).conversation
    conversation_status_set(conversation_id=conversation.pk, user=staff, status="waiting")
    at = datetime.now(UTC)

    first = conversation_message_receive(identity=mention.author, external_id="dm-1",
                                         text="Order 4411, the flat white", at=at)
    second = conversation_message_receive(identity=mention.author, external_id="dm-1",
                                          text="Order 4411, the flat white", at=at)

    assert first is not None
    assert second is None
    conversation.refresh_from_db()
    assert conversation.status == ConversationStatus.OPEN
    assert _kinds(conversation) == [MessageKind.MENTION, MessageKind.EVENT, MessageKind.DM_IN]


def test_resolving_records_the_outcome_and_withdraws_what_is_pending(staff):
    mention = _complaint(1)
    care = Outreach.objects.get(mention=mention)

    conversation = conversation_resolve(conversation_id=care.conversation_id, user=staff,
                                        outcome="refunded")

    assert (conversation.status, conversation.outcome) == ("resolved", "refunded")
    assert conversation.resolved_by == staff
    assert conversation.resolved_at is not None
    care.refresh_from_db()
    assert (care.status, care.reject_reason) == ("rejected",
                                                 "conversation resolved (refunded)")
    with pytest.raises(ConversationError):
        conversation_resolve(conversation_id=conversation.pk, user=staff, outcome="fixed")
    with pytest.raises(ConversationError):
        conversation_reply(conversation_id=conversation.pk, user=staff, text="hi",
                           channel="public", token=str(uuid.uuid4()))
    # The next complaint is a new case with its own outcome to come.
    later = _complaint(2, "@kanshacoffee the same cold latte again today, terrible")
    assert Outreach.objects.get(mention=later).conversation_id != conversation.pk
    assert Conversation.objects.filter(status="open").count() == 1


def test_a_bad_outcome_is_refused_and_changes_nothing(staff):
    conversation = Outreach.objects.get(mention=_complaint(1)).conversation
    with pytest.raises(ValidationError):
        conversation_resolve(conversation_id=conversation.pk, user=staff, outcome="shrug")
    conversation.refresh_from_db()
    assert (conversation.status, conversation.outcome) == ("open", "")


def test_assign_tags_and_notes_are_in_the_thread(staff):
    care = Outreach.objects.get(mention=_complaint(1))
    conversation_id = care.conversation_id

    conversation_assign(conversation_id=conversation_id, user=staff, assignee=staff)
    conversation_tags_set(conversation_id=conversation_id, user=staff,
                          tags=[" Refund ", "cold-drink", "refund", ""])
    conversation_note_add(conversation_id=conversation_id, user=staff,
                          text="Called the Shibuya store: they remember the order.")

    conversation = Conversation.objects.get(pk=conversation_id)
    assert conversation.assignee == staff
    assert conversation.tags == ["refund", "cold-drink"]
    care.refresh_from_db()
    assert care.assignee == staff  # the queue's "assigned to me" finds it too
    assert _kinds(conversation) == [MessageKind.MENTION, MessageKind.EVENT, MessageKind.EVENT,
                                    MessageKind.NOTE]
    with pytest.raises(ValidationError):
        conversation_tags_set(conversation_id=conversation_id, user=staff,
                              tags=[f"t{n}" for n in range(11)])
    assert Conversation.objects.get(pk=conversation_id).tags == ["refund", "cold-drink"]


def test_erasure_blanks_the_words_in_the_thread(staff):
    mention = _complaint(1)
    conversation_message_receive(identity=mention.author, external_id="dm-9",
                                 text="my phone is 090-1234-5678", at=timezone.now())

    advocate_erase(advocate_id=mention.author.advocate_id, user=staff)

    assert set(ConversationMessage.objects.values_list("text", flat=True)) == {""}


# --- the admin view ----------------------------------------------------------------------------

@pytest.fixture
def client(staff):
    client = Client()
    client.force_login(staff)
    return client


def test_the_inbox_and_the_conversation_view_show_the_thread_and_answer_it(client, staff):
    mention = _complaint(1, posted_at=(datetime.now(UTC) - timedelta(hours=2)).isoformat())
    care = Outreach.objects.get(mention=mention)
    conversation_message_receive(identity=mention.author, external_id="dm-2",
                                 text="It was order 4411", at=timezone.now())
    url = reverse("kansha_conversations:detail", args=[care.conversation_id])

    inbox = client.get(reverse("kansha_conversations:inbox")).content.decode()
    assert url in inbox
    assert "Mika Tanaka" in inbox

    page = client.get(url)
    html = page.content.decode()
    assert page.status_code == 200
    assert COMPLAINT in html
    assert "It was order 4411" in html
    assert "Direct message from them" in html
    assert "First response to a complaint (EN)" in html  # the template picker
    assert 'value="dm"' in html
    assert 'value="public"' in html

    token = page.context["reply_form"]["token"].value()
    response = client.post(reverse("kansha_conversations:reply", args=[care.conversation_id]),
                           {"text": "Thanks Mika, refund on its way.", "channel": "dm",
                            "token": token})
    assert response.status_code == 302
    assert response.url == url
    client.post(reverse("kansha_conversations:reply", args=[care.conversation_id]),
                {"text": "Thanks Mika, refund on its way.", "channel": "dm", "token": token})
    assert Outreach.objects.filter(dedupe_key=f"conversation-reply:{token}").count() == 1

    client.post(reverse("kansha_conversations:resolve", args=[care.conversation_id]),
                {"outcome": "refunded"})
    resolved = client.get(url).content.decode()
    assert "Refunded" in resolved
    assert "Send reply" not in resolved


def test_the_queue_links_a_care_item_to_its_conversation(client):
    care = Outreach.objects.get(mention=_complaint(1))

    html = client.get(reverse("kansha_outreach:queue"), {"tab": "care"}).content.decode()

    assert reverse("kansha_conversations:detail", args=[care.conversation_id]) in html


def test_without_the_queue_permission_the_views_answer_403(django_user_model):
    conversation = Outreach.objects.get(mention=_complaint(1)).conversation
    outsider = django_user_model.objects.create_user("marketing", is_staff=True)
    from django.contrib.auth.models import Permission

    outsider.user_permissions.add(Permission.objects.get(codename="access_admin"))
    client = Client()
    client.force_login(outsider)

    assert client.get(reverse("kansha_conversations:inbox")).status_code == 403
    response = client.post(reverse("kansha_conversations:resolve", args=[conversation.pk]),
                           {"outcome": "fixed"})
    assert response.status_code == 403
    conversation.refresh_from_db()
    assert conversation.status == "open"
