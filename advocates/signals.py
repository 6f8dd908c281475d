"""Signals: hand-offs that keep the import arrows one-way.

`advocacy_recorded` is for other apps (`advocates` never imports `rewards`; `rewards` listens).
The others are how services hand work to the task queue: tasks call services, so services may
not import tasks; they send a signal, and `advocates.tasks` (connected in
`AdvocatesConfig.ready`) queues the task. Each is sent at most once per committed change.
"""

from django.dispatch import Signal

# Sent after commit when confirmed advocacy was appended to the AdvocacyEvent table (the one
# hand-off to `rewards`, which processes new events on receipt and in a periodic sweep).
# Arguments: `advocate_ids` (the advocates whose events were appended).
advocacy_recorded = Signal()

# Stored mentions wait for detection (sent after commit). Argument: `mention_ids`.
mentions_stored = Signal()
# An approved outreach can be delivered now (sent after commit). Argument: `outreach_id`.
outreach_ready = Signal()
# A stored webhook delivery is to be processed on its own. Arguments: `delivery_id`,
# `countdown` (seconds from now).
webhook_stored = Signal()
# Batched webhook deliveries wait for a batch task. Argument: `countdown`. A receiver's
# error reaches the sender, which then lets the next delivery try again.
webhook_batch_due = Signal()
# Conversations were opened (by a care item, an answer or a direct message) and wait for
# round-robin assignment (sent after commit). Argument: `conversation_ids`, oldest first.
conversations_opened = Signal()
