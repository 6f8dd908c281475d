"""Operator endpoints: `/healthz` and `/readyz` (cms/health.py, docs/operations.md)."""

from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from cms.health import readiness_check


@require_safe
@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """Alive: the process answers. No database, no Redis (a dependency's outage is /readyz's)."""
    return JsonResponse({"status": "ok"})


@require_safe
@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """Ready: 200 when the database, Redis and the broker all answer, 503 with details if not."""
    ready, details = readiness_check()
    return JsonResponse(details, status=200 if ready else 503)
