"""Google Business Profile: reviews per location (poll + Pub/Sub push), replies.

Account: `platform_user_id` = the Business Profile account ("accounts/123"), `handle` = the
business name.
config: `base_url` (default https://mybusiness.googleapis.com/v4), `token_url` (default
https://oauth2.googleapis.com/token), `locations`: {"accounts/123/locations/456": "Shibuya"}
(resource name → venue title).
credentials: `access_token`, `refresh_token`, `client_id`, `client_secret` (OAuth 2.0 with the
business.manage scope), `push_token`: a random secret that is part of the Pub/Sub push
subscription's endpoint (…/webhooks/google/<id>/?token=<push_token>). Pub/Sub can also attach
an OIDC token, but checking it needs Google's signing keys over the network; the URL secret
works offline and is what Google documents for push endpoints without authentication.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from advocates import policies
from advocates.platforms.base import (
    AccountState,
    PermanentError,
    PollPage,
    PostResult,
    WebhookItems,
)
from advocates.platforms.http import (
    ApiSession,
    HttpPlatformClient,
    JsonWebhooks,
    WebhookMalformed,
    WebhookRejected,
    WebhookRequest,
    check_fresh,
    from_iso,
    items_read,
    same,
    signed_body_read,
    walk_back,
)
from advocates.schemas import MentionIn

if TYPE_CHECKING:
    from advocates.models import BrandAccount

logger = logging.getLogger(__name__)

BASE_URL = "https://mybusiness.googleapis.com/v4"
TOKEN_URL = "https://oauth2.googleapis.com/token"  # noqa: S105 (a URL, not a secret)
STARS = {"ONE": 1, "TWO": 2, "THREE": 3, "FOUR": 4, "FIVE": 5}
PAGE_SIZE = 50
# Pub/Sub keeps retrying an unacknowledged message for its retention (7 days by default);
# anything older can only be a replay.
PUSH_MAX_AGE = timedelta(days=7)
REVIEW_TYPES = {"NEW_REVIEW", "UPDATED_REVIEW"}


def reviewer_id(review: dict[str, Any]) -> str:
    """Reviews carry no reviewer id; the profile photo URL is stable per Google account."""
    reviewer = review.get("reviewer") or {}
    if reviewer.get("isAnonymous") or not reviewer.get("profilePhotoUrl"):
        return f"anonymous:{review['reviewId']}"[:128]
    digest = hashlib.sha256(reviewer["profilePhotoUrl"].encode()).hexdigest()[:40]
    return f"reviewer:{digest}"


def review_item(review: dict[str, Any], *, venue: str) -> MentionIn:
    reviewer = review.get("reviewer") or {}
    name = reviewer.get("displayName") or "A Google user"
    return MentionIn(
        platform="google", external_id=review["reviewId"], author_id=reviewer_id(review),
        author_handle=name[:200], author_name=name[:200], text=review.get("comment", ""),
        kind="review", rating=STARS.get(review.get("starRating", "")),
        posted_at=from_iso(review.get("createTime")) or timezone.now(), venue=venue[:200])


class GoogleClient(JsonWebhooks, HttpPlatformClient):
    policy = policies.GOOGLE

    def __init__(self, account: BrandAccount, *, state: AccountState) -> None:
        super().__init__(account, state=state)
        self.api = ApiSession(state=state, base_url=self.conf("base_url", BASE_URL),
                              auth=self._auth, refresh=self.refresh_token)

    @property
    def locations(self) -> dict[str, str]:
        locations = self.conf("locations") or {}
        if isinstance(locations, list):
            locations = {name: name for name in locations}
        return locations

    # --- auth ----------------------------------------------------------------------------------
    def _auth(self) -> dict[str, str]:
        expires_at = from_iso(self.secrets.get("expires_at"))
        if expires_at and expires_at < timezone.now() + timedelta(seconds=30):
            self.refresh_token()
        return {"Authorization": f"Bearer {self.secret('access_token')}"}

    def refresh_token(self) -> bool:
        """OAuth 2.0 refresh at Google's token endpoint; the new token is stored encrypted."""
        if not self.secrets.get("refresh_token"):
            return False
        response = self.api.session.post(
            self.conf("token_url", TOKEN_URL), timeout=self.api.timeout,
            data={"grant_type": "refresh_token", "refresh_token": self.secret("refresh_token"),
                  "client_id": self.secret("client_id"),
                  "client_secret": self.secret("client_secret")})
        if response.status_code != 200:
            logger.warning("Google token refresh for %s failed: %s", self.account,
                           response.status_code)
            return False
        token = response.json()
        self.secrets_update(access_token=token["access_token"], expires_at=(
            timezone.now() + timedelta(seconds=int(token.get("expires_in", 3600)))).isoformat())
        return True

    # --- inbound: polling -------------------------------------------------------------------------
    def poll(self, *, cursor: dict[str, Any]) -> PollPage:
        """One page of one location's reviews (newest update first), location after location.

        Each location keeps its own `walk_back` cursor under `per_location`; `index` says which
        location the run is on, so a restart continues with the same location and page.
        """
        names = sorted(self.locations)
        if not names:
            raise PermanentError(f"{self.account}: config.locations is empty")
        index = int(cursor.get("index", 0)) % len(names)
        location = names[index]
        per = dict(cursor.get("per_location") or {})
        loc_cursor = per.get(location) or {}
        params: dict[str, Any] = {"pageSize": PAGE_SIZE, "orderBy": "updateTime desc"}
        if loc_cursor.get("page"):
            params["pageToken"] = loc_cursor["page"]
        body = self.api.get(f"/{location}/reviews", params=params)
        kept, per[location], more_here = walk_back(
            entries=body.get("reviews") or [], cursor=loc_cursor,
            next_page=body.get("nextPageToken"),
            ts=lambda r: from_iso(r.get("updateTime") or r.get("createTime")),
            uid=lambda r: r["reviewId"])
        venue = self.locations[location]
        items, raws, rejected = items_read(kept, lambda r: (review_item(r, venue=venue), r))
        if more_here:
            next_index, more = index, True
        else:
            next_index, more = index + 1, index + 1 < len(names)
        return PollPage(items=items, raw_payloads=raws, more=more, rejected=rejected, cursor={
            "index": next_index % len(names), "per_location": per})

    def check(self) -> dict[str, Any]:
        details = {}
        for location in sorted(self.locations):
            body = self.api.get(f"/{location}/reviews", params={"pageSize": 1})
            details[location] = {"reviews": body.get("totalReviewCount"),
                                 "average": body.get("averageRating")}
        return {"ok": True, "locations": details,
                "quota_remaining": self.account.quota_remaining,
                "quota_reset_at": self.account.quota_reset_at}

    # --- inbound: Pub/Sub push ------------------------------------------------------------------
    def webhook_verify(self, request: WebhookRequest) -> None:
        token = request.query.get("token")
        if not token:
            raise WebhookRejected(403, "push token missing")
        if not same(token, self.secret("push_token")):
            raise WebhookRejected(403, "push token does not match")
        with signed_body_read():
            message = (self.webhook_body(request).get("message") or {})
            if not isinstance(message, dict):
                raise WebhookMalformed("malformed payload: message is not an object")
            check_fresh(from_iso(message.get("publishTime") or message.get("publish_time")),
                        max_age=PUSH_MAX_AGE, what="message.publishTime")

    def webhook_dedupe_key(self, body: dict[str, Any]) -> str:
        message = body.get("message") or {}
        message_id = message.get("messageId") or message.get("message_id")
        if not message_id:
            return super().webhook_dedupe_key(body)
        return f"{self.platform}:{body.get('subscription', '')[-80:]}:{message_id}"

    def webhook_items(self, body: dict[str, Any]) -> WebhookItems:
        """A NEW_REVIEW / UPDATED_REVIEW notification names the review; fetch it."""
        notification = pubsub_data(body)
        kind = notification.get("type") or notification.get("notificationType")
        review_name = (notification.get("reviewName") or notification.get("review_name")
                       or notification.get("review"))
        if kind not in REVIEW_TYPES or not review_name:
            return WebhookItems()
        location = review_name.split("/reviews/")[0]
        if location not in self.locations:
            logger.info("Google notification for an unconfigured location %s", location)
            return WebhookItems()
        review = self.api.get(f"/{review_name}")
        return WebhookItems([review_item(review, venue=self.locations[location])], [review])

    # --- outbound --------------------------------------------------------------------------------
    def reply(self, *, in_reply_to: str, text: str, idempotency_key: str) -> PostResult:
        """PUT …/reviews/{id}/reply: a review has one owner reply, so a retry overwrites the
        same reply instead of posting a second one (naturally idempotent)."""
        name = self._review_name(in_reply_to)
        body = self.api.json("PUT", f"/{name}/reply", json={"comment": text})
        return PostResult(id=f"{in_reply_to}/reply", raw=body)

    def _review_name(self, review_id: str) -> str:
        raw = self.state.stored_post(review_id)
        if raw and raw.get("name"):
            return str(raw["name"])
        raise PermanentError(f"review {review_id} is not known to Kansha")


def pubsub_data(body: dict[str, Any]) -> dict[str, Any]:
    """The JSON inside a Pub/Sub push envelope's base64 `message.data`."""
    data = (body.get("message") or {}).get("data") or ""
    try:
        decoded = json.loads(base64.b64decode(data))
    except (ValueError, TypeError, RecursionError):
        raise PermanentError("Pub/Sub message.data is not base64 JSON") from None
    return decoded if isinstance(decoded, dict) else {}
