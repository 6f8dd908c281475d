"""Dual control by person: a money change goes live only when a finance approver who did not
make it approves it, superusers included.

Rules, tiers and perks use Wagtail's workflow ("Money change approval", whose task is
`rewards.models.FinanceApprovalTask`). Points settings and manual points adjustments are not
revisioned content, so they are held here as `PointsSettingsChange` and `PointsAdjustment`
rows and decided by the functions below. Each decision takes the row lock, so two approvers
clicking at once decide it once.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rewards.models import (
    ChangeStatus,
    MoneyChangeRequest,
    PointsAdjustment,
    PointsEntry,
    PointsSettingsChange,
    RewardsSettings,
)


class ApprovalError(Exception):
    """A decision that may not be taken (by this person, or any more); nothing was changed."""


def approver_check(*, maker_id: int | None, user: Any, permission: str) -> None:
    """Refuse an approver who lacks the permission or who made the change (superusers too)."""
    if not user.has_perm(permission):
        raise ApprovalError(_("Only finance approves money changes."))
    if maker_id is not None and user.pk == maker_id:
        raise ApprovalError(_("You made this change: another finance approver must approve "
                              "it."))


def _decide(change: MoneyChangeRequest, *, user: Any, approve: bool, note: str) -> None:
    change.status = ChangeStatus.APPROVED if approve else ChangeStatus.REJECTED
    change.decided_by = user
    change.decided_at = timezone.now()
    change.decision_note = note[:300]
    change.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])


# --- Points settings -------------------------------------------------------------------------


def points_settings_change_propose(*, values: dict[str, Any], user: Any
                                   ) -> PointsSettingsChange | None:
    """Hold new points values for a finance approver. A pending change made earlier is
    replaced (its status becomes superseded): finance approves the latest wish, whole.
    Returns None when the values equal the live ones."""
    with transaction.atomic():
        live = RewardsSettings.load()
        before = live.points_values()
        after = {**before, **{k: v for k, v in values.items()
                              if k in RewardsSettings.POINTS_FIELDS}}
        if after == before:
            return None
        PointsSettingsChange.objects.select_for_update().filter(
            status=ChangeStatus.PENDING).update(status=ChangeStatus.SUPERSEDED,
                                                decided_at=timezone.now())
        return PointsSettingsChange.objects.create(before=before, after=after, made_by=user)


def points_settings_change_decide(*, change_id: int, user: Any, approve: bool,
                                  note: str = "") -> PointsSettingsChange:
    """Approve (the new values go live) or reject a pending points settings change.

    Refused, changing nothing: a decided change, an approver without
    `rewards.change_pointssettingschange` or who made it, and (on approval) live values that
    moved since the change was made."""
    with transaction.atomic():
        change = PointsSettingsChange.objects.select_for_update().get(pk=change_id)
        if change.status != ChangeStatus.PENDING:
            raise ApprovalError(_("This change was already decided (%(status)s).")
                                % {"status": change.get_status_display()})
        approver_check(maker_id=change.made_by_id, user=user,
                       permission="rewards.change_pointssettingschange")
        if approve:
            live = RewardsSettings.objects.select_for_update().get(pk=RewardsSettings.load().pk)
            if live.points_values() != change.before:
                raise ApprovalError(_("The points settings changed after this change was "
                                      "made; ask for a new one."))
            for name, value in change.after.items():
                setattr(live, name, value)
            live.full_clean()
            live.save(update_fields=list(RewardsSettings.POINTS_FIELDS))
        _decide(change, user=user, approve=approve, note=note)
    return change


# --- Manual points adjustments ---------------------------------------------------------------


def points_adjustment_create(*, advocate_id: int, points: int, reason: str, user: Any
                             ) -> PointsAdjustment:
    """Ask for points to be added or taken back; nothing reaches the ledger until a finance
    approver who is not `user` approves it."""
    adjustment = PointsAdjustment(advocate_id=advocate_id, points=points, reason=reason,
                                  made_by=user)
    adjustment.full_clean()
    adjustment.save()
    return adjustment


def points_adjustment_decide(*, adjustment_id: int, user: Any, approve: bool,
                             note: str = "") -> PointsAdjustment:
    """Approve (one ledger entry is appended, expiring like earned points) or reject.

    Refused, changing nothing: a decided adjustment, an approver without
    `rewards.change_pointsadjustment` or who asked for it. The advocate's tier follows at the
    next evaluation (their next act, or the periodic lapse check)."""
    with transaction.atomic():
        adjustment = PointsAdjustment.objects.select_for_update().get(pk=adjustment_id)
        if adjustment.status != ChangeStatus.PENDING:
            raise ApprovalError(_("This adjustment was already decided (%(status)s).")
                                % {"status": adjustment.get_status_display()})
        approver_check(maker_id=adjustment.made_by_id, user=user,
                       permission="rewards.change_pointsadjustment")
        if approve:
            now = timezone.now()
            expiry_days = RewardsSettings.load().expiry_days
            PointsEntry.objects.create(
                advocate_id=adjustment.advocate_id, adjustment=adjustment, kind="",
                platform="", points=adjustment.points,
                reason=f"Manual adjustment #{adjustment.pk}: {adjustment.reason}"[:200],
                occurred_at=now, day=now.date(),
                expires_at=now + timedelta(days=expiry_days)
                if expiry_days and adjustment.points > 0 else None)
        _decide(adjustment, user=user, approve=approve, note=note)
    return adjustment
