"""Writes for the advocates app, named `<entity>_<verb>(*, ...)`, one module per concern.

Preconditions and effects are in each docstring. Views, commands and tasks call these and do
little else. Everything public is re-exported here, so callers write
`from advocates import services` / `services.mentions_ingest(...)`.
"""

from advocates.services.consent import (
    advocate_opt_out,
    advocate_opt_out_by_handle,
    consent_grant,
    consent_revoke,
    consents_expire,
)
from advocates.services.detection import mentions_detect, mentions_undetected_ids
from advocates.services.ingest import (
    IngestResult,
    InvalidItem,
    mentions_ingest,
)
from advocates.services.outreach import (
    BulkResult,
    DeliveryDeferred,
    OutreachTransitionError,
    brand_account_for,
    outreach_approve,
    outreach_assign,
    outreach_bulk_approve,
    outreach_bulk_propose,
    outreach_bulk_reject,
    outreach_deliver,
    outreach_propose,
    outreach_reject,
    outreach_reject_pending_for,
    outreach_retry,
    outreach_snooze,
    outreach_stuck_ids,
    outreach_unsnooze_due,
    outreach_wrong_call,
)
from advocates.services.people import (
    advocate_merge_entry,
    advocate_reward_received,
    advocate_unmergeable,
    advocates_merge,
    advocates_unmerge,
    api_token_revoke,
    ingest_token_issue,
    merge_suggestion_dismiss,
)
from advocates.services.templates import Rendered, template_context, template_render

__all__ = [
    "merge_suggestion_dismiss",
    "Rendered",
    "template_context",
    "template_render",
    "advocate_opt_out",
    "advocate_reward_received",
    "advocate_opt_out_by_handle",
    "consent_grant",
    "consent_revoke",
    "consents_expire",
    "BulkResult",
    "DeliveryDeferred",
    "OutreachTransitionError",
    "brand_account_for",
    "outreach_approve",
    "outreach_assign",
    "outreach_bulk_approve",
    "outreach_bulk_propose",
    "outreach_bulk_reject",
    "outreach_deliver",
    "outreach_propose",
    "outreach_reject",
    "outreach_reject_pending_for",
    "outreach_retry",
    "outreach_snooze",
    "outreach_stuck_ids",
    "outreach_unsnooze_due",
    "outreach_wrong_call",
    "IngestResult",
    "InvalidItem",
    "advocate_merge_entry",
    "advocate_unmergeable",
    "advocates_merge",
    "advocates_unmerge",
    "api_token_revoke",
    "ingest_token_issue",
    "mentions_detect",
    "mentions_ingest",
    "mentions_undetected_ids",
]
