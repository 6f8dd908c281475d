"""Webhook endpoints: one URL per connected account, `/webhooks/<platform>/<account id>/`.

Each view is thin: the platform's client verifies the raw body (signature, freshness), the
delivery is stored once under a unique dedupe key, and a task does the work after commit. The
answer is immediate: 200 for a stored (or already stored) delivery, 403 for a missing or wrong
signature, 400 for a stale or malformed one, 404 for an unknown account.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from advocates.models import BrandAccount
from advocates.platforms.base import PermanentError
from advocates.platforms.credentials import CredentialsError
from advocates.platforms.http import WebhookRejected, WebhookRequest
from advocates.services.platforms import (
    brand_account_client,
    brand_account_for_webhook,
    webhook_accept,
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
    incoming = WebhookRequest(method=request.method or "GET", body=request.body,
                              headers=request.headers, query=request.GET, form=request.POST
                              if request.content_type == "application/x-www-form-urlencoded"
                              else None)
    client = brand_account_client(account)
    try:
        if request.method == "GET":
            status, content_type, body = client.webhook_handshake(incoming)  # type: ignore[attr-defined]
            return HttpResponse(body, status=status, content_type=content_type)
        client.webhook_verify(incoming)  # type: ignore[attr-defined]
        payload = client.webhook_body(incoming)  # type: ignore[attr-defined]
        dedupe_key = client.webhook_dedupe_key(payload)  # type: ignore[attr-defined]
    except WebhookRejected as exc:
        return _reject(exc, account)
    except (CredentialsError, PermanentError) as exc:
        logger.error("webhook for %s: %s", account, exc)
        return JsonResponse({"error": "account not configured for webhooks"}, status=503)
    delivery_id, created = webhook_accept(account=account, dedupe_key=dedupe_key, body=payload)
    return JsonResponse({"stored": created, "id": delivery_id}, status=200)
