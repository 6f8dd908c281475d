"""Care conversations: one thread per person and platform, from the first complaint or
question to a resolution with an outcome.

A care item or an answer opens the person's unresolved conversation on that platform, or joins
it; their later posts on that platform join it too, as do their direct messages (inbound
webhooks) and everything staff write from the conversation view. Staff replies go out as
Outreach rows through the normal delivery machinery (approval log, idempotency key, retries,
rate limits, the platform's policy).

Every status, assignee, tag and outcome change goes through a function here and leaves an
`event` entry in the thread. Status moves: open <-> waiting (on the customer), either ->
resolved (with an outcome); a resolved conversation never reopens: the next care item or
message opens a new one, so each case keeps its own outcome.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from advocates.models import (
    CareShift,
    Conversation,
    ConversationMessage,
    ConversationOutcome,
    ConversationStatus,
    MessageKind,
    Outreach,
    OutreachKind,
    OutreachStatus,
)
from advocates.policies import policy_for
from advocates.services.learning import examples_for_resolved_conversation
from advocates.services.outreach import (
    OutreachTransitionError,
    outreach_approve,
    outreach_propose,
    outreach_reject,
    outreach_snooze,
)
from advocates.services.threads import (  # noqa: F401 - the inbound half, re-exported
    conversation_mentions_record,
    conversation_message_receive,
    conversation_open_or_join,
    conversations_for_care,
    messages_receive,
)

CS = ConversationStatus
# Care work that is still waiting for a decision: staff answer it from the conversation, and
# resolving the conversation withdraws it.
_PENDING = (OutreachStatus.PROPOSED, OutreachStatus.SNOOZED)
_CARE_KINDS = (OutreachKind.CARE, OutreachKind.ANSWER)
MAX_TAGS = 10
MAX_TAG_LENGTH = 40


class ConversationError(ValueError):
    """The conversation is not in a state that allows what was attempted."""


def _event(conversation: Conversation, text: str, user, *, now: datetime,
           **raw: Any) -> None:
    ConversationMessage.objects.create(conversation=conversation, kind=MessageKind.EVENT,
                                       platform=conversation.platform, text=text, at=now,
                                       author=user if getattr(user, "pk", None) else None,
                                       raw=raw)


def _who(user) -> str:
    if user is None:
        return "nobody"
    return user.get_full_name() or user.get_username()


# --- what staff do --------------------------------------------------------------------------

def _locked(conversation_id: int) -> Conversation:
    conversation = (Conversation.objects.select_for_update()
                    .select_related("identity").filter(pk=conversation_id).first())
    if conversation is None:
        raise ConversationError(f"conversation #{conversation_id} does not exist")
    return conversation


def _unresolved(conversation_id: int, verb: str) -> Conversation:
    conversation = _locked(conversation_id)
    if conversation.status == CS.RESOLVED:
        raise ConversationError(f"cannot {verb} conversation #{conversation_id}: it is "
                                "resolved")
    return conversation


def conversation_reply(*, conversation_id: int, user, text: str, channel: str,
                       token: str) -> Outreach:
    """Send staff's words to the person, publicly (a reply to their newest post in the thread)
    or by direct message, through the delivery machinery; the conversation then waits on the
    customer.

    `token` comes from the reply form: submitting the same form twice sends once (the second
    call returns the first outreach). A public reply first takes over the thread's pending
    care item or answer for that post (approved with these words), so the queue does not keep
    a stale proposal. Raises ValidationError for empty text or a channel the platform's policy
    does not offer, ConversationError for a resolved conversation.
    """
    text = (text or "").strip()
    if not text:
        raise ValidationError("the reply cannot be empty")
    if channel not in ("public", "dm"):
        raise ValidationError(f"unknown channel {channel!r}: public or dm")
    try:
        uuid.UUID(token)
    except (TypeError, ValueError):
        raise ValidationError("the reply form is missing its token; reload the page") from None
    now = timezone.now()
    with transaction.atomic():
        conversation = _unresolved(conversation_id, "reply in")
        sent_before = (ConversationMessage.objects.filter(
            conversation=conversation, raw__token=token).select_related("outreach").first())
        if sent_before is not None and sent_before.outreach is not None:
            return sent_before.outreach
        identity = conversation.identity
        policy = policy_for(conversation.platform)
        mention = None
        if channel == "public":
            newest = (ConversationMessage.objects.filter(
                conversation=conversation, kind=MessageKind.MENTION, mention__isnull=False)
                .order_by("-at", "-id").select_related("mention").first())
            if newest is None or newest.mention is None:
                raise ValidationError("there is no public post in this conversation to reply "
                                      "to; send a direct message")
            mention = newest.mention
        elif not policy.direct_messages:
            raise ValidationError(f"{policy.label} has no direct messages for brands")

        if mention is not None:
            pending = Outreach.objects.filter(mention=mention)
        else:  # a direct message answers the care item of the one that opened the thread
            pending = Outreach.objects.filter(mention__isnull=True)
        outreach = (pending.filter(conversation=conversation, kind__in=_CARE_KINDS,
                                   status__in=_PENDING).order_by("created_at").first())
        if outreach is None:
            outreach = outreach_propose(
                kind=OutreachKind.CARE, advocate=conversation.advocate, identity=identity,
                platform=conversation.platform, dedupe_key=f"conversation-reply:{token}",
                text=text, mention=mention, conversation=conversation,
                reasons=[f"written in conversation #{conversation.pk}"])
            if outreach is None:
                raise ValidationError("this person opted out: nothing can be sent to them")
        outreach = outreach_approve(outreach_id=outreach.pk, user=user, final_text=text)
        ConversationMessage.objects.create(
            conversation=conversation,
            kind=MessageKind.REPLY if channel == "public" else MessageKind.DM_OUT,
            platform=conversation.platform, text=text, at=now, outreach=outreach,
            author=user, raw={"token": token})
        Conversation.objects.filter(pk=conversation.pk).update(
            status=CS.WAITING, last_message_at=now, updated_at=now)
    return outreach


def conversation_note_add(*, conversation_id: int, user, text: str) -> ConversationMessage:
    """An internal note: staff only, never sent."""
    text = (text or "").strip()
    if not text:
        raise ValidationError("a note cannot be empty")
    now = timezone.now()
    with transaction.atomic():
        conversation = _locked(conversation_id)
        note = ConversationMessage.objects.create(
            conversation=conversation, kind=MessageKind.NOTE, platform=conversation.platform,
            text=text, at=now, author=user)
        Conversation.objects.filter(pk=conversation.pk).update(updated_at=now)
    return note


def conversation_assign(*, conversation_id: int, user, assignee, via: str = "") -> Conversation:
    """Give the conversation (and its pending care items) to a staff member; None unassigns.
    `via` says how in the event line ("round-robin", "round-robin when it opened")."""
    now = timezone.now()
    with transaction.atomic():
        conversation = _unresolved(conversation_id, "assign")
        if conversation.assignee_id == getattr(assignee, "pk", None):
            return conversation
        conversation.assignee = assignee
        conversation.updated_at = now
        conversation.save(update_fields=["assignee", "updated_at"])
        Outreach.objects.filter(conversation=conversation, status__in=_PENDING).update(
            assignee=assignee, updated_at=now)
        _event(conversation, f"assigned to {_who(assignee)}" + (f" ({via})" if via else ""),
               user, now=now, action="assigned", assignee=getattr(assignee, "pk", None),
               **({"via": via} if via else {}))
    return conversation


def care_shift_set(*, user, on_shift: bool) -> CareShift:
    """Mark a staff member on or off shift for round-robin assignment."""
    now = timezone.now()
    shift, _ = CareShift.objects.update_or_create(
        user=user, defaults={"on_shift": on_shift, "updated_at": now})
    return shift


def conversation_assign_round_robin(*, conversation_id: int, user,
                                    unassigned_only: bool = False) -> Conversation:
    """Give the conversation to the on-shift staff member who was given one longest ago
    (never first), ties by user id. The on-shift rows are locked in order (then the
    conversation), so two concurrent assignments pick two people. Raises ValidationError when
    nobody active is on shift.

    `unassigned_only` (assignment when a conversation opens): a conversation someone was
    given meanwhile is left as it is, and nobody's turn is used up."""
    now = timezone.now()
    with transaction.atomic():
        shifts = list(CareShift.objects.select_for_update()
                      .filter(on_shift=True, user__is_active=True)
                      .order_by("user_id"))
        if not shifts:
            raise ValidationError("nobody is on shift")
        shifts.sort(key=lambda s: (s.last_assigned_at is not None,
                                   s.last_assigned_at or now, s.user_id))
        chosen = shifts[0]
        conversation = _unresolved(conversation_id, "assign")
        if unassigned_only and conversation.assignee_id is not None:
            return conversation
        CareShift.objects.filter(pk=chosen.pk).update(last_assigned_at=now, updated_at=now)
        return conversation_assign(
            conversation_id=conversation_id, user=user, assignee=chosen.user,
            via="round-robin when it opened" if unassigned_only else "round-robin")


def conversations_assign_on_open(*, conversation_ids: Iterable[int]) -> int:
    """Round-robin for conversations that just opened (the `conversations_opened` hand-off):
    each one still unresolved and unassigned goes to the staff member on shift who waited
    longest, oldest conversation first, with an event line in its thread. Nobody on shift:
    they stay unassigned (their alerts go to the care channel). Returns how many were
    assigned."""
    assigned = 0
    for conversation_id in sorted(set(conversation_ids)):
        if not Conversation.objects.filter(pk=conversation_id, assignee__isnull=True).exclude(
                status=CS.RESOLVED).exists():
            continue
        try:
            conversation = conversation_assign_round_robin(
                conversation_id=conversation_id, user=None, unassigned_only=True)
        except ValidationError:  # nobody on shift: the rest stay unassigned too
            break
        except ConversationError:  # resolved meanwhile
            continue
        assigned += conversation.assignee_id is not None
    return assigned


def conversation_snooze(*, conversation_id: int, user, until: datetime) -> Conversation:
    """Snooze the whole conversation until `until`: each care item or answer still proposed
    (or snoozed) in it is snoozed as long (`outreach_snooze`: back in the queue then, so no
    alert is lost for good); the customer's next message wakes the conversation."""
    now = timezone.now()
    if timezone.is_naive(until) or until <= now:
        raise ValidationError("snooze time must be in the future")
    with transaction.atomic():
        conversation = _unresolved(conversation_id, "snooze")
        pending = list(Outreach.objects.filter(
            conversation=conversation, kind__in=_CARE_KINDS,
            status__in=(OutreachStatus.PROPOSED, OutreachStatus.SNOOZED))
            .values_list("pk", flat=True))
        for outreach_id in pending:
            outreach_snooze(outreach_id=outreach_id, user=user, until=until)
        conversation.snoozed_until = until
        conversation.updated_at = now
        conversation.save(update_fields=["snoozed_until", "updated_at"])
        _event(conversation, f"snoozed until {until.isoformat(timespec='minutes')}", user,
               now=now, action="snoozed", until=until.isoformat())
    return conversation


def conversation_status_set(*, conversation_id: int, user, status: str) -> Conversation:
    """Mark an unresolved conversation open or waiting on the customer (resolving takes an
    outcome: `conversation_resolve`)."""
    if status not in (CS.OPEN, CS.WAITING):
        raise ValidationError(f"status must be open or waiting, not {status!r}")
    now = timezone.now()
    with transaction.atomic():
        conversation = _unresolved(conversation_id, "change")
        if conversation.status == status:
            return conversation
        conversation.status = status
        conversation.updated_at = now
        conversation.save(update_fields=["status", "updated_at"])
        _event(conversation, f"marked {CS(status).label}", user, now=now, action=status)
    return conversation


def conversation_resolve(*, conversation_id: int, user, outcome: str) -> Conversation:
    """Close the case with its outcome; the care items and answers still waiting in it are
    withdrawn (rejected "conversation resolved"), so no SLA alert follows a resolution. An
    outcome that says it was real (fixed, refunded, explained, not our fault) makes its posts
    detector examples of "care".

    Raises ConversationError if it was resolved already (of two concurrent resolutions,
    one wins).
    """
    if outcome not in ConversationOutcome.values:
        raise ValidationError(f"outcome must be one of {', '.join(ConversationOutcome.values)}")
    now = timezone.now()
    with transaction.atomic():
        conversation = _unresolved(conversation_id, "resolve")
        changed = Conversation.objects.filter(pk=conversation.pk).exclude(
            status=CS.RESOLVED).update(status=CS.RESOLVED, outcome=outcome, resolved_at=now,
                                       resolved_by=user, updated_at=now)
        if changed != 1:  # unreachable under the row lock; kept as the guard it states
            raise ConversationError(f"conversation #{conversation_id} was resolved already")
        for outreach_id in Outreach.objects.filter(
                conversation=conversation, status__in=_PENDING).values_list("id", flat=True):
            try:
                outreach_reject(outreach_id=outreach_id, user=user,
                                reason=f"conversation resolved ({outcome})")
            except OutreachTransitionError:
                continue  # decided meanwhile: nothing left to withdraw
        conversation.refresh_from_db()
        _event(conversation, f"resolved: {ConversationOutcome(outcome).label}", user, now=now,
               action="resolved", outcome=outcome)
        # A real complaint or question, handled: its posts teach the detector "care".
        examples_for_resolved_conversation(conversation_id=conversation.pk, outcome=outcome,
                                           user=user)
    return conversation


def conversation_tags_set(*, conversation_id: int, user, tags: Iterable[str]) -> Conversation:
    """Replace the tags (trimmed, lower case, each once, at most 10 of up to 40 characters)."""
    clean = list(dict.fromkeys(t.strip().lower() for t in tags if t and t.strip()))
    if len(clean) > MAX_TAGS:
        raise ValidationError(f"at most {MAX_TAGS} tags")
    too_long = [t for t in clean if len(t) > MAX_TAG_LENGTH]
    if too_long:
        raise ValidationError(f"tags are at most {MAX_TAG_LENGTH} characters: {too_long[0]}")
    now = timezone.now()
    with transaction.atomic():
        conversation = _locked(conversation_id)
        if conversation.tags == clean:
            return conversation
        conversation.tags = clean
        conversation.updated_at = now
        conversation.save(update_fields=["tags", "updated_at"])
        _event(conversation, "tags: " + (", ".join(clean) or "none"), user, now=now,
               action="tagged", tags=clean)
    return conversation
