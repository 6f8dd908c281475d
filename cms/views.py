"""Operator endpoints: `/healthz` and `/readyz` (cms/health.py, docs/operations.md)."""

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from cms.health import readiness_check
from cms.metrics import metrics_authorized, metrics_render


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


@require_safe
@never_cache
def metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus metrics for a scraper holding KANSHA_METRICS_TOKEN (cms/metrics.py)."""
    authorized = metrics_authorized(request)
    if authorized is None:
        raise Http404
    if not authorized:
        return HttpResponse(status=401, headers={"WWW-Authenticate": "Bearer"})
    body, content_type = metrics_render()
    return HttpResponse(body, content_type=content_type)
