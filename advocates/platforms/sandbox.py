"""The `sandbox` platform: posts go to the `SandboxPost` table, the demo's public timeline.

It behaves like a careful real client: every write is idempotent on the outreach's key (a
retried call returns the post made the first time), and it supports every kind of outreach.
Its "network" is the demo's own timeline table, so it is the one client that reads and writes
Kansha's tables: that is what posting means here.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from advocates import policies
from advocates.models import Mention, SandboxPost, SocialIdentity
from advocates.platforms.base import PermanentError, PlatformClient, PostResult


class SandboxClient(PlatformClient):
    # The demo shows the consent flow only when the account asks for it
    # (BrandAccount.config["reshare_needs_consent"]); routing checks both.
    policy = policies.SANDBOX

    def _post(self, *, kind: str, text: str, idempotency_key: str, in_reply_to: str = "",
              target_handle: str = "") -> PostResult:
        if not idempotency_key:
            raise PermanentError("sandbox writes need an idempotency key")
        post = SandboxPost.objects.filter(idempotency_key=idempotency_key).first()
        if post is None:
            try:
                with transaction.atomic():
                    post = SandboxPost.objects.create(
                        kind=kind, account_handle=self.account.handle or self.account.name,
                        text=text, in_reply_to=in_reply_to, target_handle=target_handle,
                        idempotency_key=idempotency_key,
                    )
            except IntegrityError:
                # Another worker with the same key got there first: theirs is our post.
                post = SandboxPost.objects.get(idempotency_key=idempotency_key)
        return PostResult(id=post.external_id, url=_url(post),
                          raw={"kind": post.kind, "posted_at": post.posted_at.isoformat()})

    def reply(self, *, in_reply_to: str, text: str, idempotency_key: str) -> PostResult:
        return self._post(kind="reply", text=text, idempotency_key=idempotency_key,
                          in_reply_to=in_reply_to, target_handle=_author_of(in_reply_to))

    def request_consent(self, *, in_reply_to: str, text: str,
                        idempotency_key: str) -> PostResult:
        return self._post(kind="consent", text=text, idempotency_key=idempotency_key,
                          in_reply_to=in_reply_to, target_handle=_author_of(in_reply_to))

    def reshare(self, *, external_id: str, idempotency_key: str,
                text: str = "") -> PostResult:
        # The copy of the post, under the brand's own words (a disclosure line) if any.
        original = _text_of(external_id)
        return self._post(kind="reshare", text=f"{text}\n\n{original}" if text else original,
                          idempotency_key=idempotency_key, in_reply_to=external_id,
                          target_handle=_author_of(external_id))

    def undo_reshare(self, *, external_id: str, idempotency_key: str) -> PostResult:
        SandboxPost.objects.filter(kind="reshare", in_reply_to=external_id,
                                   deleted_at__isnull=True).update(deleted_at=timezone.now())
        return self._post(kind="takedown", text="", idempotency_key=idempotency_key,
                          in_reply_to=external_id, target_handle=_author_of(external_id))

    def send_dm(self, *, recipient_id: str, text: str, idempotency_key: str) -> PostResult:
        handle = (SocialIdentity.objects.filter(platform="sandbox", platform_user_id=recipient_id)
                  .values_list("handle", flat=True).first()) or recipient_id
        return self._post(kind="dm", text=text, idempotency_key=idempotency_key,
                          target_handle=handle)

    def check(self) -> dict[str, Any]:
        return {"ok": True, "posts": SandboxPost.objects.count()}


def _author_of(external_id: str) -> str:
    return (Mention.objects.filter(platform="sandbox", external_id=external_id)
            .values_list("author__handle", flat=True).first()) or ""


def _text_of(external_id: str) -> str:
    return (Mention.objects.filter(platform="sandbox", external_id=external_id)
            .values_list("text", flat=True).first()) or ""


def _url(post: SandboxPost) -> str:
    return f"{settings.WAGTAILADMIN_BASE_URL.rstrip('/')}/admin/sandbox/#{post.external_id}"
