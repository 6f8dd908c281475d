"""How rewards services hand work to the task queue without importing the tasks (tasks call
services; the arrow points one way). `rewards.tasks`, connected in `RewardsConfig.ready`,
queues the task for each signal. Each is sent after the change it announces is committed.
"""

from django.dispatch import Signal

# Approved grants wait for their codes and messages. Argument: `grant_ids`.
grants_approved = Signal()
# A revoked grant's Stripe promotion code is to be switched off. Argument: `grant_id`.
grant_code_revoked = Signal()
# A verified Stripe event was stored. Argument: `stripe_event_id`.
stripe_event_stored = Signal()
