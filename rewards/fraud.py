"""Fraud guards: who looks like gaming the program. Flagged advocates' grants wait for review.

Each guard reads facts about the advocates a batch touched and opens a `FraudFlag` (one open
flag per advocate and reason). Flags never block points, only the automatic issue of rewards.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Exists, IntegerField, OuterRef, Subquery

from advocates.models import (
    AdvocacyEvent,
    Advocate,
    Mention,
    Outreach,
    OutreachKind,
    OutreachStatus,
    SocialIdentity,
)
from advocates.sql import ids_in
from rewards.models import DisclosureCheck, FraudFlag, RewardsSettings

# Short texts ("Great coffee!") are legitimately repeated by many people.
DUPLICATE_TEXT_MIN_LENGTH = 20


@dataclass
class AdvocateFacts:
    """What eligibility and the fraud guards need to know about one advocate."""

    id: int
    is_employee: bool = False
    opted_out: bool = False
    flagged: bool = False
    flagged_reason: str = ""
    created_at: datetime | None = None
    followers: int | None = None
    account_created_at: datetime | None = None
    handles: set[str] = field(default_factory=set)
    open_flags: list[str] = field(default_factory=list)
    # Disclosure reminders sent to them and followed by another undisclosed post.
    ignored_reminders: int = 0

    def account_age_days(self, now: datetime) -> float | None:
        born = self.account_created_at or self.created_at
        return None if born is None else (now - born).total_seconds() / 86400

    @property
    def needs_review(self) -> bool:
        return self.flagged or bool(self.open_flags)

    def review_reasons(self) -> list[str]:
        reasons = [f"fraud:{r}" for r in self.open_flags]
        if self.flagged:
            reasons.append(f"flagged:{self.flagged_reason or 'by staff'}")
        return reasons


def advocate_facts(*, advocate_ids: Collection[int]) -> dict[int, AdvocateFacts]:
    """Facts for these advocates in four queries (advocates, identities, open flags, ignored
    disclosure reminders)."""
    facts = {
        row["id"]: AdvocateFacts(
            id=row["id"], is_employee=row["is_employee"],
            opted_out=row["opted_out_at"] is not None, flagged=row["flagged"],
            flagged_reason=row["flagged_reason"], created_at=row["created_at"])
        for row in Advocate.objects.filter(id__any_ids=ids_in(advocate_ids)).values(
            "id", "is_employee", "opted_out_at", "flagged", "flagged_reason", "created_at")
    }
    for row in (SocialIdentity.objects.filter(advocate_id__any_ids=ids_in(advocate_ids))
                .values("advocate_id", "handle", "follower_count", "account_created_at")):
        f = facts.get(row["advocate_id"])
        if f is None:
            continue
        if row["handle"]:
            f.handles.add(row["handle"].lstrip("@").lower())
        if row["follower_count"] is not None:
            f.followers = max(f.followers or 0, row["follower_count"])
        if row["account_created_at"] is not None and (
                f.account_created_at is None or row["account_created_at"] < f.account_created_at):
            f.account_created_at = row["account_created_at"]
    for adv_id, reason in FraudFlag.objects.filter(
            advocate_id__any_ids=ids_in(advocate_ids), cleared_at__isnull=True).values_list(
            "advocate_id", "reason"):
        if adv_id in facts:
            facts[adv_id].open_flags.append(reason)
    ignored = Exists(DisclosureCheck.objects.filter(
        advocate_id=OuterRef("advocate_id"), disclosed=False,
        mention__posted_at__gt=OuterRef("sent_at")))
    for adv_id in (Outreach.objects.filter(
            advocate_id__any_ids=ids_in(advocate_ids), kind=OutreachKind.DISCLOSURE,
            status=OutreachStatus.SENT, sent_at__isnull=False)
            .filter(ignored).values_list("advocate_id", flat=True)):
        if adv_id in facts:
            facts[adv_id].ignored_reminders += 1
    return facts


VELOCITY_WINDOW = timedelta(hours=1)


def velocity_excess(*, event_ids: Iterable[int], limit: int,
                    skip: Collection[int] = ()) -> dict[int, dict]:
    """Advocates who acted more than `limit` times within one hour, in an hour that holds one
    of these events; with the busiest such hour. Advocates in `skip` (already flagged) are
    not looked at.

    Counted by `occurred_at` (when the advocate posted), never `created_at`: events are
    created when staff approve the thank-you, so a morning of approvals would look like a
    burst, and a burst of posts approved over a week would look calm.

    Cheap for the many: an hour holding event e lies within e's two-hour neighbourhood, so
    one query counts each new event's neighbourhood (an index range scan on advocate and
    time); only advocates whose neighbourhood exceeds the limit have their events read.
    """
    hour = VELOCITY_WINDOW
    near = (AdvocacyEvent.objects.filter(
        advocate_id=OuterRef("advocate_id"), occurred_at__gt=OuterRef("occurred_at") - hour,
        occurred_at__lt=OuterRef("occurred_at") + hour)
        .order_by().values("advocate_id").annotate(n=Count("id")).values("n"))
    new = list(AdvocacyEvent.objects.filter(id__any_ids=ids_in(list(event_ids)))
               .exclude(advocate_id__in=list(skip))
               .annotate(near=Subquery(near, output_field=IntegerField())).order_by()
               .values_list("id", "advocate_id", "occurred_at", "near"))
    busy = [(adv_id, at) for _, adv_id, at, n in new if (n or 0) > limit]
    if not busy:
        return {}
    new_ids = {event_id for event_id, _, _, _ in new}
    start = min(at for _, at in busy) - hour
    end = max(at for _, at in busy) + hour
    acts: dict[int, list[tuple[datetime, bool]]] = defaultdict(list)
    for event_id, adv_id, at in (AdvocacyEvent.objects.filter(
            advocate_id__any_ids=ids_in({a for a, _ in busy}),
            occurred_at__gte=start, occurred_at__lte=end)
            .values_list("id", "advocate_id", "occurred_at")):
        acts[adv_id].append((at, event_id in new_ids))
    out: dict[int, dict] = {}
    for adv_id, times in acts.items():
        times.sort()
        first = new_in_window = 0
        busiest, ending = 0, None
        # Every hour worth flagging can be slid to end at one of its events, so checking
        # the hour that ends at each event (and holds a new one) finds them all.
        for last, (at, is_new) in enumerate(times):
            new_in_window += is_new
            while times[first][0] <= at - hour:
                new_in_window -= times[first][1]
                first += 1
            count = last - first + 1
            if count > limit and new_in_window and count > busiest:
                busiest, ending = count, at
        if ending is not None:
            out[adv_id] = {"events_in_an_hour": busiest, "limit": limit,
                           "hour_ending": ending.isoformat()}
    return out


def fraud_check(*, facts: dict[int, AdvocateFacts], event_ids: Iterable[int],
                config: RewardsSettings, now: datetime) -> list[FraudFlag]:
    """Run every guard over the advocates in `facts`; open flags; update `facts` in place.

    `event_ids` are the events just processed (their mentions' texts are checked for copies,
    and the hours around them for bursts).
    Returns the flags opened now.
    """
    event_ids = list(event_ids)
    found: dict[tuple[int, str], dict] = {}

    if config.velocity_max_per_hour:
        flagged = {f.id for f in facts.values() if FraudFlag.Reason.VELOCITY in f.open_flags}
        for adv_id, detail in velocity_excess(
                event_ids=event_ids, limit=config.velocity_max_per_hour, skip=flagged).items():
            if adv_id in facts:
                found[adv_id, FraudFlag.Reason.VELOCITY] = detail

    employees = config.employee_handle_set()
    for f in facts.values():
        age = f.account_age_days(now)
        if config.min_account_age_days and f.account_created_at is not None and age is not None \
                and age < config.min_account_age_days:
            found[f.id, FraudFlag.Reason.NEW_ACCOUNT] = {"account_age_days": round(age, 1)}
        if config.min_followers and f.followers is not None and f.followers < config.min_followers:
            found[f.id, FraudFlag.Reason.LOW_FOLLOWERS] = {"followers": f.followers}
        hit = f.handles & employees
        if hit:
            found[f.id, FraudFlag.Reason.EMPLOYEE] = {"handles": sorted(hit)}
            f.is_employee = True

    if config.duplicate_text_identities > 1:
        texts = dict(Mention.objects.filter(advocacy_events__id__any_ids=ids_in(list(event_ids)))
                     .values_list("text", "author__advocate_id"))
        texts = {t: a for t, a in texts.items() if len(t.strip()) >= DUPLICATE_TEXT_MIN_LENGTH}
        if texts:
            copied = set(Mention.objects.filter(text__in=list(texts)).values("text")
                         .annotate(n=Count("author", distinct=True))
                         .filter(n__gte=config.duplicate_text_identities)
                         .values_list("text", flat=True))
            for text in copied:
                for adv_id in (Mention.objects.filter(text=text)
                               .values_list("author__advocate_id", flat=True).distinct()):
                    if adv_id in facts:
                        found[adv_id, FraudFlag.Reason.DUPLICATE_TEXT] = {"text": text[:200]}

    new = [(adv, reason, detail) for (adv, reason), detail in found.items()
           if reason not in facts[adv].open_flags]
    if not new:
        return []
    flags = [FraudFlag(advocate_id=adv, reason=reason, detail=detail, created_at=now)
             for adv, reason, detail in new]
    # The partial unique index keeps one open flag per reason even if two checks race.
    FraudFlag.objects.bulk_create(flags, ignore_conflicts=True)
    for adv, reason, _ in new:
        facts[adv].open_flags.append(reason)
    return flags

