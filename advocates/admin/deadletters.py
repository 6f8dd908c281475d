"""Settings › Dead letters: rows a batch task set aside, to fix, replay or discard.

The list shows each dead letter's task, row, error and attempts; editing one changes its
payload only (the fix: e.g. a Stripe event's `amount_total` that was "abc"); Replay runs the
task's replayer once (`advocates/services/deadletters.py`), Discard gives up on the row. Every
edit, replay and discard is in the audit log. Nothing is added or deleted here: Kansha's tasks
write dead letters, and a resolved one stays as the record of what happened.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from wagtail.admin.panels import FieldPanel, ObjectList
from wagtail.admin.ui.tables import Column

from advocates.admin.snippets import KanshaSnippetViewSet
from advocates.models import DeadLetter, DeadLetterStatus
from advocates.services.deadletters import (
    ReplayRefused,
    dead_letter_discard,
    dead_letter_replay,
)

PERMISSION = "advocates.change_deadletter"


def _actions(letter: DeadLetter) -> str:
    if letter.status != DeadLetterStatus.OPEN:
        return format_html('<span class="w-status w-status--label">{}</span>',
                           letter.get_status_display())
    return format_html(
        '<a class="button button-small button-secondary" href="{}">{}</a> '
        '<a class="button button-small button-secondary no" href="{}">{}</a>',
        reverse("kansha_deadletter_replay", args=[letter.pk]), _("Replay…"),
        reverse("kansha_deadletter_discard", args=[letter.pk]), _("Discard…"))


class DeadLetterViewSet(KanshaSnippetViewSet):
    model = DeadLetter
    icon = "warning"
    menu_label = _("Dead letters")
    menu_name = "dead-letters"
    add_to_settings_menu = True
    refused = frozenset({"add", "delete"})
    empty_message = _("No dead letters: every row of every batch task went through.")
    list_display = ["task", "key", "error", "attempts", "status", "updated_at",
                    Column("actions", label=_("Actions"), accessor=_actions)]
    list_filter = ["task", "status"]
    edit_handler = ObjectList([FieldPanel("payload")])


def dead_letter_act_view(request, dead_letter_id: int, *, action: str):
    """GET: confirm; POST: replay (run the task once on the payload) or discard."""
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    letter = get_object_or_404(DeadLetter, pk=dead_letter_id)
    if request.method == "POST":
        if action == "replay":
            try:
                ok, error = dead_letter_replay(dead_letter_id=letter.pk, user=request.user)
            except ReplayRefused as exc:
                messages.warning(request, str(exc))
            else:
                if ok:
                    messages.success(request, _("Replayed: the row went through."))
                else:
                    messages.error(request, _("The replay failed again: %(error)s")
                                   % {"error": error})
        elif dead_letter_discard(dead_letter_id=letter.pk, user=request.user):
            messages.success(request, _("Discarded."))
        else:
            messages.warning(request, _("This dead letter was already resolved."))
        return redirect(reverse("wagtailsnippets_advocates_deadletter:list"))
    return TemplateResponse(request, "advocates/admin/deadletter_confirm.html",
                            {"letter": letter, "action": action})


def admin_urls():
    return [path("kansha-dead-letters/<int:dead_letter_id>/replay/", dead_letter_act_view,
                 {"action": "replay"}, name="kansha_deadletter_replay"),
            path("kansha-dead-letters/<int:dead_letter_id>/discard/", dead_letter_act_view,
                 {"action": "discard"}, name="kansha_deadletter_discard")]
