"""Admin actions on an advocate: opt them out on their behalf, and merge a duplicate into them.

Opting out is a queue decision (someone asked staff, in a DM or on the phone, to stop), so the
queue's permission allows it. Merging rewrites who owns identities and outreach, so it needs
`advocates.change_advocate`, which no staff role holds by default. Both show what will happen
on GET and act only on a POST with the CSRF token; both are audited by their services.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.db.models import prefetch_related_objects
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from wagtail import hooks

from advocates import selectors
from advocates.admin.advocate_list import PROFILE_URL_NAME
from advocates.admin.menu import PermissionButton
from advocates.admin.queue import QUEUE_PERMISSION, forbidden
from advocates.models import Advocate, Mention, Outreach, OutreachStatus
from advocates.services import (
    advocate_opt_out,
    advocates_merge,
    advocates_unmerge,
    merge_suggestion_dismiss,
)

OPT_OUT_PERMISSION = QUEUE_PERMISSION
MERGE_PERMISSION = "advocates.change_advocate"


def _advocate_list() -> str:
    return reverse("wagtailsnippets_advocates_advocate:list")


@require_http_methods(["GET", "POST"])
def advocate_opt_out_view(request: HttpRequest, pk: int) -> HttpResponse:
    if not request.user.has_perm(OPT_OUT_PERMISSION):
        return forbidden(request)
    advocate = get_object_or_404(Advocate, pk=pk)
    if request.method == "POST":
        rejected = advocate_opt_out(advocate=advocate, source="staff", user=request.user,
                                    evidence={"note": request.POST.get("note", "")[:500]})
        messages.success(request, _("%(name)s is opted out; %(n)d pending proposal(s) were "
                                    "rejected.") % {"name": advocate, "n": rejected})
        return redirect(_advocate_list())
    return TemplateResponse(request, "advocates/admin/advocate_opt_out.html", {
        "page_title": _("Opt out"), "advocate": advocate,
        "identities": advocate.identities.all(),
        "pending": Outreach.objects.filter(advocate=advocate,
                                           status=OutreachStatus.PROPOSED).count(),
    })


class MergeForm(forms.Form):
    """The person to merge in, picked from a search (never typed as a number); sent back
    hidden with the preview's confirmation."""

    absorbed = forms.ModelChoiceField(
        queryset=Advocate.objects.filter(merged_into__isnull=True),
        label=_("Advocate to merge into this one"), widget=forms.HiddenInput,
        error_messages={"invalid_choice": _("No such advocate, or already merged.")})

    def __init__(self, *args, survivor: Advocate, **kwargs):
        super().__init__(*args, **kwargs)
        self.survivor = survivor

    def clean_absorbed(self) -> Advocate:
        absorbed = self.cleaned_data["absorbed"]
        if absorbed.pk == self.survivor.pk:
            raise forms.ValidationError(_("An advocate cannot be merged into itself."))
        return absorbed


def _handles(advocate: Advocate) -> str:
    return ", ".join(f"{i.handle or i.platform_user_id} ({i.get_platform_display()})"
                     for i in advocate.identities.all()) or "—"


def _merge_candidates(survivor: Advocate, query: str) -> list[Advocate]:
    if not query.strip():
        return []
    qs = Advocate.objects.filter(merged_into__isnull=True).exclude(pk=survivor.pk)
    return list(selectors.advocate_search(qs, query).prefetch_related("identities")[:20])


@require_http_methods(["GET", "POST"])
def advocate_merge_view(request: HttpRequest, pk: int) -> HttpResponse:
    """GET ?q=: find the other person by name or handle; GET ?absorbed=: a preview of what
    moves; POST: merge, and say who went where."""
    if not request.user.has_perm(MERGE_PERMISSION):
        return forbidden(request)
    survivor = get_object_or_404(Advocate, pk=pk, merged_into__isnull=True)
    data = request.POST if request.method == "POST" else (
        request.GET if "absorbed" in request.GET else None)
    form = MergeForm(data, survivor=survivor)
    if request.method == "POST" and form.is_valid():
        absorbed = form.cleaned_data["absorbed"]
        handles = _handles(absorbed)
        advocates_merge(survivor=survivor, absorbed=absorbed, user=request.user)
        messages.success(request, _(
            "%(absorbed)s (#%(absorbed_id)d) was merged into %(survivor)s (#%(survivor_id)d): "
            "%(handles)s now belong to %(survivor)s. To undo it, open %(absorbed)s's profile "
            "within 30 days.") % {"absorbed": absorbed, "absorbed_id": absorbed.pk,
                                  "survivor": survivor, "survivor_id": survivor.pk,
                                  "handles": handles})
        return redirect(reverse(PROFILE_URL_NAME, args=[survivor.pk]))
    preview = None
    if data is not None and form.is_valid():
        absorbed = form.cleaned_data["absorbed"]
        preview = {"advocate": absorbed, "identities": absorbed.identities.all(),
                   "mentions": Mention.objects.filter(author__advocate=absorbed).count(),
                   "outreach": absorbed.outreach.count()}
    query = request.GET.get("q", "")
    return TemplateResponse(request, "advocates/admin/advocate_merge.html", {
        "page_title": _("Merge advocates"), "advocate": survivor, "form": form,
        "identities": survivor.identities.all(), "query": query,
        "candidates": _merge_candidates(survivor, query), "preview": preview,
    })


def advocate_unmerge_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Undo a merge from the merged person's profile (within 30 days; the service checks).
    POST only, after the permission check, so a role without it reads 403 either way."""
    if not request.user.has_perm(MERGE_PERMISSION):
        return forbidden(request)
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    absorbed = get_object_or_404(Advocate, pk=pk, merged_into__isnull=False)
    try:
        survivor = advocates_unmerge(absorbed=absorbed, user=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("%(absorbed)s (#%(absorbed_id)d) is a person of their own "
                                    "again; what moved to %(survivor)s came back.")
                         % {"absorbed": absorbed, "absorbed_id": absorbed.pk,
                            "survivor": survivor})
    return redirect(reverse(PROFILE_URL_NAME, args=[absorbed.pk]))


# Other apps add their own merge clues: a hook function returns `selectors.MergeClues`.
MERGE_CLUES_HOOK = "kansha_merge_clues"


@require_GET
def merge_suggestions_view(request: HttpRequest) -> HttpResponse:
    """People who look like one person (selectors.merge_suggestions), each with a link to the
    merge preview and a way to say they are two people; nothing merges from here."""
    if not request.user.has_perm(MERGE_PERMISSION):
        return forbidden(request)
    suggestions = selectors.merge_suggestions(
        clues=[clues() for clues in hooks.get_hooks(MERGE_CLUES_HOOK)])
    prefetch_related_objects([p for s in suggestions for p in (s.survivor, s.absorbed)],
                             "identities")
    return TemplateResponse(request, "advocates/admin/merge_suggestions.html", {
        "page_title": _("Merge suggestions"), "suggestions": suggestions})


@require_POST
def merge_suggestion_dismiss_view(request: HttpRequest) -> HttpResponse:
    """POST `first` and `second`: they are two people; the pair leaves the suggestions."""
    if not request.user.has_perm(MERGE_PERMISSION):
        return forbidden(request)
    first, second = request.POST.get("first", ""), request.POST.get("second", "")
    try:
        if not (first.isdigit() and second.isdigit()):
            raise ValueError(_("Pick two advocates."))
        merge_suggestion_dismiss(first_id=int(first), second_id=int(second),
                                 user=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("#%(first)s and #%(second)s are two people: they will not "
                                    "be suggested again.") % {"first": first, "second": second})
    return redirect(reverse("kansha_merge_suggestions"))


def admin_urls():
    return [
        path("advocates/people/<int:pk>/opt-out/", advocate_opt_out_view,
             name="kansha_advocate_opt_out"),
        path("advocates/people/<int:pk>/merge/", advocate_merge_view,
             name="kansha_advocate_merge"),
        path("advocates/people/<int:pk>/unmerge/", advocate_unmerge_view,
             name="kansha_advocate_unmerge"),
        path("advocates/people/merge-suggestions/", merge_suggestions_view,
             name="kansha_merge_suggestions"),
        path("advocates/people/merge-suggestions/dismiss/", merge_suggestion_dismiss_view,
             name="kansha_merge_suggestion_dismiss"),
    ]


def advocate_listing_buttons(snippet, user, next_url=None):
    """"Opt out…" and "Merge a duplicate…" in each advocate row's "More" menu."""
    if not isinstance(snippet, Advocate) or snippet.merged_into_id is not None:
        return
    if snippet.opted_out_at is None:
        yield PermissionButton(_("Opt out…"), reverse("kansha_advocate_opt_out",
                                                      args=[snippet.pk]),
                               icon_name="cross", priority=80, permission=OPT_OUT_PERMISSION)
    yield PermissionButton(_("Merge a duplicate into this one…"),
                           reverse("kansha_advocate_merge", args=[snippet.pk]),
                           icon_name="resubmit", priority=85, permission=MERGE_PERMISSION)
