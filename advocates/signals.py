"""Signals other apps listen to. `advocates` never imports them; they import these."""

from django.dispatch import Signal

# Sent after commit when confirmed advocacy was appended to the AdvocacyEvent table (the one
# hand-off to `rewards`, which processes new events on receipt and in a periodic sweep).
# Arguments: `advocate_ids` (the advocates whose events were appended).
advocacy_recorded = Signal()
