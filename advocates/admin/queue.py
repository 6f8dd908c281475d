"""The Outreach queue in the Wagtail admin: where social staff approve what Kansha proposes.

Views are thin: they parse input with a form and call one service from `advocates.services`
(which enforces the allowed transitions and writes the audit log). Every action is a POST
with CSRF, answers with a Wagtail message and redirects back to the queue with its filters.

Wagtail wraps these URLs in `require_admin_access` (anonymous users go to the login page);
on top of that each view needs `advocates.change_outreach` and answers 403 without it.
"""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from functools import wraps

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import include, path, reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST
from wagtail.admin import messages

from advocates import selectors, services
from advocates.admin.display import history_rows, reason_text, refusal_text
from advocates.models import (
    DetectionIntent,
    DetectorDecision,
    Outreach,
    OutreachKind,
    OutreachStatus,
)
from advocates.policies import PLATFORM_CHOICES
from advocates.services.outreach import WRONG_CALL_KINDS

QUEUE_PERMISSION = "advocates.change_outreach"
BULK_MAX = 500

# Preset reject reasons; staff pick one and may add words. Their counts tell marketing which
# templates or detector rules to fix, and the ones that say what the post really was (sarcasm,
# a question, not about us, ...) teach the detector (services.learning.REASON_DECISIONS).
REJECT_REASONS = [
    ("sarcasm", _("Sarcasm")),
    ("complaint", _("Complaint, not praise")),
    ("question", _("A question to answer")),
    ("actually_praise", _("Actually praise")),
    ("not_about_us", _("Not about us")),
    ("spam", _("Spam")),
    ("competitor", _("About a competitor")),
    ("off_brand", _("Off-brand wording")),
    ("wrong_person", _("Wrong person")),
    ("duplicate", _("Duplicate")),
    ("other", _("Other")),
]
SNOOZES = {"1h": timedelta(hours=1), "1d": timedelta(days=1)}

KEYBOARD_SHORTCUTS = [
    ("j", _("Next item")),
    ("k", _("Previous item")),
    ("a", _("Approve the item (with your edits)")),
    ("e", _("Edit the reply, then Ctrl+Enter to approve")),
    ("r", _("Reject with a reason")),
    ("w", _("Wrong call: say what the post really is")),
    ("x", _("Select for a bulk action")),
    ("?", _("Show these shortcuts")),
    ("Esc", _("Leave the text box or close a dialog")),
]


# --- Permission -----------------------------------------------------------------------------


def forbidden(request: HttpRequest) -> HttpResponse:
    """A real 403 in the admin's look (Wagtail's own denial redirects to the dashboard)."""
    return TemplateResponse(request, "advocates/admin/forbidden.html",
                            {"page_title": _("Permission denied")}, status=403)


def permission_required(permission: str):
    """A view decorator: Kansha's "not for your role" page (403) without `permission`."""
    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not request.user.has_perm(permission):
                return forbidden(request)
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


queue_permission_required = permission_required(QUEUE_PERMISSION)


# --- Forms ----------------------------------------------------------------------------------


def _assignee_choices(users) -> list[tuple[str, str]]:
    return [(str(u.pk), u.get_full_name() or u.get_username()) for u in users]


class QueueFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label=_("Search"))
    status = forms.ChoiceField(
        required=False, label=_("Status"),
        choices=[("", _("Any status")), *OutreachStatus.choices])
    kind = forms.ChoiceField(
        required=False, label=_("Kind"),
        choices=[("", _("Any kind")), ("thanks", _("Thank-yous and reshares")),
                 *OutreachKind.choices])
    platform = forms.ChoiceField(required=False, label=_("Platform"),
                                 choices=[("", _("Any platform")), *PLATFORM_CHOICES])
    language = forms.ChoiceField(required=False, label=_("Language"),
                                 choices=[("", _("Any language")), *settings.LANGUAGES])
    intent = forms.ChoiceField(required=False, label=_("Intent"),
                               choices=[("", _("Any intent")), *DetectionIntent.choices])
    age = forms.ChoiceField(
        required=False, label=_("Age"),
        choices=[("", _("Any age")),
                 *[(key, label) for key, (label, _y, _o) in selectors.AGE_FILTERS.items()]])
    sla = forms.ChoiceField(required=False, label=_("SLA"),
                            choices=[("", _("Any SLA")), *selectors.SLA_FILTERS.items()])
    assignee = forms.ChoiceField(required=False, label=_("Assignee"))
    # Set by the tabs and the dashboard's links, not shown among the filters.
    tab = forms.ChoiceField(required=False, label=_("Tab"),
                            choices=[("", _("All")),
                                     *[(k, label) for k, (label, _q) in
                                       selectors.QUEUE_TABS.items()]])
    decided = forms.ChoiceField(required=False, label=_("Decided"),
                                choices=[("", _("Any time")),
                                         *selectors.DECIDED_FILTERS.items()])
    order = forms.ChoiceField(required=False, label=_("Order"),
                              choices=[("", _("Working order")), *selectors.ORDERS.items()])

    HIDDEN = ("tab", "decided", "kind")

    def __init__(self, *args, users=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [
            ("", _("Anyone")), ("me", _("Me")), ("none", _("Unassigned")),
            *_assignee_choices(users)]

    def filters(self) -> selectors.QueueFilters:
        # An invalid value (a stale link, a hand-edited URL) is dropped, not a crash.
        data = self.cleaned_data if self.is_valid() else {
            name: value for name, value in getattr(self, "cleaned_data", {}).items()
            if name not in self.errors}
        return selectors.QueueFilters(**{name: data.get(name) or "" for name in self.fields})


class RejectForm(forms.Form):
    reason = forms.ChoiceField(choices=REJECT_REASONS,
                               error_messages={"required": _("Pick a reason to reject.")})
    note = forms.CharField(required=False, max_length=250, strip=True)

    def clean(self):
        data = super().clean()
        if data.get("reason") == "other" and not data.get("note"):
            raise ValidationError(_("Say why when the reason is “Other”."))
        return data

    def reason_text(self) -> str:
        label = str(dict(REJECT_REASONS)[self.cleaned_data["reason"]])
        note = self.cleaned_data.get("note")
        if self.cleaned_data["reason"] == "other":
            return note or ""
        return f"{label}: {note}" if note else label


class WrongCallForm(forms.Form):
    decision = forms.ChoiceField(
        choices=DetectorDecision.choices,
        error_messages={"required": _("Pick what the post really is.")})


class SnoozeForm(forms.Form):
    duration = forms.ChoiceField(choices=[("1h", "1h"), ("1d", "1d"), ("custom", "custom")])
    until = forms.DateTimeField(required=False, input_formats=["%Y-%m-%dT%H:%M"])

    def until_time(self, now):
        duration = self.cleaned_data["duration"]
        if duration in SNOOZES:
            return now + SNOOZES[duration]
        until = self.cleaned_data.get("until")
        if until is None:
            raise ValidationError(_("Pick the date and time to snooze until."))
        if until <= now:
            raise ValidationError(_("Snooze until a time in the future."))
        return until


class BulkForm(forms.Form):
    action = forms.ChoiceField(choices=[("approve", "approve"), ("reject", "reject")])
    ids = forms.TypedMultipleChoiceField(coerce=int, choices=(), required=True,
                                         error_messages={"required": _("Select some items.")})
    reason = forms.ChoiceField(choices=REJECT_REASONS, required=False)
    note = forms.CharField(required=False, max_length=250)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The ids are checked by the service (which skips what it cannot act on), so any
        # positive integer is a valid choice here.
        self.fields["ids"].valid_value = lambda value: str(value).isdigit()

    def clean_ids(self):
        ids = self.cleaned_data["ids"]
        if len(ids) > BULK_MAX:
            raise ValidationError(_("Select at most %(n)s items.") % {"n": BULK_MAX})
        return list(dict.fromkeys(ids))

    def clean(self):
        data = super().clean()
        if data.get("action") == "reject":
            if not data.get("reason"):
                raise ValidationError(_("Pick a reason to reject."))
            if data["reason"] == "other" and not data.get("note"):
                raise ValidationError(_("Say why when the reason is “Other”."))
        return data

    def reason_text(self) -> str:
        reject = RejectForm({"reason": self.cleaned_data["reason"],
                             "note": self.cleaned_data.get("note", "")})
        reject.is_valid()
        return reject.reason_text()


# --- Helpers --------------------------------------------------------------------------------


def _back(request: HttpRequest) -> HttpResponseRedirect:
    """Back where the action came from (the queue with its filters and page)."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                           require_https=request.is_secure()):
        target = reverse("kansha_outreach:queue")
    return HttpResponseRedirect(target)


def _tab_url(request: HttpRequest, tab: str) -> str:
    """The queue on another tab, keeping the other filters (and leaving page 1)."""
    query = request.GET.copy()
    query.pop("p", None)
    query.pop("kind", None)
    query["tab"] = tab
    return f"{reverse('kansha_outreach:queue')}?{query.urlencode()}"


def _display_name(user) -> str:
    return user.get_full_name() or user.get_username()


def _history_button(outreach_id: int):
    return messages.button(reverse("kansha_outreach:history", args=[outreach_id]),
                           _("History"))


def _form_errors(form: forms.Form) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


def _sentence(text: str) -> str:
    text = text.strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "." if text else text


def _run(request: HttpRequest, outreach_id: int, call, success: str,
         verb: str = "") -> HttpResponseRedirect:
    """Call one service; turn a refused transition or bad input into an error message."""
    try:
        call()
    except Outreach.DoesNotExist as exc:
        raise Http404("No such outreach") from exc
    except services.OutreachTransitionError:
        # Most often someone else decided it first: say who, in plain words.
        messages.error(request, refusal_text(outreach_id, verb),
                       buttons=[_history_button(outreach_id)])
    except (ValueError, ValidationError) as exc:
        text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        messages.error(request, _("Not done: %(error)s") % {"error": _sentence(text)},
                       buttons=[_history_button(outreach_id)])
    else:
        messages.success(request, success, buttons=[_history_button(outreach_id)])
    return _back(request)


def _call(item: Outreach) -> str:
    """What the detector's proposal says the post is ("thank" or "care"), or "" when a wrong
    call cannot be recorded (no mention behind it, a kind that is not about the post, decided)."""
    if item.mention_id is None or item.status not in (OutreachStatus.PROPOSED,
                                                      OutreachStatus.SNOOZED):
        return ""
    return next((call for call, kinds in WRONG_CALL_KINDS.items() if item.kind in kinds), "")


def _edited_text(request: HttpRequest) -> str | None:
    text = request.POST.get("final_text")
    if text is None:
        return None
    text = text.replace("\r\n", "\n").strip()
    original = (request.POST.get("proposed_text") or "").replace("\r\n", "\n").strip()
    if text == original:
        return None  # approved as proposed
    if not text:
        raise ValidationError(_("The reply cannot be empty."))
    return text


# --- Views ----------------------------------------------------------------------------------


@require_GET
@queue_permission_required
def queue_index(request: HttpRequest) -> HttpResponse:
    data = request.GET.copy()
    # The queue opens on what needs a decision; "status=" (any) is still possible.
    data.setdefault("status", OutreachStatus.PROPOSED)
    users = list(selectors.outreach_assignable_users())
    form = QueueFilterForm(data, users=users)
    filters = form.filters()
    counts = selectors.outreach_tab_counts(filters=filters, user=request.user)
    if "tab" not in request.GET and not filters.kind:
        # Care first, but never a tab that is empty while others wait.
        first = next((key for key, n in counts.items() if n), "care")
        filters = dataclasses.replace(filters, tab=first)
    tabs = [{"key": key, "label": label, "count": counts[key], "current": filters.tab == key,
             "url": _tab_url(request, key)}
            for key, (label, _q) in selectors.QUEUE_TABS.items()]
    tabs.append({"key": "", "label": _("All"), "count": sum(counts.values()),
                 "current": filters.tab == "", "url": _tab_url(request, "")})
    page = selectors.outreach_queue_page(filters=filters, user=request.user,
                                         page=selectors.page_number(request.GET.get("p")))
    for item in page.items:
        setattr(item, "why",  # noqa: B010 - display-only, for the template
                [reason_text(r) for r in getattr(item, "why", [])])
        setattr(item, "call", _call(item))  # noqa: B010 - display-only, for the template
    profile = getattr(request.user, "wagtail_userprofile", None)
    return TemplateResponse(request, "advocates/admin/queue.html", {
        "page_title": _("Outreach queue"),
        "header_icon": "tasks",
        "form": form,
        "filters": filters,
        "tabs": tabs,
        "page": page,
        "users": users,
        "reject_reasons": REJECT_REASONS,
        "decisions": DetectorDecision.choices,
        "shortcuts": KEYBOARD_SHORTCUTS,
        "shortcuts_enabled": getattr(profile, "keyboard_shortcuts", True),
        "next_url": request.get_full_path(),
        "statuses": OutreachStatus,
    })


@require_POST
@queue_permission_required
def outreach_approve(request: HttpRequest, outreach_id: int) -> HttpResponse:
    try:
        final_text = _edited_text(request)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _back(request)
    success = (_("Edited and approved #%(id)s; it will be sent now.") if final_text
               else _("Approved #%(id)s; it will be sent now.")) % {"id": outreach_id}
    return _run(request, outreach_id, lambda: services.outreach_approve(
        outreach_id=outreach_id, user=request.user, final_text=final_text), success, "approve")


@require_POST
@queue_permission_required
def outreach_reject(request: HttpRequest, outreach_id: int) -> HttpResponse:
    form = RejectForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _back(request)
    reason = form.reason_text()
    return _run(request, outreach_id, lambda: services.outreach_reject(
        outreach_id=outreach_id, user=request.user, reason=reason,
        reason_code=form.cleaned_data["reason"]),
        _("Rejected #%(id)s (%(reason)s).") % {"id": outreach_id, "reason": reason}, "reject")


@require_POST
@queue_permission_required
def outreach_wrong_call(request: HttpRequest, outreach_id: int) -> HttpResponse:
    """The detector proposed the wrong thing: record the right class and reject the item."""
    form = WrongCallForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _back(request)
    decision = DetectorDecision(form.cleaned_data["decision"])
    return _run(request, outreach_id, lambda: services.outreach_wrong_call(
        outreach_id=outreach_id, user=request.user, decision=decision.value),
        _("Rejected #%(id)s as a wrong call; the detector will learn “%(decision)s”.") % {
            "id": outreach_id, "decision": decision.label}, "reject")


@require_POST
@queue_permission_required
def outreach_snooze(request: HttpRequest, outreach_id: int) -> HttpResponse:
    form = SnoozeForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(_form_errors(form))
        until = form.until_time(timezone.now())
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return _back(request)
    return _run(request, outreach_id, lambda: services.outreach_snooze(
        outreach_id=outreach_id, user=request.user, until=until),
        _("Snoozed #%(id)s until %(until)s.") % {
            "id": outreach_id,
            "until": timezone.localtime(until).strftime("%Y-%m-%d %H:%M")}, "snooze")


@require_POST
@queue_permission_required
def outreach_assign(request: HttpRequest, outreach_id: int) -> HttpResponse:
    # The dialog's "To me" button posts to_me beside the select's own (possibly empty) value.
    value = "me" if request.POST.get("to_me") else request.POST.get("assignee", "")
    if value == "me":
        assignee = request.user
    elif value == "":
        assignee = None
    else:
        assignee = (selectors.outreach_assignable_users().filter(pk=value).first()
                    if value.isdigit() else None)
        if assignee is None:
            messages.error(request, _("That person cannot work the queue."))
            return _back(request)
    who = _("nobody") if assignee is None else _display_name(assignee)
    return _run(request, outreach_id, lambda: services.outreach_assign(
        outreach_id=outreach_id, user=request.user, assignee=assignee),
        _("Assigned #%(id)s to %(who)s.") % {"id": outreach_id, "who": who}, "assign")


@require_POST
@queue_permission_required
def outreach_retry(request: HttpRequest, outreach_id: int) -> HttpResponse:
    return _run(request, outreach_id, lambda: services.outreach_retry(
        outreach_id=outreach_id, user=request.user),
        _("Retrying #%(id)s; it will be sent again now.") % {"id": outreach_id}, "retry")


@require_POST
@queue_permission_required
def outreach_bulk(request: HttpRequest) -> HttpResponse:
    form = BulkForm(request.POST)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
        return _back(request)
    ids = form.cleaned_data["ids"]
    if form.cleaned_data["action"] == "approve":
        result = services.outreach_bulk_approve(outreach_ids=ids, user=request.user)
        done = _("Approved %(n)s.") % {"n": len(result.done)}
    else:
        result = services.outreach_bulk_reject(outreach_ids=ids, user=request.user,
                                               reason=form.reason_text(),
                                               reason_code=form.cleaned_data["reason"])
        done = _("Rejected %(n)s.") % {"n": len(result.done)}
    if result.done:
        messages.success(request, done)
    if result.skipped:
        detail = " ".join(f"#{pk}: {refusal_text(pk, 'bulk')}"
                          for pk in list(result.skipped)[:10])
        more = len(result.skipped) - 10
        if more > 0:
            detail += _("; and %(n)s more") % {"n": more}
        messages.warning(request, _("Skipped %(n)s. %(detail)s") % {
            "n": len(result.skipped), "detail": detail})
    return _back(request)


@require_GET
@queue_permission_required
def outreach_history(request: HttpRequest, outreach_id: int) -> HttpResponse:
    try:
        outreach, log = selectors.outreach_history(outreach_id=outreach_id)
    except Outreach.DoesNotExist as exc:
        raise Http404("No such outreach") from exc
    setattr(outreach, "sla_state",  # noqa: B010 - display-only, for the template
            selectors.outreach_sla_state(outreach, now=timezone.now()))
    back = request.GET.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("kansha_outreach:queue")
    return TemplateResponse(request, "advocates/admin/history.html", {
        "page_title": _("History of outreach #%(id)s") % {"id": outreach.pk},
        "outreach": outreach,
        "log": history_rows(log),
        "reasons": [reason_text(reason) for reason in outreach.reasons],
        "back_url": back,
        "next_url": request.get_full_path(),
    })


def user_can_use_queue(user) -> bool:
    return user.has_perm(QUEUE_PERMISSION)


urlpatterns = [
    path("", queue_index, name="queue"),
    path("bulk/", outreach_bulk, name="bulk"),
    path("<int:outreach_id>/approve/", outreach_approve, name="approve"),
    path("<int:outreach_id>/reject/", outreach_reject, name="reject"),
    path("<int:outreach_id>/wrong-call/", outreach_wrong_call, name="wrong_call"),
    path("<int:outreach_id>/snooze/", outreach_snooze, name="snooze"),
    path("<int:outreach_id>/assign/", outreach_assign, name="assign"),
    path("<int:outreach_id>/retry/", outreach_retry, name="retry"),
    path("<int:outreach_id>/history/", outreach_history, name="history"),
]


def admin_urls():
    return [path("outreach/", include((urlpatterns, "kansha_outreach"),
                                      namespace="kansha_outreach"))]
