"""Rules and grants: which live rules fire for the advocates a batch touched, and the grants
they make, within each rule's limits (once per period, monthly budget, finance approval).

Budget: a rule's spend per month is one `RuleBudget` row moved only by a conditional
`UPDATE ... SET committed = committed + x WHERE committed + x <= limit`, so concurrent grant
makers can never overshoot it (and a CHECK constraint backs that up).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction
from django.db.models import Count, F, Min
from django.utils import timezone

from advocates.models import AdvocacyEvent, AdvocacyKind
from advocates.policies import review_incentive_free_platforms
from advocates.services import advocate_reward_received
from advocates.sql import ids_in, insert_rows, is_postgres
from rewards import fraud, stripe_client
from rewards.models import (
    AdvocateTier,
    CodeProvider,
    DiscountCode,
    GrantStatus,
    Period,
    Perk,
    PerkFulfilment,
    PointsEntry,
    RewardGrant,
    RewardKind,
    RewardRule,
    RuleBudget,
    TriggerKind,
)
from rewards.services.grant_states import grant_transition
from rewards.services.ledger_rows import Entry, LedgerEvent
from rewards.services.tiers import TierMove
from rewards.signals import grant_code_revoked, grants_approved

logger = logging.getLogger(__name__)

ISSUE_CHUNK = 200
# Who acts (request.user): a signed-in staff member, or anonymous where no one is signed in.
StaffUser = AbstractBaseUser | AnonymousUser


class GrantError(Exception):
    """A grant could not be made or moved; the message says why (shown to staff)."""


def period_key(period: str, at: datetime) -> str:
    at = at.astimezone(UTC)
    if period == Period.EVER:
        return "ever"
    if period == Period.YEAR:
        return f"{at:%Y}"
    if period == Period.WEEK:
        year, week, _ = at.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{at:%Y-%m}"


def venue_key(venue: str) -> str:
    """Once per venue: the period key of a first-check-in grant."""
    return "venue:" + hashlib.sha256(venue.strip().lower().encode()).hexdigest()[:20]


def month_start(at: datetime) -> date:
    return at.astimezone(UTC).date().replace(day=1)


@dataclass
class Candidate:
    """An advocate a rule fired for, and why."""

    advocate_id: int
    period_key: str
    trigger_event_id: int | None
    review_reasons: list[str] = field(default_factory=list)


# --- Evaluating rules over a batch ---------------------------------------------------------


def rules_evaluate(*, entries: Sequence[Entry], events: Sequence[LedgerEvent],
                   tier_changes: Sequence[TierMove], facts: dict[int, fraud.AdvocateFacts],
                   now: datetime) -> list[RewardGrant]:
    """Evaluate every live rule for the advocates in this batch; make the grants that fire.

    Precondition: called inside the ledger's transaction (it holds the ledger lock), after the
    batch's points entries and tier changes were written. Returns the grants created.
    """
    rules = []
    for rule in RewardRule.objects.filter(live=True).select_related("perk", "trigger_tier"):
        # A rule saved before the compliance check (or written around the editor) still never
        # fires: the law binds whatever the rule says.
        refusal = rule.compliance_refusal()
        if refusal:
            logger.warning("rule %s not evaluated: %s", rule.pk, " ".join(refusal.values()))
            continue
        rules.append(rule)
    if not rules:
        return []
    touched = {e.advocate_id for e in entries}
    latest_event: dict[int, int] = {}
    for e in entries:
        latest_event[e.advocate_id] = e.event_id
    created: list[RewardGrant] = []
    for rule in rules:
        candidates = _candidates(rule, entries=entries, events=events, touched=touched,
                                 latest_event=latest_event, tier_changes=tier_changes, now=now)
        if candidates:
            created += grants_create(rule=rule, candidates=candidates, facts=facts, now=now)
    return created


def _candidates(rule: RewardRule, *, entries: Sequence[Entry], events: Sequence[LedgerEvent],
                touched: set[int], latest_event: dict[int, int],
                tier_changes: Sequence[TierMove], now: datetime) -> list[Candidate]:
    key = period_key(rule.period, now)
    if rule.trigger == TriggerKind.EVENTS_IN_DAYS:
        qs = PointsEntry.objects.filter(advocate_id__any_ids=ids_in(touched), event__isnull=False,
                                        occurred_at__gte=now - timedelta(days=rule.trigger_days))
        if rule.trigger_event_kind:
            qs = qs.filter(kind=rule.trigger_event_kind)
        # Reviews where the platform forbids review incentives count toward nothing.
        no_incentive = review_incentive_free_platforms()
        if no_incentive:
            qs = qs.exclude(kind=AdvocacyKind.REVIEW, platform__in=no_incentive)
        hits = (qs.values("advocate_id").annotate(n=Count("id"))
                .filter(n__gte=rule.trigger_count).values_list("advocate_id", flat=True))
        return [Candidate(a, key, latest_event.get(a)) for a in hits]
    if rule.trigger == TriggerKind.TIER_REACHED:
        target = rule.trigger_tier
        return [Candidate(m.advocate_id, key, latest_event.get(m.advocate_id))
                for m in tier_changes
                if m.promoted and target is not None and m.to_tier is not None
                and m.to_tier.threshold >= target.threshold
                and (m.from_tier is None or m.from_tier.threshold < target.threshold)]
    if rule.trigger == TriggerKind.FIRST_CHECKIN:
        checkins = [e for e in events if e.kind == AdvocacyKind.CHECKIN and e.venue]
        if not checkins:
            return []
        # The first check-in of this advocate at this venue is the lowest event id there.
        first = {(r["advocate_id"], r["venue"].strip().lower()): r["first"] for r in
                 AdvocacyEvent.objects.filter(
                     kind=AdvocacyKind.CHECKIN,
                     advocate_id__any_ids=ids_in({e.advocate_id for e in checkins}),
                     venue__in={e.venue for e in checkins})
                 .values("advocate_id", "venue").annotate(first=Min("id"))}
        out = {}
        for e in checkins:
            if first.get((e.advocate_id, e.venue.strip().lower())) == e.id:
                vk = venue_key(e.venue)
                out[e.advocate_id, vk] = Candidate(e.advocate_id, vk, e.id)
        return list(out.values())
    return []


def _eligible(rule: RewardRule, f: fraud.AdvocateFacts | None, now: datetime) -> str:
    """Empty if eligible, else why not (employees and opted-out advocates never get rewards)."""
    if f is None:
        return "unknown advocate"
    if f.is_employee:
        return "employee"
    if f.opted_out:
        return "opted out"
    if rule.pause_after_ignored_reminders and f.ignored_reminders >= 2:
        return "paused: ignored two disclosure reminders"
    if rule.min_followers and (f.followers or 0) < rule.min_followers:
        return f"fewer than {rule.min_followers} followers"
    age = f.account_age_days(now)
    if rule.min_account_age_days and (age is None or age < rule.min_account_age_days):
        return f"account younger than {rule.min_account_age_days} days"
    return ""


# --- Making grants -------------------------------------------------------------------------


def grants_create(*, rule: RewardRule, candidates: Sequence[Candidate],
                  facts: dict[int, fraud.AdvocateFacts] | None = None,
                  now: datetime | None = None) -> list[RewardGrant]:
    """Make this rule's grants for these candidates, within its limits; return those made.

    Skips ineligible advocates and (advocate, rule, period) pairs already granted. Commits
    budget for each grant (the grants that do not fit this month's budget are not made) and
    reserves perk stock (no stock, no grant). Grants of flagged advocates, and grants above
    the finance-approval amount, are made `pending_approval`; the rest `approved`.
    Precondition: in a transaction (the ledger's, or its own via `grant_create`).
    """
    now = now or timezone.now()
    if facts is None:
        facts = fraud.advocate_facts(advocate_ids={c.advocate_id for c in candidates})
    keep = []
    for c in candidates:
        why = _eligible(rule, facts.get(c.advocate_id), now)
        if why:
            logger.debug("rule %s: advocate %s not eligible (%s)", rule.pk, c.advocate_id, why)
            continue
        keep.append(c)
    if not keep:
        return []
    taken = set(RewardGrant.objects.filter(
        rule=rule, advocate_id__any_ids=ids_in({c.advocate_id for c in keep}),
        period_key__in={c.period_key for c in keep}).order_by()
        .values_list("advocate_id", "period_key"))
    keep = [c for c in keep if (c.advocate_id, c.period_key) not in taken]
    if not keep:
        return []

    cost = rule.cost_minor
    budget_month = month_start(now)
    if rule.monthly_budget_minor is not None and cost > 0:
        fit = budget_reserve_units(rule=rule, unit_minor=cost, units=len(keep), now=now)
        if fit < len(keep):
            logger.info("rule %s: budget allows %d of %d grants in %s", rule.pk, fit,
                        len(keep), budget_month)
        keep = keep[:fit]
    reward = rule.reward_snapshot().as_json()
    tiers = dict(AdvocateTier.objects.filter(
        advocate_id__any_ids=ids_in({c.advocate_id for c in keep}))
                 .values_list("advocate_id", "tier_id"))
    grants = []
    for c in keep:
        # A perk rule without a perk (clean() forbids one) has no stock to reserve either.
        if rule.reward_kind == RewardKind.PERK and (
                rule.perk_id is None or not perk_stock_reserve(perk_id=rule.perk_id)):
            logger.info("rule %s: perk %s out of stock", rule.pk, rule.perk_id)
            budget_release(rule_id=rule.pk, month=budget_month, amount_minor=cost)
            continue
        reasons = list(c.review_reasons)
        f = facts.get(c.advocate_id)
        if f is not None and f.needs_review:
            reasons += f.review_reasons()
        if rule.finance_approval_above_minor is not None and \
                cost > rule.finance_approval_above_minor:
            reasons.append(f"finance: cost {cost} > {rule.finance_approval_above_minor}")
        grants.append(RewardGrant(
            advocate_id=c.advocate_id, rule=rule, period_key=c.period_key,
            status=GrantStatus.PENDING_APPROVAL if reasons else GrantStatus.APPROVED,
            review_reasons=reasons, reward=reward, reward_kind=rule.reward_kind,
            perk_id=rule.perk_id if rule.reward_kind == RewardKind.PERK else None,
            cost_minor=cost, currency=rule.currency,
            budget_month=budget_month if rule.monthly_budget_minor is not None else None,
            tier_id=tiers.get(c.advocate_id), trigger_event_id=c.trigger_event_id,
            created_at=now, approved_at=None if reasons else now))
    _grants_insert(grants)
    # Every perk grant made above has the perk whose stock it reserved.
    fulfilments = [PerkFulfilment(grant=g, perk_id=g.perk_id, created_at=now, updated_at=now)
                   for g in grants
                   if g.reward_kind == RewardKind.PERK and g.perk_id is not None]
    if fulfilments:
        PerkFulfilment.objects.bulk_create(fulfilments)
    return grants


GRANT_COLUMNS = ("advocate_id", "rule_id", "period_key", "status", "review_reasons", "reward",
                 "reward_kind", "perk_id", "cost_minor", "currency", "budget_month", "tier_id",
                 "trigger_event_id", "outreach_id", "issue_attempts", "last_error", "created_at",
                 "approved_at", "approved_by_id", "issued_at", "delivered_at", "redeemed_at",
                 "expires_at", "closed_at")


def _grants_insert(grants: list[RewardGrant]) -> None:
    """Insert grants (COPY on PostgreSQL) and set their ids.

    The ids come back in one query on the (advocate, rule, period) key, which is unique.
    """
    if not grants:
        return
    if not is_postgres():
        RewardGrant.objects.bulk_create(grants)
        return
    insert_rows(RewardGrant, GRANT_COLUMNS,
                [tuple(getattr(g, c) for c in GRANT_COLUMNS) for g in grants])
    ids = {(a, r, k): pk for pk, a, r, k in RewardGrant.objects.filter(
        advocate_id__any_ids=ids_in({g.advocate_id for g in grants}),
        rule_id__in={g.rule_id for g in grants},
        period_key__in={g.period_key for g in grants},
    ).order_by().values_list("id", "advocate_id", "rule_id", "period_key")}
    for g in grants:
        g.pk = ids[g.advocate_id, g.rule_id, g.period_key]
        g._state.adding = False


def grant_create(*, rule: RewardRule, advocate_id: int, period: str | None = None,
                 trigger_event_id: int | None = None, reasons: Sequence[str] = (),
                 now: datetime | None = None) -> RewardGrant | None:
    """Make one grant of `rule` for one advocate (staff action, or a single trigger).

    Returns None if the advocate is not eligible, already has this rule's grant for the
    period, the budget is spent or the perk is out of stock. Safe to call concurrently: the
    budget UPDATE is conditional and the (advocate, rule, period) key is unique.
    """
    now = now or timezone.now()
    key = period or period_key(rule.period, now)
    try:
        with transaction.atomic():
            made = grants_create(rule=rule, candidates=[
                Candidate(advocate_id, key, trigger_event_id, list(reasons))], now=now)
    except IntegrityError:
        # Another worker made the same (advocate, rule, period) grant first; our budget
        # commitment rolled back with this transaction.
        return None
    if made and made[0].status == GrantStatus.APPROVED:
        grants_enqueue_issue(made)
    return made[0] if made else None


# --- Budget and stock ----------------------------------------------------------------------


def budget_reserve_units(*, rule: RewardRule, unit_minor: int, units: int,
                         now: datetime) -> int:
    """Commit budget for up to `units` grants of `unit_minor` each; return how many fit.

    Precondition: in a transaction. Takes the budget row's lock (SELECT ... FOR UPDATE) to
    read the room left, then moves it with a conditional UPDATE (belt and braces).
    """
    month = month_start(now)
    limit = rule.monthly_budget_minor
    RuleBudget.objects.get_or_create(rule=rule, month=month,
                                     defaults={"currency": rule.currency, "limit_minor": limit})
    row = RuleBudget.objects.select_for_update().get(rule=rule, month=month)
    if row.limit_minor != limit:  # the rule's budget was edited this month: latest wins
        row.limit_minor = limit
        RuleBudget.objects.filter(pk=row.pk).update(limit_minor=limit)
    if limit is None:
        return units
    fit = min(units, max(0, (limit - row.committed_minor) // unit_minor))
    if fit == 0:
        return 0
    amount = fit * unit_minor
    moved = RuleBudget.objects.filter(
        pk=row.pk, committed_minor__lte=limit - amount,
    ).update(committed_minor=F("committed_minor") + amount)
    return fit if moved == 1 else 0


def budget_release(*, rule_id: int, month: date | None, amount_minor: int) -> None:
    """Give back budget committed for a grant that was revoked or never made."""
    if month is None or amount_minor <= 0:
        return
    RuleBudget.objects.filter(rule_id=rule_id, month=month,
                              committed_minor__gte=amount_minor).update(
        committed_minor=F("committed_minor") - amount_minor)


def perk_stock_reserve(*, perk_id: int) -> bool:
    """Take one unit of stock (unlimited when stock is empty). False if none is left."""
    if Perk.objects.filter(pk=perk_id, stock__isnull=True).exists():
        return True
    return Perk.objects.filter(pk=perk_id, stock__gt=0).update(stock=F("stock") - 1) == 1


def perk_stock_release(*, perk_id: int) -> None:
    Perk.objects.filter(pk=perk_id, stock__isnull=False).update(stock=F("stock") + 1)


# --- Moving grants -------------------------------------------------------------------------


def grants_enqueue_issue(grants: Collection[RewardGrant]) -> None:
    """After commit, queue the approved grants for issuing (codes and messages), in chunks."""
    ids = [g.pk for g in grants if g.status == GrantStatus.APPROVED]
    for start in range(0, len(ids), ISSUE_CHUNK):
        chunk = ids[start:start + ISSUE_CHUNK]

        # A def binding this chunk now (mypy cannot type a lambda's default argument).
        def issue(chunk: list[int] = chunk) -> None:
            grants_approved.send(sender=RewardGrant, grant_ids=chunk)

        transaction.on_commit(issue)


def grant_approve(*, grant_id: int, user: StaffUser | None = None) -> RewardGrant:
    """pending_approval → approved (finance or fraud review passed); queues the issue."""
    now = timezone.now()
    with transaction.atomic():
        moved = grant_transition(
            [grant_id], from_=(GrantStatus.PENDING_APPROVAL,), to=GrantStatus.APPROVED,
            approved_at=now,
            approved_by=user if user is not None and user.is_authenticated else None)
        grant = RewardGrant.objects.get(pk=grant_id)
        if not moved:
            raise GrantError(f"Grant #{grant_id} is {grant.get_status_display()}, not pending.")
        grants_enqueue_issue([grant])
    return grant


REVOCABLE = (GrantStatus.PENDING_APPROVAL, GrantStatus.APPROVED, GrantStatus.ISSUED,
             GrantStatus.DELIVERED)


def grant_revoke(*, grant_id: int, reason: str, user: StaffUser | None = None
                 ) -> RewardGrant:
    """Revoke a grant not yet redeemed: releases its budget and perk stock, and after commit
    queues the switch-off of its Stripe promotion code (`grant_code_deactivate`).

    A code already given out stays in the ledger (finance sees it was revoked); a local code
    is refused at the till from now on (`code_redeem` checks the grant's status).
    """
    now = timezone.now()
    with transaction.atomic():
        grant = RewardGrant.objects.select_for_update().get(pk=grant_id)
        if grant.status not in REVOCABLE:
            raise GrantError(f"Grant #{grant_id} is {grant.get_status_display()}.")
        grant_transition([grant_id], from_=REVOCABLE, to=GrantStatus.REVOKED, closed_at=now,
                         review_reasons=[*grant.review_reasons, f"revoked: {reason}"])
        grant.refresh_from_db(fields=["status", "closed_at", "review_reasons"])
        budget_release(rule_id=grant.rule_id, month=grant.budget_month,
                       amount_minor=grant.cost_minor)
        if grant.perk_id:
            cancelled = PerkFulfilment.objects.filter(
                grant=grant, status=PerkFulfilment.Status.GRANTED).update(
                status=PerkFulfilment.Status.CANCELLED, updated_at=now)
            if cancelled:
                perk_stock_release(perk_id=grant.perk_id)
        if grant.reward_kind == RewardKind.DISCOUNT:
            # Robust: a broker outage must not undo the revocation; the housekeeping sweep
            # (grants_revoked_code_active_ids) switches the code off later.
            transaction.on_commit(lambda: grant_code_revoked.send(sender=RewardGrant,
                                                                  grant_id=grant_id),
                                  robust=True)
    return grant


# What a failure to switch a code off leaves on the grant; the sweep skips those (retrying
# a permanent error every minute helps nobody) until a person clears it.
DEACTIVATE_ERROR = "switching the promotion code off: "


def grant_code_deactivate(*, grant_id: int, now: datetime | None = None) -> bool:
    """Switch off at Stripe the promotion code of a revoked grant, once; True if Stripe was
    called now.

    Precondition: none; a grant that is not revoked, has a local code, or whose code is
    already switched off is left alone (False). The call happens outside any transaction and
    `stripe_deactivated_at` is set by a conditional UPDATE afterwards, so a retry after a
    crash calls Stripe again with the same idempotency key, which is harmless. Raises
    `stripe_client.StripeTransientError` (the task retries) or `StripePermanentError` (kept
    on the grant's `last_error` for a person).
    """
    now = now or timezone.now()
    code = (DiscountCode.objects.filter(
        grant_id=grant_id, grant__status=GrantStatus.REVOKED, provider=CodeProvider.STRIPE,
        stripe_promotion_code_id__isnull=False, stripe_deactivated_at__isnull=True).first())
    promotion_code_id = code.stripe_promotion_code_id if code is not None else None
    if code is None or not promotion_code_id:
        return False
    try:
        stripe_client.promotion_code_deactivate(
            grant_id=grant_id, promotion_code_id=promotion_code_id)
    except stripe_client.StripePermanentError as exc:
        RewardGrant.objects.filter(pk=grant_id).update(
            last_error=f"{DEACTIVATE_ERROR}{exc}"[:2000])
        raise
    DiscountCode.objects.filter(pk=code.pk, stripe_deactivated_at__isnull=True).update(
        stripe_deactivated_at=now)
    return True


def grants_revoked_code_active_ids(*, older_than: timedelta = timedelta(minutes=5),
                                   limit: int = 500) -> list[int]:
    """Revoked grants whose Stripe promotion code is still on (a lost task, or a code that
    Stripe created while the grant was being revoked); the sweep queues them again."""
    cutoff = timezone.now() - older_than
    return list(DiscountCode.objects.filter(
        grant__status=GrantStatus.REVOKED, grant__closed_at__lt=cutoff,
        provider=CodeProvider.STRIPE, stripe_promotion_code_id__isnull=False,
        stripe_deactivated_at__isnull=True).exclude(
        grant__last_error__startswith=DEACTIVATE_ERROR)
        .values_list("grant_id", flat=True)[:limit])


def grants_mark_delivered(*, now: datetime | None = None) -> int:
    """Periodic: issued grants whose reward message was sent become delivered."""
    now = now or timezone.now()
    ids = list(RewardGrant.objects.filter(status=GrantStatus.ISSUED, outreach__status="sent")
               .values_list("id", "advocate_id", "outreach__sent_at"))
    done = 0
    for grant_id, advocate_id, sent_at in ids:
        with transaction.atomic():
            if grant_transition([grant_id], from_=(GrantStatus.ISSUED,),
                                to=GrantStatus.DELIVERED, delivered_at=sent_at or now):
                done += 1
                # From now on the brand's reshares of their posts disclose the reward.
                advocate_reward_received(advocate_id=advocate_id, at=sent_at or now)
    return done


def grants_expire_due(*, now: datetime | None = None) -> int:
    """Periodic: unredeemed codes past their expiry close as expired."""
    now = now or timezone.now()
    return grant_transition(None, from_=(GrantStatus.ISSUED, GrantStatus.DELIVERED),
                            to=GrantStatus.EXPIRED, where={"expires_at__lt": now}, closed_at=now)

