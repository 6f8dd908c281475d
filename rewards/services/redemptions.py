"""Redemptions: Stripe webhook events and local (point-of-sale) code uses → `Redemption` rows.

A Redemption is unique per source object (a Checkout session, an invoice, a till's order
reference), so a replayed webhook or a retried request adds nothing. The code's row lock
serialises redemptions of one code.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from advocates.services.broker import broker_send_on_commit
from advocates.services.deadletters import (
    dead_letter_error,
    dead_letter_record,
    dead_letter_replayer_register,
    dead_letter_skip_keys,
)
from advocates.sql import json_storable, text_storable
from rewards import codes, stripe_client
from rewards.currencies import MoneyError, amount_clean, currency_clean, text_clean
from rewards.models import (
    DiscountCode,
    DiscountType,
    GrantStatus,
    Redemption,
    RedemptionSource,
    RewardGrant,
    StripeCustomer,
    StripeEvent,
)
from rewards.services import reversals
from rewards.services.grant_states import GRANT_OPEN, grant_transition
from rewards.signals import stripe_event_stored

logger = logging.getLogger(__name__)


class RedemptionError(Exception):
    """The code cannot be redeemed; the message says why (shown to the till or caller)."""


# --- Recording -----------------------------------------------------------------------------


def stripe_customer_learn(*, advocate_id: int, customer_id: str, source_id: str) -> bool:
    """Remember that this advocate pays as this Stripe customer; True if stored now.

    First wins, on both sides: an advocate already known keeps their customer, and a
    customer already known stays with their advocate (a code passed on to a friend must not
    restrict the advocate's next codes to the friend). Both columns are unique, so two
    workers learning at once store one row and the other insert is skipped.
    """
    if not customer_id.startswith("cus_"):
        return False
    if StripeCustomer.objects.filter(advocate_id=advocate_id).exists():
        return False
    StripeCustomer.objects.bulk_create(
        [StripeCustomer(advocate_id=advocate_id, customer_id=customer_id,
                        learned_from=source_id[:191])], ignore_conflicts=True)
    return StripeCustomer.objects.filter(advocate_id=advocate_id,
                                         customer_id=customer_id).exists()


def redemption_record(*, code: DiscountCode, source: str, source_id: str,
                      order_amount_minor: int | None, discount_minor: int | None,
                      currency: str, at: datetime, stripe_event: StripeEvent | None = None,
                      customer_id: str = "", payment_intent_id: str = ""
                      ) -> tuple[Redemption, bool]:
    """Record one use of `code`; return (row, created). A second call for the same source
    object returns the first row and changes nothing.

    A bare promotion-code count (no order yet) is a placeholder that the order's own event
    fills in later, so a use is never counted twice. Marks the grant redeemed. The Stripe
    customer who paid (`customer_id`, when the order names one) is remembered for the
    grant's advocate (`stripe_customer_learn`) and on the row. `payment_intent_id` is how a
    later refund or dispute of the order finds this row (services/reversals.py).
    """
    with transaction.atomic():
        code = DiscountCode.objects.select_for_update().get(pk=code.pk)
        existing = Redemption.objects.filter(source=source, source_id=source_id).first()
        if existing is not None:
            return existing, False
        row = None
        if source != RedemptionSource.STRIPE_PROMOTION_CODE:
            row = code.redemptions.filter(source=RedemptionSource.STRIPE_PROMOTION_CODE,
                                          order_amount_minor__isnull=True).first()
        grant = RewardGrant.objects.get(pk=code.grant_id)
        if row is not None:
            row.source, row.source_id = source, source_id
            row.order_amount_minor, row.discount_minor, row.currency = (
                order_amount_minor, discount_minor, currency)
            row.redeemed_at, row.stripe_event = at, stripe_event
            row.stripe_payment_intent_id = payment_intent_id[:191]
            row.stripe_customer_id = customer_id[:191]
            row.save()
        else:
            row = Redemption.objects.create(
                grant=grant, code=code, rule_id=grant.rule_id, advocate_id=grant.advocate_id,
                source=source, source_id=source_id, order_amount_minor=order_amount_minor,
                discount_minor=discount_minor, currency=currency, redeemed_at=at,
                stripe_event=stripe_event, stripe_payment_intent_id=payment_intent_id[:191],
                stripe_customer_id=customer_id[:191])
        used = code.redemptions.count()
        DiscountCode.objects.filter(pk=code.pk, times_redeemed__lt=used).update(
            times_redeemed=used)
        grant_transition([grant.pk], from_=GRANT_OPEN, to=GrantStatus.REDEEMED, redeemed_at=at)
        if customer_id:
            stripe_customer_learn(advocate_id=grant.advocate_id, customer_id=customer_id,
                                  source_id=source_id)
    return row, True


def _discount_for(code: DiscountCode, order_amount_minor: int) -> int:
    """The discount on an order, never more than the order itself (a code of 500 off an order
    of 300 takes 300; a percentage above 100 would take the whole order, not pay out)."""
    if code.discount_type == DiscountType.PERCENT:
        # Round half up to the minor unit, as a till would.
        discount = (order_amount_minor * (code.percent_off or 0) + 50) // 100
    else:
        discount = code.amount_off_minor or 0
    return max(0, min(discount, order_amount_minor))


class CodeState(StrEnum):
    """What a till is told about a code before the order is rung up."""

    VALID = "valid"
    UNKNOWN = "unknown"
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"
    NOT_ACTIVE = "not_active"  # its reward still waits for approval


def _refusal(code: DiscountCode, grant: RewardGrant, *, at: datetime,
             used: int) -> tuple[CodeState, str] | None:
    """Why this code cannot be used now, as (state, message), or None. One place for the till's
    check and the redemption itself, so what the till shows is what redeeming does."""
    if grant.status == GrantStatus.REVOKED:
        return CodeState.REVOKED, "This code is revoked."
    if grant.status == GrantStatus.PENDING_APPROVAL:
        return CodeState.NOT_ACTIVE, "This code is pending approval."
    if grant.status == GrantStatus.EXPIRED:
        return CodeState.EXPIRED, "This code is expired."
    if code.expires_at and code.expires_at < at:
        return CodeState.EXPIRED, f"This code expired on {code.expires_at:%Y-%m-%d}."
    if code.max_redemptions and used >= code.max_redemptions:
        return CodeState.USED, "This code was already used."
    return None


@dataclass(frozen=True)
class CodeCheck:
    """A code as the till sees it: its state and, when it exists, whose it is and what it
    gives. `first_name` only: the person at the till needs a name to greet, not more."""

    state: CodeState
    message: str
    code: DiscountCode | None = None
    first_name: str = ""
    last_used_at: datetime | None = None


def code_check(*, code: str, at: datetime | None = None) -> CodeCheck:
    """Look a typed or scanned code up without using it (reads only)."""
    at = at or timezone.now()
    try:
        text_clean(code, field="The code")
    except MoneyError as exc:
        return CodeCheck(CodeState.UNKNOWN, str(exc))
    found = (DiscountCode.objects.select_related("grant__advocate", "grant__perk")
             .alias(key=codes.code_key()).filter(key=codes.code_normalise(code)).first())
    if found is None:
        return CodeCheck(CodeState.UNKNOWN, "Unknown code.")
    redemptions = list(found.redemptions.order_by("-redeemed_at")
                       .values_list("redeemed_at", flat=True))
    refusal = _refusal(found, found.grant, at=at, used=len(redemptions))
    state, message = refusal or (CodeState.VALID, "Valid.")
    name = (found.grant.advocate.display_name or "").split()
    return CodeCheck(state, message, found, first_name=name[0] if name else "",
                     last_used_at=redemptions[0] if redemptions else None)


def code_redeem(*, code: str, order_amount_minor: int, currency: str, order_ref: str = "",
                at: datetime | None = None) -> tuple[Redemption, bool]:
    """Redeem a local code at a till or through the API; return (redemption, created).

    `order_amount_minor` is the order before the discount; the row stores what was paid and
    the discount. The same `order_ref` again returns the first redemption (a retried
    request). Raises RedemptionError (nothing changes) for an unknown, expired, used-up,
    revoked or wrong-currency code or an order below the minimum, and for input no door may
    store: a currency that is not ISO 4217, an amount outside its bounds
    (`KANSHA_MONEY_MAX_MAJOR`), a NUL or a lone surrogate in the code or the order reference.
    """
    at = at or timezone.now()
    try:
        text_clean(code, field="The code")
        text_clean(order_ref, field="The order reference")
        currency = currency_clean(currency)
        amount_clean(order_amount_minor, currency, field="The order amount")
    except MoneyError as exc:
        raise RedemptionError(str(exc)) from None
    # Matched on the key, not the text: a code typed without its dashes is the same code.
    found = DiscountCode.objects.select_related("grant").alias(key=codes.code_key()).filter(
        key=codes.code_normalise(code)).first()
    if found is None:
        raise RedemptionError("Unknown code.")
    source_id = order_ref.strip() or ""
    if source_id and (again := _order_redeemed(source_id, code_id=found.pk)) is not None:
        return again, False
    try:
        return _code_redeem_locked(found, source_id=source_id,
                                   order_amount_minor=order_amount_minor, currency=currency,
                                   at=at)
    except IntegrityError:
        # A concurrent retry of the same order with another code wrote the row first
        # (redemption_unique_source); answer as a retry would be answered.
        again = _order_redeemed(source_id, code_id=found.pk) if source_id else None
        if again is None:
            raise
        return again, False


def _order_redeemed(source_id: str, *, code_id: int) -> Redemption | None:
    """The redemption already recorded for this order reference, if any. Raises
    RedemptionError if the order used another code."""
    again = Redemption.objects.filter(source=RedemptionSource.LOCAL,
                                      source_id=source_id).first()
    if again is not None and again.code_id != code_id:
        raise RedemptionError(f"Order {source_id} already used another code.")
    return again


def _code_redeem_locked(found: DiscountCode, *, source_id: str, order_amount_minor: int,
                        currency: str, at: datetime) -> tuple[Redemption, bool]:
    with transaction.atomic():
        locked = DiscountCode.objects.select_for_update().get(pk=found.pk)
        # Checked again under the code's lock: concurrent retries of one order all passed the
        # check above before the first committed; they must get the first redemption, not
        # "already used" (the first one used the code up).
        if source_id and (again := _order_redeemed(source_id, code_id=found.pk)) is not None:
            return again, False
        grant = RewardGrant.objects.get(pk=locked.grant_id)
        used = locked.redemptions.count()
        refusal = _refusal(locked, grant, at=at, used=used)
        if refusal is not None:
            raise RedemptionError(refusal[1])
        if locked.discount_type == DiscountType.AMOUNT and locked.currency != currency:
            raise RedemptionError(f"This code is in {locked.currency.upper()}, "
                                  f"the order in {currency.upper()}.")
        if locked.minimum_order_minor and order_amount_minor < locked.minimum_order_minor and \
                locked.currency == currency:
            raise RedemptionError(f"The minimum order is {locked.minimum_order_minor}.")
        discount = _discount_for(locked, order_amount_minor)
        return redemption_record(
            code=locked, source=RedemptionSource.LOCAL,
            source_id=source_id or f"{locked.code}#{used + 1}",
            order_amount_minor=order_amount_minor - discount, discount_minor=discount,
            currency=currency, at=at)


# --- Stripe webhooks -----------------------------------------------------------------------


def stripe_event_store(*, payload: bytes, sig_header: str | None) -> tuple[StripeEvent, bool]:
    """Verify and store one webhook delivery; queue it after commit if it is new.

    Raises stripe_client.SignatureError (nothing stored) for a bad or stale signature.
    Returns (event row, created); a redelivered event id changes nothing. A verified body
    that is no storable event is stored as rejected (`stripe_event_reject`).
    """
    try:
        data = stripe_client.webhook_event_construct(payload=payload, sig_header=sig_header)
    except stripe_client.EventMalformed as exc:
        return stripe_event_reject(payload=payload, reason=exc.reason)
    try:
        with transaction.atomic():
            event = StripeEvent.objects.create(
                event_id=data["id"], type=data["type"], livemode=bool(data.get("livemode")),
                payload=data)
            # A broker outage must not answer Stripe 500 for a stored event: one warning, and
            # the stripe_events_sweep picks it up (tests/reliability/test_faults.py).
            broker_send_on_commit(lambda: stripe_event_stored.send(
                sender=StripeEvent, stripe_event_id=event.pk), what="Stripe events")
            return event, True
    except IntegrityError:
        return StripeEvent.objects.get(event_id=data["id"]), False


# How much of a rejected event's body is kept for an operator to look at.
REJECTED_BODY_CHARS = 200_000


def stripe_event_reject(*, payload: bytes, reason: str) -> tuple[StripeEvent, bool]:
    """Store a verified webhook body that is no storable event, already processed, with
    outcome "rejected" and the reason as its error; (row, created). Keyed by a hash of the
    body, so Stripe's redeliveries of it are duplicates. Precondition: the signature matched.
    """
    event_id = f"malformed:sha256:{hashlib.sha256(payload).hexdigest()}"
    text = text_storable(payload.decode("utf-8", errors="replace"))
    try:
        with transaction.atomic():
            return StripeEvent.objects.create(
                event_id=event_id, type="malformed", processed_at=timezone.now(),
                outcome="rejected", error=reason[:2000],
                payload={"rejected": reason, "text": text[:REJECTED_BODY_CHARS],
                         "truncated": len(text) > REJECTED_BODY_CHARS}), True
    except IntegrityError:
        return StripeEvent.objects.get(event_id=event_id), False


def _promo_id(value: str | dict[str, Any] | None) -> str | None:
    """An id, whether the field holds it or the expanded object."""
    if isinstance(value, dict):
        promo_id: str | None = value.get("id")
        return promo_id
    return value or None


def _codes_by_promo(ids: list[str]) -> dict[str, DiscountCode]:
    return {c.stripe_promotion_code_id: c for c in
            DiscountCode.objects.filter(stripe_promotion_code_id__in=ids)
            if c.stripe_promotion_code_id is not None}  # it matched one of `ids`


def _at(ts: int | None) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC) if ts else timezone.now()


def _money_refused(currency: object, **amounts: object) -> str:
    """Why Stripe's money cannot be recorded ('' if it can): the same ISO 4217 currencies and
    bounds as every other door (rewards/currencies.py). An amount Stripe left out is None and
    passes; the outcome on the event row says what was refused."""
    try:
        code = currency_clean(currency)
        for name, value in amounts.items():
            if value is not None:
                amount_clean(value, code, field=name, allow_zero=True)
    except MoneyError as exc:
        return f"refused: {exc}"
    return ""


def _checkout_completed(event: StripeEvent, obj: dict[str, Any]) -> str:
    if obj.get("payment_status") not in ("paid", "no_payment_required"):
        return f"ignored: payment_status {obj.get('payment_status')}"
    promos = [p for p in (_promo_id(d.get("promotion_code")) for d in obj.get("discounts") or [])
              if p]
    found = _codes_by_promo(promos)
    if not found:
        return "no Kansha promotion code"
    discount = (obj.get("total_details") or {}).get("amount_discount")
    refused = _money_refused(obj.get("currency"), amount_total=obj.get("amount_total"),
                             amount_discount=discount)
    if refused:
        return refused
    made = 0
    for i, promo in enumerate(p for p in promos if p in found):
        _, created = redemption_record(
            code=found[promo], source=RedemptionSource.STRIPE_CHECKOUT,
            source_id=f"{obj['id']}:{promo}", order_amount_minor=obj.get("amount_total"),
            discount_minor=discount if i == 0 else 0, currency=obj.get("currency", ""),
            at=_at(obj.get("created")), stripe_event=event,
            customer_id=_promo_id(obj.get("customer")) or "",
            payment_intent_id=_promo_id(obj.get("payment_intent")) or "")
        made += created
    return f"redemptions: {made} new of {len(found)}"


def _invoice_expand(obj: dict[str, Any]) -> dict[str, Any]:
    """The invoice with its discounts expanded, read from Stripe if the payload has ids.

    Webhook payloads list an invoice's discounts as ids (`di_…`), and the promotion code is
    only on the discount object. Runs before the event's row lock is taken (a network call
    must not hold it). Raises StripeTransientError (the task retries) or StripePermanentError.
    """
    discounts = obj.get("discounts") or []
    if all(isinstance(d, dict) for d in discounts) or not obj.get("id"):
        return obj
    if not stripe_client.enabled():
        return obj  # nothing to ask; the handler says the discounts were not expanded
    expanded = stripe_client.invoice_discounts(invoice_id=obj["id"])
    return {**obj, "discounts": [{"id": d.id, "object": "discount",
                                  "promotion_code": d.promotion_code} for d in expanded]}


def _invoice_paid(event: StripeEvent, obj: dict[str, Any]) -> str:
    # Discounts arrive expanded (see _invoice_expand); expanded ones carry promotion_code.
    # Keyed by discount id; an amount whose discount has no id is kept under None.
    per_discount: dict[str | None, int] = {}
    for tda in obj.get("total_discount_amounts") or []:
        d = tda.get("discount")
        key = d.get("id") if isinstance(d, dict) else d
        per_discount[key] = per_discount.get(key, 0) + (tda.get("amount") or 0)
    pairs = []
    for d in obj.get("discounts") or []:
        if isinstance(d, dict) and d.get("promotion_code"):
            pairs.append((d.get("id"), _promo_id(d["promotion_code"])))
    if not pairs:
        return "no promotion code on the invoice (discounts not expanded or none)"
    # None (an expanded code without an id) would never match: `__in` drops it anyway.
    found = _codes_by_promo([p for _, p in pairs if p is not None])
    if not found:
        return "no Kansha promotion code"
    refused = _money_refused(obj.get("currency"),
                             amount_paid=obj.get("amount_paid", obj.get("total")),
                             **{f"discount {k}": v for k, v in per_discount.items()})
    if refused:
        return refused
    made = 0
    for discount_id, promo in pairs:
        if promo not in found:
            continue
        _, created = redemption_record(
            code=found[promo], source=RedemptionSource.STRIPE_INVOICE,
            source_id=f"{obj['id']}:{promo}",
            order_amount_minor=obj.get("amount_paid", obj.get("total")),
            discount_minor=per_discount.get(discount_id, 0), currency=obj.get("currency", ""),
            at=_at((obj.get("status_transitions") or {}).get("paid_at") or obj.get("created")),
            stripe_event=event, customer_id=_promo_id(obj.get("customer")) or "",
            payment_intent_id=_invoice_payment_intent(obj))
        made += created
    return f"redemptions: {made} new of {len(found)}"


def _invoice_payment_intent(obj: dict[str, Any]) -> str:
    """The PaymentIntent that paid an invoice: from its `payments` (API 2025-03-31 and later;
    the first paid one) or the older top-level `payment_intent`."""
    payments = (obj.get("payments") or {}).get("data") if isinstance(obj.get("payments"),
                                                                     dict) else None
    for payment in payments or []:
        intent = _promo_id(((payment or {}).get("payment") or {}).get("payment_intent"))
        if intent and payment.get("status") in (None, "paid"):
            return intent
    return _promo_id(obj.get("payment_intent")) or ""


def _promotion_code_updated(event: StripeEvent, obj: dict[str, Any]) -> str:
    code = DiscountCode.objects.filter(stripe_promotion_code_id=obj.get("id")).first()
    if code is None:
        return "no Kansha promotion code"
    times = int(obj.get("times_redeemed") or 0)
    made = 0
    # Uses Stripe counted that no order event has told us about yet become placeholders.
    for n in range(code.redemptions.count() + 1, times + 1):
        _, created = redemption_record(
            code=code, source=RedemptionSource.STRIPE_PROMOTION_CODE,
            source_id=f"{code.stripe_promotion_code_id}#{n}", order_amount_minor=None,
            discount_minor=None, currency="", at=_at(event.payload.get("created")),
            stripe_event=event)
        made += created
    DiscountCode.objects.filter(pk=code.pk, times_redeemed__lt=times).update(
        times_redeemed=times)
    return f"times_redeemed {times}; placeholders: {made}"


HANDLERS: dict[str, Callable[[StripeEvent, dict[str, Any]], str]] = {
    "checkout.session.completed": _checkout_completed,
    "checkout.session.async_payment_succeeded": _checkout_completed,
    "invoice.paid": _invoice_paid,
    "promotion_code.updated": _promotion_code_updated,
    # Refunds and disputes append reversals (services/reversals.py).
    "charge.refunded": reversals.charge_refunded,
    "refund.created": reversals.refund_updated,
    "refund.updated": reversals.refund_updated,
    "charge.dispute.created": reversals.dispute_created,
    "charge.dispute.closed": reversals.dispute_closed,
}
# Reads from Stripe that a handler needs, done before the event's lock is taken.
PREPARE: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "invoice.paid": _invoice_expand,
    "charge.refunded": reversals.charge_refunds_prepare,
    "refund.created": reversals.reversal_links_prepare,
    "refund.updated": reversals.reversal_links_prepare,
    "charge.dispute.created": reversals.reversal_links_prepare,
    "charge.dispute.closed": reversals.reversal_links_prepare,
}


def stripe_event_process(*, stripe_event_id: int) -> str:
    """Run the handler for one stored event, once; record its outcome on the row.

    Unknown types are acknowledged and ignored. A failure (a handler's, or a Stripe read's:
    `stripe_client.StripeTransientError` is retried by the task) rolls the work back, is
    recorded on the row (error, attempts) and re-raised; the row stays unprocessed until a
    run succeeds.
    """
    try:
        event = StripeEvent.objects.get(pk=stripe_event_id)
        if event.processed_at is not None:
            return event.outcome
        obj = (event.payload.get("data") or {}).get("object") or {}
        prepare = PREPARE.get(event.type)
        if prepare is not None:
            obj = prepare(obj)
        with transaction.atomic():
            event = StripeEvent.objects.select_for_update().get(pk=stripe_event_id)
            if event.processed_at is not None:
                return event.outcome
            handler = HANDLERS.get(event.type)
            if handler is None:
                outcome = f"ignored: {event.type}"
            else:
                outcome = handler(event, obj)
            StripeEvent.objects.filter(pk=event.pk).update(
                processed_at=timezone.now(), outcome=outcome[:300], error="",
                attempts=F("attempts") + 1)
    except Exception as exc:
        StripeEvent.objects.filter(pk=stripe_event_id).update(
            attempts=F("attempts") + 1, error=f"{type(exc).__name__}: {exc}"[:2000])
        if not isinstance(exc, stripe_client.StripeTransientError):
            # It will fail the same way next time: set it aside so the sweep stops retrying
            # it, for an operator to fix (edit the payload), replay or discard.
            payload = (StripeEvent.objects.filter(pk=stripe_event_id)
                       .values_list("payload", flat=True).first())
            dead_letter_record(task=STRIPE_EVENT_TASK, key=stripe_event_id,
                               payload={"stripe_event_id": stripe_event_id,
                                        "payload": payload or {}},
                               error=dead_letter_error(exc))
        raise
    return outcome


STRIPE_EVENT_TASK = "stripe_event"


def stripe_event_replay(payload: dict[str, Any]) -> str:
    """Replay a "stripe_event" dead letter: store the (possibly fixed) payload on the event,
    then process it once. Raises if it still fails."""
    event_id = int(payload["stripe_event_id"])
    if isinstance(payload.get("payload"), dict) and payload["payload"]:
        StripeEvent.objects.filter(pk=event_id, processed_at__isnull=True).update(
            payload=json_storable(payload["payload"]))
    return stripe_event_process(stripe_event_id=event_id)


dead_letter_replayer_register(STRIPE_EVENT_TASK, stripe_event_replay)


def stripe_events_unprocessed_ids(*, limit: int = 500) -> list[int]:
    """Stored events still unprocessed a few minutes later (their task was lost), except those
    set aside as dead letters."""
    cutoff = timezone.now() - timedelta(minutes=2)
    set_aside = [int(k) for k in dead_letter_skip_keys(task=STRIPE_EVENT_TASK)]
    return list(StripeEvent.objects.filter(processed_at__isnull=True, received_at__lt=cutoff)
                .exclude(pk__in=set_aside).values_list("id", flat=True)[:limit])
