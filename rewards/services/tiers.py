"""Tiers: which tier each advocate is in, from points over each tier's window.

A change is written twice: a `TierChange` row (append-only history, for reports) and the
advocate's `AdvocateTier` row (the current tier, for fast reads). Callers hold the ledger
lock or run alone (the periodic demotion), so two evaluations of one advocate do not race.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from django.db import transaction
from django.db.models import Q, QuerySet, Sum
from django.utils import timezone

from advocates.sql import ids_in
from rewards.models import AdvocateTier, PointsEntry, Tier, TierChange


@dataclass(frozen=True, slots=True)
class TierMove:
    advocate_id: int
    from_tier: Tier | None
    to_tier: Tier | None
    points: int

    @property
    def promoted(self) -> bool:
        return self.to_tier is not None and (
            self.from_tier is None or self.to_tier.threshold > self.from_tier.threshold)


def tier_points(*, advocate_ids: Collection[int], tiers: list[Tier],
                now: datetime) -> dict[int, dict[int | None, int]]:
    """Points per advocate per window (window days, or None for lifetime): one GROUP BY."""
    windows = {t.window_days for t in tiers}
    aggregates = {}
    for w in windows:
        key = "lifetime" if w is None else f"w{w}"
        aggregates[key] = (Sum("points") if w is None else
                           Sum("points", filter=Q(occurred_at__gte=now - timedelta(days=w))))
    out: dict[int, dict[int | None, int]] = {a: dict.fromkeys(windows, 0) for a in advocate_ids}
    if not aggregates:
        return out
    # The stubs type each row from values() alone; the annotate(**aggregates) keys are dynamic.
    rows = cast("QuerySet[PointsEntry, dict[str, Any]]",
                # Spending (and its refunds) does not lower a tier: tiers measure advocacy.
                PointsEntry.objects.filter(advocate_id__any_ids=ids_in(advocate_ids),
                                           spend_key__isnull=True)
                .values("advocate_id").annotate(**aggregates).order_by())
    for row in rows:
        out[row["advocate_id"]] = {
            w: row["lifetime" if w is None else f"w{w}"] or 0 for w in windows}
    return out


def tier_for(points: dict[int | None, int], tiers: list[Tier]) -> Tier | None:
    """The highest tier whose threshold the advocate meets (tiers sorted by threshold)."""
    best = None
    for tier in tiers:
        if points.get(tier.window_days, 0) >= tier.threshold:
            best = tier
    return best


def tiers_apply(*, advocate_ids: Collection[int], now: datetime | None = None,
                reason_up: str = "points earned",
                reason_down: str = "points lapsed") -> list[TierMove]:
    """Re-evaluate these advocates' tiers; record and return every change.

    Precondition: the caller holds the ledger lock (or is the only evaluator) so the same
    advocate is not evaluated twice at once.
    """
    now = now or timezone.now()
    tiers = sorted(Tier.objects.filter(live=True), key=lambda t: t.threshold)
    ids = list(advocate_ids)
    if not ids:
        return []
    by_id = {t.pk: t for t in tiers}
    current = dict(AdvocateTier.objects.filter(advocate_id__any_ids=ids_in(ids))
                   .values_list("advocate_id", "tier_id"))
    points = tier_points(advocate_ids=ids, tiers=tiers, now=now) if tiers else {}
    moves: list[TierMove] = []
    for adv in ids:
        new = tier_for(points.get(adv, {}), tiers) if tiers else None
        old_id = current.get(adv)
        if (new.pk if new else None) == old_id:
            continue
        window = new.window_days if new else (by_id[old_id].window_days
                                              if old_id in by_id else None)
        moves.append(TierMove(adv, by_id.get(old_id) if old_id else None, new,
                              points.get(adv, {}).get(window, 0)))
    if not moves:
        return []
    with transaction.atomic():
        TierChange.objects.bulk_create([
            TierChange(advocate_id=m.advocate_id, from_tier=m.from_tier, to_tier=m.to_tier,
                       direction=TierChange.Direction.UP if m.promoted
                       else TierChange.Direction.DOWN, points=m.points,
                       reason=reason_up if m.promoted else reason_down, changed_at=now)
            for m in moves])
        AdvocateTier.objects.bulk_create(
            [AdvocateTier(advocate_id=m.advocate_id, tier=m.to_tier, points=m.points,
                          changed_at=now, evaluated_at=now) for m in moves],
            update_conflicts=True, unique_fields=["advocate"],
            update_fields=["tier", "points", "changed_at", "evaluated_at"])
    return moves


def tiers_demote_lapsed(*, now: datetime | None = None, chunk: int = 5000) -> int:
    """Periodic: re-check everyone holding a tier; demote those whose points lapsed.

    Only windowed tiers can lapse, so only their members are read. Returns the demotions.
    """
    now = now or timezone.now()
    windowed = list(Tier.objects.filter(live=True, window_days__isnull=False)
                    .values_list("id", flat=True))
    if not windowed:
        return 0
    ids = list(AdvocateTier.objects.filter(tier_id__in=windowed)
               .values_list("advocate_id", flat=True))
    demoted = 0
    for start in range(0, len(ids), chunk):
        moves = tiers_apply(advocate_ids=ids[start:start + chunk], now=now)
        demoted += sum(1 for m in moves if not m.promoted)
    return demoted
