"""Perk fulfilment: granted → shipped → delivered → redeemed, or cancelled (stock released)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone
from wagtail.log_actions import log

from rewards import codes
from rewards.models import GrantStatus, PerkFulfilment, RewardGrant
from rewards.services.grant_states import GRANT_OPEN, grant_transition
from rewards.services.grants import GrantError, StaffUser, budget_release, perk_stock_release
from rewards.services.redemptions import CodeState
from rewards.services.spending import points_refund

S = PerkFulfilment.Status
# Keyed by the stored status (a str, as Status members are), so any row's status looks up.
NEXT: dict[str, set[str]] = {
    S.GRANTED: {S.SHIPPED, S.DELIVERED, S.REDEEMED, S.CANCELLED},
    S.SHIPPED: {S.DELIVERED, S.REDEEMED, S.CANCELLED},
    S.DELIVERED: {S.REDEEMED},
    S.REDEEMED: set(), S.CANCELLED: set()}


def perk_fulfilment_update(*, fulfilment_id: int, status: str, notes: str = "",
                           user: StaffUser | None = None) -> PerkFulfilment:
    """Move a perk's fulfilment forward (with a note). Cancelling releases the reserved unit
    of stock, revokes the grant and gives its cost back to the rule's monthly budget;
    redeeming marks the grant redeemed. A perk bought with points has no grant; cancelling
    it gives the points back. Audited.

    Locks the grant, then the fulfilment: the order `grant_revoke` takes them in, so the two
    never deadlock, and whichever revokes the grant first is the one that releases its
    budget (a conditional UPDATE on the grant's status decides it).
    """
    now = timezone.now()
    with transaction.atomic():
        grant_id = PerkFulfilment.objects.values_list("grant_id", flat=True).get(
            pk=fulfilment_id)
        # A perk bought with points has no grant: only its fulfilment row to lock.
        grant = (RewardGrant.objects.select_for_update().get(pk=grant_id)
                 if grant_id is not None else None)
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
        if grant is None:
            if status == S.CANCELLED:
                points_refund(fulfilment=f, now=now)
        elif status == S.CANCELLED:
            revoked = grant_transition([grant.pk], from_=GRANT_OPEN, to=GrantStatus.REVOKED,
                                       closed_at=now)
            if revoked:
                budget_release(rule_id=grant.rule_id, month=grant.budget_month,
                               amount_minor=grant.cost_minor)
        elif status == S.REDEEMED:
            grant_transition([grant.pk], from_=GRANT_OPEN, to=GrantStatus.REDEEMED,
                             redeemed_at=now)
        log(instance=f, action="kansha.perk.fulfilment", user=user,
            data={"from": previous, "to": status, "notes": notes})
    return f


@dataclass(frozen=True)
class VoucherCheck:
    """A perk voucher as the till sees it: VALID (granted, shipped or delivered), USED
    (already handed over) or REVOKED (cancelled); the perk, and a first name to greet."""

    state: CodeState
    fulfilment: PerkFulfilment
    first_name: str


def perk_voucher_check(*, code: str) -> VoucherCheck | None:
    """Look a typed or scanned perk voucher up (reads only); None if no voucher matches."""
    found = (PerkFulfilment.objects
             .select_related("perk", "grant__advocate", "points_entry__advocate")
             .alias(key=codes.code_key("voucher")).filter(key=codes.code_normalise(code))
             .first())
    if found is None:
        return None
    state = {str(S.REDEEMED): CodeState.USED, str(S.CANCELLED): CodeState.REVOKED}.get(
        found.status, CodeState.VALID)
    # From a rule's grant, or bought with points (the spend's entry).
    source = found.grant if found.grant is not None else found.points_entry
    name = (source.advocate.display_name if source is not None else "").split()
    return VoucherCheck(state, found, name[0] if name else "")


def perk_voucher_redeem(*, code: str, user: StaffUser | None = None) -> PerkFulfilment:
    """Hand the perk over at the till: its fulfilment becomes redeemed (audited). A second
    tap for the same voucher changes nothing more. Raises GrantError, changing nothing, for
    an unknown, used or cancelled voucher."""
    check = perk_voucher_check(code=code)
    if check is None:
        raise GrantError("Unknown voucher.")
    if check.state != CodeState.VALID:
        raise GrantError(f"This voucher is {check.fulfilment.get_status_display()}.")
    return perk_fulfilment_update(fulfilment_id=check.fulfilment.pk, status=S.REDEEMED,
                                  notes="handed over at the till", user=user)
