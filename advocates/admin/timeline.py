"""The Sandbox timeline: what the `sandbox` platform "posted", so the demo shows replies going
out. Read-only; needs `advocates.view_sandboxpost` (403 otherwise)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from advocates import selectors
from advocates.admin.queue import forbidden

TIMELINE_PERMISSION = "advocates.view_sandboxpost"


@require_GET
def sandbox_timeline(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(TIMELINE_PERMISSION):
        return forbidden(request)
    page = selectors.sandbox_timeline_page(page=selectors.page_number(request.GET.get("p")))
    return TemplateResponse(request, "advocates/admin/timeline.html", {
        "page_title": _("Sandbox timeline"),
        "page": page,
        "can_use_queue": request.user.has_perm("advocates.change_outreach"),
    })


def admin_urls():
    return [path("sandbox/timeline/", sandbox_timeline, name="kansha_sandbox_timeline")]
