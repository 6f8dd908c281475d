"""Foursquare / Swarm: check-ins from the User and Venue Push APIs, check-in replies.

Push only (Foursquare has no mentions feed to poll). The push is a form-encoded POST with a
`checkin` parameter (a JSON check-in), a `user` parameter for user pushes, and the app's push
`secret`, which is how a delivery proves it comes from Foursquare.

Account: `platform_user_id` = the venue manager's user id, `handle` = the brand's name.
config: `base_url` (default https://api.foursquare.com/v2), `venue_ids` (optional list: user
pushes for check-ins elsewhere are ignored), `api_version` (the `v` parameter, YYYYMMDD).
credentials: `push_secret`, `oauth_token` (the venue manager's token, for replies).
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.utils import timezone

from advocates import policies
from advocates.platforms.base import AccountState, PermanentError, PostResult, WebhookItems
from advocates.platforms.http import (
    ApiSession,
    HttpPlatformClient,
    JsonWebhooks,
    QuotaHeaders,
    WebhookRejected,
    WebhookRequest,
    check_fresh,
    from_epoch,
    outbound_once,
    same,
)
from advocates.schemas import MentionIn

if TYPE_CHECKING:
    from advocates.models import BrandAccount

logger = logging.getLogger(__name__)

BASE_URL = "https://api.foursquare.com/v2"
API_VERSION = "20231010"
QUOTA = QuotaHeaders(remaining="X-RateLimit-Remaining", reset="X-RateLimit-Reset",
                     limit="X-RateLimit-Limit", reset_kind="epoch")
# Foursquare pushes as the check-in happens; a check-in pushed a day later is a replay.
PUSH_MAX_AGE = timedelta(hours=24)


def _name(user: dict[str, Any]) -> str:
    return " ".join(p for p in (user.get("firstName"), user.get("lastName")) if p).strip()


def checkin_item(checkin: dict[str, Any], user: dict[str, Any] | None) -> MentionIn:
    user = user or checkin.get("user") or {}
    venue = checkin.get("venue") or {}
    name = _name(user) or f"Foursquare user {user.get('id', '?')}"
    created = from_epoch(checkin.get("createdAt")) or timezone.now()
    offset = checkin.get("timeZoneOffset")  # minutes from UTC at the venue
    if isinstance(offset, int):
        created = created.astimezone(timezone.get_fixed_timezone(offset))
    return MentionIn(
        platform="foursquare", external_id=checkin["id"], author_id=str(user["id"]),
        author_handle=(user.get("handle") or name)[:200], author_name=name[:200],
        text=checkin.get("shout", ""), kind="checkin", posted_at=created,
        venue=(venue.get("name") or "")[:200],
        url=checkin.get("canonicalUrl") or f"https://foursquare.com/v/{venue.get('id', '')}")


class FoursquareClient(JsonWebhooks, HttpPlatformClient):
    policy = policies.FOURSQUARE

    def __init__(self, account: BrandAccount, *, state: AccountState) -> None:
        super().__init__(account, state=state)
        self.api = ApiSession(state=state, base_url=self.conf("base_url", BASE_URL),
                              quota=QUOTA)

    def _params(self, **extra: Any) -> dict[str, Any]:
        return {"oauth_token": self.secret("oauth_token"),
                "v": self.conf("api_version", API_VERSION), **extra}

    # --- inbound: push ---------------------------------------------------------------------------
    def webhook_verify(self, request: WebhookRequest) -> None:
        form = request.form or {}
        secret = form.get("secret")
        if not secret:
            raise WebhookRejected(403, "push secret missing")
        if not same(secret, self.secret("push_secret")):
            raise WebhookRejected(403, "push secret does not match")
        checkin = self.webhook_body(request)["checkin"]
        check_fresh(from_epoch(checkin.get("createdAt")), max_age=PUSH_MAX_AGE,
                    what="checkin.createdAt")

    def webhook_body(self, request: WebhookRequest) -> dict[str, Any]:
        """The push's JSON parameters, without the secret (it is never stored)."""
        form = request.form or {}
        try:
            checkin = json.loads(form.get("checkin") or "")
            user = json.loads(form["user"]) if form.get("user") else None
        except ValueError:
            raise WebhookRejected(400, "checkin/user parameters are not JSON") from None
        if not isinstance(checkin, dict) or not checkin.get("id"):
            raise WebhookRejected(400, "checkin parameter missing or without id")
        return {"push": "user" if user else "venue", "checkin": checkin, "user": user}

    def webhook_dedupe_key(self, body: dict[str, Any]) -> str:
        return f"foursquare:checkin:{body['checkin']['id']}"

    def webhook_items(self, body: dict[str, Any]) -> WebhookItems:
        checkin = body.get("checkin") or {}
        venue_ids = set(self.conf("venue_ids") or [])
        if venue_ids and (checkin.get("venue") or {}).get("id") not in venue_ids:
            return WebhookItems()  # a user push for a check-in somewhere else
        if not (body.get("user") or checkin.get("user") or {}).get("id"):
            raise PermanentError("check-in without a user")
        return WebhookItems([checkin_item(checkin, body.get("user"))], [body])

    # --- outbound --------------------------------------------------------------------------------
    def reply(self, *, in_reply_to: str, text: str, idempotency_key: str) -> PostResult:
        """POST /v2/checkins/{id}/reply: a reply the check-in's author sees in Swarm."""

        def send() -> PostResult:
            body = self.api.post(f"/checkins/{in_reply_to}/reply",
                                 params=self._params(), data={"text": text})
            reply = (body.get("response") or {}).get("reply") or {}
            return PostResult(id=reply.get("id", ""), raw=body)

        return outbound_once(self.state, idempotency_key=idempotency_key, action="reply",
                             target=in_reply_to, send=send)

    def check(self) -> dict[str, Any]:
        body = self.api.get("/users/self", params=self._params())
        user = (body.get("response") or {}).get("user") or {}
        return {"ok": True, "user": _name(user), "quota_remaining":
                self.account.quota_remaining, "quota_reset_at": self.account.quota_reset_at}
