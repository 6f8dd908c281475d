"""The delivery service with the real platform clients: the platform's id lands on the
outreach row, and a policy refusal fails the row without a request."""

from advocates.models import Mention, Outreach
from advocates.services.outreach import outreach_deliver
from advocates.services.platforms import brand_account_poll
from tests.fakes.instagram_server import IG_ID, FakeInstagram, media
from tests.fakes.x_server import BRAND, BRAND_ID, FakeX, tweet


def _approved(mention: Mention, kind: str = "reply") -> Outreach:
    return Outreach.objects.create(
        kind=kind, status="approved", mention=mention, advocate=mention.author.advocate,
        identity=mention.author, platform=mention.platform, dedupe_key=f"test:{mention.pk}",
        final_text="Thank you for the kind words!")


def test_an_approved_x_reply_is_delivered_and_its_tweet_id_stored(connect):
    with FakeX() as fake:
        fake.mentions = [tweet(1)]
        account = connect("x", fake.url, {"access_token": "a"}, handle=f"@{BRAND}",
                          platform_user_id=BRAND_ID)
        brand_account_poll(account_id=account.pk)
        outreach = _approved(Mention.objects.get(platform="x"))

        sent = outreach_deliver(outreach_id=outreach.pk)

        assert sent.status == "sent"
        assert sent.platform_result_id == fake.posted[0]["id"]
        assert sent.platform_result_url == f"https://x.com/{BRAND}/status/{fake.posted[0]['id']}"
        assert fake.calls("POST", "/2/tweets")[0].json()["reply"] == {
            "in_reply_to_tweet_id": tweet(1)["id"]}


def test_a_comment_on_tagged_instagram_media_fails_without_a_request(connect):
    with FakeInstagram() as fake:
        fake.tagged = [media(1)]
        account = connect("instagram", fake.url, {"access_token": "a"},
                          platform_user_id=IG_ID)
        brand_account_poll(account_id=account.pk)
        outreach = _approved(Mention.objects.get(platform="instagram"))

        failed = outreach_deliver(outreach_id=outreach.pk)

        assert failed.status == "failed"
        assert failed.last_error.startswith("policy: no comments on tagged media")
        assert fake.calls("POST") == []


def test_an_instagram_reshare_without_consent_fails_as_policy(connect):
    with FakeInstagram() as fake:
        fake.tagged = [media(2)]
        account = connect("instagram", fake.url, {"access_token": "a"},
                          platform_user_id=IG_ID)
        brand_account_poll(account_id=account.pk)
        failed = outreach_deliver(outreach_id=_approved(
            Mention.objects.get(platform="instagram"), "reshare").pk)
        assert failed.status == "failed"
        assert "needs a granted ConsentRecord" in failed.last_error
        assert fake.calls("POST") == []
