"""The delivery service with the real platform clients, per platform: an approved outreach
goes through `outreach_deliver` to a fake server that speaks the platform's documented API,
the request it received is what the platform expects, and the platform's id and URL land on
the outreach row. A policy refusal fails the row without a request."""

from datetime import timedelta

from django.utils import timezone

from advocates.models import ConsentRecord, Mention, Outreach
from advocates.services.outreach import outreach_deliver
from advocates.services.platforms import brand_account_poll
from tests.fakes.bluesky_server import BRAND_DID, FakeBluesky, note
from tests.fakes.facebook_server import PAGE_ID, FakeFacebook, tagged_post
from tests.fakes.foursquare_server import VENUE_ID, FakeFoursquare, checkin, user_push
from tests.fakes.google_server import ACCOUNT, LOCATIONS, FakeGoogle, review
from tests.fakes.instagram_server import IG_ID, FakeInstagram, comment, media, mentions_delivery
from tests.fakes.instagram_server import sign as ig_sign
from tests.fakes.mastodon_server import BRAND_ID as MASTODON_ID
from tests.fakes.mastodon_server import FakeMastodon, notification
from tests.fakes.x_server import BRAND, BRAND_ID, FakeX, tweet

TEXT = "Thank you for the kind words!"


def _approved(mention: Mention, kind: str = "reply") -> Outreach:
    return Outreach.objects.create(
        kind=kind, status="approved", mention=mention, advocate=mention.author.advocate,
        identity=mention.author, platform=mention.platform,
        # A plain reshare has no words (with words it is a quote: test_reshare_disclosure.py).
        dedupe_key=f"test:{kind}:{mention.pk}", final_text="" if kind == "reshare" else TEXT)


def _delivered(outreach: Outreach) -> Outreach:
    sent = outreach_deliver(outreach_id=outreach.pk)
    assert (sent.status, sent.last_error) == ("sent", "")
    assert Outreach.objects.get(pk=outreach.pk).platform_result_id == sent.platform_result_id
    return sent


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
        assert failed.last_error.startswith(
            "policy: Instagram rule: no comments on tagged or hashtag media")
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


def test_an_approved_instagram_reply_goes_through_the_mentions_edge_and_its_id_is_stored(
        connect, deliver):
    with FakeInstagram() as fake:
        post, note_ = media(1), comment(2, media_id=media(1)["id"])
        fake.media[post["id"]], fake.comments[note_["id"]] = post, note_
        account = connect("instagram", fake.url, {"access_token": "ig", "app_secret": "s"},
                          platform_user_id=IG_ID)
        body = mentions_delivery({"media_id": post["id"], "comment_id": note_["id"]})
        assert deliver(f"/webhooks/instagram/{account.pk}/", body,
                       headers={"X-Hub-Signature-256": ig_sign(body, "s")}).status_code == 200
        outreach = _approved(Mention.objects.get(platform="instagram"))

        sent = _delivered(outreach)

        call = fake.calls("POST", f"/{IG_ID}/mentions")[0]
        assert call.form() == {"media_id": [post["id"]], "comment_id": [note_["id"]],
                               "message": [TEXT]}
        assert call.headers["authorization"] == "Bearer ig"
        assert sent.platform_result_id == "179100000000001"  # the new comment's id
        assert sent.platform_result_url == note_["media"]["permalink"]


def test_an_approved_instagram_republish_with_consent_stores_the_published_media_id(connect):
    with FakeInstagram() as fake:
        fake.tagged = [media(3)]
        account = connect("instagram", fake.url, {"access_token": "ig"}, platform_user_id=IG_ID)
        brand_account_poll(account_id=account.pk)
        mention = Mention.objects.get(platform="instagram")
        ConsentRecord.objects.create(advocate=mention.author.advocate, identity=mention.author,
                                     mention=mention, status="granted",
                                     granted_at=timezone.now(),
                                     expires_at=timezone.now() + timedelta(days=30))

        sent = _delivered(_approved(mention, "reshare"))

        container = fake.calls("POST", f"/{IG_ID}/media")[0].form()
        assert container["image_url"] == [media(3)["media_url"]]
        assert fake.calls("POST", f"/{IG_ID}/media_publish")[0].form() == {
            "creation_id": ["cont-1"]}
        assert sent.platform_result_id == "179200000000001"


def test_an_approved_facebook_reply_is_a_comment_and_its_id_and_url_are_stored(connect):
    with FakeFacebook() as fake:
        fake.tagged = [tagged_post(1)]
        account = connect("facebook", fake.url, {"access_token": "page-token"},
                          platform_user_id=PAGE_ID)
        brand_account_poll(account_id=account.pk)

        sent = _delivered(_approved(Mention.objects.get(platform="facebook")))

        call = fake.calls("POST", f"/{tagged_post(1)['id']}/comments")[0]
        assert call.form() == {"message": [TEXT]}
        assert call.headers["authorization"] == "Bearer page-token"
        assert sent.platform_result_id == f"{tagged_post(1)['id']}_1"
        assert sent.platform_result_url == f"https://www.facebook.com/{tagged_post(1)['id']}_1"


def test_an_approved_google_review_reply_is_put_and_its_reply_id_stored(connect):
    with FakeGoogle() as fake:
        shibuya = sorted(LOCATIONS)[0]
        fake.reviews[shibuya] = [review(1, stars=5)]
        account = connect("google", fake.url, {"access_token": "ya29.first"},
                          config={"locations": LOCATIONS}, platform_user_id=ACCOUNT)
        brand_account_poll(account_id=account.pk)

        sent = _delivered(_approved(Mention.objects.get(platform="google")))

        (put,) = fake.calls("PUT")
        assert put.path == f"/{review(1)['name']}/reply"
        assert put.json() == {"comment": TEXT}
        assert put.headers["authorization"] == "Bearer ya29.first"
        # A review has one owner reply, named after the review; the API gives it no URL.
        assert sent.platform_result_id == f"{review(1)['reviewId']}/reply"
        assert fake.replies[review(1)["name"]]["comment"] == TEXT


def test_an_approved_foursquare_checkin_reply_stores_the_reply_id(connect, deliver):
    with FakeFoursquare() as fake:
        account = connect("foursquare", fake.url, {"push_secret": "p", "oauth_token": "tok"},
                          config={"venue_ids": [VENUE_ID]}, platform_user_id="1")
        item = checkin(1)
        assert deliver(f"/webhooks/foursquare/{account.pk}/", user_push(item, "p"),
                       "application/x-www-form-urlencoded").status_code == 200

        sent = _delivered(_approved(Mention.objects.get(platform="foursquare")))

        call = fake.calls("POST", f"/checkins/{item['id']}/reply")[0]
        assert call.form() == {"text": [TEXT]}
        assert (call.q("oauth_token"), call.q("v")) == ("tok", "20231010")
        assert sent.platform_result_id == "reply1"


def test_an_approved_mastodon_reply_and_reblog_store_the_status_ids_and_urls(connect):
    with FakeMastodon() as fake:
        fake.notifications = [notification(1)]
        account = connect("mastodon", fake.url, {"access_token": "masto"},
                          platform_user_id=MASTODON_ID)
        brand_account_poll(account_id=account.pk)
        mention = Mention.objects.get(platform="mastodon")
        reply, reblog = _approved(mention), _approved(mention, "reshare")

        sent = _delivered(reply)
        reshared = _delivered(reblog)

        post = fake.calls("POST", "/api/v1/statuses")[0]
        assert post.json() == {"status": f"@fan1@remote.example {TEXT}",
                               "in_reply_to_id": "113001", "visibility": "public"}
        assert post.headers["idempotency-key"] == str(reply.idempotency_key)
        assert sent.platform_result_id == "114001"
        assert sent.platform_result_url == "https://social.example/@kansha/114001"
        assert fake.calls("POST", "/api/v1/statuses/113001/reblog")[0].headers[
            "idempotency-key"] == str(reblog.idempotency_key)
        assert reshared.platform_result_id == "115002"
        assert reshared.platform_result_url == \
            "https://social.example/users/kansha/statuses/115002/activity"


def test_an_approved_bluesky_reply_and_repost_store_the_record_uris_and_urls(connect):
    with FakeBluesky() as fake:
        fake.notifications = [note(1)]
        account = connect("bluesky", fake.url, {"identifier": "kansha.example",
                                                "app_password": "app-pass-word"},
                          handle="kansha.example", platform_user_id=BRAND_DID)
        brand_account_poll(account_id=account.pk)
        mention = Mention.objects.get(platform="bluesky")

        sent = _delivered(_approved(mention))
        reposted = _delivered(_approved(mention, "reshare"))

        reply, repost = (c.json() for c in fake.calls("POST",
                                                       "/xrpc/com.atproto.repo.createRecord"))
        ref = {"uri": note(1)["uri"], "cid": note(1)["cid"]}
        assert (reply["repo"], reply["collection"]) == (BRAND_DID, "app.bsky.feed.post")
        assert reply["record"]["text"] == TEXT
        assert reply["record"]["reply"] == {"root": ref, "parent": ref}
        assert repost["collection"] == "app.bsky.feed.repost"
        assert repost["record"]["subject"] == ref
        assert sent.platform_result_id == f"at://{BRAND_DID}/app.bsky.feed.post/3lbrand0001"
        assert sent.platform_result_url == \
            "https://bsky.app/profile/kansha.example/post/3lbrand0001"
        assert reposted.platform_result_id == \
            f"at://{BRAND_DID}/app.bsky.feed.repost/3lbrand0002"
        # A repost has no page of its own: its link is the reposted post's.
        assert reposted.platform_result_url == \
            f"https://bsky.app/profile/{mention.author.platform_user_id}/post/3lfan00001"
