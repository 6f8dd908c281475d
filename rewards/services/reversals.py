"""Refunds and disputes: Stripe events → `RedemptionReversal` rows, appended, never edits.

An order paid with a Kansha code is a `Redemption` (revenue and discount, gross). When Stripe
refunds or disputes the payment, the order's redemptions each get a reversal that takes back
the refunded share: the order revenue refunded, and the same share of the discount (a full
refund takes back the whole discount). A refund that fails or is cancelled, and a dispute
that is won, put it back with a reversal of opposite sign. Reports show gross, reversed and
net (gross minus reversals); the redemption rows never change.

How a refund finds its redemptions: the charge's PaymentIntent, stored on the redemption when
the Checkout session or invoice event carried it; otherwise Stripe is asked which Checkout
sessions and invoices that PaymentIntent paid (`stripe_client.payment_intent_orders`), and the
redemptions are found by those ids. Those reads happen before the event's row lock (the
PREPARE step of `redemptions.stripe_event_process`).

Points: `RewardsSettings.refund_points_clawback` decides whether the advocate whose code was
used loses the points of the act that earned the reward (all of them on a full refund or a
dispute, or the refunded share); a put-back returns them. One points entry per reversal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from django.db import transaction
from django.db.models import Q, Sum
from django.utils import timezone

from rewards import stripe_client
from rewards.currencies import MoneyError, amount_clean, currency_clean
from rewards.models import (
    ClawbackPolicy,
    PointsEntry,
    Redemption,
    RedemptionReversal,
    RedemptionSource,
    ReversalKind,
    RewardGrant,
    RewardsSettings,
    StripeEvent,
)

logger = logging.getLogger(__name__)

# Refund statuses: Stripe counts a pending refund as refunded already.
REFUND_TAKEN = ("succeeded", "pending", "requires_action")
REFUND_UNDONE = ("failed", "canceled")
# Disputes that are inquiries only (no funds withdrawn yet).
INQUIRY = ("warning_needs_response", "warning_under_review", "warning_closed")
# Reversals that take money back, and the kind that puts each back.
PUT_BACK = {ReversalKind.REFUND: ReversalKind.REFUND_FAILED,
            ReversalKind.DISPUTE: ReversalKind.DISPUTE_WON}

# A Stripe event handler: the event row and its object (JSON) → the outcome text.
StripeHandler = Callable[[StripeEvent, dict[str, Any]], str]

LINKS_KEY = "_kansha_orders"  # what PREPARE adds to the event's object


def _id(value: object) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


def _at(ts: object) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC) if isinstance(ts, int) and ts > 0 else timezone.now()


# --- Finding the redemptions of a payment ----------------------------------------------------


def reversal_links_prepare(obj: dict[str, Any]) -> dict[str, Any]:
    """The refund, charge or dispute with the order ids its payment paid, read from Stripe
    when no redemption holds its PaymentIntent (PREPARE: before the event's row lock).

    Raises StripeTransientError (the task retries) or StripePermanentError.
    """
    payment_intent = _id(obj.get("payment_intent"))
    charge = _id(obj.get("charge")) if obj.get("object") != "charge" else _id(obj.get("id"))
    if payment_intent and Redemption.objects.filter(
            stripe_payment_intent_id=payment_intent).exists():
        return obj
    if not stripe_client.enabled():
        return obj  # nothing to ask; the handler says no redemption was found
    if not payment_intent and charge:
        payment_intent = stripe_client.charge_payment_intent(charge_id=charge) or ""
    orders = (stripe_client.payment_intent_orders(payment_intent_id=payment_intent)
              if payment_intent else stripe_client.PaymentOrders((), ()))
    return {**obj, LINKS_KEY: {"payment_intent": payment_intent,
                               "checkout_sessions": list(orders.checkout_sessions),
                               "invoices": list(orders.invoices)}}


def charge_refunds_prepare(obj: dict[str, Any]) -> dict[str, Any]:
    """A `charge.refunded` charge with every refund listed: payloads since API 2022-11-15 do
    not include `refunds`, and a long list is paginated, so Stripe is asked for them."""
    obj = reversal_links_prepare(obj)
    listed = obj.get("refunds") if isinstance(obj.get("refunds"), dict) else None
    if listed is not None and not listed.get("has_more") and listed.get("data") is not None:
        return obj
    if not stripe_client.enabled() or not obj.get("id"):
        return obj
    return {**obj, "refunds": {"object": "list", "has_more": False,
                               "data": stripe_client.charge_refunds(charge_id=obj["id"])}}


def redemptions_of_payment(obj: dict[str, Any]) -> list[Redemption]:
    """The redemptions of the order(s) this refund/charge/dispute paid for."""
    links = obj.get(LINKS_KEY) or {}
    payment_intent = _id(obj.get("payment_intent")) or links.get("payment_intent") or ""
    query = Q()
    if payment_intent:
        query |= Q(stripe_payment_intent_id=payment_intent)
    for session in links.get("checkout_sessions") or []:
        query |= Q(source=RedemptionSource.STRIPE_CHECKOUT, source_id__startswith=f"{session}:")
    for invoice in links.get("invoices") or []:
        query |= Q(source=RedemptionSource.STRIPE_INVOICE, source_id__startswith=f"{invoice}:")
    if not query:
        return []
    return list(Redemption.objects.filter(query).order_by("id"))


# --- Recording ---------------------------------------------------------------------------------


def _taken(redemption: Redemption) -> tuple[int, int]:
    """(order revenue, discount) net reversed so far for this redemption."""
    sums = RedemptionReversal.objects.filter(redemption=redemption).aggregate(
        order=Sum("order_amount_minor"), discount=Sum("discount_minor"))
    return sums["order"] or 0, sums["discount"] or 0


def reversal_record(*, redemption: Redemption, kind: str, source_id: str, amount_minor: object,
                    currency: str, at: datetime, stripe_event: StripeEvent | None = None
                    ) -> tuple[RedemptionReversal | None, bool]:
    """Take back (refund, dispute) `amount_minor` of a redemption's order; return (row,
    created). A second call for the same (redemption, kind, source) changes nothing.

    The order revenue taken back is capped at what is left of the order; the discount taken
    back is the same share of the discount, counted cumulatively so that rounding never leaves
    a cent behind (a full refund takes back exactly the discount). Raises MoneyError for an
    amount or currency no door accepts. Returns (None, False) when there is nothing to take
    back (an order without amounts, or one already fully reversed).
    """
    currency = currency_clean(currency)
    amount = amount_clean(amount_minor, currency, field="amount", allow_zero=True)
    with transaction.atomic():
        # The redemption's row lock serialises reversals of one order (two events at once).
        redemption = Redemption.objects.select_for_update().get(pk=redemption.pk)
        existing = RedemptionReversal.objects.filter(
            redemption=redemption, kind=kind, source_id=source_id).first()
        if existing is not None:
            return existing, False
        paid, discount = redemption.order_amount_minor, redemption.discount_minor or 0
        if not paid or redemption.currency != currency:
            return None, False
        taken_order, taken_discount = _taken(redemption)
        order = min(amount, paid - taken_order)
        if order <= 0:
            return None, False
        share = ((taken_order + order) * discount + paid // 2) // paid  # round half up
        row = RedemptionReversal.objects.create(
            redemption=redemption, kind=kind, source_id=source_id, order_amount_minor=order,
            discount_minor=share - taken_discount, currency=currency, reversed_at=at,
            stripe_event=stripe_event)
        points_clawback(reversal=row)
    return row, True


def reversal_put_back(*, redemption: Redemption, kind: str, source_id: str, at: datetime,
                      stripe_event: StripeEvent | None = None
                      ) -> tuple[RedemptionReversal | None, bool]:
    """Undo the reversal `kind`/`source_id` (a failed refund, a won dispute) with one of
    opposite sign, `PUT_BACK[kind]`; return (row, created). Nothing happens when there is
    nothing to undo; a second call changes nothing."""
    with transaction.atomic():
        redemption = Redemption.objects.select_for_update().get(pk=redemption.pk)
        taken = RedemptionReversal.objects.filter(redemption=redemption, kind=kind,
                                                  source_id=source_id).first()
        if taken is None:
            return None, False
        back_kind = PUT_BACK[ReversalKind(kind)]
        existing = RedemptionReversal.objects.filter(
            redemption=redemption, kind=back_kind, source_id=source_id).first()
        if existing is not None:
            return existing, False
        row = RedemptionReversal.objects.create(
            redemption=redemption, kind=back_kind, source_id=source_id,
            order_amount_minor=-taken.order_amount_minor,
            discount_minor=-taken.discount_minor, currency=taken.currency, reversed_at=at,
            stripe_event=stripe_event)
        points_clawback(reversal=row)
    return row, True


def points_clawback(*, reversal: RedemptionReversal) -> PointsEntry | None:
    """The points entry the clawback policy asks for this reversal, if any (in its caller's
    transaction). Takes back the points of the act that triggered the reward: all of them once
    the order is fully reversed ('full'), or the reversed share ('proportional'); a put-back
    returns what its reversal took. Entries are unique per reversal."""
    policy = RewardsSettings.load().refund_points_clawback
    if policy == ClawbackPolicy.NONE:
        return None
    redemption = reversal.redemption
    grant = RewardGrant.objects.filter(pk=redemption.grant_id).first()
    earned = PointsEntry.objects.filter(event_id=grant.trigger_event_id).first() if (
        grant is not None and grant.trigger_event_id) else None
    if earned is None or earned.points <= 0 or not redemption.order_amount_minor:
        return None
    if reversal.order_amount_minor < 0:  # a put-back: return what the original took
        original = PointsEntry.objects.filter(
            reversal__redemption=redemption, reversal__kind__in=list(PUT_BACK),
            reversal__source_id=reversal.source_id).first()
        points = -original.points if original is not None else 0
    else:
        taken_order, _ = _taken(redemption)
        already = -(PointsEntry.objects.filter(reversal__redemption=redemption)
                    .exclude(reversal=reversal).aggregate(p=Sum("points"))["p"] or 0)
        if policy == ClawbackPolicy.FULL:
            target = earned.points if taken_order >= redemption.order_amount_minor else 0
        else:
            target = earned.points * taken_order // redemption.order_amount_minor
        points = -max(0, target - already)
    if points == 0:
        return None
    return PointsEntry.objects.create(
        advocate_id=earned.advocate_id, reversal=reversal, kind="", platform=earned.platform,
        points=points, reason=(f"{reversal.get_kind_display()} {reversal.source_id}: "
                               f"{'points put back' if points > 0 else 'points taken back'}")[:200],
        occurred_at=reversal.reversed_at, day=reversal.reversed_at.date(),
        expires_at=earned.expires_at)


# --- Stripe event handlers (rewards.services.redemptions.HANDLERS) ---------------------------


def _each(redemptions: Iterable[Redemption],
          record: Callable[[Redemption], tuple[RedemptionReversal | None, bool]]
          ) -> tuple[int, int]:
    made = found = 0
    for redemption in redemptions:
        found += 1
        _, created = record(redemption)
        made += created
    return made, found


def _outcome(verb: str, made: int, found: int) -> str:
    if not found:
        return "no Kansha redemption for this payment"
    return f"{verb}: {made} new for {found} redemption(s)"


def _refund_apply(event: StripeEvent, refund: dict[str, Any], redemptions: list[Redemption]) -> int:
    """Record (or put back) one refund for each redemption; how many rows were written."""
    refund_id, status = _id(refund.get("id")), refund.get("status")
    if not refund_id:
        return 0
    at = _at(refund.get("created"))
    if status in REFUND_UNDONE:
        made, _ = _each(redemptions, lambda r: reversal_put_back(
            redemption=r, kind=ReversalKind.REFUND, source_id=refund_id,
            at=_at(event.payload.get("created")), stripe_event=event))
        return made
    if status not in REFUND_TAKEN:
        return 0
    amount = refund.get("amount")
    made, _ = _each(redemptions, lambda r: reversal_record(
        redemption=r, kind=ReversalKind.REFUND, source_id=refund_id, amount_minor=amount,
        currency=refund.get("currency") or "", at=at, stripe_event=event))
    return made


def _guarded(handler: StripeHandler) -> StripeHandler:
    """A refused currency or amount is the event's outcome (nothing recorded), not an error
    that retries forever."""
    def run(event: StripeEvent, obj: dict[str, Any]) -> str:
        try:
            return handler(event, obj)
        except MoneyError as exc:  # raised before any row of that call was written
            return f"refused: {exc}"
    run.__name__ = handler.__name__
    run.__doc__ = handler.__doc__
    return run


@_guarded
def charge_refunded(event: StripeEvent, obj: dict[str, Any]) -> str:
    """`charge.refunded`: each refund of the charge (listed by PREPARE) is a reversal."""
    redemptions = redemptions_of_payment(obj)
    if not redemptions:
        return _outcome("refunds", 0, 0)
    refunds = (obj.get("refunds") or {}).get("data")
    if refunds is None:
        return "refunds not listed (Stripe is not configured); waiting for refund.updated"
    made = sum(_refund_apply(event, refund, redemptions) for refund in refunds)
    return _outcome("refunds", made, len(redemptions))


@_guarded
def refund_updated(event: StripeEvent, obj: dict[str, Any]) -> str:
    """`refund.created` / `refund.updated`: record the refund, or put it back when it failed
    or was cancelled."""
    redemptions = redemptions_of_payment(obj)
    return _outcome(f"refund {obj.get('status')}", _refund_apply(event, obj, redemptions),
                    len(redemptions))


@_guarded
def dispute_created(event: StripeEvent, obj: dict[str, Any]) -> str:
    """`charge.dispute.created`: the disputed amount is withdrawn, so it is reversed now (an
    inquiry, which withdraws nothing, is ignored)."""
    if obj.get("status") in INQUIRY:
        return f"ignored: inquiry ({obj.get('status')})"
    redemptions = redemptions_of_payment(obj)
    made, found = _each(redemptions, lambda r: reversal_record(
        redemption=r, kind=ReversalKind.DISPUTE, source_id=_id(obj.get("id")),
        amount_minor=obj.get("amount"), currency=obj.get("currency") or "",
        at=_at(obj.get("created")), stripe_event=event))
    return _outcome("dispute", made, found)


@_guarded
def dispute_closed(event: StripeEvent, obj: dict[str, Any]) -> str:
    """`charge.dispute.closed`: won puts the money back; lost keeps the reversal (recorded
    now if the created event never arrived)."""
    status = obj.get("status")
    if status == "won":
        redemptions = redemptions_of_payment(obj)
        made, found = _each(redemptions, lambda r: reversal_put_back(
            redemption=r, kind=ReversalKind.DISPUTE, source_id=_id(obj.get("id")),
            at=_at(event.payload.get("created")), stripe_event=event))
        return _outcome("dispute won", made, found)
    if status == "lost":
        return dispute_created(event, {**obj, "status": "lost"})
    return f"ignored: dispute closed as {status}"

