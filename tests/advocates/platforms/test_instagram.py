"""Instagram Graph API: the real client against a fake Graph API and signed webhooks."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from advocates import policies
from advocates.models import (
    Advocate,
    ConsentRecord,
    ConversationMessage,
    Mention,
    MessageKind,
    Outreach,
    SocialIdentity,
    WebhookDelivery,
)
from advocates.platforms.base import PermanentError
from advocates.services.outreach import outreach_deliver
from advocates.services.platforms import brand_account_client, brand_account_poll
from advocates.services.threads import conversation_open_or_join
from tests.advocates.platforms.conftest import reloaded
from tests.fakes.facebook_server import messaging_delivery, messaging_event
from tests.fakes.instagram_server import IG_ID, FakeInstagram, comment, media, mentions_delivery
from tests.fakes.instagram_server import sign as sign_body
from tests.fakes.platform_server import Reply

APP_SECRET = "ig-app-secret"


def sign(body: bytes) -> dict:
    return {"X-Hub-Signature-256": sign_body(body, APP_SECRET)}


@pytest.fixture
def fake():
    with FakeInstagram() as server:
        yield server


@pytest.fixture
def account(connect, fake):
    return connect("instagram", fake.url, {"access_token": "ig-token", "app_secret": APP_SECRET,
                                           "verify_token": "verify-me"},
                   handle="@kanshacoffee", platform_user_id=IG_ID)


@pytest.fixture
def url(account):
    return f"/webhooks/instagram/{account.pk}/"


def test_handshake_echoes_the_challenge_only_for_our_verify_token(client, url):
    ok = client.get(url, {"hub.mode": "subscribe", "hub.verify_token": "verify-me",
                          "hub.challenge": "1158201444"})
    assert (ok.status_code, ok.content) == (200, b"1158201444")
    wrong = client.get(url, {"hub.mode": "subscribe", "hub.verify_token": "nope",
                             "hub.challenge": "1"})
    assert wrong.status_code == 403


def test_signatures_valid_invalid_missing_and_stale_are_told_apart(deliver, url, fake):
    fake.media[media(1)["id"]] = media(1)
    body = mentions_delivery({"media_id": media(1)["id"]})
    stale = mentions_delivery({"media_id": media(1)["id"]},
                              entry_time=int(time.time()) - 3 * 24 * 3600)

    assert deliver(url, body).status_code == 403
    assert deliver(url, body, headers={"X-Hub-Signature-256": "sha256=" + "0" * 64}
                   ).status_code == 403
    assert deliver(url, stale, headers=sign(stale)).status_code == 400
    assert WebhookDelivery.objects.count() == 0

    assert deliver(url, body, headers=sign(body)).status_code == 200
    assert WebhookDelivery.objects.count() == 1
    assert deliver(url, body, headers=sign(body)).json()["stored"] is False  # redelivery
    assert Mention.objects.filter(platform="instagram").count() == 1


def test_caption_and_comment_mentions_are_read_through_the_ig_user_node(deliver, url, fake):
    post = media(2)
    note = comment(3, media_id=post["id"])
    fake.media[post["id"]] = post
    fake.comments[note["id"]] = note
    body = mentions_delivery({"media_id": post["id"]},
                             {"media_id": post["id"], "comment_id": note["id"]})

    assert deliver(url, body, headers=sign(body)).status_code == 200

    fields = [c.q("fields") for c in fake.calls("GET", f"/{IG_ID}")]
    assert fields == [
        f"mentioned_media.media_id({post['id']}){{id,caption,media_type,media_url,permalink,"
        f"timestamp,username,like_count}}",
        f"mentioned_comment.comment_id({note['id']}){{id,text,timestamp,username,like_count,"
        f"media{{id,permalink}}}}"]
    caption = Mention.objects.get(external_id=post["id"])
    assert (caption.kind, caption.source, caption.url) == ("post", "webhook", post["permalink"])
    reply = Mention.objects.get(external_id=note["id"])
    assert (reply.kind, reply.in_reply_to) == ("comment", post["id"])
    assert set(SocialIdentity.objects.filter(platform="instagram")
               .values_list("handle", flat=True)) == {"@latte.art", "@bean.fan"}


def test_reply_to_a_comment_mention_goes_through_the_mentions_edge(deliver, url, fake,
                                                                    account):
    post, note = media(4), comment(5, media_id=media(4)["id"])
    fake.media[post["id"]], fake.comments[note["id"]] = post, note
    body = mentions_delivery({"media_id": post["id"], "comment_id": note["id"]},
                             {"media_id": post["id"]})
    deliver(url, body, headers=sign(body))
    client = brand_account_client(reloaded(account))

    on_comment = client.reply(in_reply_to=note["id"], text="Thank you!", idempotency_key="a")
    on_caption = client.reply(in_reply_to=post["id"], text="Thanks!", idempotency_key="b")

    assert fake.replies == [
        {"media_id": post["id"], "comment_id": note["id"], "message": "Thank you!"},
        {"media_id": post["id"], "message": "Thanks!"}]
    assert on_comment.id == "179100000000001"
    assert on_caption.id == "179100000000002"
    assert client.reply(in_reply_to=note["id"], text="Thank you!", idempotency_key="a").id \
        == on_comment.id
    assert len(fake.replies) == 2


def test_no_comments_on_tagged_or_hashtag_media(fake, account):
    fake.tagged = [media(6)]
    brand_account_poll(account_id=account.pk)
    hashtag = Mention.objects.get(external_id=media(6)["id"])
    Mention.objects.filter(pk=hashtag.pk).update(raw={"origin": "tagged"})
    client = brand_account_client(account)

    refusal = "policy: Instagram rule: no comments on tagged or hashtag media"
    with pytest.raises(PermanentError, match=refusal):
        client.reply(in_reply_to=media(6)["id"], text="hi", idempotency_key="x")
    Mention.objects.filter(pk=hashtag.pk).update(raw={"origin": "hashtag"})
    with pytest.raises(PermanentError, match=refusal):
        client.reply(in_reply_to=media(6)["id"], text="hi", idempotency_key="y")
    assert "tag" not in policies.INSTAGRAM.reply_kinds
    assert fake.calls("POST") == []


def test_tagged_media_polling_resumes_after_a_restart(fake, account):
    fake.tagged = [media(n) for n in range(1, 11)]
    assert brand_account_poll(account_id=account.pk).created == 10
    fake.tagged += [media(n) for n in range(11, 71)]  # 60 new: two pages of 50

    assert brand_account_poll(account_id=account.pk, max_pages=1).created == 50
    assert reloaded(account).cursor["poll"]["page"] == "c50"
    again = brand_account_poll(account_id=account.pk)
    assert (again.created, again.duplicate) == (10, 0)
    assert Mention.objects.filter(platform="instagram", kind="tag").count() == 70
    assert brand_account_poll(account_id=account.pk).created == 0


def test_reshare_is_a_republish_that_needs_consent(fake, account):
    fake.tagged = [media(7)]
    brand_account_poll(account_id=account.pk)
    mention = Mention.objects.get(external_id=media(7)["id"])

    def reshare(key: str) -> Outreach:
        outreach = Outreach.objects.create(
            kind="reshare", status="approved", mention=mention, platform="instagram",
            advocate=mention.author.advocate, identity=mention.author, dedupe_key=key)
        return outreach_deliver(outreach_id=outreach.pk)

    # The policy needs the author's consent: delivery refuses before any request.
    refused = reshare("reshare:1")
    assert refused.status == "failed"
    assert "needs a granted ConsentRecord" in refused.last_error
    assert fake.calls("POST") == []

    ConsentRecord.objects.create(advocate=mention.author.advocate, identity=mention.author,
                                 mention=mention, status="granted", granted_at=timezone.now(),
                                 expires_at=timezone.now() + timedelta(days=30))
    result = reshare("reshare:2")
    assert result.status == "sent"
    container = fake.calls("POST", f"/{IG_ID}/media")[0].form()
    assert container["image_url"] == [media(7)["media_url"]]
    assert "@latte.art" in container["caption"][0]
    assert fake.published == [{"creation_id": "cont-1"}]
    assert result.platform_result_id == "179200000000001"


def test_a_republish_with_a_disclosure_line_leads_its_caption_with_it(fake, account):
    fake.tagged = [media(8)]
    brand_account_poll(account_id=account.pk)
    client = brand_account_client(reloaded(account))
    line = "#ad @latte.art has received a reward from Kansha Coffee."

    client.reshare(external_id=media(8)["id"], idempotency_key="rp-8", text=line)

    caption = fake.calls("POST", f"/{IG_ID}/media")[0].form()["caption"][0]
    assert caption.startswith(f"{line}\n\n")  # above the part Instagram folds away
    assert "@latte.art" in caption.removeprefix(line)


def test_graph_throttling_defers_polling(fake, account):
    fake.once("GET", f"/{IG_ID}/tags", Reply(400, {"error": {
        "message": "Application request limit reached", "code": 4, "type": "OAuthException"}},
        {"X-App-Usage": '{"call_count": 100, "total_time": 20, "total_cputime": 20}',
         "X-Business-Use-Case-Usage": '{"1": [{"type": "instagram", "call_count": 100, '
                                      '"estimated_time_to_regain_access": 15}]}'}))
    outcome = brand_account_poll(account_id=account.pk)
    assert outcome.deferred_until > timezone.now() + timedelta(minutes=14)
    assert brand_account_poll(account_id=account.pk).skipped == "quota exhausted"


# --- Instagram Messaging: direct messages in (`messaging` webhook events) ---------------------

def test_a_direct_message_joins_the_conversation_of_the_senders_mentions(deliver, url, fake):
    mentioned = SocialIdentity.objects.create(
        advocate=Advocate.objects.create(display_name="Bean Fan"), platform="instagram",
        platform_user_id="bean.fan", handle="@bean.fan")
    thread = conversation_open_or_join(advocate_id=mentioned.advocate_id,
                                       identity_id=mentioned.pk, platform="instagram",
                                       now=timezone.now())
    fake.profiles["6200000000000001"] = {"name": "Bean Fan", "username": "bean.fan"}
    body = messaging_delivery(
        messaging_event(1, sender="6200000000000001", recipient=IG_ID, text="Cold latte again"),
        messaging_event(2, sender=IG_ID, recipient="6200000000000001", echo=True),
        messaging_event(3, sender="6200000000000009", recipient=IG_ID, text="Hi!"),
        obj="instagram", entry_id=IG_ID)

    assert deliver(url, body).status_code == 403
    assert deliver(url, body, headers=sign(body)).json()["stored"] is True
    assert deliver(url, body, headers=sign(body)).json()["stored"] is False

    joined = ConversationMessage.objects.get(external_id="m_mid.0001")
    assert (joined.conversation_id, joined.kind, joined.text) == (
        thread.pk, MessageKind.DM_IN, "Cold latte again")
    # No profile (the person never allowed the lookup): keyed by the IGSID, a thread of its own.
    other = ConversationMessage.objects.get(external_id="m_mid.0003")
    assert other.conversation.identity.platform_user_id == "6200000000000009"
    assert ConversationMessage.objects.count() == 2  # the echo is ours
    assert fake.calls("GET", "/6200000000000001")[0].q("fields") == "name,username"
    assert Mention.objects.count() == 0
