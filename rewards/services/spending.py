"""Spending points on a perk, from the advocate's own page.

A spend is a negative points entry (the ledger stays the one place points move) plus a perk
fulfilment, with one unit of stock reserved. Lock order: the advocate's row, then the perk's
(its stock UPDATE). Earning only adds points, so the ledger batch needs no advocate lock.

A spend consumes the points that expire soonest (`points_lots`) and carries their expiry, so
it leaves the balance together with them: when they expire the balance drops by what was left
of them, never below zero. A spend that takes from lots with different expiries is written as
one entry per lot: the first carries the request's key, the others the key plus `/2`, `/3`…
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from wagtail.log_actions import log

from advocates.models import Advocate
from rewards.models import PerkFulfilment, PointsEntry
from rewards.selectors import perks_for_sale, points_lots
from rewards.services.grants import perk_stock_reserve


class SpendError(Exception):
    """Why a spend did not happen; `code` is one of UNKNOWN, OUT_OF_STOCK, NOT_ENOUGH,
    OPTED_OUT."""

    UNKNOWN = "unknown"
    OUT_OF_STOCK = "out_of_stock"
    NOT_ENOUGH = "not_enough"
    OPTED_OUT = "opted_out"

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Spend:
    entry: PointsEntry
    fulfilment: PerkFulfilment
    repeated: bool  # the same request came again (a double click): nothing new happened


def points_spend(*, advocate_id: int, perk_id: int, key: str,
                 now: datetime | None = None) -> Spend:
    """Spend the perk's points price for one unit of it, exactly once per `key`.

    Preconditions: `key` identifies the advocate's request (the page puts a fresh one in
    each form), so a double click or a retry sends the same key and gets the first answer.
    Effects, in one transaction: negative `PointsEntry` rows (one per lot consumed, each
    with its lot's expiry, marked with the key), one unit of stock reserved, a
    `PerkFulfilment` in "granted" for staff to ship.
    Raises SpendError with nothing changed if the advocate opted out, the perk is not for
    sale, out of stock, or costs more than the balance.

    The advocate's row lock serialises their spends, so two requests cannot both read the
    same balance and both spend it: the balance never goes below zero.
    """
    now = now or timezone.now()
    key = f"{advocate_id}:{key}"
    try:
        with transaction.atomic():
            advocate = (Advocate.objects.select_for_update().only("pk", "opted_out_at")
                        .get(pk=advocate_id))
            done = _repeat(advocate_id=advocate_id, key=key)
            if done is not None:
                return done
            if advocate.opted_out:
                # Opting out ends the programme for them; cancelled perks still refund.
                raise SpendError(SpendError.OPTED_OUT)
            perk = perks_for_sale().filter(pk=perk_id).first()
            if perk is None or perk.points_price is None:
                raise SpendError(SpendError.UNKNOWN)
            parts = _consume(points_lots(advocate_id=advocate_id, now=now), perk.points_price)
            if parts is None:
                raise SpendError(SpendError.NOT_ENOUGH)
            if not perk_stock_reserve(perk_id=perk.pk):
                raise SpendError(SpendError.OUT_OF_STOCK)
            entry, *_ = [PointsEntry.objects.create(
                advocate_id=advocate_id, points=-points,
                reason=f"spent on {perk.name}"[:200], occurred_at=now,
                day=now.astimezone(UTC).date(), expires_at=expires_at,
                spend_key=key if n == 1 else f"{key}/{n}", created_at=now)
                for n, (expires_at, points) in enumerate(parts, start=1)]
            fulfilment = PerkFulfilment.objects.create(points_entry=entry, perk=perk,
                                                      created_at=now, updated_at=now)
            log(instance=fulfilment, action="kansha.perk.fulfilment",
                data={"from": None, "to": fulfilment.status, "points": perk.points_price})
    except IntegrityError:
        # The same key committed between our lock and our insert (cannot happen while the
        # advocate lock is held, but the unique key is the guard that does not depend on it).
        done = _repeat(advocate_id=advocate_id, key=key)
        if done is None:
            raise
        return done
    return Spend(entry, fulfilment, repeated=False)


def _consume(lots: list[tuple[datetime | None, int]], price: int
             ) -> list[tuple[datetime | None, int]] | None:
    """The (expiry, points) taken from each lot, in order, to pay `price`; None if the lots
    do not add up to it."""
    parts = []
    for expires_at, available in lots:
        if price == 0:
            break
        taken = min(price, available)
        parts.append((expires_at, taken))
        price -= taken
    return parts if price == 0 else None


def _repeat(*, advocate_id: int, key: str) -> Spend | None:
    entry = (PointsEntry.objects.select_related("fulfilment")
             .filter(advocate_id=advocate_id, spend_key=key).first())
    if entry is None:
        return None
    return Spend(entry, entry.fulfilment, repeated=True)


def points_refund(*, fulfilment: PerkFulfilment, now: datetime) -> list[PointsEntry]:
    """Give back the points of a bought perk whose fulfilment was cancelled (at most once):
    one entry per part of the spend, with that part's expiry (points whose lot expired
    meanwhile come back already expired)."""
    spent = fulfilment.points_entry
    if spent is None:
        return []
    parts = PointsEntry.objects.filter(
        Q(pk=spent.pk) | Q(spend_key__startswith=f"{spent.spend_key}/"),
        advocate_id=spent.advocate_id).order_by("pk")
    return [PointsEntry.objects.get_or_create(
        spend_key=f"refund:{part.pk}",
        defaults={"advocate_id": part.advocate_id, "points": -part.points,
                  "reason": f"refund: {fulfilment.perk.name} cancelled"[:200],
                  "occurred_at": now, "day": now.astimezone(UTC).date(),
                  "expires_at": part.expires_at, "created_at": now})[0]
            for part in parts]
