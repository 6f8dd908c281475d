"""Admin actions on an advocate: export their data (JSON download) and erase it.

Export needs `advocates.change_advocate`; erasure needs `advocates.delete_advocate` and a
confirmation (a GET shows what will happen, only a POST with the CSRF token erases). No staff
role holds either by default: a superuser (or a group given them explicitly) does this.
"""

from __future__ import annotations

import json

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods
from wagtail.admin.ui.tables import Column

from advocates.admin.menu import PermissionButton
from advocates.admin.queue import forbidden
from advocates.admin.snippets import KanshaSnippetViewSet
from advocates.models import Advocate, Mention, Suppression
from advocates.services.privacy import advocate_erase, advocate_export, suppression_lift

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


@require_http_methods(["GET", "POST"])
def suppression_lift_view(request: HttpRequest, pk: int) -> HttpResponse:
    """GET: what lifting means, and a note; POST: lift (the account may be proposed to)."""
    if not request.user.has_perm(ERASE_PERMISSION):
        return forbidden(request)
    suppression = get_object_or_404(Suppression, pk=pk)
    if request.method == "POST":
        try:
            if suppression_lift(suppression_id=pk, user=request.user,
                                note=request.POST.get("note", "")):
                messages.success(request, _("Suppression lifted: Kansha may propose replies "
                                            "to this account again."))
            else:
                messages.warning(request, _("This suppression was already lifted."))
            return redirect(reverse("wagtailsnippets_advocates_suppression:list"))
        except ValidationError:
            messages.error(request, _("Say why it is lifted: where and when the person asked "
                                      "to hear from the brand again."))
    return TemplateResponse(request, "advocates/admin/suppression_lift_confirm.html", {
        "page_title": _("Lift suppression"), "suppression": suppression})


def _suppression_status(suppression: Suppression) -> str:
    if suppression.lifted_at is not None:
        return format_html('<span class="w-status w-status--label">{}</span>',
                           _("lifted %(when)s") % {
                               "when": f"{suppression.lifted_at:%Y-%m-%d %H:%M}"})
    return format_html('<a class="button button-small button-secondary" href="{}">{}</a>',
                       reverse("kansha_suppression_lift", args=[suppression.pk]), _("Lift…"))


class SuppressionViewSet(KanshaSnippetViewSet):
    """Accounts of erased people, known only by a keyed hash; listed, and lifted one by one
    through `suppression_lift_view`, never edited."""

    model = Suppression
    icon = "lock"
    menu_label = _("Suppressed accounts")
    refused = frozenset({"add", "change", "delete"})
    empty_message = _("No suppressed accounts. Erasing an advocate suppresses their accounts "
                      "so that nothing is proposed to them again.")
    list_display = ["platform", "reason", "created_at",
                    Column("lift", label=_("Status"), accessor=_suppression_status)]
    list_filter = ["platform"]


def admin_urls():
    return [
        path("advocates/suppressions/<int:pk>/lift/", suppression_lift_view,
             name="kansha_suppression_lift"),
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
