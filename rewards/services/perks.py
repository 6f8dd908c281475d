"""Perk fulfilment: granted → shipped → delivered → redeemed, or cancelled (stock released)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from wagtail.log_actions import log

from rewards.models import GrantStatus, PerkFulfilment, RewardGrant
from rewards.services.grants import GrantError, perk_stock_release

S = PerkFulfilment.Status
NEXT = {S.GRANTED: {S.SHIPPED, S.DELIVERED, S.REDEEMED, S.CANCELLED},
        S.SHIPPED: {S.DELIVERED, S.REDEEMED, S.CANCELLED},
        S.DELIVERED: {S.REDEEMED},
        S.REDEEMED: set(), S.CANCELLED: set()}


def perk_fulfilment_update(*, fulfilment_id: int, status: str, notes: str = "",
                           user=None) -> PerkFulfilment:
    """Move a perk's fulfilment forward (with a note). Cancelling releases the reserved unit
    of stock and revokes the grant; redeeming marks the grant redeemed. Audited."""
    now = timezone.now()
    with transaction.atomic():
        f = PerkFulfilment.objects.select_for_update().get(pk=fulfilment_id)
        if status == f.status:
            return f
        if status not in NEXT.get(f.status, set()):
            raise GrantError(f"A perk that is {f.get_status_display()} cannot become {status}.")
        previous = f.status
        f.status, f.updated_at = status, now
        if notes:
            f.notes = (f.notes + "\n" if f.notes else "") + f"{now:%Y-%m-%d %H:%M} {notes}"
        f.save(update_fields=["status", "updated_at", "notes"])
        if status == S.CANCELLED:
            perk_stock_release(perk_id=f.perk_id)
            RewardGrant.objects.filter(pk=f.grant_id).exclude(
                status__in=(GrantStatus.REDEEMED, GrantStatus.REVOKED)).update(
                status=GrantStatus.REVOKED, closed_at=now)
        elif status == S.REDEEMED:
            RewardGrant.objects.filter(pk=f.grant_id).exclude(
                status__in=(GrantStatus.REDEEMED, GrantStatus.REVOKED)).update(
                status=GrantStatus.REDEEMED, redeemed_at=now)
        log(instance=f, action="kansha.perk.fulfilment", user=user,
            data={"from": previous, "to": status, "notes": notes})
    return f
