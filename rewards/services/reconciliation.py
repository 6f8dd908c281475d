"""Reconciliation: Kansha's discount codes, grants and redemptions against Stripe.

For a range of UTC days, Stripe's promotion codes (`times_redeemed`, `active`), completed
Checkout sessions and paid invoices are read through the SDK's list endpoints (auto-paginated)
and compared with ours. Each object compared becomes a `ReconciliationItem`:

- **matched**: both sides agree;
- **missing on our side**: Stripe holds it and Kansha does not (a webhook never arrived, a
  promotion code created at Stripe whose reply was lost);
- **missing at Stripe**: Kansha holds it and Stripe does not (looked up by id before it is
  called missing, so an object created just outside the range is not);
- **amount differences**: both hold it and an amount, a currency, a use count or the active
  flag differ (the item says which, and keeps both sides as they were read).

Only reads: nothing at Stripe or in our ledger changes. A run records what it found; finance
reads it in the admin (Reports › Reconciliation) and drills into each item.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from rewards import stripe_client
from rewards.models import (
    CodeProvider,
    DiscountCode,
    GrantStatus,
    ReconciliationItem,
    ReconciliationRun,
    Redemption,
    RedemptionSource,
    RewardGrant,
    RewardKind,
)

logger = logging.getLogger(__name__)

Kind = ReconciliationItem.Kind
ObjectType = ReconciliationItem.ObjectType


class ReconciliationError(Exception):
    """The run cannot start (Stripe is not configured, a bad range); the message says why."""


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _id(value: Any) -> str:
    if isinstance(value, dict):
        return str(value.get("id") or "")
    return str(value or "")


@dataclass
class _Found:
    """The items of a run, collected before they are written in one go."""

    items: list[ReconciliationItem] = field(default_factory=list)

    def add(self, kind: str, object_type: str, *, stripe_id: str = "", detail: str = "",
            code: DiscountCode | None = None, grant_id: int | None = None,
            redemption: Redemption | None = None, currency: str = "",
            ours: dict[str, Any] | None = None, theirs: dict[str, Any] | None = None) -> None:
        self.items.append(ReconciliationItem(
            kind=kind, object_type=object_type, stripe_id=stripe_id[:191], detail=detail[:300],
            code=code, grant_id=grant_id or (code.grant_id if code else None)
            or (redemption.grant_id if redemption else None),
            redemption=redemption, currency=currency[:3], ours=ours or {},
            theirs=theirs or {}))


# --- Promotion codes and grants ------------------------------------------------------------


def _code_ours(code: DiscountCode, used: int) -> dict[str, Any]:
    grant = code.grant
    return {"code": code.code, "grant": code.grant_id, "grant_status": grant.status,
            "times_redeemed": used, "active": _expected_active(code),
            "created_at": code.created_at.isoformat()}


def _expected_active(code: DiscountCode) -> bool:
    # Kansha switches a code off at Stripe only when its grant is revoked; an expired code
    # stays `active` at Stripe (its expires_at is what refuses it there).
    return code.grant.status != GrantStatus.REVOKED and code.stripe_deactivated_at is None


def _theirs_promo(promo: dict[str, Any]) -> dict[str, Any]:
    return {k: promo.get(k) for k in ("id", "code", "active", "times_redeemed", "created",
                                      "expires_at", "metadata")}


def _compare_code(found: _Found, code: DiscountCode, used: int, promo: dict[str, Any]) -> None:
    differences = []
    if int(promo.get("times_redeemed") or 0) != used:
        differences.append(f"times_redeemed: Stripe {promo.get('times_redeemed')}, "
                           f"Kansha {used} redemption(s)")
    if bool(promo.get("active")) != _expected_active(code):
        differences.append(f"active: Stripe {bool(promo.get('active'))}, Kansha expects "
                           f"{_expected_active(code)} (grant {code.grant.status})")
    found.add(Kind.AMOUNT_DIFF if differences else Kind.MATCHED, ObjectType.PROMOTION_CODE,
              stripe_id=_id(promo), detail="; ".join(differences), code=code,
              currency=code.currency, ours=_code_ours(code, used), theirs=_theirs_promo(promo))


def _promotion_codes(found: _Found, start: datetime, end: datetime) -> set[str]:
    """Compare promotion codes; return every Kansha promotion code id (for the orders)."""
    theirs = {p["id"]: p for p in stripe_client.promotion_codes_list(
        created_from=start, created_to=end) if (p.get("metadata") or {}).get("kansha_grant")}
    ours_in_range = DiscountCode.objects.filter(
        provider=CodeProvider.STRIPE, created_at__gte=start, created_at__lt=end,
        stripe_promotion_code_id__isnull=False).values_list("stripe_promotion_code_id",
                                                             flat=True)
    codes = {c.stripe_promotion_code_id: c for c in
             DiscountCode.objects.select_related("grant").filter(
                 stripe_promotion_code_id__in={*theirs, *(p for p in ours_in_range if p)})
             if c.stripe_promotion_code_id}
    used = dict(Redemption.objects.filter(code__in=list(codes.values())).values("code_id")
                .annotate(n=Count("id")).values_list("code_id", "n"))
    for promo_id, promo in theirs.items():
        code = codes.get(promo_id)
        if code is None:
            grant_ref = str(promo["metadata"]["kansha_grant"])
            grant = (RewardGrant.objects.filter(pk=int(grant_ref)).first()
                     if grant_ref.isdigit() else None)
            known = DiscountCode.objects.filter(grant=grant).first() if grant else None
            found.add(Kind.MISSING_OURS, ObjectType.PROMOTION_CODE, stripe_id=promo_id,
                      grant_id=grant.pk if grant else None, theirs=_theirs_promo(promo),
                      detail=f"Stripe holds a promotion code for grant #{grant_ref} that "
                      "Kansha has no record of" + (
                          f" (Kansha's code for it is {known.code})" if known else ""))
            continue
        _compare_code(found, code, used.get(code.pk, 0), promo)
    for promo_id, code in codes.items():
        if promo_id in theirs:
            continue
        held = stripe_client.promotion_code_retrieve(promotion_code_id=promo_id)
        if held is None:
            found.add(Kind.MISSING_STRIPE, ObjectType.PROMOTION_CODE, stripe_id=promo_id,
                      code=code, currency=code.currency,
                      ours=_code_ours(code, used.get(code.pk, 0)),
                      detail=f"Stripe has no promotion code {promo_id}")
        else:
            _compare_code(found, code, used.get(code.pk, 0), held)
    # Grants that should hold a Stripe code and hold none.
    bare = RewardGrant.objects.filter(
        created_at__gte=start, created_at__lt=end, reward_kind=RewardKind.DISCOUNT,
        status__in=(GrantStatus.ISSUED, GrantStatus.DELIVERED, GrantStatus.REDEEMED),
        code__isnull=True)
    for grant in bare:
        found.add(Kind.MISSING_STRIPE, ObjectType.PROMOTION_CODE, grant_id=grant.pk,
                  currency=grant.currency, ours={"grant": grant.pk, "status": grant.status},
                  detail=f"Grant #{grant.pk} is {grant.status} but has no promotion code")
    return {p for p in DiscountCode.objects.filter(provider=CodeProvider.STRIPE)
            .values_list("stripe_promotion_code_id", flat=True) if p}


# --- Orders: Checkout sessions and invoices ------------------------------------------------


@dataclass(frozen=True)
class _Order:
    """One Stripe order line that used one Kansha code: what our Redemption should hold."""

    object_type: str
    order_id: str
    promo_id: str
    amount_minor: int | None
    discount_minor: int | None
    currency: str
    raw: dict[str, Any]

    @property
    def source(self) -> str:
        return (RedemptionSource.STRIPE_CHECKOUT if self.object_type == ObjectType.CHECKOUT_SESSION
                else RedemptionSource.STRIPE_INVOICE)

    @property
    def source_id(self) -> str:
        return f"{self.order_id}:{self.promo_id}"


def _session_orders(session: dict[str, Any], promos: set[str]) -> list[_Order]:
    ids = [_id(d.get("promotion_code")) for d in session.get("discounts") or []
           if isinstance(d, dict)]
    mine = [p for p in ids if p in promos]
    discount = (session.get("total_details") or {}).get("amount_discount")
    raw = {k: session.get(k) for k in ("id", "amount_total", "currency", "created",
                                       "payment_intent", "payment_status")}
    raw["amount_discount"] = discount
    return [_Order(ObjectType.CHECKOUT_SESSION, session["id"], p, session.get("amount_total"),
                   discount if i == 0 else 0, session.get("currency") or "", raw)
            for i, p in enumerate(mine)]


def _invoice_orders(invoice: dict[str, Any], promos: set[str]) -> list[_Order]:
    per_discount: dict[str, int] = {}
    for tda in invoice.get("total_discount_amounts") or []:
        key = _id(tda.get("discount"))
        per_discount[key] = per_discount.get(key, 0) + int(tda.get("amount") or 0)
    raw = {k: invoice.get(k) for k in ("id", "amount_paid", "currency", "created", "status")}
    out = []
    for d in invoice.get("discounts") or []:
        if not isinstance(d, dict):
            continue
        promo = _id(d.get("promotion_code"))
        if promo in promos:
            out.append(_Order(ObjectType.INVOICE, invoice["id"], promo,
                              invoice.get("amount_paid", invoice.get("total")),
                              per_discount.get(_id(d), 0), invoice.get("currency") or "", raw))
    return out


def _redemption_ours(r: Redemption) -> dict[str, Any]:
    return {"redemption": r.pk, "source_id": r.source_id, "order_amount_minor":
            r.order_amount_minor, "discount_minor": r.discount_minor, "currency": r.currency,
            "redeemed_at": r.redeemed_at.isoformat(), "grant": r.grant_id}


def _compare_order(found: _Found, order: _Order, redemption: Redemption | None) -> None:
    if redemption is None:
        found.add(Kind.MISSING_OURS, order.object_type, stripe_id=order.order_id,
                  currency=order.currency, theirs=order.raw,
                  code=DiscountCode.objects.filter(stripe_promotion_code_id=order.promo_id).first(),
                  detail=f"Stripe's {order.order_id} used Kansha's code {order.promo_id}; "
                  "Kansha recorded no redemption")
        return
    differences = []
    if (redemption.currency or "") != order.currency:
        differences.append(f"currency: Stripe {order.currency}, Kansha {redemption.currency}")
    if redemption.order_amount_minor != order.amount_minor:
        differences.append(f"order amount: Stripe {order.amount_minor}, "
                           f"Kansha {redemption.order_amount_minor}")
    if (redemption.discount_minor or 0) != (order.discount_minor or 0):
        differences.append(f"discount: Stripe {order.discount_minor}, "
                           f"Kansha {redemption.discount_minor}")
    found.add(Kind.AMOUNT_DIFF if differences else Kind.MATCHED, order.object_type,
              stripe_id=order.order_id, redemption=redemption, currency=order.currency,
              detail="; ".join(differences), ours=_redemption_ours(redemption),
              theirs=order.raw)


def _orders(found: _Found, start: datetime, end: datetime, promos: set[str]) -> None:
    orders: list[_Order] = []
    for session in stripe_client.checkout_sessions_list(created_from=start, created_to=end):
        orders += _session_orders(session, promos)
    for invoice in stripe_client.invoices_list(created_from=start, created_to=end):
        orders += _invoice_orders(invoice, promos)
    keys = {(o.source, o.source_id) for o in orders}
    ours = {(r.source, r.source_id): r for r in Redemption.objects.filter(
        source__in=(RedemptionSource.STRIPE_CHECKOUT, RedemptionSource.STRIPE_INVOICE),
        source_id__in=[sid for _, sid in keys])}
    for order in orders:
        _compare_order(found, order, ours.get((order.source, order.source_id)))
    # Our orders of the range that Stripe's lists did not show: asked for one by one.
    mine = Redemption.objects.filter(
        source__in=(RedemptionSource.STRIPE_CHECKOUT, RedemptionSource.STRIPE_INVOICE),
        redeemed_at__gte=start, redeemed_at__lt=end).exclude(
        pk__in=[r.pk for r in ours.values()])
    for redemption in mine:
        _order_missing_check(found, redemption, promos)


def _order_missing_check(found: _Found, redemption: Redemption, promos: set[str]) -> None:
    order_id, _, promo = redemption.source_id.partition(":")
    if redemption.source == RedemptionSource.STRIPE_CHECKOUT:
        obj = stripe_client.checkout_session_retrieve(session_id=order_id)
        lines = _session_orders(obj, promos) if obj and obj.get("status") == "complete" else []
        object_type = ObjectType.CHECKOUT_SESSION
    else:
        obj = stripe_client.invoice_retrieve(invoice_id=order_id)
        lines = _invoice_orders(obj, promos) if obj and obj.get("status") == "paid" else []
        object_type = ObjectType.INVOICE
    line = next((o for o in lines if o.promo_id == promo), None)
    if line is None:
        state = ("does not exist" if obj is None else
                 f"is {obj.get('status')} without Kansha's code {promo}")
        found.add(Kind.MISSING_STRIPE, object_type, stripe_id=order_id, redemption=redemption,
                  currency=redemption.currency, ours=_redemption_ours(redemption),
                  theirs=obj or {}, detail=f"Kansha recorded a redemption; at Stripe {order_id} "
                  f"{state}")
        return
    _compare_order(found, line, redemption)


# --- The run -------------------------------------------------------------------------------


def stripe_reconcile(*, date_from: date, date_to: date, trigger: str = "command"
                     ) -> ReconciliationRun:
    """Compare Kansha with Stripe for the UTC days `date_from`..`date_to` (inclusive) and store
    the run and its items; return the run.

    Raises ReconciliationError (nothing stored) when Stripe is not configured or the range is
    backwards. A Stripe failure mid-run marks the run failed with the error (and re-raises
    StripeTransientError so a task can retry); items are written only for a complete run.
    """
    if not stripe_client.enabled():
        raise ReconciliationError("Stripe is not configured (STRIPE_API_KEY is not set): "
                                  "there is nothing to reconcile with.")
    if date_to < date_from:
        raise ReconciliationError(f"The end date {date_to} is before the start {date_from}.")
    start, end = _day_start(date_from), _day_start(date_to + timedelta(days=1))
    run = ReconciliationRun.objects.create(date_from=date_from, date_to=date_to,
                                           trigger=trigger[:20])
    found = _Found()
    try:
        promos = _promotion_codes(found, start, end)
        _orders(found, start, end, promos)
    except Exception as exc:
        ReconciliationRun.objects.filter(pk=run.pk).update(
            status=ReconciliationRun.Status.FAILED, finished_at=timezone.now(),
            error=f"{type(exc).__name__}: {exc}"[:2000])
        raise
    counts: dict[str, int] = dict.fromkeys(Kind.values, 0)
    for item in found.items:
        item.run = run
        counts[item.kind] += 1
    with transaction.atomic():
        ReconciliationItem.objects.bulk_create(found.items, batch_size=1000)
        ReconciliationRun.objects.filter(pk=run.pk).update(
            status=ReconciliationRun.Status.DONE, finished_at=timezone.now(), counts=counts)
    run.refresh_from_db()
    logger.info("reconciliation #%s %s..%s: %s", run.pk, date_from, date_to, counts)
    return run


def stripe_reconcile_recent(*, trigger: str = "beat") -> ReconciliationRun | None:
    """The daily run (`reconciliation_daily_range`); None when Stripe is not configured (the
    embedded demo), which is not an error for a scheduled task."""
    if not stripe_client.enabled():
        return None
    date_from, date_to = reconciliation_daily_range()
    return stripe_reconcile(date_from=date_from, date_to=date_to, trigger=trigger)


def reconciliation_daily_range(*, today: date | None = None, days: int = 3
                               ) -> tuple[date, date]:
    """The days the daily run compares: the last `days` whole UTC days. Webhooks can arrive
    hours late (Stripe retries for three days), so each day is compared three times and the
    latest run is the one finance reads."""
    today = today or timezone.now().date()
    return today - timedelta(days=days), today - timedelta(days=1)

