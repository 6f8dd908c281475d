"""What joins a care conversation's thread from outside: care items and answers (from routing),
the person's later posts, their direct messages and follows (from webhooks).

Kept apart from the staff side (`advocates/services/conversations.py`, which sends replies
through the outreach services) because webhook processing imports this, and outreach delivery
imports webhook processing's module: one direction each. The rules are the ones that module's
docstring states.

SLA clocks start here too. A conversation's resolution is due the resolution SLA (per
priority) after the earliest post of its care items and answers, or after the direct message
that opened it. A conversation opened by a direct message (no public post) also gets a care
item for that message, due the care SLA for its priority after the message's platform time,
so the queue, the overdue badge, the alerts and the report treat it like a complaint. Every
conversation opened here is handed to round-robin assignment after commit (signal
`conversations_opened`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from advocates.models import (
    Advocate,
    Conversation,
    ConversationMessage,
    ConversationStatus,
    DetectorSettings,
    Mention,
    MessageKind,
    Outreach,
    OutreachKind,
    SocialIdentity,
)
from advocates.platforms.base import MessageIn
from advocates.routing_rules import message_priority
from advocates.selectors import suppressed_identity_ids
from advocates.services.broker import broker_send_on_commit
from advocates.signals import conversations_opened

CS = ConversationStatus
_CARE_KINDS = (OutreachKind.CARE, OutreachKind.ANSWER)


# --- opening and joining ------------------------------------------------------------------

def conversation_open_or_join(*, advocate_id: int, identity_id: int, platform: str,
                              now: datetime) -> Conversation:
    """The person's unresolved conversation on `platform`, opened (with this identity) if none.

    Safe under concurrency: the partial unique constraint lets one transaction create it and
    the other read it (the create runs in a savepoint).
    """
    conversation, _opened = _open_or_join(advocate_id=advocate_id, identity_id=identity_id,
                                          platform=platform, now=now)
    return conversation


def _open_or_join(*, advocate_id: int, identity_id: int, platform: str,
                  now: datetime) -> tuple[Conversation, bool]:
    """`conversation_open_or_join`, and whether this call opened it (then handed to
    round-robin after commit)."""
    found = (Conversation.objects.filter(advocate_id=advocate_id, platform=platform)
             .exclude(status=CS.RESOLVED).first())
    if found is not None:
        return found, False
    try:
        with transaction.atomic():
            opened = Conversation.objects.create(
                advocate_id=advocate_id, identity_id=identity_id, platform=platform,
                opened_at=now, last_message_at=now, updated_at=now)
    except IntegrityError:
        return (Conversation.objects.filter(advocate_id=advocate_id, platform=platform)
                .exclude(status=CS.RESOLVED).get()), False
    _opened_hand_off([opened.pk])
    return opened, True


def _opened_hand_off(conversation_ids: list[int]) -> None:
    """After commit, hand newly opened conversations to round-robin assignment."""
    if conversation_ids:
        broker_send_on_commit(lambda: conversations_opened.send(
            sender=Conversation, conversation_ids=conversation_ids),
            what="round-robin assignment")


def conversations_for_care(*, rows: Sequence[Outreach], now: datetime,
                           prefs: DetectorSettings | None = None) -> None:
    """Give each unsaved care item or answer in `rows` its conversation (opened or joined),
    and each conversation its resolution due time (brought forward when a more urgent item
    joins).

    Called by routing just before the rows are inserted: a fixed number of queries whatever
    the batch's size (the existing threads, one insert of the new ones, a read back, one
    update of the due times that moved).
    """
    care = [row for row in rows if row.kind in _CARE_KINDS]
    if not care:
        return
    prefs = prefs or DetectorSettings.load()
    # Each item wants its conversation resolved by its post's time plus the resolution SLA
    # for its priority; a conversation is due by the earliest of its items' wishes.
    due: dict[tuple[int, str], datetime] = {}
    for row in care:
        minutes = prefs.resolution_sla_minutes_for(priority=row.priority)
        if minutes is not None and row.mention is not None:
            wish = row.mention.posted_at + timedelta(minutes=minutes)
            pair = (row.advocate_id, row.platform)
            due[pair] = min(wish, due.get(pair, wish))
    pairs = {(row.advocate_id, row.platform) for row in care}
    existing = _unresolved_threads(pairs)
    missing = {pair: row for row in care
               if (pair := (row.advocate_id, row.platform)) not in existing}
    if missing:
        # One insert for the batch's new threads; a concurrent router's thread wins the
        # partial unique constraint and is read back below.
        Conversation.objects.bulk_create(
            [Conversation(advocate_id=row.advocate_id, identity_id=row.identity_id,
                          platform=row.platform, opened_at=now, last_message_at=now,
                          resolution_due_at=due.get(pair), updated_at=now)
             for pair, row in missing.items()],
            ignore_conflicts=True)
        opened = set(missing)
        existing = _unresolved_threads(pairs)
        _opened_hand_off(sorted(c.pk for pair, c in existing.items() if pair in opened))
    sooner = []
    for pair, conversation in existing.items():
        wanted = due.get(pair)
        if wanted is not None and (conversation.resolution_due_at is None
                                   or wanted < conversation.resolution_due_at):
            conversation.resolution_due_at = wanted
            sooner.append(conversation)
    if sooner:  # a more urgent complaint joined: its resolution is due sooner
        Conversation.objects.bulk_update(sooner, ["resolution_due_at"])
    for row in care:
        row.conversation = existing[(row.advocate_id, row.platform)]


def _unresolved_threads(pairs: set[tuple[int, str]]) -> dict[tuple[int, str], Conversation]:
    return {(c.advocate_id, c.platform): c for c in Conversation.objects.filter(
        advocate_id__in={a for a, _ in pairs}, platform__in={p for _, p in pairs})
        .exclude(status=CS.RESOLVED)}


def conversation_mentions_record(*, mentions: Iterable[Mention], now: datetime) -> int:
    """Add each mention whose author has an unresolved conversation on its platform to that
    thread (a follow-up "still waiting!" belongs with the complaint); return how many.

    A waiting conversation is open again: the customer spoke. Idempotent (one entry per
    mention). Precondition: `mention.author` is loaded.
    """
    mentions = list(mentions)
    if not mentions:
        return 0
    advocate_ids = {m.author.advocate_id for m in mentions}
    threads = {(c.advocate_id, c.platform): c for c in Conversation.objects.filter(
        advocate_id__in=advocate_ids, platform__in={m.platform for m in mentions})
        .exclude(status=CS.RESOLVED)}
    entries = []
    for mention in mentions:
        thread = threads.get((mention.author.advocate_id, mention.platform))
        if thread is not None:
            entries.append(ConversationMessage(
                conversation=thread, kind=MessageKind.MENTION, platform=mention.platform,
                text=mention.text, at=mention.posted_at, mention=mention))
    if not entries:
        return 0
    known = set(ConversationMessage.objects.filter(
        mention_id__in=[e.mention_id for e in entries]).values_list("mention_id", flat=True))
    fresh = [e for e in entries if e.mention_id not in known]
    ConversationMessage.objects.bulk_create(fresh, ignore_conflicts=True)
    touched = {e.conversation_id for e in fresh}
    if touched:
        Conversation.objects.filter(pk__in=touched).update(last_message_at=now, updated_at=now)
        Conversation.objects.filter(pk__in=touched, status=CS.WAITING).update(status=CS.OPEN)
    return len(fresh)


def conversation_message_receive(*, identity: SocialIdentity, external_id: str, text: str,
                                 at: datetime, raw: dict[str, Any] | None = None,
                                 now: datetime | None = None) -> ConversationMessage | None:
    """Store one inbound direct message in the person's conversation (opened if none).

    Returns None, changing nothing, when the platform's message id was stored already (a
    redelivered webhook). The conversation becomes open (the customer spoke).
    """
    if not external_id:
        raise ValidationError("an inbound message needs the platform's message id")
    now = now or timezone.now()
    if ConversationMessage.objects.filter(platform=identity.platform,
                                          external_id=external_id).exists():
        return None
    with transaction.atomic():
        conversation, opened = _open_or_join(
            advocate_id=identity.advocate_id, identity_id=identity.pk,
            platform=identity.platform, now=now)
        try:
            with transaction.atomic():
                message = ConversationMessage.objects.create(
                    conversation=conversation, kind=MessageKind.DM_IN,
                    platform=identity.platform, text=text, at=at, external_id=external_id,
                    raw=raw or {})
        except IntegrityError:
            return None
        Conversation.objects.filter(pk=conversation.pk).update(
            last_message_at=max(at, conversation.last_message_at), updated_at=now,
            status=CS.OPEN, snoozed_until=None)  # the customer spoke: awake again
        if opened:
            _dm_clocks_start(conversation=conversation, identity=identity, message=message,
                             now=now)
    return message


def _dm_clocks_start(*, conversation: Conversation, identity: SocialIdentity,
                     message: ConversationMessage, now: datetime) -> None:
    """A conversation opened by a direct message: its resolution is due from the message's
    platform time, and the message gets a care item due the care SLA for its priority (no
    item for a person who opted out or whose account is suppressed: nothing may be sent to
    them)."""
    prefs = DetectorSettings.load()
    priority = message_priority(message.text, identity.follower_count)
    minutes = prefs.resolution_sla_minutes_for(priority=priority)
    if minutes is not None:
        Conversation.objects.filter(pk=conversation.pk).update(
            resolution_due_at=message.at + timedelta(minutes=minutes))
    advocate = Advocate.objects.only("opted_out_at").get(pk=identity.advocate_id)
    if advocate.opted_out_at is not None or suppressed_identity_ids(identities=[identity]):
        return
    # In the body: the outreach services import webhook processing (delivery uses the
    # platform clients), which imports this module; a real cycle.
    from advocates.services.outreach import outreach_bulk_propose

    outreach_bulk_propose(rows=[Outreach(
        kind=OutreachKind.CARE, advocate_id=identity.advocate_id, identity=identity,
        platform=identity.platform, dedupe_key=f"dm-care:{message.pk}", proposed_text="",
        reasons=[f"care: direct message, priority {priority}"], priority=priority,
        sla_due_at=message.at + timedelta(minutes=prefs.sla_minutes(kind="care",
                                                                       priority=priority)),
        conversation=conversation)], now=now)


def _identity_for(*, platform: str, message: MessageIn, now: datetime) -> SocialIdentity:
    """The sender's identity, created with a new advocate the first time they write."""
    identity = SocialIdentity.objects.filter(platform=platform,
                                             platform_user_id=message.author_id).first()
    if identity is not None:
        changed = {k: v for k, v in (("handle", message.author_handle),
                                     ("display_name", message.author_name))
                   if v and getattr(identity, k) != v}
        if changed:
            SocialIdentity.objects.filter(pk=identity.pk).update(updated_at=now, **changed)
            for k, v in changed.items():
                setattr(identity, k, v)
        return identity
    try:
        with transaction.atomic():
            advocate = Advocate.objects.create(display_name=message.author_name[:200],
                                               created_at=now)
            return SocialIdentity.objects.create(
                advocate=advocate, platform=platform, platform_user_id=message.author_id,
                handle=message.author_handle[:200], display_name=message.author_name[:200],
                first_seen_at=now, updated_at=now)
    except IntegrityError:  # the same person's first message in a concurrent delivery
        return SocialIdentity.objects.get(platform=platform,
                                          platform_user_id=message.author_id)


def messages_receive(*, platform: str, messages: Sequence[MessageIn]) -> int:
    """Store what a webhook delivery brought in direct messages; return how many are new.

    A message joins (or opens) the sender's conversation. A follow or unfollow only leaves an
    event in their unresolved conversation, if they have one (a new friend is not a case).
    Idempotent: messages are keyed by the platform's id. Runs in the caller's transaction.
    """
    now = timezone.now()
    new = 0
    for message in messages:
        identity = _identity_for(platform=platform, message=message, now=now)
        if message.event == "message":
            stored = conversation_message_receive(
                identity=identity, external_id=message.external_id, text=message.text,
                at=message.sent_at, raw=message.raw, now=now)
            new += stored is not None
            continue
        thread = (Conversation.objects.filter(advocate_id=identity.advocate_id,
                                              platform=platform)
                  .exclude(status=CS.RESOLVED).first())
        if thread is None or ConversationMessage.objects.filter(
                platform=platform, external_id=message.external_id).exists():
            continue
        words = {"follow": "followed the account", "unfollow": "unfollowed or blocked the "
                 "account: direct messages will not reach them"}.get(message.event,
                                                                     message.event)
        ConversationMessage.objects.create(
            conversation=thread, kind=MessageKind.EVENT, platform=platform, text=words,
            at=message.sent_at, external_id=message.external_id,
            raw={"action": message.event})
        new += 1
    return new
