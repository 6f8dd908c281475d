"""The grant state machine: every status change of a `RewardGrant` goes through
`grant_transition`, checked against `GRANT_MOVES` (tests/advocates/test_state_writes.py fails
if other code writes the status field).

    pending_approval ──approve──▶ approved ──issue──▶ issued ──message sent──▶ delivered
                                                        │                        │
                                                        └──────── expire ────────┴─▶ expired

Any grant not yet redeemed can be revoked (by staff, or a cancelled perk); a code used at
the till or in Stripe checkout makes its grant redeemed, even one already expired here (a
Stripe redemption can arrive after our expiry sweep). A grant is created pending approval or
approved (`grants.py`); that is not a move.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from rewards.models import GrantStatus, RewardGrant

G = GrantStatus
# Not redeemed and not revoked: still open to a redemption or a revocation.
GRANT_OPEN = (G.PENDING_APPROVAL, G.APPROVED, G.ISSUED, G.DELIVERED, G.EXPIRED)

GRANT_MOVES: dict[str, frozenset[str]] = {
    G.PENDING_APPROVAL: frozenset({G.APPROVED, G.REVOKED, G.REDEEMED}),
    G.APPROVED: frozenset({G.ISSUED, G.REVOKED, G.REDEEMED}),
    G.ISSUED: frozenset({G.DELIVERED, G.EXPIRED, G.REVOKED, G.REDEEMED}),
    G.DELIVERED: frozenset({G.EXPIRED, G.REVOKED, G.REDEEMED}),
    G.EXPIRED: frozenset({G.REVOKED, G.REDEEMED}),
    G.REDEEMED: frozenset(),
    G.REVOKED: frozenset(),
}


def grant_transition(ids: Collection[int] | None, *, from_: Iterable[str], to: str,
                     where: dict[str, Any] | None = None, **fields: Any) -> int:
    """Move the grants among `ids` (or all, with None) that match `where` and whose status is
    one of `from_` to `to`, with one conditional UPDATE (a grant that moved meanwhile is left
    alone), setting `fields` too. Returns how many moved.

    A move `GRANT_MOVES` does not allow is a programming error (ValueError), raised before
    anything is written.
    """
    from_ = tuple(from_)
    wrong = [f for f in from_ if to not in GRANT_MOVES[f]]
    if wrong or not from_:
        raise ValueError(f"a grant cannot move from {' or '.join(wrong) or 'nothing'} to {to}")
    query = RewardGrant.objects.filter(status__in=from_, **(where or {}))
    if ids is not None:
        query = query.filter(pk__in=list(ids))
    return query.update(status=to, **fields)
