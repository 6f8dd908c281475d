"""Webhook endpoints: one URL per connected account, `/webhooks/<platform>/<account id>/`.

Each view is thin: the platform's client verifies the raw body (signature, freshness), the
delivery is stored once under a unique dedupe key, and a task does the work after commit. The
answer is immediate: 200 for a stored (or already stored) delivery, 403 for a missing or wrong
signature, 400 for a stale one, 404 for an unknown account. A delivery whose signature matches
but whose body Kansha cannot read (not JSON, nested too deep, an unexpected shape) is answered
200 as well and stored as rejected with its reason: an error would only make the platform
redeliver the same bytes for days (issue 17).
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from advocates.models import BrandAccount
from advocates.platforms.base import PermanentError
from advocates.platforms.credentials import CredentialsError
from advocates.platforms.http import (
    WebhookMalformed,
    WebhookRejected,
    WebhookRequest,
    signed_body_read,
)
from advocates.policies import POLICIES
from advocates.services.platforms import (
    brand_account_for_webhook,
    brand_account_receiver,
    webhook_accept,
    webhook_dedupe_key,
    webhook_reject,
)

logger = logging.getLogger(__name__)


def _reject(exc: WebhookRejected, account: BrandAccount | None) -> HttpResponse:
    logger.warning("webhook for %s rejected (%s): %s", account, exc.status, exc.reason)
    return JsonResponse({"error": exc.reason}, status=exc.status)


@csrf_exempt
@require_http_methods(["GET", "POST"])
def platform_webhook(request: HttpRequest, platform: str, account_id: int) -> HttpResponse:
    account = brand_account_for_webhook(platform=platform, account_id=account_id)
    if account is None:
        return JsonResponse({"error": "unknown account"}, status=404)
    policy = POLICIES.get(platform)
    if policy is None or not policy.webhooks:
        return _reject(WebhookRejected(404, "this platform has no webhooks"), account)
    incoming = WebhookRequest(method=request.method or "GET", body=request.body,
                              headers=request.headers, query=request.GET, form=request.POST
                              if request.content_type == "application/x-www-form-urlencoded"
                              else None)
    try:
        receiver = brand_account_receiver(account)
        if request.method == "GET":
            status, content_type, body = receiver.webhook_handshake(incoming)
            return HttpResponse(body, status=status, content_type=content_type)
        receiver.webhook_verify(incoming)  # after this the body is known to be authentic
        with signed_body_read():
            payload = receiver.webhook_body(incoming)
        dedupe_key = webhook_dedupe_key(receiver=receiver, account=account, body=payload)
    except WebhookRejected as exc:
        return _reject(exc, account)
    except WebhookMalformed as exc:
        logger.warning("webhook for %s stored as rejected: %s", account, exc.reason)
        delivery_id, created = webhook_reject(account=account, raw_body=request.body,
                                              reason=exc.reason)
        return JsonResponse({"stored": created, "id": delivery_id, "rejected": exc.reason},
                            status=200)
    except (CredentialsError, PermanentError) as exc:
        logger.error("webhook for %s: %s", account, exc)
        return JsonResponse({"error": "account not configured for webhooks"}, status=503)
    delivery_id, created = webhook_accept(account=account, dedupe_key=dedupe_key, body=payload)
    return JsonResponse({"stored": created, "id": delivery_id}, status=200)
