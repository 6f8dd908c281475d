"""Every Stripe call Kansha makes, through the official SDK's `StripeClient` (v16).

This is the only module that imports `stripe`. The SDK's own network retries are off
(`max_network_retries=0`): our Celery task retries transient failures, and every write carries
an idempotency key derived from our row, so a retry can never create a second object.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import stripe
from django.conf import settings

from advocates.sql import JsonTooDeep, json_loads_bounded, json_storable

# Pinned so the shapes we parse (promotion codes' `promotion`, discounts) do not drift.
API_VERSION = stripe.api_version
REQUEST_TIMEOUT = 10.0
WEBHOOK_TOLERANCE = 300


class StripeTransientError(Exception):
    """Worth retrying with the same idempotency key: connection trouble, timeouts, 5xx, 429."""


class StripePermanentError(Exception):
    """Retrying will not help (bad request, auth, idempotency mismatch)."""


class SignatureError(Exception):
    """The webhook's signature or timestamp did not verify."""


class EventMalformed(Exception):
    """A webhook whose signature verified but whose body is not a Stripe event Kansha can
    store (not a JSON object, nested too deeply, an id or type missing or too long). It is
    acknowledged and stored as rejected: an error would make Stripe redeliver it for days."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# The columns an event's id and type are stored in (rewards.models.StripeEvent).
EVENT_ID_MAX, EVENT_TYPE_MAX = 191, 100


@dataclass(frozen=True)
class PromotionCodeResult:
    id: str
    code: str
    coupon_id: str
    expires_at: int | None


def enabled() -> bool:
    return bool(settings.STRIPE_API_KEY)


def _client() -> stripe.StripeClient:
    # Built in the call, so the dict is checked against the SDK's BaseAddresses TypedDict.
    return stripe.StripeClient(
        settings.STRIPE_API_KEY,
        base_addresses={"api": settings.STRIPE_API_BASE} if settings.STRIPE_API_BASE else None,
        max_network_retries=0,
        stripe_version=API_VERSION,
        http_client=stripe.RequestsClient(timeout=getattr(
            settings, "STRIPE_TIMEOUT_SECONDS", REQUEST_TIMEOUT)),
    )


def _call(fn, *args, **kwargs) -> Any:
    """Run one SDK call and sort its failure into transient or permanent."""
    try:
        return fn(*args, **kwargs)
    except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
        raise StripeTransientError(str(exc) or type(exc).__name__) from exc
    except stripe.StripeError as exc:
        status = getattr(exc, "http_status", None)
        if status is not None and (status >= 500 or status == 409):
            # 409: a concurrent request with the same idempotency key is still in flight.
            raise StripeTransientError(f"{status}: {exc.user_message or exc}") from exc
        raise StripePermanentError(f"{status}: {exc.user_message or exc}") from exc


def coupon_create(*, rule_id: int, version: str, percent_off: int | None,
                  amount_off_minor: int | None, currency: str, name: str) -> str:
    """Create the coupon behind one published revision of a rule; return its id.

    Idempotency key `coupon-rule-<id>-v<version>`: one coupon per rule revision, however many
    workers ask at once.
    """
    params: dict[str, Any] = {"duration": "once", "name": name[:40],
                              "metadata": {"kansha_rule": str(rule_id), "version": version}}
    if percent_off:
        params["percent_off"] = percent_off
    else:
        params["amount_off"] = amount_off_minor
        params["currency"] = currency
    coupon = _call(_client().v1.coupons.create, params=params,
                   options={"idempotency_key": f"coupon-rule-{rule_id}-v{version}"})
    return coupon.id


def promotion_code_create(*, grant_id: int, coupon_id: str, code: str, expires_at: datetime,
                          max_redemptions: int | None, customer: str = "",
                          minimum_amount_minor: int | None = None,
                          currency: str = "") -> PromotionCodeResult:
    """Create the promotion code of one grant (2025+ API: `promotion={type: coupon, ...}`).

    Precondition: `code` and `expires_at` are stored on our row first, so every retry sends
    identical parameters with the same idempotency key `grant-<id>-promo`.
    """
    params: dict[str, Any] = {
        "promotion": {"type": "coupon", "coupon": coupon_id},
        "code": code,
        "expires_at": int(expires_at.timestamp()),
        "metadata": {"kansha_grant": str(grant_id)},
    }
    if max_redemptions:
        params["max_redemptions"] = max_redemptions
    if customer:
        params["customer"] = customer
    if minimum_amount_minor:
        params["restrictions"] = {"minimum_amount": minimum_amount_minor,
                                  "minimum_amount_currency": currency}
    promo = _call(_client().v1.promotion_codes.create, params=params,
                  options={"idempotency_key": f"grant-{grant_id}-promo"})
    data = promo.to_dict()
    coupon = (data.get("promotion") or {}).get("coupon")
    if isinstance(coupon, dict):  # expanded
        coupon = coupon.get("id")
    return PromotionCodeResult(id=data["id"], code=data["code"], coupon_id=coupon or coupon_id,
                               expires_at=data.get("expires_at"))


def promotion_code_deactivate(*, grant_id: int, promotion_code_id: str) -> bool:
    """Switch a grant's promotion code off (`active=false`); return whether it is still active.

    Idempotency key `grant-<id>-promo-off`. Switching off twice is harmless, so a retry, or a
    second call after a lost reply, changes nothing.
    """
    promo = _call(_client().v1.promotion_codes.update, promotion_code_id,
                  params={"active": False},
                  options={"idempotency_key": f"grant-{grant_id}-promo-off"})
    return bool(promo.to_dict().get("active"))


@dataclass(frozen=True)
class InvoiceDiscount:
    id: str
    promotion_code: str | None


def invoice_discounts(*, invoice_id: str) -> list[InvoiceDiscount]:
    """The invoice's discounts with the promotion code behind each.

    A webhook's invoice lists its discounts as ids (`di_…`); the promotion code is on the
    discount object, so the invoice is read again with `expand[]=discounts`. A read: no
    idempotency key needed, and retrying it is always safe.
    """
    invoice = _call(_client().v1.invoices.retrieve, invoice_id,
                    params={"expand": ["discounts"]})
    out = []
    for d in invoice.to_dict().get("discounts") or []:
        if not isinstance(d, dict):  # not expanded after all (a deleted discount)
            continue
        promo = d.get("promotion_code")
        if isinstance(promo, dict):
            promo = promo.get("id")
        out.append(InvoiceDiscount(id=d["id"], promotion_code=promo or None))
    return out


# --- Reads for refunds, disputes and reconciliation ------------------------------------------
# Reads carry no idempotency key and are always safe to retry. Lists go through the SDK's
# auto-pagination (`starting_after` the last id while `has_more`), 100 objects a page.
PAGE_SIZE = 100  # Stripe's largest page; STRIPE_LIST_PAGE_SIZE overrides it (tests: 2)


def _plain(obj: Any) -> dict[str, Any]:
    """A StripeObject as plain JSON data (nested lists included)."""
    return json_storable(json.loads(str(obj)))


def _list_all(fn, params: dict[str, Any]) -> Iterator[dict[str, Any]]:
    limit = int(getattr(settings, "STRIPE_LIST_PAGE_SIZE", PAGE_SIZE))
    page = _call(fn, params={"limit": limit, **params})
    iterator = page.auto_paging_iter()
    while True:
        # Each further page is a request of its own: its failure is sorted like any call's.
        item = _call(next, iterator, None)
        if item is None:
            return
        yield _plain(item)


def charge_refunds(*, charge_id: str) -> list[dict[str, Any]]:
    """Every refund of a charge (`GET /v1/refunds?charge=…`, all pages)."""
    return list(_list_all(_client().v1.refunds.list, {"charge": charge_id}))


def charge_payment_intent(*, charge_id: str) -> str | None:
    """The PaymentIntent behind a charge (a refund or dispute may name only the charge)."""
    charge = _plain(_call(_client().v1.charges.retrieve, charge_id))
    value = charge.get("payment_intent")
    return (value.get("id") if isinstance(value, dict) else value) or None


@dataclass(frozen=True)
class PaymentOrders:
    """What a PaymentIntent paid for: Checkout sessions and invoices (our redemptions' keys)."""

    checkout_sessions: tuple[str, ...]
    invoices: tuple[str, ...]


def payment_intent_orders(*, payment_intent_id: str) -> PaymentOrders:
    """The Checkout sessions (`GET /v1/checkout/sessions?payment_intent=…`) and invoices
    (`GET /v1/invoice_payments?payment[type]=payment_intent&payment[payment_intent]=…`) a
    payment paid. How a refund or dispute finds the order a Kansha code was used on when the
    order's own event did not carry its PaymentIntent."""
    client = _client().v1
    sessions = [s["id"] for s in _list_all(client.checkout.sessions.list,
                                           {"payment_intent": payment_intent_id})]
    payments = _list_all(client.invoice_payments.list, {
        "payment": {"type": "payment_intent", "payment_intent": payment_intent_id}})
    invoices = [p["invoice"]["id"] if isinstance(p.get("invoice"), dict) else p.get("invoice")
                for p in payments]
    return PaymentOrders(tuple(sessions), tuple(i for i in invoices if i))


def _created(gte: datetime, lt: datetime) -> dict[str, int]:
    return {"gte": int(gte.timestamp()), "lt": int(lt.timestamp())}


def promotion_codes_list(*, created_from: datetime, created_to: datetime
                         ) -> Iterator[dict[str, Any]]:
    """Promotion codes created in [from, to), with `times_redeemed` and `active`."""
    return _list_all(_client().v1.promotion_codes.list,
                     {"created": _created(created_from, created_to)})


def _retrieve_or_none(fn, object_id: str, **kwargs: Any) -> dict[str, Any] | None:
    """One object, or None if Stripe has no such object (404)."""
    try:
        return _plain(_call(fn, object_id, **kwargs))
    except StripePermanentError as exc:
        if str(exc).startswith("404"):
            return None
        raise


def promotion_code_retrieve(*, promotion_code_id: str) -> dict[str, Any] | None:
    return _retrieve_or_none(_client().v1.promotion_codes.retrieve, promotion_code_id)


def checkout_session_retrieve(*, session_id: str) -> dict[str, Any] | None:
    return _retrieve_or_none(_client().v1.checkout.sessions.retrieve, session_id)


def invoice_retrieve(*, invoice_id: str) -> dict[str, Any] | None:
    return _retrieve_or_none(_client().v1.invoices.retrieve, invoice_id,
                             params={"expand": ["discounts"]})


def checkout_sessions_list(*, created_from: datetime, created_to: datetime
                           ) -> Iterator[dict[str, Any]]:
    """Completed Checkout sessions created in [from, to), with their discounts' promotion
    codes and `total_details.amount_discount`."""
    return _list_all(_client().v1.checkout.sessions.list,
                     {"created": _created(created_from, created_to), "status": "complete"})


def invoices_list(*, created_from: datetime, created_to: datetime) -> Iterator[dict[str, Any]]:
    """Paid invoices created in [from, to), discounts expanded (the promotion code is on the
    discount object) with `total_discount_amounts` per discount."""
    return _list_all(_client().v1.invoices.list,
                     {"created": _created(created_from, created_to), "status": "paid",
                      "expand": ["data.discounts"]})


def webhook_event_construct(*, payload: bytes, sig_header: str | None) -> dict[str, Any]:
    """Verify a webhook's signature on the raw body (300 s tolerance); return the event dict.

    Raises SignatureError for a missing, wrong or stale signature, or a body that is not
    UTF-8; EventMalformed for a verified body that is not an event Kansha can store.
    """
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        raise SignatureError("STRIPE_WEBHOOK_SECRET is not set")
    try:
        # The signature only: the SDK's construct_event then builds an Event from any JSON and
        # raised on a list body or deep nesting (500s, issue 17); the body is read below.
        stripe.WebhookSignature.verify_header(payload, sig_header, secret,
                                              tolerance=WEBHOOK_TOLERANCE)
    except stripe.SignatureVerificationError as exc:
        raise SignatureError(str(exc)) from exc
    except ValueError as exc:  # not UTF-8
        raise SignatureError(f"invalid payload: {exc}") from exc
    # The verified raw body, not event.to_dict(): the SDK's to_dict() leaves StripeObjects
    # inside nested lists (e.g. [[{...}]]), which then fail to store as JSON and answer 500
    # to every redelivery (found by tests/reliability/test_bad_input.py).
    try:
        data = json_loads_bounded(payload)
    except JsonTooDeep as exc:
        raise EventMalformed(str(exc)) from exc
    except ValueError as exc:
        raise EventMalformed("body is not JSON") from exc
    if not isinstance(data, dict):
        raise EventMalformed("body is not a JSON object")
    event_id, event_type = data.get("id"), data.get("type")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= EVENT_ID_MAX:
        raise EventMalformed(f"id must be a string of 1 to {EVENT_ID_MAX} characters")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= EVENT_TYPE_MAX:
        raise EventMalformed(f"type must be a string of 1 to {EVENT_TYPE_MAX} characters")
    return data


def webhook_signature_header(*, payload: bytes, secret: str, timestamp: int) -> str:
    """The `Stripe-Signature` header Stripe would send (for tests and local replays)."""
    signed = stripe.WebhookSignature._compute_signature(
        f"{timestamp}.{payload.decode()}", secret)
    return f"t={timestamp},v1={signed}"
