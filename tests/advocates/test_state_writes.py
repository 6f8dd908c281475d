"""Outreach and grant statuses change in one place each: `outreach_transition` and
`grant_transition`, which check every move against a table. This test reads the source and
fails on any other code that writes either status field (an UPDATE, an assignment, a save)."""

import ast
from pathlib import Path

import pytest

from advocates.models import Outreach, OutreachStatus
from advocates.services.outreach_states import OUTREACH_MOVES, outreach_transition
from rewards.models import GrantStatus
from rewards.services.grant_states import GRANT_MOVES, grant_transition
from tests.factories import OutreachFactory

ROOT = Path(__file__).resolve().parents[2]
STATE_MODULES = {"advocates/services/outreach_states.py", "rewards/services/grant_states.py"}
ENUMS = {"OutreachStatus", "GrantStatus"}


def _aliases(tree: ast.Module) -> set[str]:
    """Names bound to either enum in the module (`S = OutreachStatus`)."""
    return {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Name) and node.value.id in ENUMS
            for target in node.targets if isinstance(target, ast.Name)}


def _names_status(node: ast.AST, names: set[str]) -> bool:
    """Whether an expression reads a member of either enum (`GrantStatus.REVOKED`, `S.SENT`)."""
    return any(isinstance(n, ast.Attribute) and isinstance(n.value, ast.Name)
               and n.value.id in names for n in ast.walk(node))


def status_writes(source: str) -> list[int]:
    """Line numbers where `source` writes an outreach or grant status outside a transition."""
    tree = ast.parse(source)
    names = ENUMS | _aliases(tree)
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                and node.func.attr == "update":
            status = next((k.value for k in node.keywords if k.arg == "status"), None)
            if status is not None and _names_status(status, names):
                lines.append(node.lineno)
        elif isinstance(node, ast.Assign):
            targets = [t for target in node.targets
                       for t in (target.elts if isinstance(target, ast.Tuple) else [target])]
            if any(isinstance(t, ast.Attribute) and t.attr == "status" for t in targets) \
                    and _names_status(node.value, names):
                lines.append(node.lineno)
    return sorted(lines)


def test_no_code_outside_the_state_machines_writes_a_status():
    offenders = []
    for app in ("advocates", "rewards", "cms"):
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            if "/migrations/" in relative or relative in STATE_MODULES:
                continue
            offenders += [f"{relative}:{line}" for line in status_writes(path.read_text())]
    assert offenders == [], "status written outside a transition function: " + ", ".join(
        offenders)


def test_the_check_finds_each_kind_of_write():
    source = """
from advocates.models import Outreach, OutreachStatus
S = OutreachStatus
Outreach.objects.filter(pk=1).update(status=S.SENT)
rows.update(status=GrantStatus.REVOKED, closed_at=now)
grant.status = GrantStatus.REVOKED
grant.status, grant.closed_at = GrantStatus.REVOKED, now
Outreach.objects.filter(status=S.SENT).update(text="x")
conversation.status = CS.OPEN
"""
    assert status_writes(source) == [4, 5, 6, 7]


def test_every_status_has_a_row_in_its_table():
    assert set(OUTREACH_MOVES) == set(OutreachStatus.values)
    assert set(GRANT_MOVES) == set(GrantStatus.values)
    assert not OUTREACH_MOVES[OutreachStatus.SENT]
    assert not GRANT_MOVES[GrantStatus.REDEEMED]


@pytest.mark.django_db
def test_a_move_the_table_does_not_allow_is_refused_before_writing():
    row = OutreachFactory(status=OutreachStatus.SENT)
    with pytest.raises(ValueError, match="cannot move from sent to approved"):
        outreach_transition([row.pk], from_=(OutreachStatus.SENT,), to=OutreachStatus.APPROVED)
    with pytest.raises(ValueError, match="cannot move from redeemed to issued"):
        grant_transition([1], from_=(GrantStatus.REDEEMED,), to=GrantStatus.ISSUED)
    assert Outreach.objects.get(pk=row.pk).status == OutreachStatus.SENT


@pytest.mark.django_db
def test_a_row_that_moved_meanwhile_is_left_alone():
    proposed, rejected = OutreachFactory(), OutreachFactory(status=OutreachStatus.REJECTED)
    moved = outreach_transition([proposed.pk, rejected.pk], from_=(OutreachStatus.PROPOSED,),
                                to=OutreachStatus.SNOOZED, action="snoozed")
    assert moved == [proposed.pk]
    assert Outreach.objects.get(pk=rejected.pk).status == OutreachStatus.REJECTED
    assert list(proposed.log.values_list("action", flat=True)) == ["snoozed"]
