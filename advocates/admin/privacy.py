"""Admin actions on an advocate: export their data (JSON download) and erase it.

Export needs `advocates.change_advocate`; erasure needs `advocates.delete_advocate` and a
confirmation (a GET shows what will happen, only a POST with the CSRF token erases). No staff
role holds either by default: a superuser (or a group given them explicitly) does this.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from advocates.admin.menu import PermissionButton
from advocates.admin.queue import forbidden
from advocates.models import Advocate, Mention
from advocates.services.privacy import advocate_erase, advocate_export

EXPORT_PERMISSION = "advocates.change_advocate"
ERASE_PERMISSION = "advocates.delete_advocate"


@require_GET
def advocate_export_view(request: HttpRequest, pk: int) -> HttpResponse:
    if not request.user.has_perm(EXPORT_PERMISSION):
        return forbidden(request)
    get_object_or_404(Advocate, pk=pk)
    data = advocate_export(advocate_id=pk)
    response = HttpResponse(json.dumps(data, ensure_ascii=False, indent=2),
                            content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="advocate-{pk}-export.json"'
    response["Cache-Control"] = "no-store"
    return response


@require_http_methods(["GET", "POST"])
def advocate_erase_view(request: HttpRequest, pk: int) -> HttpResponse:
    if not request.user.has_perm(ERASE_PERMISSION):
        return forbidden(request)
    advocate = get_object_or_404(Advocate, pk=pk)
    if request.method == "POST":
        if request.POST.get("confirm") != "erase":
            messages.error(request, _("Type “erase” to confirm."))
        else:
            result = advocate_erase(advocate_id=pk, user=request.user)
            messages.success(request, _("Advocate erased; now shown as %(name)s.")
                             % {"name": result.pseudonym})
            return redirect(reverse("wagtailsnippets_advocates_advocate:list"))
    return TemplateResponse(request, "advocates/admin/privacy_erase_confirm.html", {
        "page_title": _("Erase advocate"),
        "advocate": advocate,
        "identities": advocate.identities.all(),
        "mention_count": Mention.objects.filter(author__advocate=advocate).count(),
    })


def admin_urls():
    return [
        path("advocates/privacy/<int:pk>/export/", advocate_export_view,
             name="kansha_advocate_export"),
        path("advocates/privacy/<int:pk>/erase/", advocate_erase_view,
             name="kansha_advocate_erase"),
    ]


def advocate_listing_buttons(snippet, user, next_url=None):
    """"Export data" and "Erase…" in each advocate row's "More" menu."""
    if not isinstance(snippet, Advocate):
        return
    yield PermissionButton(_("Export data"), reverse("kansha_advocate_export", args=[snippet.pk]),
                           icon_name="download", priority=90, permission=EXPORT_PERMISSION)
    yield PermissionButton(_("Erase personal data…"),
                           reverse("kansha_advocate_erase", args=[snippet.pk]),
                           icon_name="bin", priority=95, permission=ERASE_PERMISSION)
