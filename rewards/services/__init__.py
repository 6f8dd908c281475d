"""Writes for the rewards app, named `<entity>_<verb>(*, ...)`, one module per concern.

Preconditions and effects are in each docstring; views, commands and tasks call these.
"""

from rewards.services.approvals import (
    ApprovalError,
    points_adjustment_create,
    points_adjustment_decide,
    points_settings_change_decide,
    points_settings_change_propose,
)
from rewards.services.grants import (
    Candidate,
    GrantError,
    budget_release,
    budget_reserve_units,
    grant_approve,
    grant_code_deactivate,
    grant_create,
    grant_revoke,
    grants_create,
    grants_expire_due,
    grants_mark_delivered,
    grants_revoked_code_active_ids,
    period_key,
    perk_stock_release,
    perk_stock_reserve,
)
from rewards.services.issuing import (
    IssueError,
    grant_issue,
    grant_message_propose,
    grants_approved_stale_ids,
    grants_message_missing,
)
from rewards.services.ledger import (
    BatchResult,
    events_process_batch,
    events_unprocessed_exist,
    ledger_rescan,
    tiers_demote_lapsed,
)
from rewards.services.perks import (
    VoucherCheck,
    perk_fulfilment_update,
    perk_voucher_check,
    perk_voucher_redeem,
)
from rewards.services.reconciliation import (
    ReconciliationError,
    stripe_reconcile,
    stripe_reconcile_recent,
)
from rewards.services.redemptions import (
    CodeCheck,
    CodeState,
    RedemptionError,
    code_check,
    code_redeem,
    stripe_event_process,
    stripe_event_store,
    stripe_events_unprocessed_ids,
)
from rewards.services.spending import Spend, SpendError, points_spend

__all__ = [
    "ApprovalError", "points_adjustment_create", "points_adjustment_decide",
    "points_settings_change_decide", "points_settings_change_propose",
    "BatchResult", "Candidate", "GrantError", "IssueError", "ReconciliationError",
    "CodeCheck", "CodeState", "RedemptionError", "code_check", "stripe_reconcile",
    "stripe_reconcile_recent",
    "budget_release", "budget_reserve_units", "code_redeem", "events_process_batch",
    "events_unprocessed_exist", "grant_approve", "grant_code_deactivate", "grant_create",
    "grant_issue", "grants_revoked_code_active_ids",
    "grant_message_propose", "grant_revoke", "grants_approved_stale_ids", "grants_create",
    "grants_expire_due", "grants_mark_delivered",
    "grants_message_missing", "ledger_rescan", "perk_fulfilment_update", "perk_stock_release",
    "perk_voucher_check", "perk_voucher_redeem", "VoucherCheck",
    "perk_stock_reserve", "period_key", "stripe_event_process", "stripe_event_store",
    "stripe_events_unprocessed_ids", "tiers_demote_lapsed",
    "Spend", "SpendError", "points_spend",
]
