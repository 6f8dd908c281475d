"""Care conversations in the Wagtail admin: the inbox, and one conversation where staff read
the thread and answer it (publicly or by direct message), assign, tag, note and resolve.

Views are thin: each parses a form and calls one service from
`advocates/services/conversations.py`. Every action is a POST with CSRF that answers with a
Wagtail message and redirects back to the conversation. The same permission as the queue
(`advocates.change_outreach`) is needed; without it the views answer 403.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django import forms
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import include, path, reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST
from wagtail.admin import messages

from advocates import selectors
from advocates.admin.queue import queue_permission_required
from advocates.models import (
    Conversation,
    ConversationOutcome,
    ConversationStatus,
    DetectorSettings,
)
from advocates.policies import PLATFORM_CHOICES, policy_for
from advocates.services import conversations as service
from advocates.services.templates import template_suggestions

KEYBOARD_SHORTCUTS = [
    ("r", _("Write a reply")),
    ("n", _("Write an internal note")),
    ("Ctrl+Enter", _("Send what you are writing")),
    ("Esc", _("Leave the text box")),
]


class InboxFilterForm(forms.Form):
    status = forms.ChoiceField(required=False, label=_("Status"), choices=[
        ("unresolved", _("Open or waiting")), ("", _("Any status")),
        *ConversationStatus.choices])
    assignee = forms.ChoiceField(required=False, label=_("Assignee"))
    platform = forms.ChoiceField(required=False, label=_("Platform"),
                                 choices=[("", _("Any platform")), *PLATFORM_CHOICES])

    def __init__(self, *args, users=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].choices = [
            ("", _("Anyone")), ("me", _("Me")), ("none", _("Nobody")),
            *[(str(u.pk), u.get_full_name() or u.get_username()) for u in users]]

    def filters(self) -> selectors.ConversationFilters:
        data = self.cleaned_data if self.is_valid() else {}
        return selectors.ConversationFilters(
            status=data.get("status", "unresolved"), assignee=data.get("assignee") or "",
            platform=data.get("platform") or "")


CHANNELS = {"public": _("Public reply"), "dm": _("Direct message")}


class ReplyForm(forms.Form):
    text = forms.CharField(label=_("Reply"), widget=forms.Textarea(attrs={"rows": 4}))
    channel = forms.ChoiceField(label=_("Send as"), choices=list(CHANNELS.items()))
    token = forms.UUIDField(widget=forms.HiddenInput)

    def __init__(self, *args, channels=tuple(CHANNELS), **kwargs):
        super().__init__(*args, **kwargs)
        # Only the ways this conversation can be answered (the service checks them again).
        self.fields["channel"].choices = [(c, CHANNELS[c]) for c in channels]


class NoteForm(forms.Form):
    text = forms.CharField(label=_("Internal note"), widget=forms.Textarea(attrs={"rows": 2}))


class AssignForm(forms.Form):
    # "me", "next" (round-robin among staff on shift), "" (nobody) or a user id
    assignee = forms.CharField(required=False)


class SnoozeForm(forms.Form):
    hours = forms.TypedChoiceField(coerce=int, choices=[(1, "1"), (4, "4"), (24, "24")],
                                   label=_("Snooze for (hours)"))


class ShiftForm(forms.Form):
    on_shift = forms.BooleanField(required=False)


class StatusForm(forms.Form):
    status = forms.ChoiceField(choices=[(ConversationStatus.OPEN, ConversationStatus.OPEN.label),
                                        (ConversationStatus.WAITING,
                                         ConversationStatus.WAITING.label)])


class ResolveForm(forms.Form):
    outcome = forms.ChoiceField(label=_("Outcome"), choices=ConversationOutcome.choices)


class TagsForm(forms.Form):
    tags = forms.CharField(required=False, label=_("Tags"),
                           help_text=_("Separated by commas."))


def _detail_url(conversation_id: int) -> str:
    return reverse("kansha_conversations:detail", args=[conversation_id])


def _errors(form: forms.Form) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


def _act(request: HttpRequest, conversation_id: int, form: forms.Form, call,
         success) -> HttpResponseRedirect:
    """Validate the form, call one service, say how it went, back to the conversation."""
    if not form.is_valid():
        messages.error(request, _("Not done: %(error)s") % {"error": _errors(form)})
        return HttpResponseRedirect(_detail_url(conversation_id))
    try:
        call(form.cleaned_data)
    except Conversation.DoesNotExist as exc:
        raise Http404("No such conversation") from exc
    except (ValueError, ValidationError) as exc:
        text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        messages.error(request, _("Not done: %(error)s") % {"error": text})
    else:
        messages.success(request, success)
    return HttpResponseRedirect(_detail_url(conversation_id))


@require_GET
@queue_permission_required
def inbox(request: HttpRequest) -> HttpResponse:
    users = list(selectors.outreach_assignable_users())
    data = request.GET.copy()
    data.setdefault("status", "unresolved")
    form = InboxFilterForm(data, users=users)
    conversations = list(selectors.conversation_list(filters=form.filters(),
                                                     user=request.user)
                         [: selectors.CONVERSATION_PAGE_SIZE])
    now = timezone.now()
    for conversation in conversations:  # display only: the resolution badge
        setattr(conversation, "resolution_state",  # noqa: B010
                selectors.conversation_resolution_state(conversation, now=now))
    return TemplateResponse(request, "advocates/admin/conversations.html", {
        "page_title": _("Conversations"), "header_icon": "mail", "form": form,
        "conversations": conversations,
        "on_shift": selectors.care_on_shift(user=request.user),
    })


@require_POST
@queue_permission_required
def shift(request: HttpRequest) -> HttpResponse:
    """Mark oneself on or off shift for round-robin assignment."""
    form = ShiftForm(request.POST)
    on = form.is_valid() and form.cleaned_data["on_shift"]
    service.care_shift_set(user=request.user, on_shift=on)
    messages.success(request, _("You are on shift.") if on else _("You are off shift."))
    return HttpResponseRedirect(reverse("kansha_conversations:inbox"))


@require_GET
@queue_permission_required
def detail(request: HttpRequest, conversation_id: int) -> HttpResponse:
    try:
        conversation, thread = selectors.conversation_thread(conversation_id=conversation_id)
    except Conversation.DoesNotExist as exc:
        raise Http404("No such conversation") from exc
    policy = policy_for(conversation.platform)
    has_public = any(entry.mention is not None for entry in thread)
    channels = [c for c, ok in (("public", has_public), ("dm", policy.direct_messages)) if ok]
    reply = ReplyForm(initial={"token": uuid.uuid4()}, channels=channels or ["public"])
    language = next((e.mention.language for e in reversed(thread)
                     if e.mention is not None and e.mention.language), "en")
    settings_row = DetectorSettings.load()
    profile = getattr(request.user, "wagtail_userprofile", None)
    return TemplateResponse(request, "advocates/admin/conversation.html", {
        "page_title": _("Conversation with %(who)s") % {
            "who": conversation.identity.handle or conversation.identity.display_name},
        "header_icon": "mail",
        "conversation": conversation,
        "thread": thread,
        "pending": selectors.conversation_pending_care(conversation_id=conversation.pk),
        "reply_form": reply,
        "note_form": NoteForm(),
        "resolve_form": ResolveForm(),
        "tags_form": TagsForm(initial={"tags": ", ".join(conversation.tags)}),
        "users": selectors.outreach_assignable_users(),
        "suggestions": template_suggestions(identity=conversation.identity,
                                            brand=settings_row.brand_name, language=language),
        "resolved": conversation.status == ConversationStatus.RESOLVED,
        "resolution_state": selectors.conversation_resolution_state(conversation,
                                                                    now=timezone.now()),
        "statuses": ConversationStatus,
        "shortcuts": KEYBOARD_SHORTCUTS,
        "shortcuts_enabled": getattr(profile, "keyboard_shortcuts", True),
    })


@require_POST
@queue_permission_required
def reply(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return _act(request, conversation_id, ReplyForm(request.POST),
                lambda data: service.conversation_reply(
                    conversation_id=conversation_id, user=request.user, text=data["text"],
                    channel=data["channel"], token=str(data["token"])),
                _("Reply approved; it goes out in a moment."))


@require_POST
@queue_permission_required
def note(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return _act(request, conversation_id, NoteForm(request.POST),
                lambda data: service.conversation_note_add(
                    conversation_id=conversation_id, user=request.user, text=data["text"]),
                _("Note added."))


@require_POST
@queue_permission_required
def assign(request: HttpRequest, conversation_id: int) -> HttpResponse:
    def call(data):
        value = data["assignee"]
        if value == "next":
            service.conversation_assign_round_robin(conversation_id=conversation_id,
                                                    user=request.user)
            return
        if value == "me":
            assignee = request.user
        elif value == "":
            assignee = None
        else:
            assignee = next((u for u in selectors.outreach_assignable_users()
                             if str(u.pk) == value), None)
            if assignee is None:
                raise ValidationError(_("That person cannot work on conversations."))
        service.conversation_assign(conversation_id=conversation_id, user=request.user,
                                    assignee=assignee)

    return _act(request, conversation_id, AssignForm(request.POST), call, _("Assigned."))


@require_POST
@queue_permission_required
def snooze(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return _act(request, conversation_id, SnoozeForm(request.POST),
                lambda data: service.conversation_snooze(
                    conversation_id=conversation_id, user=request.user,
                    until=timezone.now() + timedelta(hours=data["hours"])),
                _("Conversation snoozed."))


@require_POST
@queue_permission_required
def set_status(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return _act(request, conversation_id, StatusForm(request.POST),
                lambda data: service.conversation_status_set(
                    conversation_id=conversation_id, user=request.user, status=data["status"]),
                _("Status changed."))


@require_POST
@queue_permission_required
def resolve(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return _act(request, conversation_id, ResolveForm(request.POST),
                lambda data: service.conversation_resolve(
                    conversation_id=conversation_id, user=request.user,
                    outcome=data["outcome"]),
                _("Conversation resolved."))


@require_POST
@queue_permission_required
def tags(request: HttpRequest, conversation_id: int) -> HttpResponse:
    return _act(request, conversation_id, TagsForm(request.POST),
                lambda data: service.conversation_tags_set(
                    conversation_id=conversation_id, user=request.user,
                    tags=data["tags"].split(",")),
                _("Tags saved."))


urlpatterns = [
    path("", inbox, name="inbox"),
    path("shift/", shift, name="shift"),
    path("<int:conversation_id>/", detail, name="detail"),
    path("<int:conversation_id>/reply/", reply, name="reply"),
    path("<int:conversation_id>/note/", note, name="note"),
    path("<int:conversation_id>/assign/", assign, name="assign"),
    path("<int:conversation_id>/status/", set_status, name="status"),
    path("<int:conversation_id>/snooze/", snooze, name="snooze"),
    path("<int:conversation_id>/resolve/", resolve, name="resolve"),
    path("<int:conversation_id>/tags/", tags, name="tags"),
]


def admin_urls():
    return [path("conversations/", include((urlpatterns, "kansha_conversations"),
                                           namespace="kansha_conversations"))]
