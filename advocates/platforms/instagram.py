"""Instagram (Graph API, professional accounts): mentions webhooks, tagged media, replies,
direct messages in (Instagram Messaging webhooks).

Account: `platform_user_id` = the IG professional account (IG user) id, `handle` = @username.
config: `base_url` (default https://graph.facebook.com/v21.0).
credentials: `access_token` (a Page/User token with instagram_basic,
instagram_manage_comments), `app_secret` (signs webhooks), `verify_token` (handshake).

Inbound: the `mentions` webhook field says a caption (`media_id`) or a comment (`comment_id`)
@-mentioned the brand; the content is then read through the IG user node's
`mentioned_media` / `mentioned_comment` fields. Media the brand is tagged in are polled from
`/{ig-user-id}/tags`.

Direct messages: the webhook's `messaging` events (sender.id is the person's Instagram-scoped
id, IGSID). Their username is read from `GET /{IGSID}?fields=name,username` (the User Profile
API) so the message joins the conversation of their mentions, which are keyed by username;
without it (no consent to the lookup) the IGSID is the key. Answering by DM is not built.

Policy (`policies.INSTAGRAM`, Instagram's platform terms): the brand may answer a mention through
the mentions edge, but never comments on media it was only tagged in, nor on hashtag-search
media (checked here too, before any request). A reshare is a republish of someone else's photo
and needs their recorded consent (`ConsentRecord`), which delivery checks before calling.
"""

from __future__ import annotations

import hashlib
import logging
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from advocates import policies
from advocates.platforms.base import (
    AccountState,
    MessageIn,
    PermanentError,
    PollPage,
    PostResult,
    WebhookItems,
)
from advocates.platforms.facebook import (
    GRAPH_URL,
    MetaWebhooks,
    graph_session,
    meta_changes_read,
    meta_message_ids,
    meta_messages_read,
)
from advocates.platforms.http import (
    HttpPlatformClient,
    JsonWebhooks,
    from_iso,
    items_read,
    outbound_once,
    walk_back,
)
from advocates.schemas import MentionIn, MentionKindName

if TYPE_CHECKING:
    from advocates.models import BrandAccount

logger = logging.getLogger(__name__)

MEDIA_FIELDS = "id,caption,media_type,media_url,permalink,timestamp,username,like_count"
COMMENT_FIELDS = "id,text,timestamp,username,like_count,media{id,permalink}"
PAGE_SIZE = 50
# Where a piece of media came from decides what the brand may do with it.
REPLYABLE_ORIGINS = {"mention_caption", "mention_comment"}


def media_item(media: dict[str, Any], *, kind: MentionKindName) -> MentionIn:
    # The Graph API exposes only the username of other accounts, so it is their identity key.
    username = media.get("username") or "?"
    return MentionIn(
        platform="instagram", external_id=media["id"], author_id=username,
        author_handle=f"@{username}",
        text=media.get("caption", ""), kind=kind,
        posted_at=from_iso(media.get("timestamp")) or timezone.now(),
        url=media.get("permalink", ""))


def comment_item(comment: dict[str, Any]) -> MentionIn:
    media = comment.get("media") or {}
    username = comment.get("username") or "?"
    return MentionIn(
        platform="instagram", external_id=comment["id"], author_id=username,
        author_handle=f"@{username}", text=comment.get("text", ""),
        kind="comment", posted_at=from_iso(comment.get("timestamp")) or timezone.now(),
        url=media.get("permalink", ""), in_reply_to=media.get("id", ""))


class InstagramClient(MetaWebhooks, JsonWebhooks, HttpPlatformClient):
    policy = policies.INSTAGRAM
    webhook_object = "instagram"

    def __init__(self, account: BrandAccount, *, state: AccountState) -> None:
        super().__init__(account, state=state)
        self.api = graph_session(state, self.conf("base_url", GRAPH_URL),
                                 lambda: self.secret("access_token"))

    @property
    def ig_user_id(self) -> str:
        if not self.account.platform_user_id:
            raise PermanentError(f"{self.account}: platform_user_id (the IG user id) is unset")
        return self.account.platform_user_id

    # --- inbound: mentions webhooks ------------------------------------------------------------
    def webhook_dedupe_key(self, body: dict[str, Any]) -> str:
        parts = sorted(
            f"{(c.get('value') or {}).get('media_id', '')}:"
            f"{(c.get('value') or {}).get('comment_id', '')}"
            for entry in body.get("entry") or [] for c in entry.get("changes") or []
            if c.get("field") == "mentions")
        parts += [f"mid:{mid}" for mid in meta_message_ids(body)]
        if not parts:
            return super().webhook_dedupe_key(body)
        key = f"{self.platform}:{self.account.pk}:" + "|".join(parts)
        if len(key) > 191:
            key = f"{self.platform}:{self.account.pk}:sha256:" + hashlib.sha256(
                key.encode()).hexdigest()
        return key

    def webhook_items(self, body: dict[str, Any]) -> WebhookItems:
        """Read each mentioned caption or comment through the IG user node."""
        def read(change: dict[str, Any]) -> tuple[MentionIn, dict[str, Any]] | None:
            if change.get("field") != "mentions":
                return None
            value = change.get("value") or {}
            if value.get("comment_id"):
                comment = self.mentioned_comment(value["comment_id"])
                if comment:
                    return comment_item(comment), {
                        "origin": "mention_comment", "media_id": value.get("media_id")
                        or (comment.get("media") or {}).get("id"), "comment": comment}
            elif value.get("media_id"):
                media = self.mentioned_media(value["media_id"])
                if media:
                    return media_item(media, kind="post"), {
                        "origin": "mention_caption", "media_id": media["id"], "media": media}
            return None

        found = meta_changes_read(body, read)
        messages, unread = meta_messages_read(body, brand_id=self.ig_user_id)
        return WebhookItems(items=found.items, raw_payloads=found.raw_payloads,
                            rejected=found.rejected + unread,
                            messages=[self._named(message) for message in messages])

    def _named(self, message: MessageIn) -> MessageIn:
        """The message keyed by the sender's username (as their mentions are), looked up once
        per message; the IGSID stays in `raw` and is the key when the lookup is
        refused."""
        try:
            profile = self.api.get(f"/{message.author_id}", params={"fields": "name,username"})
        except PermanentError:
            return message
        username = str(profile.get("username") or "")
        if not username:
            return message
        return MessageIn(external_id=message.external_id, author_id=username,
                         sent_at=message.sent_at, text=message.text,
                         author_handle=f"@{username}",
                         author_name=str(profile.get("name") or ""), raw=message.raw)

    def mentioned_media(self, media_id: str) -> dict[str, Any]:
        body = self.api.get(f"/{self.ig_user_id}", params={
            "fields": f"mentioned_media.media_id({media_id}){{{MEDIA_FIELDS}}}"})
        return body.get("mentioned_media") or {}

    def mentioned_comment(self, comment_id: str) -> dict[str, Any]:
        body = self.api.get(f"/{self.ig_user_id}", params={
            "fields": f"mentioned_comment.comment_id({comment_id}){{{COMMENT_FIELDS}}}"})
        return body.get("mentioned_comment") or {}

    # --- inbound: tagged media -------------------------------------------------------------------
    def poll(self, *, cursor: dict[str, Any]) -> PollPage:
        """One page of `/{ig-user-id}/tags` (newest first), resumed with `walk_back`."""
        params: dict[str, Any] = {"fields": MEDIA_FIELDS, "limit": PAGE_SIZE}
        if cursor.get("page"):
            params["after"] = cursor["page"]
        body = self.api.get(f"/{self.ig_user_id}/tags", params=params)
        paging = body.get("paging") or {}
        after = (paging.get("cursors") or {}).get("after") if paging.get("next") else None
        kept, new_cursor, more = walk_back(
            entries=body.get("data") or [], cursor=cursor, next_page=after,
            ts=lambda e: from_iso(e.get("timestamp")), uid=lambda e: e["id"])
        items, raws, rejected = items_read(kept, lambda m: (
            media_item(m, kind="tag"), {"origin": "tagged", "media_id": m["id"], "media": m}))
        return PollPage(items=items, raw_payloads=raws, cursor=new_cursor, more=more,
                        rejected=rejected)

    def check(self) -> dict[str, Any]:
        me = self.api.get(f"/{self.ig_user_id}", params={"fields": "id,username"})
        return {"ok": True, "user": me.get("username"),
                "quota_remaining": self.account.quota_remaining,
                "quota_reset_at": self.account.quota_reset_at}

    # --- outbound ------------------------------------------------------------------------------
    def _origin(self, external_id: str) -> dict[str, Any]:
        return self.state.stored_post(external_id) or {}

    def reply_policy(self, *, in_reply_to: str) -> str:
        """Why the brand may not comment here ("" when it may): the policy's rule on how the
        media reached Kansha, then whether the mentions edge can answer it at all."""
        raw = self._origin(in_reply_to)
        origin = str(raw.get("origin") or "")
        kind = "comment" if origin == "mention_comment" else "tag" if origin == "tagged" \
            else "post"
        reason = self.policy.reply_refusal(policies.ReplyTarget(kind=kind, origin=origin))
        if reason:
            return f"policy: {reason} ({in_reply_to}); only mentions can be answered"
        if origin not in REPLYABLE_ORIGINS:
            return f"policy: {in_reply_to} did not reach Kansha as an Instagram mention"
        return ""

    def reply(self, *, in_reply_to: str, text: str, idempotency_key: str) -> PostResult:
        """Answer a mention through POST /{ig-user-id}/mentions (media_id, comment_id, message).

        `in_reply_to` is the mention's external id: the media id for a caption mention, the
        comment id for a comment mention.
        """
        reason = self.reply_policy(in_reply_to=in_reply_to)
        if reason:
            raise PermanentError(reason)
        raw = self._origin(in_reply_to)
        params = {"media_id": raw["media_id"], "message": text}
        if raw["origin"] == "mention_comment":
            params["comment_id"] = in_reply_to

        def send() -> PostResult:
            body = self.api.post(f"/{self.ig_user_id}/mentions", data=params)
            return PostResult(id=body["id"], url=(raw.get("media") or raw.get("comment", {})
                                                  .get("media") or {}).get("permalink", ""),
                              raw=body)

        return outbound_once(self.state, idempotency_key=idempotency_key, action="reply",
                             target=in_reply_to, send=send)

    def reshare(self, *, external_id: str, idempotency_key: str,
                text: str = "") -> PostResult:
        """Republish someone's photo on the brand's feed, crediting them. The policy needs the
        author's consent, which delivery checks before calling (`outreach_deliver`). `text` (a
        disclosure line) leads the caption, above the part Instagram folds away."""
        raw = self._origin(external_id)
        media = raw.get("media") or {}
        if not media.get("media_url") or media.get("media_type") not in {"IMAGE", None}:
            raise PermanentError(f"{external_id}: only photos with a media_url can be "
                                 "republished")
        caption = f"📸 @{media.get('username')} — thank you for sharing!"
        if text:
            caption = f"{text}\n\n{caption}"

        def send() -> PostResult:
            container = self.api.post(f"/{self.ig_user_id}/media", data={
                "image_url": media["media_url"], "caption": caption})
            published = self.api.post(f"/{self.ig_user_id}/media_publish", data={
                "creation_id": container["id"]})
            return PostResult(id=published["id"], raw={"container": container,
                                                       "published": published})

        return outbound_once(self.state, idempotency_key=idempotency_key, action="republish",
                             target=external_id, send=send)

    def undo_reshare(self, *, external_id: str, idempotency_key: str) -> PostResult:
        raise PermanentError("instagram: the Graph API cannot delete published media; "
                             "remove the republished post in the Instagram app")
