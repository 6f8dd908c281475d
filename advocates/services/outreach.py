"""The outreach life cycle (steps 4–6): propose, decide, deliver, recognise.

Allowed transitions, each enforced by a conditional `UPDATE ... WHERE status IN (...)` so two
people (or two workers) acting on the same row at once change it once:

    proposed -> approved -> sending -> sent | failed
    proposed -> rejected | snoozed
    snoozed  -> proposed (when due) | approved | rejected
    failed   -> approved (retry)

Every decision and every delivery attempt writes an `OutreachLog` row. Approval enqueues the
delivery task after commit, so a worker never sees an approval that was rolled back.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from advocates import ratelimit
from advocates.actors import actor_user
from advocates.models import (
    AdvocacyEvent,
    AdvocacyKind,
    Advocate,
    BrandAccount,
    Conversation,
    DetectorDecision,
    DetectorSettings,
    ExampleSource,
    Mention,
    Outreach,
    OutreachKind,
    OutreachLog,
    OutreachStatus,
    SocialIdentity,
)
from advocates.platforms.base import (
    Messenger,
    PermanentError,
    PlatformError,
    PostResult,
    RateLimited,
    TransientError,
)
from advocates.policies import POLICIES, PlatformPolicy
from advocates.selectors import (
    CARE_KINDS,
    consent_granted,
    reply_sent_elsewhere,
    suppressed_identity_ids,
)
from advocates.services.learning import (
    THANK_KINDS,
    example_from_outreach,
    example_record,
)
from advocates.services.outreach_states import outreach_transition
from advocates.services.platforms import brand_account_client
from advocates.services.templates import reshare_disclosure_render
from advocates.signals import advocacy_recorded, outreach_ready
from advocates.sql import copy_instances, instances_insert_new

if TYPE_CHECKING:
    from advocates.actors import Actor

logger = logging.getLogger(__name__)

S = OutreachStatus
# Kinds whose words go out on the platform, so approving them needs text.
TEXT_KINDS = frozenset({OutreachKind.REPLY, OutreachKind.DM, OutreachKind.CARE,
                        OutreachKind.ANSWER, OutreachKind.CONSENT, OutreachKind.DISCLOSURE})
# Kinds that only ever go to the person privately.
_PRIVATE_KINDS = (OutreachKind.DM, OutreachKind.DISCLOSURE)
# Kinds that answer a mention publicly (or, without a mention, message the person).
_REPLY_KINDS = (OutreachKind.REPLY, OutreachKind.CARE, OutreachKind.ANSWER)
MAX_ATTEMPTS = 5
# A row left in "sending" this long was claimed by a worker that died mid-call; the
# idempotency key makes taking it over safe.
STALE_SENDING = timedelta(minutes=10)


class OutreachTransitionError(ValueError):
    """The outreach is not in a status that allows what was attempted."""


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    skipped: dict[int, str] = field(default_factory=dict)


@dataclass
class DeliveryDeferred(Exception):  # noqa: N818 - it is a signal to the task, not a failure
    """Raised by `outreach_deliver` when the task should run again after `countdown` seconds.

    `attempt_used` says whether the platform was actually called (a transient error) or not
    (a rate limit): only the former counts towards MAX_ATTEMPTS.
    """

    outreach_id: int
    countdown: float
    reason: str
    attempt_used: bool

    def __str__(self) -> str:
        return f"outreach #{self.outreach_id} deferred {self.countdown:.1f}s: {self.reason}"


# --- helpers ------------------------------------------------------------------------------

def _log(outreach_id: int, action: str, actor: Actor = None, **detail: Any) -> None:
    OutreachLog.objects.create(outreach_id=outreach_id, action=action, actor=actor_user(actor),
                               detail=detail)


def _transition(
    *,
    outreach_id: int,
    allowed: Iterable[str],
    to: str,
    verb: str,
    user: Actor,
    detail: dict[str, Any] | None = None,
    extra_q: Q | None = None,
    **fields: Any,
) -> Outreach:
    """Move one row from any of `allowed` to `to` with a conditional UPDATE; log it.

    Must run inside a transaction (the callers open one), so the log row and the status
    change commit together.
    """
    allowed = tuple(allowed)
    moved = outreach_transition([outreach_id], from_=allowed, to=to, action=_past(verb),
                                actor=actor_user(user), detail=detail, extra_q=extra_q,
                                **fields)
    if not moved:
        current = Outreach.objects.filter(pk=outreach_id).values_list("status", flat=True).first()
        if current is None:
            raise OutreachTransitionError(f"cannot {verb} outreach #{outreach_id}: it does not "
                                          "exist")
        raise OutreachTransitionError(
            f"cannot {verb} outreach #{outreach_id}: it is {current}, and only "
            f"{' or '.join(allowed)} outreach can be {_past(verb)}"
        )
    # With its mention and author: approving and rejecting teach the detector from them.
    return Outreach.objects.select_related("mention__author").get(pk=outreach_id)


def _past(verb: str) -> str:
    return {"approve": "approved", "reject": "rejected", "snooze": "snoozed",
            "retry": "retried", "assign": "assigned", "unsnooze": "unsnoozed"}.get(verb, verb)


def _enqueue_delivery(outreach_id: int) -> None:
    transaction.on_commit(lambda: outreach_ready.send(sender=Outreach, outreach_id=outreach_id))


def _user_id(user: Actor) -> int | None:
    staff = actor_user(user)
    return staff.pk if staff is not None else None


# --- proposing ----------------------------------------------------------------------------

def outreach_propose(
    *,
    kind: str,
    advocate: Advocate,
    identity: SocialIdentity,
    platform: str,
    dedupe_key: str,
    text: str,
    mention: Mention | None = None,
    reasons: Sequence[str] = (),
    template_key: str = "",
    template_variant: int | None = None,
    priority: int = 0,
    sla_due_at: datetime | None = None,
    conversation: Conversation | None = None,
) -> Outreach | None:
    """Put one proposal in the queue (status proposed); nothing is sent until approved.

    Returns None, creating nothing, when `dedupe_key` was already proposed (a re-run) or the
    advocate opted out. `kind` must be an `OutreachKind`; kinds that send words need `text`.
    """
    if kind not in OutreachKind.values:
        raise ValidationError(f"unknown outreach kind {kind!r}")
    if kind in TEXT_KINDS and not text.strip():
        raise ValidationError(f"a {kind} proposal needs text")
    if not dedupe_key:
        raise ValidationError("dedupe_key is required")
    advocate.refresh_from_db(fields=["opted_out_at"])
    if advocate.opted_out_at is not None and kind != OutreachKind.TAKEDOWN:
        return None
    # Proposals made outside routing (a reshare after consent, a reward message) honour an
    # erased person's suppression too; a take-down only removes what we posted.
    if identity is not None and kind != OutreachKind.TAKEDOWN and \
            suppressed_identity_ids(identities=[identity]):
        return None
    now = timezone.now()
    try:
        with transaction.atomic():
            outreach = Outreach.objects.create(
                kind=kind, advocate=advocate, identity=identity, platform=platform,
                dedupe_key=dedupe_key, proposed_text=text, mention=mention,
                reasons=list(reasons), template_key=template_key,
                template_variant=template_variant, priority=max(0, min(priority, 100)),
                sla_due_at=sla_due_at, conversation=conversation, created_at=now,
                updated_at=now,
            )
            _log(outreach.pk, "proposed", None, reasons=list(reasons))
    except IntegrityError:
        if Outreach.objects.filter(dedupe_key=dedupe_key).exists():
            return None
        raise
    return outreach


def outreach_bulk_propose(*, rows: Sequence[Outreach], now: datetime) -> list[Outreach]:
    """Insert many unsaved proposals at once; rows whose dedupe_key exists are skipped.

    Returns the rows that were created (with ids), each with a "proposed" log entry. Used by
    routing, which runs for batches of hundreds of mentions inside the ingest transaction.
    """
    if not rows:
        return []
    for row in rows:
        row.created_at = row.updated_at = now
    created = instances_insert_new(Outreach, rows, unique=("dedupe_key",))
    copy_instances(OutreachLog, [OutreachLog(outreach_id=o.pk, action="proposed", at=now,
                                              detail={"reasons": o.reasons}) for o in created])
    return created


# --- deciding -----------------------------------------------------------------------------

def outreach_approve(*, outreach_id: int, user: Actor, final_text: str | None = None) -> Outreach:
    """Approve a proposed or snoozed outreach, optionally with edited text; enqueue delivery.

    `final_text` replaces the proposed words (logged as an edit). The delivery task is
    enqueued after commit. Raises OutreachTransitionError if it was already decided (so of two
    concurrent approvals exactly one succeeds and one delivery is enqueued).
    """
    with transaction.atomic():
        current = Outreach.objects.filter(pk=outreach_id).values(
            "proposed_text", "kind").first()
        if current is None:
            raise OutreachTransitionError(f"cannot approve outreach #{outreach_id}: it does "
                                          "not exist")
        edited = final_text is not None and final_text.strip() != current["proposed_text"]
        text = (final_text if final_text is not None else current["proposed_text"]).strip()
        if current["kind"] in TEXT_KINDS and not text:
            raise ValidationError("the text to send cannot be empty")
        # A reshare proposed with words carries a disclosure line (its author was rewarded):
        # staff may add to it, not drop it.
        line = current["proposed_text"].strip()
        if current["kind"] == OutreachKind.RESHARE and line and line not in text:
            raise ValidationError(f"a reshare of a rewarded advocate's post keeps its "
                                  f"disclosure line: {line}")
        detail: dict[str, Any] = {"edited": edited}
        if edited:
            detail["final_text"] = text
        outreach = _transition(
            outreach_id=outreach_id, allowed=(S.PROPOSED, S.SNOOZED), to=S.APPROVED,
            verb="approve", user=user, detail=detail, final_text=text,
            decided_by_id=_user_id(user), decided_at=timezone.now(), snoozed_until=None,
        )
        example_from_outreach(outreach, action="approve", user=user, edited=edited)
        _enqueue_delivery(outreach.pk)
    return outreach


def outreach_reject(*, outreach_id: int, user: Actor, reason: str, reason_code: str = ""
                    ) -> Outreach:
    """Reject a proposed or snoozed outreach with a reason (a preset or free text).

    `reason_code` is the preset's key; one that says what the post really was ("sarcasm",
    "actually_praise", ...) also teaches the detector (`services.learning`).
    """
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError("a rejection needs a reason")
    with transaction.atomic():
        outreach = _transition(
            outreach_id=outreach_id, allowed=(S.PROPOSED, S.SNOOZED), to=S.REJECTED,
            verb="reject", user=user,
            detail={"reason": reason, **({"reason_code": reason_code} if reason_code else {})},
            reject_reason=reason[:300], decided_by_id=_user_id(user),
            decided_at=timezone.now(),
        )
        example_from_outreach(outreach, action="reject", user=user, reason_code=reason_code)
    return outreach


WRONG_CALL_KINDS = {"thank": THANK_KINDS, "care": CARE_KINDS}


def outreach_wrong_call(*, outreach_id: int, user: Actor, decision: str) -> Outreach:
    """"Wrong call": the detector proposed the wrong thing for this post; `decision` (thank,
    care or none) is the right one. The example is recorded and the proposal rejected (it
    was wrong); a right call is refused with ValidationError, changing nothing."""
    if decision not in DetectorDecision.values:
        raise ValidationError(f"decision must be one of {', '.join(DetectorDecision.values)}")
    with transaction.atomic():
        current = Outreach.objects.filter(pk=outreach_id).values("kind", "mention_id").first()
        if current is None or current["mention_id"] is None:
            raise OutreachTransitionError(f"outreach #{outreach_id} is not about a post")
        if current["kind"] in WRONG_CALL_KINDS.get(decision, ()):
            raise ValidationError(f"the proposal already treats the post as {decision}")
        label = str(DetectorDecision(decision).label)
        outreach = _transition(
            outreach_id=outreach_id, allowed=(S.PROPOSED, S.SNOOZED), to=S.REJECTED,
            verb="reject", user=user,
            detail={"reason": f"wrong call: {label}", "wrong_call": decision},
            reject_reason=f"wrong call: {label}"[:300], decided_by_id=_user_id(user),
            decided_at=timezone.now())
        mention = Mention.objects.select_related("author").get(pk=current["mention_id"])
        example_record(mention=mention, decision=decision, source=ExampleSource.WRONG_CALL,
                       reason="wrong_call", user=user)
    return outreach


def outreach_snooze(*, outreach_id: int, user: Actor, until: datetime) -> Outreach:
    """Hide a proposal until `until` (aware, in the future); it comes back as proposed."""
    if timezone.is_naive(until):
        raise ValidationError("snooze time must be timezone-aware")
    if until <= timezone.now():
        raise ValidationError("snooze time must be in the future")
    with transaction.atomic():
        return _transition(
            outreach_id=outreach_id, allowed=(S.PROPOSED, S.SNOOZED), to=S.SNOOZED,
            verb="snooze", user=user, detail={"until": until.isoformat()},
            snoozed_until=until,
        )


def outreach_assign(*, outreach_id: int, user: Actor, assignee: Actor) -> Outreach:
    """Give an open outreach to a staff member (None unassigns). Status is unchanged."""
    open_statuses = (S.PROPOSED, S.SNOOZED, S.APPROVED, S.FAILED)
    with transaction.atomic():
        outreach = (Outreach.objects.select_for_update().filter(pk=outreach_id).first())
        if outreach is None:
            raise OutreachTransitionError(f"cannot assign outreach #{outreach_id}: it does "
                                          "not exist")
        if outreach.status not in open_statuses:
            raise OutreachTransitionError(
                f"cannot assign outreach #{outreach_id}: it is {outreach.status}")
        staff = actor_user(assignee)  # the admin only lets signed-in users assign
        outreach.assignee = staff
        outreach.updated_at = timezone.now()
        outreach.save(update_fields=["assignee", "updated_at"])
        _log(outreach.pk, "assigned", user,
             assignee=staff.pk if staff is not None else None,
             assignee_name=staff.get_username() if staff is not None else "")
    return outreach


def outreach_retry(*, outreach_id: int, user: Actor) -> Outreach:
    """Send a failed outreach again: failed -> approved with a fresh attempt budget."""
    with transaction.atomic():
        outreach = _transition(
            outreach_id=outreach_id, allowed=(S.FAILED,), to=S.APPROVED, verb="retry",
            user=user, attempts=0,
        )
        _enqueue_delivery(outreach.pk)
    return outreach


def outreach_bulk_approve(*, outreach_ids: Sequence[int], user: Actor) -> BulkResult:
    """Approve each outreach in its own transaction; the ones that cannot be are skipped."""
    result = BulkResult()
    for outreach_id in dict.fromkeys(outreach_ids):
        try:
            outreach_approve(outreach_id=outreach_id, user=user)
        except (OutreachTransitionError, ValidationError) as exc:
            result.skipped[outreach_id] = _message(exc)
        else:
            result.done.append(outreach_id)
    return result


def outreach_bulk_reject(*, outreach_ids: Sequence[int], user: Actor, reason: str,
                         reason_code: str = "") -> BulkResult:
    """Reject each outreach with the same reason; the ones that cannot be are skipped."""
    if not (reason or "").strip():
        raise ValidationError("a rejection needs a reason")
    result = BulkResult()
    for outreach_id in dict.fromkeys(outreach_ids):
        try:
            outreach_reject(outreach_id=outreach_id, user=user, reason=reason,
                            reason_code=reason_code)
        except OutreachTransitionError as exc:
            result.skipped[outreach_id] = str(exc)
        else:
            result.done.append(outreach_id)
    return result


def _message(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc)


def outreach_unsnooze_due(*, now: datetime | None = None) -> int:
    """Return snoozed outreach whose time has come to the queue (snoozed -> proposed)."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = list(Outreach.objects.select_for_update(skip_locked=True)
                   .filter(status=S.SNOOZED, snoozed_until__lte=now)
                   .values_list("id", flat=True)[:5000])
        if not ids:
            return 0
        moved = outreach_transition(ids, from_=(S.SNOOZED,), to=S.PROPOSED, action="unsnoozed",
                                    now=now, snoozed_until=None)
    return len(moved)


def outreach_reject_pending_for(*, advocate_id: int, reason: str, user: Actor = None) -> int:
    """Reject everything still waiting for this advocate (used when they opt out).

    Covers approved-but-not-yet-sending rows too: nothing may go out to a person who said
    stop, and take-downs (removing their content) are the one exception.
    """
    now = timezone.now()
    pending = (S.PROPOSED, S.SNOOZED, S.APPROVED)
    ids = list(Outreach.objects.filter(advocate_id=advocate_id, status__in=pending)
               .exclude(kind=OutreachKind.TAKEDOWN).values_list("id", flat=True))
    if not ids:
        return 0
    moved = outreach_transition(ids, from_=pending, to=S.REJECTED, action="rejected",
                                actor=actor_user(user),
                                detail={"reason": reason}, now=now, reject_reason=reason,
                                decided_by_id=_user_id(user), decided_at=now)
    return len(moved)


# --- delivering ---------------------------------------------------------------------------

def _backoff_seconds(attempts: int) -> float:
    """Exponential backoff with full jitter: base * 2^(n-1), capped, times U(0.5, 1)."""
    base = float(getattr(settings, "KANSHA_DELIVERY_BACKOFF_BASE", 30.0))
    cap = float(getattr(settings, "KANSHA_DELIVERY_BACKOFF_MAX", 3600.0))
    delay: float = min(cap, base * (2 ** max(attempts - 1, 0)))
    return delay * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not security


def brand_account_for(platform: str) -> BrandAccount | None:
    """The active brand account that speaks for the brand on `platform` (oldest first)."""
    return (BrandAccount.objects.filter(platform=platform, active=True)
            .order_by("id").first())


def _claim(outreach_id: int) -> bool:
    """approved (or stale sending) -> sending, without counting an attempt yet."""
    now = timezone.now()
    return bool(outreach_transition(
        [outreach_id], from_=(S.APPROVED, S.SENDING), to=S.SENDING, now=now,
        extra_q=Q(status=S.APPROVED) | Q(updated_at__lt=now - STALE_SENDING)))


def delivery_refusal(outreach: Outreach, policy: PlatformPolicy | None) -> str:
    """Why the platform's policy forbids delivering this outreach ("" when it allows it).

    The same policy routing asked before proposing; asked again here because staff may approve
    long after, and a reward message or a take-down is proposed outside routing.
    """
    if policy is None:
        return ""
    mention = outreach.mention
    if outreach.kind in (*_REPLY_KINDS, OutreachKind.CONSENT) and mention is not None:
        # The target routing checked before proposing: the brand named by its handles and
        # tracked terms as the settings say now.
        reason = policy.reply_refusal(
            mention.reply_target(brand_names=DetectorSettings.load().brand_names()))
        if reason:
            return f"policy: {reason} ({mention.external_id})"
        if policy.one_reply_per_post and reply_sent_elsewhere(outreach=outreach):
            return f"policy: already replied to post {mention.external_id}"
    elif outreach.kind in (*_PRIVATE_KINDS, *_REPLY_KINDS):
        if not policy.direct_messages:
            return f"policy: {policy.label} has no direct messages"
    elif outreach.kind == OutreachKind.RESHARE and mention is not None:
        reason = policy.reshare_refusal(
            disclosure_needed=outreach.advocate.reward_received_at is not None)
        if reason:
            return f"policy: {reason} ({mention.external_id})"
        if policy.reshare_needs_consent and not consent_granted(mention_id=mention.pk):
            return (f"policy: reshare of {mention.external_id} needs a granted ConsentRecord "
                    "from its author")
    return ""


def _reshare_text(outreach: Outreach, mention: Mention) -> str:
    """A reshare's words: what staff approved, else (a reward reached the author after the
    proposal, or staff cleared the line) the disclosure line, stored as the final text."""
    text = outreach.final_text or outreach.proposed_text
    if text:
        return text
    line = reshare_disclosure_render(advocate=outreach.advocate, identity=outreach.identity,
                                     mention=mention,
                                     brand=DetectorSettings.load().brand_name,
                                     now=timezone.now())
    if line is None:
        return ""
    Outreach.objects.filter(pk=outreach.pk).update(final_text=line.text)
    return line.text


def _call_platform(client: Messenger, outreach: Outreach) -> PostResult:
    key = str(outreach.idempotency_key)
    text = outreach.final_text or outreach.proposed_text
    mention = outreach.mention
    kind = outreach.kind
    if kind in _REPLY_KINDS and mention is not None:
        return client.reply(in_reply_to=mention.external_id, text=text, idempotency_key=key)
    if kind in (*_PRIVATE_KINDS, *_REPLY_KINDS):
        # A reward message or a disclosure reminder (never a public reply: it would name the
        # person's reward to everyone) goes to the person directly.
        return client.send_dm(recipient_id=outreach.identity.platform_user_id, text=text,
                              idempotency_key=key)
    if mention is None:
        raise PermanentError(f"a {kind} needs the mention it is about")
    if kind == OutreachKind.CONSENT:
        return client.request_consent(in_reply_to=mention.external_id, text=text,
                                      idempotency_key=key)
    if kind == OutreachKind.RESHARE:
        return client.reshare(external_id=mention.external_id, idempotency_key=key,
                              text=_reshare_text(outreach, mention))
    if kind == OutreachKind.TAKEDOWN:
        return client.undo_reshare(external_id=mention.external_id, idempotency_key=key)
    raise PermanentError(f"don't know how to deliver a {kind}")


def outreach_deliver(*, outreach_id: int) -> Outreach:
    """Make one delivery attempt of an approved outreach: approved -> sending -> sent|failed.

    Called by the Celery task. Idempotent: a row already sent (or being sent by another
    worker) is returned unchanged. Effects:
    - the per-account token bucket is asked first; if empty, or the platform answers
      RateLimited, the row goes back to approved and `DeliveryDeferred(attempt_used=False)`
      is raised: no attempt is counted;
    - otherwise the platform is called with the row's idempotency key (attempts + 1, logged);
      success stores the platform's id and URL, marks it sent and, for a thank-you or a
      reshare, appends an AdvocacyEvent in the same transaction;
    - a TransientError raises `DeliveryDeferred(attempt_used=True)` with exponential backoff
      and jitter until MAX_ATTEMPTS, then marks the row failed with the last error;
    - a PermanentError marks it failed at once.
    """
    if not _claim(outreach_id):
        outreach = Outreach.objects.get(pk=outreach_id)
        logger.info("outreach #%s not delivered: it is %s", outreach_id, outreach.status)
        return outreach
    outreach = Outreach.objects.select_related("mention", "identity", "advocate").get(
        pk=outreach_id)

    if outreach.advocate.opted_out_at is not None and outreach.kind != OutreachKind.TAKEDOWN:
        outreach_transition([outreach_id], from_=(S.SENDING,), to=S.REJECTED, action="rejected",
                            detail={"reason": "opted out"}, reject_reason="opted out")
        return Outreach.objects.get(pk=outreach_id)

    account = brand_account_for(outreach.platform)
    if account is None:
        return _fail(outreach, f"no active brand account for {outreach.platform}")
    refusal = delivery_refusal(outreach, POLICIES.get(outreach.platform))
    if refusal:
        return _fail(outreach, refusal)

    wait = ratelimit.acquire(account)
    if wait > 0:
        return _defer(outreach, wait, "rate limit (token bucket)")

    Outreach.objects.filter(pk=outreach_id).update(attempts=F("attempts") + 1)
    attempt = outreach.attempts + 1
    try:
        client = brand_account_client(account)
        result = _call_platform(client, outreach)
    except RateLimited as exc:
        # The platform's own limit: nothing was posted, so the attempt is given back.
        Outreach.objects.filter(pk=outreach_id).update(attempts=F("attempts") - 1)
        ratelimit.hold(account, until=exc.reset_at)
        wait = max((exc.reset_at - timezone.now()).total_seconds(), 1.0)
        return _defer(outreach, wait, str(exc), until=exc.reset_at)
    except TransientError as exc:
        _log(outreach_id, "attempt", None, attempt=attempt, outcome="transient", error=str(exc))
        if attempt >= MAX_ATTEMPTS:
            return _fail(outreach, f"gave up after {attempt} attempts: {exc}", logged=True)
        outreach_transition([outreach_id], from_=(S.SENDING,), to=S.APPROVED,
                            last_error=str(exc))
        raise DeliveryDeferred(outreach_id, _backoff_seconds(attempt), str(exc), True) from exc
    except (PermanentError, PlatformError) as exc:
        _log(outreach_id, "attempt", None, attempt=attempt, outcome="permanent", error=str(exc))
        return _fail(outreach, str(exc), logged=True)

    now = timezone.now()
    with transaction.atomic():
        outreach_transition(
            [outreach_id], from_=(S.SENDING,), to=S.SENT, now=now,
            platform_result_id=result.id[:191], platform_result_url=(result.url or "")[:500],
            last_error="", sent_at=now)
        _log(outreach_id, "attempt", None, attempt=attempt, outcome="sent",
             platform_result_id=result.id, url=result.url)
        _recognise(outreach, now)
    return Outreach.objects.get(pk=outreach_id)


def _defer(outreach: Outreach, wait: float, reason: str, until: datetime | None = None
           ) -> NoReturn:
    now = timezone.now()
    until = until or now + timedelta(seconds=wait)
    outreach_transition([outreach.pk], from_=(S.SENDING,), to=S.APPROVED, action="deferred",
                        detail={"reason": reason, "until": until.isoformat()}, now=now)
    raise DeliveryDeferred(outreach.pk, wait, reason, False)


def _fail(outreach: Outreach, error: str, *, logged: bool = False) -> Outreach:
    outreach_transition([outreach.pk], from_=(S.SENDING,), to=S.FAILED, action="failed",
                        detail={"error": error}, last_error=error)
    return Outreach.objects.get(pk=outreach.pk)


# Thank-yous and reshares are advocacy the brand acknowledged; care replies, consent
# requests and reward messages are not.
_INTENT_TO_ADVOCACY = {"praise": AdvocacyKind.PRAISE, "checkin": AdvocacyKind.CHECKIN,
                       "review": AdvocacyKind.REVIEW}


def _recognise(outreach: Outreach, now: datetime) -> None:
    mention = outreach.mention
    if mention is None:
        return
    if outreach.kind == OutreachKind.RESHARE:
        kind = AdvocacyKind.RESHARE
    elif outreach.kind == OutreachKind.REPLY and outreach.dedupe_key.startswith("thank:"):
        kind = _INTENT_TO_ADVOCACY.get(mention.detection_intent, AdvocacyKind.PRAISE)
    else:
        return
    AdvocacyEvent.objects.bulk_create(
        [AdvocacyEvent(advocate_id=outreach.advocate_id, kind=kind, mention=mention,
                       platform=mention.platform, rating=mention.rating, venue=mention.venue,
                       occurred_at=mention.posted_at, created_at=now,
                       dedupe_key=f"outreach:{outreach.pk}")],
        ignore_conflicts=True,
    )
    # Robust: a listener's failure (a broker outage) must not undo a delivery that happened;
    # the rewards sweep finds the event later.
    advocate_ids = [outreach.advocate_id]
    transaction.on_commit(
        lambda: advocacy_recorded.send(sender=AdvocacyEvent, advocate_ids=advocate_ids),
        robust=True)


def outreach_stuck_ids(*, older_than: timedelta = STALE_SENDING, limit: int = 1000) -> list[int]:
    """Approved or sending rows nobody has touched for a while (their task was lost)."""
    cutoff = timezone.now() - older_than
    return list(Outreach.objects.filter(status__in=(S.APPROVED, S.SENDING),
                                        updated_at__lt=cutoff)
                .order_by("updated_at").values_list("id", flat=True)[:limit])
