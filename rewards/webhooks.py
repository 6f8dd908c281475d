"""`POST /stripe/webhook/`: verify on the raw body, store the event, answer at once.

The work happens in a task (`rewards.tasks.stripe_event_process`); a redelivered event id is
acknowledged and changes nothing.
"""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from rewards import services
from rewards.stripe_client import SignatureError


@csrf_exempt
@require_POST
def stripe_webhook(request: HttpRequest) -> JsonResponse:
    try:
        event, created = services.stripe_event_store(
            payload=request.body, sig_header=request.headers.get("Stripe-Signature"))
    except SignatureError as exc:
        return JsonResponse({"error": f"signature verification failed: {exc}"}, status=400)
    if event.outcome == "rejected":  # signed, but not an event we can read: acknowledged
        return JsonResponse({"received": event.event_id, "duplicate": not created,
                             "rejected": event.error})
    return JsonResponse({"received": event.event_id, "duplicate": not created})
