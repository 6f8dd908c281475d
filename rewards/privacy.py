"""The rewards side of personal-data export, erasure and retention (a privacy provider).

`advocates.services.privacy` calls these through `settings.KANSHA_PRIVACY_PROVIDERS`, inside
its own transaction, so one erasure covers both apps. Finance rows are never deleted: grants,
codes, redemptions and points keep their amounts and stay linked to the same `Advocate` row,
which erasure renames to a pseudonym. Redemption totals per currency are therefore identical
before and after an erasure (tests/reliability/test_privacy.py checks it).

The entry points for callers (commands, admin actions) are
`advocates.services.privacy.advocate_export` / `advocate_erase`, which call the functions
below with the ids of the advocate and of every advocate merged into it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import Q

from rewards.models import (
    AdvocateTier,
    DiscountCode,
    FraudFlag,
    PerkFulfilment,
    PointsEntry,
    Redemption,
    RewardGrant,
    StripeCustomer,
    StripeEvent,
    TierChange,
)


def _rows(queryset) -> list[dict[str, Any]]:
    return list(queryset.order_by("pk").values())


def advocate_export(*, advocate_ids: Sequence[int]) -> dict[str, Any]:
    """Points, tiers, grants, codes, redemptions, perk fulfilments and fraud flags."""
    grants = RewardGrant.objects.filter(advocate_id__in=advocate_ids)
    return {
        "points": _rows(PointsEntry.objects.filter(advocate_id__in=advocate_ids)),
        "tier": _rows(AdvocateTier.objects.filter(advocate_id__in=advocate_ids)),
        "tier_changes": _rows(TierChange.objects.filter(advocate_id__in=advocate_ids)),
        "grants": _rows(grants),
        "codes": _rows(DiscountCode.objects.filter(grant__in=grants)),
        "redemptions": _rows(Redemption.objects.filter(advocate_id__in=advocate_ids)),
        "perk_fulfilments": _rows(PerkFulfilment.objects.filter(
            Q(grant__in=grants) | Q(points_entry__advocate_id__in=advocate_ids))),
        "fraud_flags": _rows(FraudFlag.objects.filter(advocate_id__in=advocate_ids)),
        "stripe_customer": _rows(StripeCustomer.objects.filter(advocate_id__in=advocate_ids)),
    }


def advocate_erase(*, advocate_ids: Sequence[int], pseudonym: str) -> dict[str, int]:
    """Blank the personal bits; keep every amount under the (already renamed) advocate.

    - the advocate → Stripe customer link (it names a customer) is deleted, so no later
      code is restricted to that customer;
    - codes: the Stripe customer id (it links to a named customer) is cleared; the code,
      discount and counts stay (finance reconciles against them);
    - grants: the last error (may quote a platform response naming the person) is cleared;
    - perk fulfilments: notes (shipping details) are cleared;
    - fraud flags: their detail (may hold handles or texts) is cleared;
    - redemptions: the Stripe customer id is cleared; amounts stay.
    Points carry no personal text and stay as they are.
    """
    grants = RewardGrant.objects.filter(advocate_id__in=advocate_ids)
    customers, _ = StripeCustomer.objects.filter(advocate_id__in=advocate_ids).delete()
    return {
        "stripe_customers": customers,
        "codes": DiscountCode.objects.filter(grant__in=grants).update(stripe_customer_id=""),
        "grants": grants.update(last_error=""),
        "perk_fulfilments": PerkFulfilment.objects.filter(
            Q(grant__in=grants) | Q(points_entry__advocate_id__in=advocate_ids)).update(notes=""),
        "fraud_flags": FraudFlag.objects.filter(advocate_id__in=advocate_ids).update(detail={}),
        "redemptions_kept": Redemption.objects.filter(advocate_id__in=advocate_ids)
        .update(stripe_customer_id=""),
    }


def raw_payloads_purge(*, cutoff: datetime) -> dict[str, int]:
    """Processed Stripe event payloads (they hold customer e-mails and names) older than cutoff.

    The event row, its id (the replay guard) and outcome stay; only the payload goes.
    """
    return {"stripe_events": StripeEvent.objects.filter(
        received_at__lt=cutoff, processed_at__isnull=False).exclude(payload={})
        .update(payload={})}
