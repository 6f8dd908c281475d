"""Reads for the advocates app: the outreach queue, its counts, an outreach's history.

The queue is read on every page load by people who spend their day in it, so it is built to
cost a bounded number of queries whatever the page size and however long the queue grows: the
page's ids are picked along the `outreach_queue` index (care items, then the rest), one query
loads those rows with everything a row shows joined in, and the total is counted only up to a
cap (COUNT(*) over 100,000 pending rows would cost more than the page).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypedDict

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    FloatField,
    IntegerField,
    Min,
    OrderBy,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Abs, Coalesce, Lower, Replace
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from advocates.models import (
    AdvocacyEvent,
    Advocate,
    CareShift,
    ConsentRecord,
    ConsentStatus,
    Conversation,
    ConversationMessage,
    ConversationStatus,
    DetectionIntent,
    DetectorDecision,
    DetectorExample,
    DetectorModelVersion,
    DetectorSettings,
    ExampleSource,
    Mention,
    MergeDismissal,
    MessageKind,
    Outreach,
    OutreachKind,
    OutreachLog,
    OutreachStatus,
    SandboxPost,
    SocialIdentity,
    Suppression,
)

if TYPE_CHECKING:
    from django.contrib.auth.models import User

    from advocates.actors import RequestUser

QUEUE_PAGE_SIZE = 50
# Counting 100,000 pending rows on every page load costs more than the page itself; past this
# the page says "1,000+" (nobody works a queue by its exact length).
QUEUE_COUNT_CAP = 1000
# The deepest page a hand-paged list serves (50 million rows at 50 a page). The page number
# comes from the address bar, and an OFFSET built from ?p=99999999999999999999 overflowed the
# database's bigint: a 500 (issue 17). Deeper asks get this page, empty like any page past
# the end.
PAGE_NUMBER_MAX = 1_000_000


def page_number(raw: object) -> int:
    """A page number from request input: 1 for anything that is not a whole number, clamped to
    1..PAGE_NUMBER_MAX. Every hand-paged list reads `?p=` through this."""
    if isinstance(raw, int):
        number = raw
    else:
        text = str(raw or "").strip()
        if not text.isdecimal():  # "", "abc", "-1", "1.5"
            return 1
        # Python refuses int() of over 4,300 digits (and it is slow before that): any number
        # this long is past the cap anyway.
        number = int(text) if len(text) <= 9 else PAGE_NUMBER_MAX
    return min(max(1, number), PAGE_NUMBER_MAX)

# Thank-yous and reshares have no SLA of their own; within this long is "ok", and the badge
# turns "due soon" in the last quarter. Care items use their own `sla_due_at`.
THANK_TARGET = timedelta(hours=4)
DUE_SOON_SHARE = 0.25
DUE_SOON_MIN = timedelta(minutes=15)

# Consent requests are the first step of a reshare, so they count as thank-you work.
THANK_KINDS = (OutreachKind.REPLY, OutreachKind.RESHARE, OutreachKind.CONSENT)

KIND_FILTERS = {
    "thanks": Q(kind__in=THANK_KINDS),
    **{kind.value: Q(kind=kind.value) for kind in OutreachKind},
}
AGE_FILTERS = {
    "lt1h": (_("Under 1 hour"), timedelta(hours=1), None),
    "lt24h": (_("Under 24 hours"), timedelta(hours=24), None),
    "gt24h": (_("Older than 1 day"), None, timedelta(hours=24)),
    "gt7d": (_("Older than 7 days"), None, timedelta(days=7)),
}
# "Due soon" on the dashboard and in the SLA filter: a care item due within this long.
DUE_SOON = timedelta(hours=1)
SLA_FILTERS = {"overdue": _("Overdue"), "due_soon": _("Due within the hour")}
DECIDED_FILTERS = {"today": _("Decided today")}
# "Working order" (care first, then priority, oldest first) is the default; "least sure first"
# puts the proposals the detector was least sure about on top, where a decision teaches it most.
ORDERS = {"least_sure": _("Least sure first")}

# Care work: complaints and answers to questions, both with an SLA counted from posting.
CARE_KINDS = (OutreachKind.CARE, OutreachKind.ANSWER)

# The queue's tabs, in the order staff work them: care first, and every other kind of work
# one click away with its count. Questions have their own route and kind (`answer`); care
# items on a question are from before that route existed and stay under "Answers". The
# lead's "wrong call" action and "least sure first" ordering plug in here too (a tab's Q and
# `outreach_queue`'s order_by).
_QUESTION = Q(mention__detection_intent=DetectionIntent.QUESTION)
QUEUE_TABS: dict[str, tuple[Any, Q]] = {
    "care": (_("Care"), Q(kind=OutreachKind.CARE) & ~_QUESTION),
    "answers": (_("Answers"), Q(kind=OutreachKind.ANSWER)
                | Q(kind=OutreachKind.CARE) & _QUESTION),
    "thanks": (_("Thank-yous"), Q(kind__in=(OutreachKind.REPLY, OutreachKind.CONSENT))),
    "reshares": (_("Reshares"), Q(kind__in=(OutreachKind.RESHARE, OutreachKind.TAKEDOWN))),
    "rewards": (_("Rewards"), Q(kind__in=(OutreachKind.DM, OutreachKind.DISCLOSURE))),
}
_TAB_OF_KIND: dict[str, str] = {OutreachKind.REPLY: "thanks", OutreachKind.CONSENT: "thanks",
                OutreachKind.RESHARE: "reshares", OutreachKind.TAKEDOWN: "reshares",
                OutreachKind.DM: "rewards", OutreachKind.DISCLOSURE: "rewards",
                OutreachKind.ANSWER: "answers"}


@dataclass(frozen=True)
class QueueFilters:
    """What the queue shows. Empty strings mean "any"."""

    status: str = OutreachStatus.PROPOSED
    kind: str = ""  # a key of KIND_FILTERS
    platform: str = ""
    language: str = ""
    intent: str = ""
    age: str = ""  # a key of AGE_FILTERS
    sla: str = ""  # a key of SLA_FILTERS
    decided: str = ""  # a key of DECIDED_FILTERS
    tab: str = ""  # a key of QUEUE_TABS ("" = every kind)
    assignee: str = ""  # "me", "none" or a user id
    q: str = ""
    order: str = ""  # "" (working order) or a key of ORDERS


@dataclass(frozen=True)
class QueuePage:
    items: list[Outreach]
    number: int
    per_page: int
    has_next: bool
    total: int  # exact up to QUEUE_COUNT_CAP
    total_capped: bool  # True when there are more than `total`

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def start_index(self) -> int:
        return (self.number - 1) * self.per_page + 1 if self.items else 0

    @property
    def end_index(self) -> int:
        return (self.number - 1) * self.per_page + len(self.items)


@dataclass(frozen=True)
class QueueCounts:
    pending_thanks: int
    pending_care: int
    overdue_care: int
    due_soon_care: int = 0


def _care_first() -> Case:
    return Case(When(kind__in=CARE_KINDS, then=Value(0)), default=Value(1),
                output_field=IntegerField())


def outreach_queue(*, filters: QueueFilters, user: RequestUser, now: datetime
                   ) -> QuerySet[Outreach]:
    """The queue's rows, filtered, in working order: care items first, then by priority (high
    first), then oldest first; with `order=least_sure`, care items still first, each part led
    by the proposals the detector was least sure about. Unsliced and without joins; see
    `outreach_queue_page`."""
    qs = _queue_filtered(filters=filters, user=user, now=now)
    if filters.tab in QUEUE_TABS:
        qs = qs.filter(QUEUE_TABS[filters.tab][1])
    qs = qs.annotate(care_first=_care_first())
    if filters.order == "least_sure":
        qs = qs.annotate(unsure=_unsureness(DetectorSettings.load().thank_threshold))
    return qs.order_by("care_first", *_order(filters))


def _unsureness(threshold: float) -> Case:
    """How sure the detector was about a proposal (smaller = less sure; NULL = no detection).

    A thank-you's confidence is the model's probability of "deserves a thank-you", so the
    proposals nearest the threshold were the closest calls: |confidence - threshold|. A care
    item's or an answer's confidence is the probability of the class it was given, so a low
    one is a close call: the confidence itself. The two scales differ, but they never compete:
    care items stay pinned first (they have an SLA), so each part is ordered on its own scale.
    Rows not about a mention (reward messages) have no confidence and come last.
    """
    confidence = F("mention__detection_confidence")
    return Case(When(kind__in=THANK_KINDS, then=Abs(confidence - Value(threshold))),
                default=confidence, output_field=FloatField())


def _order(filters: QueueFilters) -> tuple[str | OrderBy, ...]:
    """The order within care items and within the rest (see `_page_ids`)."""
    order: tuple[str | OrderBy, ...] = ("-priority", "created_at", "id")
    if filters.order == "least_sure":
        # A plain ORDER BY on an expression: no index serves it, so PostgreSQL sorts the
        # filtered rows; a chosen ordering for teaching the detector, not the default page.
        return (F("unsure").asc(nulls_last=True), *order)
    return order


def _queue_filtered(*, filters: QueueFilters, user: RequestUser, now: datetime
                    ) -> QuerySet[Outreach]:
    """Every filter but the tab (the tabs' counts are counted over this)."""
    qs = Outreach.objects.all()
    if filters.status:
        qs = qs.filter(status=filters.status)
    if filters.kind in KIND_FILTERS:
        qs = qs.filter(KIND_FILTERS[filters.kind])
    if filters.platform:
        qs = qs.filter(platform=filters.platform)
    if filters.language:
        qs = qs.filter(mention__language=filters.language)
    if filters.intent:
        qs = qs.filter(mention__detection_intent=filters.intent)
    if filters.age in AGE_FILTERS:
        _, younger_than, older_than = AGE_FILTERS[filters.age]
        if younger_than is not None:
            qs = qs.filter(created_at__gt=now - younger_than)
        if older_than is not None:
            qs = qs.filter(created_at__lte=now - older_than)
    if filters.sla == "overdue":
        qs = qs.filter(_overdue_q(now))
    elif filters.sla == "due_soon":
        qs = qs.filter(sla_due_at__gte=now, sla_due_at__lt=now + DUE_SOON)
    if filters.decided == "today":
        qs = qs.filter(decided_at__gte=_start_of_today(now))
    if filters.assignee == "me":
        qs = qs.filter(assignee_id=user.pk)
    elif filters.assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif filters.assignee.isdigit():
        qs = qs.filter(assignee_id=int(filters.assignee))
    if filters.q:
        term = filters.q.strip()
        handle = term.lstrip("@")
        qs = qs.filter(
            Q(mention__text__icontains=term)
            | Q(identity__handle__icontains=handle)
            | Q(identity__display_name__icontains=term)
        )
    return qs


def _start_of_today(now: datetime) -> datetime:
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)


def outreach_tab_counts(*, filters: QueueFilters, user: RequestUser,
                        now: datetime | None = None) -> dict[str, int]:
    """How many items each queue tab holds under the other filters: two small queries (by
    kind, then the older care items that are questions)."""
    now = now or timezone.now()
    qs = _queue_filtered(filters=filters, user=user, now=now)
    counts = dict.fromkeys(QUEUE_TABS, 0)
    for row in qs.order_by().values("kind").annotate(n=Count("id")):
        if row["kind"] == OutreachKind.CARE:
            counts["care"] += row["n"]
        elif row["kind"] in _TAB_OF_KIND:
            counts[_TAB_OF_KIND[row["kind"]]] += row["n"]
    if counts["care"]:
        legacy = qs.filter(Q(kind=OutreachKind.CARE) & _QUESTION).count()
        counts["answers"] += legacy
        counts["care"] -= legacy
    return counts


@dataclass(frozen=True)
class DecisionCounts:
    approved: int
    rejected: int
    snoozed: int
    mine: int


def outreach_decisions_today(*, user: RequestUser, now: datetime | None = None) -> DecisionCounts:
    """Today's queue decisions (local day), everyone's and the user's own: one query."""
    now = now or timezone.now()
    counts = Outreach.objects.filter(decided_at__gte=_start_of_today(now)).aggregate(
        approved=Count("id", filter=~Q(status__in=[OutreachStatus.REJECTED,
                                                   OutreachStatus.SNOOZED])),
        rejected=Count("id", filter=Q(status=OutreachStatus.REJECTED)),
        snoozed=Count("id", filter=Q(status=OutreachStatus.SNOOZED)),
        mine=Count("id", filter=Q(decided_by_id=getattr(user, "pk", None))),
    )
    return DecisionCounts(**counts)


@dataclass(frozen=True)
class ProgrammeActivity:
    active_advocates: int
    thank_yous_sent: int
    top_advocates: list[tuple[Any, int]]  # (advocate, events this month)


def programme_activity(*, now: datetime | None = None, days: int = 30,
                       top: int = 5) -> ProgrammeActivity:
    """Marketing's programme health from the advocates side: advocates with confirmed
    advocacy in the last `days`, thank-you replies sent this month, and this month's most
    active advocates."""
    now = now or timezone.now()
    month_start = _start_of_today(now).replace(day=1)
    active = (AdvocacyEvent.objects.filter(occurred_at__gte=now - timedelta(days=days))
              .values("advocate_id").distinct().count())
    sent = Outreach.objects.filter(kind=OutreachKind.REPLY, status=OutreachStatus.SENT,
                                   sent_at__gte=month_start).count()
    leaders = list(AdvocacyEvent.objects.filter(occurred_at__gte=month_start)
                   .values("advocate_id").annotate(n=Count("id")).order_by("-n", "advocate_id")
                   [:top])
    people = Advocate.objects.in_bulk([row["advocate_id"] for row in leaders])
    return ProgrammeActivity(
        active_advocates=active, thank_yous_sent=sent,
        top_advocates=[(people[row["advocate_id"]], row["n"]) for row in leaders
                       if row["advocate_id"] in people])


def _overdue_q(now: datetime) -> Q:
    return Q(sla_due_at__lt=now) | Q(sla_due_at__isnull=True,
                                     created_at__lt=now - THANK_TARGET)


def outreach_queue_page(
    *,
    filters: QueueFilters,
    user: RequestUser,
    page: int = 1,
    per_page: int = QUEUE_PAGE_SIZE,
    now: datetime | None = None,
) -> QueuePage:
    """One page of the queue in at most four queries, whatever `per_page` and the queue's
    length.

    The ids are picked first (care items, then the rest; see `_page_ids`), so the database
    walks an index and stops at the page; the rows are then loaded by id with the mention, its
    author, the advocate and the assignee joined in, so rendering a row runs no query. The
    total is counted (up to QUEUE_COUNT_CAP) only when there is a next page.
    """
    now = now or timezone.now()
    page = page_number(page)
    qs = outreach_queue(filters=filters, user=user, now=now)
    offset = (page - 1) * per_page
    total: int | None = None
    if filters.q:
        # A text search reads every pending row whatever the order, so one scan that returns
        # up to the cap's worth of ids gives both the page and the total.
        window = max(QUEUE_COUNT_CAP + 1, offset + per_page + 1)
        found = list(qs.values_list("id", flat=True)[:window])
        ids = found[offset : offset + per_page + 1]
        total, capped = min(len(found), QUEUE_COUNT_CAP), len(found) > QUEUE_COUNT_CAP
    else:
        ids = _page_ids(qs, filters=filters, offset=offset, limit=per_page + 1)
    has_next = len(ids) > per_page
    ids = ids[:per_page]
    rows = {
        row.pk: row
        for row in Outreach.objects.filter(pk__in=ids).select_related(
            "mention", "identity", "advocate", "assignee", "decided_by", "conversation")
    }
    items = [rows[pk] for pk in ids if pk in rows]
    if total is None and has_next:
        total = qs.order_by().values("id")[: QUEUE_COUNT_CAP + 1].count()
        capped = total > QUEUE_COUNT_CAP
        total = min(total, QUEUE_COUNT_CAP)
    elif total is None:  # the last page tells the total without counting
        total, capped = offset + len(ids), False
    for item in items:
        # Display-only attributes for the row template (not fields).
        setattr(item, "sla_state", outreach_sla_state(item, now=now))  # noqa: B010
        setattr(item, "waiting_since", outreach_waiting_since(item))  # noqa: B010
        setattr(item, "resolution_state",  # noqa: B010
                conversation_resolution_state(item.conversation, now=now))
        # Routing copies the detector's reasons and adds its own: show each once.
        detected = item.mention.detection_reasons if item.mention else []
        setattr(item, "why", list(dict.fromkeys([*detected, *item.reasons])))  # noqa: B010
    return QueuePage(items=items, number=page, per_page=per_page, has_next=has_next,
                     total=total, total_capped=capped)


def _page_ids(qs: QuerySet[Outreach], *, filters: QueueFilters, offset: int,
              limit: int) -> list[int]:
    """The ids at [offset, offset + limit) in working order, read as two index-ordered runs.

    "Care first" as one ORDER BY expression cannot use an index, so PostgreSQL would sort
    every pending row on each page load. Reading care items, then the rest, each ordered by
    (priority desc, created_at) like the `outreach_queue` index, lets it stop after the page.
    """
    order = _order(filters)
    want = offset + limit
    runs = []
    if filters.kind in ("", *CARE_KINDS):
        runs.append(qs.filter(kind__in=CARE_KINDS))
    if filters.kind not in CARE_KINDS:
        runs.append(qs.exclude(kind__in=CARE_KINDS))
    ids: list[int] = []
    for run in runs:
        ids += run.order_by(*order).values_list("id", flat=True)[: want - len(ids)]
        if len(ids) >= want:
            break
    return ids[offset:want]


def outreach_waiting_since(outreach: Outreach) -> datetime:
    """Since when the person has been waiting: a care item or an answer since they posted
    (what its SLA counts from), other work since it was proposed."""
    if outreach.kind in CARE_KINDS and outreach.mention is not None:
        return outreach.mention.posted_at
    return outreach.created_at


def outreach_sla_state(outreach: Outreach, *, now: datetime) -> str:
    """"ok", "due_soon" or "overdue" for the age badge.

    Care items and answers have their own due time; thank-yous are measured against
    THANK_TARGET. "Due soon" is the last quarter of the window (at least 15 minutes).
    """
    due = outreach.sla_due_at or outreach.created_at + THANK_TARGET
    if now >= due:
        return "overdue"
    window = max(due - outreach_waiting_since(outreach), timedelta(0))
    if due - now <= max(window * DUE_SOON_SHARE, DUE_SOON_MIN):
        return "due_soon"
    return "ok"


def conversation_resolution_state(conversation: Conversation | None, *,
                                  now: datetime) -> str:
    """"" (no resolution due: none set, or resolved), "ok", "due_soon" (within DUE_SOON) or
    "overdue" for a conversation's resolution badge."""
    if conversation is None or conversation.resolution_due_at is None \
            or conversation.status == ConversationStatus.RESOLVED:
        return ""
    if now >= conversation.resolution_due_at:
        return "overdue"
    return "due_soon" if conversation.resolution_due_at - now <= DUE_SOON else "ok"


def outreach_queue_counts(*, now: datetime | None = None) -> QueueCounts:
    """Pending thank-yous (replies and reshares), pending and overdue care items (answers to
    questions included): one query."""
    now = now or timezone.now()
    care = Q(kind__in=CARE_KINDS)
    counts = Outreach.objects.filter(status=OutreachStatus.PROPOSED).aggregate(
        pending_thanks=Count("id", filter=Q(kind__in=THANK_KINDS)),
        pending_care=Count("id", filter=care),
        overdue_care=Count("id", filter=care & _overdue_q(now)),
        due_soon_care=Count("id", filter=care & Q(sla_due_at__gte=now,
                                                   sla_due_at__lt=now + DUE_SOON)),
    )
    return QueueCounts(**counts)


def care_on_shift(*, user: RequestUser) -> bool:
    """Whether `user` is marked on shift for round-robin assignment."""
    if not user.is_authenticated:
        return False  # nobody signed in has no shift
    return CareShift.objects.filter(user_id=user.pk, on_shift=True).exists()


def care_overdue_count(*, now: datetime | None = None) -> int:
    """Care items and answers still proposed past their due time (the menu's badge): one
    COUNT on the queue's status index, the same rule as the dashboard's overdue card."""
    now = now or timezone.now()
    return Outreach.objects.filter(
        Q(kind__in=CARE_KINDS) & _overdue_q(now), status=OutreachStatus.PROPOSED).count()


class _IdRow(TypedDict):
    id: int


def outreach_assignable_users() -> QuerySet[User]:
    """Active users who may work the queue (they can change outreach)."""
    User = get_user_model()
    perm = Q(codename="change_outreach", content_type__app_label="advocates")
    return (
        User.objects.filter(is_active=True)
        .filter(
            Q(is_superuser=True)
            | Q(groups__permissions__in=_permission_ids(perm))
            | Q(user_permissions__in=_permission_ids(perm))
        )
        .distinct()
        .order_by("first_name", "last_name", User.USERNAME_FIELD)
    )


def _permission_ids(condition: Q) -> QuerySet[Permission, _IdRow]:
    return Permission.objects.filter(condition).values("id")


def outreach_history(*, outreach_id: int) -> tuple[Outreach, list[OutreachLog]]:
    """An outreach (with what its header shows) and its audit log, oldest first."""
    outreach = Outreach.objects.select_related(
        "mention", "identity", "advocate", "assignee", "decided_by").get(pk=outreach_id)
    log = list(OutreachLog.objects.filter(outreach_id=outreach_id).select_related("actor")
               .order_by("at", "id"))
    return outreach, log


@dataclass(frozen=True)
class TimelinePage:
    items: list[SandboxPost]
    number: int
    has_next: bool


def sandbox_timeline_page(*, page: int = 1, per_page: int = QUEUE_PAGE_SIZE) -> TimelinePage:
    """What the sandbox platform "posted", newest first, each with the outreach that sent it
    (matched on the idempotency key the delivery passes to the client) as `.outreach`."""
    page = page_number(page)
    offset = (page - 1) * per_page
    posts = list(SandboxPost.objects.order_by("-posted_at", "-id")[offset : offset + per_page + 1])
    has_next = len(posts) > per_page
    posts = posts[:per_page]
    by_key = _outreach_by_idempotency_key([post.idempotency_key for post in posts])
    for post in posts:
        setattr(post, "outreach", by_key.get(post.idempotency_key))  # noqa: B010
    return TimelinePage(items=posts, number=page, has_next=has_next)


def _outreach_by_idempotency_key(keys: Sequence[str]) -> dict[str, Outreach]:
    uuids = {}
    for key in keys:
        # The client may suffix the key (e.g. "<uuid>:reply"); the row's key is the uuid.
        try:
            uuids[key] = uuid.UUID(key.split(":", 1)[0])
        except ValueError:
            continue
    if not uuids:
        return {}
    rows = {o.idempotency_key: o for o in Outreach.objects.filter(
        idempotency_key__in=set(uuids.values())).select_related("identity")}
    return {key: rows[value] for key, value in uuids.items() if value in rows}


def consent_granted(*, mention_id: int, now: datetime | None = None) -> bool:
    """Whether the mention's author has a granted, unrevoked, unexpired consent to a reshare."""
    now = now or timezone.now()
    return (ConsentRecord.objects.filter(
        mention_id=mention_id, status=ConsentStatus.GRANTED, revoked_at__isnull=True)
        .filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now)).exists())


def reply_sent_elsewhere(*, outreach: Outreach) -> bool:
    """Whether another outreach (another key) already sent a reply to this one's mention: what
    a platform that allows one reply per post refuses."""
    if outreach.mention_id is None:
        return False
    return (Outreach.objects.filter(
        mention_id=outreach.mention_id, status=OutreachStatus.SENT,
        kind__in=[OutreachKind.REPLY, OutreachKind.CARE, OutreachKind.ANSWER,
                  OutreachKind.CONSENT])
        .exclude(pk=outreach.pk).exists())


# --- Care conversations -----------------------------------------------------------------------

CONVERSATION_PAGE_SIZE = 50
_PENDING_CARE = Q(outreach__kind__in=CARE_KINDS,
                  outreach__status__in=(OutreachStatus.PROPOSED, OutreachStatus.SNOOZED))


@dataclass(frozen=True)
class ConversationFilters:
    status: str = "unresolved"  # "unresolved", "" (any) or a ConversationStatus
    assignee: str = ""  # "me", "none" or a user id
    platform: str = ""


def conversation_list(*, filters: ConversationFilters, user: RequestUser) -> QuerySet[Conversation]:
    """Conversations for the inbox, newest activity first, each with `pending_care` (care
    items and answers still waiting for a decision) and `due_at` (the earliest of their SLA
    due times)."""
    qs = Conversation.objects.select_related("identity", "assignee")
    if filters.status == "unresolved":
        qs = qs.exclude(status=ConversationStatus.RESOLVED)
    elif filters.status in ConversationStatus.values:
        qs = qs.filter(status=filters.status)
    if filters.platform:
        qs = qs.filter(platform=filters.platform)
    if filters.assignee == "me":
        qs = qs.filter(assignee_id=user.pk)
    elif filters.assignee == "none":
        qs = qs.filter(assignee__isnull=True)
    elif filters.assignee.isdigit():
        qs = qs.filter(assignee_id=int(filters.assignee))
    return qs.annotate(pending_care=Count("outreach", filter=_PENDING_CARE),
                       due_at=Min("outreach__sla_due_at", filter=_PENDING_CARE)
                       ).order_by("-last_message_at", "-id")


@dataclass(frozen=True)
class ThreadEntry:
    """One line of a conversation as staff read it."""

    kind: str  # a MessageKind value
    at: datetime
    text: str
    who: str  # the person's handle, a staff member's name, or ""
    message: ConversationMessage | None = None
    outreach: Outreach | None = None  # our reply, with its delivery status
    mention: Mention | None = None


def conversation_thread(*, conversation_id: int) -> tuple[Conversation, list[ThreadEntry]]:
    """A conversation and its thread, oldest first: the stored messages, plus the care items
    and answers approved from the queue (our public replies) that have no message of their
    own. Four queries."""
    conversation = Conversation.objects.select_related(
        "identity", "advocate", "assignee", "resolved_by").get(pk=conversation_id)
    identity = conversation.identity
    person = identity.handle or identity.display_name or identity.platform_user_id
    messages = list(conversation.messages.select_related("author", "outreach", "mention"))
    with_message = {m.outreach_id for m in messages if m.outreach_id}
    entries = []
    for message in messages:
        if message.kind in (MessageKind.MENTION, MessageKind.DM_IN):
            who = person
        else:
            who = (message.author.get_full_name() or message.author.get_username()) \
                if message.author else ""
        entries.append(ThreadEntry(kind=message.kind, at=message.at, text=message.text,
                                   who=who, message=message, outreach=message.outreach,
                                   mention=message.mention))
    shown = (OutreachStatus.APPROVED, OutreachStatus.SENDING, OutreachStatus.SENT,
             OutreachStatus.FAILED)
    for outreach in (conversation.outreach.filter(status__in=shown)
                     .exclude(pk__in=with_message).select_related("decided_by")):
        who = ""
        if outreach.decided_by:
            who = outreach.decided_by.get_full_name() or outreach.decided_by.get_username()
        entries.append(ThreadEntry(
            kind=MessageKind.REPLY if outreach.mention_id else MessageKind.DM_OUT,
            at=outreach.sent_at or outreach.decided_at or outreach.updated_at,
            text=outreach.final_text or outreach.proposed_text, who=who, outreach=outreach))
    entries.sort(key=lambda e: (e.at, e.message.pk if e.message else 0))
    return conversation, entries


def conversation_pending_care(*, conversation_id: int) -> list[Outreach]:
    """The care items and answers of a conversation still waiting for a decision."""
    return list(Outreach.objects.filter(
        conversation_id=conversation_id, kind__in=CARE_KINDS,
        status__in=(OutreachStatus.PROPOSED, OutreachStatus.SNOOZED))
        .select_related("mention").order_by("sla_due_at", "id"))



@dataclass(frozen=True)
class DetectorExampleCounts:
    total: int
    by_decision: list[tuple[str, Any, int]]  # (value, label, n) for every decision
    by_source: list[tuple[str, Any, int]]  # (value, label, n) for every source


def detector_example_counts() -> DetectorExampleCounts:
    """How many examples the detector has learned from, by decision and by source: one query."""
    by_decision = dict.fromkeys(DetectorDecision.values, 0)
    by_source = dict.fromkeys(ExampleSource.values, 0)
    for row in (DetectorExample.objects.order_by().values("decision", "source")
                .annotate(n=Count("id"))):
        by_decision[row["decision"]] = by_decision.get(row["decision"], 0) + row["n"]
        by_source[row["source"]] = by_source.get(row["source"], 0) + row["n"]
    labels = {**dict(DetectorDecision.choices), **dict(ExampleSource.choices)}
    return DetectorExampleCounts(
        total=sum(by_decision.values()),
        by_decision=[(k, labels.get(k, k), n) for k, n in by_decision.items()],
        by_source=[(k, labels.get(k, k), n) for k, n in by_source.items()])


def detector_model_versions() -> list[DetectorModelVersion]:
    """The brand's stored models, newest first, without their weights (the page never needs
    them, and they are the bulk of each row)."""
    return list(DetectorModelVersion.objects.defer("weights", "card")
                .select_related("activated_by").order_by("-created_at", "-id"))


def suppressed_identity_ids(*, identities: Iterable[SocialIdentity]) -> set[int]:
    """The identities whose account an erased person left suppressed (one query).

    An identity erased itself carries a hashed id ("erased-…") and never matches: it is the
    same account arriving again, under its real id, that is recognised.
    """
    by_key = {Suppression.key_for(platform=i.platform, platform_user_id=i.platform_user_id):
              i.pk for i in identities
              if i.platform_user_id and not i.platform_user_id.startswith("erased-")}
    if not by_key:
        return set()
    return {by_key[key] for key in Suppression.objects.filter(
        key__in=list(by_key), lifted_at__isnull=True).values_list("key", flat=True)}


# --- People: the advocates list and profile ---------------------------------------------------

# A care item is open while nobody has answered it: proposed, or snoozed for later. Answers to
# questions count too: both are a person waiting on us.
OPEN_CARE = Q(kind__in=CARE_KINDS, status__in=(OutreachStatus.PROPOSED, OutreachStatus.SNOOZED))


def advocate_list_annotate(qs: QuerySet[Advocate]) -> QuerySet[Advocate]:
    """The advocates list's columns as subqueries (last mention, open care items) and the
    identities prefetched: a page of 50 rows costs the same few queries as a page of 5."""
    last_mention = (Mention.objects.filter(author__advocate=OuterRef("pk"))
                    .order_by("-posted_at").values("posted_at")[:1])
    open_care = (Outreach.objects.filter(OPEN_CARE, advocate=OuterRef("pk"))
                 .values("advocate").annotate(n=Count("id")).values("n"))
    return qs.annotate(
        last_mention_at=Subquery(last_mention),
        open_care=Coalesce(Subquery(open_care, output_field=IntegerField()), 0),
    ).prefetch_related(Prefetch("identities",
                                queryset=SocialIdentity.objects.order_by("platform", "handle")))


def advocate_search(qs: QuerySet[Advocate], query: str) -> QuerySet[Advocate]:
    """Advocates whose name, or any identity's handle, display name or platform user id,
    contains `query`. A handle is found with or without its "@"; an EXISTS keeps one row per
    person however many of their identities match."""
    query = query.strip()
    if not query:
        return qs
    bare = query.lstrip("@") or query
    identities = SocialIdentity.objects.filter(
        Q(handle__icontains=bare) | Q(display_name__icontains=query)
        | Q(platform_user_id=query), advocate=OuterRef("pk"))
    return qs.filter(Q(display_name__icontains=query) | Exists(identities))


PROFILE_ROWS = 50  # per section: the newest; the full history is in the lists and exports


@dataclass(frozen=True)
class AdvocateActivity:
    """The advocates side of a profile: every section bounded, a fixed number of queries."""

    advocate: Advocate
    identities: list[SocialIdentity]
    mentions: list[Mention]  # the newest PROFILE_ROWS
    mention_count: int
    outreach: list[Outreach]  # replies, DMs, reshares, care: the newest PROFILE_ROWS
    conversations: list[Conversation]
    consents: list[ConsentRecord]
    events: list[AdvocacyEvent]  # the newest acts of advocacy
    event_count: int
    open_care: int
    absorbed: list[Advocate]  # advocates merged into this one


def advocate_activity(*, advocate_id: int, rows: int = PROFILE_ROWS) -> AdvocateActivity:
    """One advocate's identities, newest mentions (with the detector's call), our outreach,
    conversations and consent, and their open care items. Raises Advocate.DoesNotExist."""
    advocate = Advocate.objects.select_related("merged_into").get(pk=advocate_id)
    identities = list(advocate.identities.order_by("platform", "handle"))
    mentions_qs = Mention.objects.filter(author__advocate_id=advocate_id)
    counts = Outreach.objects.filter(advocate_id=advocate_id).aggregate(
        open_care=Count("id", filter=OPEN_CARE))
    return AdvocateActivity(
        advocate=advocate,
        identities=identities,
        mentions=list(mentions_qs.select_related("author").order_by("-posted_at", "-id")[:rows]),
        mention_count=mentions_qs.count(),
        outreach=list(Outreach.objects.filter(advocate_id=advocate_id)
                      .select_related("identity", "decided_by")
                      .order_by("-created_at", "-id")[:rows]),
        conversations=list(Conversation.objects.filter(advocate_id=advocate_id)
                           .select_related("identity", "assignee")
                           .order_by("-last_message_at")[:rows]),
        consents=list(ConsentRecord.objects.filter(advocate_id=advocate_id)
                      .select_related("identity").order_by("-requested_at")[:rows]),
        events=list(AdvocacyEvent.objects.filter(advocate_id=advocate_id)
                    .order_by("-occurred_at", "-id")[:rows]),
        event_count=AdvocacyEvent.objects.filter(advocate_id=advocate_id).count(),
        open_care=counts["open_care"],
        absorbed=list(Advocate.objects.filter(merged_into_id=advocate_id)),
    )


# --- Merge suggestions ---------------------------------------------------------------------

SAME_PROFILE_LINK = _("Same profile link")
SAME_NAME_ELSEWHERE = _("Same display name on another network")
HANDLES_MENTION_EACH_OTHER = _("Their accounts mention each other")
# A display name shared by more people than this is a common name, not a clue.
COMMON_NAME_PEOPLE = 3
# Mentions read for handles that point at each other: the newest ones that name a handle.
HANDLE_REFERENCE_MENTIONS = 20_000
_HANDLE_REFERENCE = re.compile(r"(?<![A-Za-z0-9_@])@([A-Za-z0-9_][A-Za-z0-9_.]{0,63})")

# (lower advocate id, higher advocate id) -> why they look like one person
MergeClues = dict[tuple[int, int], list[str]]


@dataclass(frozen=True)
class MergeSuggestion:
    survivor: Advocate  # the older record: it keeps its number
    absorbed: Advocate
    reasons: tuple[str, ...]


def merge_suggestions(*, limit: int = 100, clues: Iterable[MergeClues] = ()
                      ) -> list[MergeSuggestion]:
    """Pairs of advocates (neither merged, not dismissed) that look like one person, for a
    person to review: identities with the same profile link, the same display name
    (ignoring case and spaces) on different networks unless the name is common, or accounts
    whose posts mention each other's handle. `clues` adds pairs found by other apps (the
    rewards app: the same Stripe customer). Grouped in SQL; only the groups' identities
    are read."""
    active = SocialIdentity.objects.filter(advocate__merged_into__isnull=True)
    reasons: MergeClues = {}

    def add(groups: dict[str, list[tuple[int, str]]], reason: object, *,
            platforms_differ: bool) -> None:
        for members in groups.values():
            people = sorted({advocate for advocate, _platform in members})
            if len(people) < 2 or (platforms_differ and len(people) > COMMON_NAME_PEOPLE):
                continue
            for i, a in enumerate(people):
                for b in people[i + 1:]:
                    if platforms_differ and {p for x, p in members if x == a} == {
                            p for x, p in members if x == b}:
                        continue  # two accounts on the same network: not this clue
                    reasons.setdefault((a, b), []).append(str(reason))

    links = (active.exclude(profile_url="").values("profile_url")
             .annotate(n=Count("advocate", distinct=True)).filter(n__gt=1)
             .values("profile_url"))
    by_link: dict[str, list[tuple[int, str]]] = {}
    for url, advocate, platform in active.filter(profile_url__in=links).values_list(
            "profile_url", "advocate_id", "platform"):
        by_link.setdefault(url, []).append((advocate, platform))
    add(by_link, SAME_PROFILE_LINK, platforms_differ=False)

    named = active.exclude(display_name="").annotate(key=Lower(Replace(
        "display_name", Value(" "), Value(""))))
    names = (named.values("key").annotate(n=Count("advocate", distinct=True),
                                          p=Count("platform", distinct=True))
             .filter(n__gt=1, n__lte=COMMON_NAME_PEOPLE, p__gt=1).values("key"))
    by_name: dict[str, list[tuple[int, str]]] = {}
    for key, advocate, platform in named.filter(key__in=names).values_list(
            "key", "advocate_id", "platform"):
        by_name.setdefault(key, []).append((advocate, platform))
    add(by_name, SAME_NAME_ELSEWHERE, platforms_differ=True)

    for pair in _handles_mentioning_each_other(active):
        reasons.setdefault(pair, []).append(str(HANDLES_MENTION_EACH_OTHER))
    for found in clues:
        for pair, why in found.items():
            reasons.setdefault(pair, []).extend(why)

    dismissed = set(MergeDismissal.objects.values_list("first_id", "second_id"))
    candidates = {pair: why for pair, why in reasons.items() if pair not in dismissed}
    people = Advocate.objects.filter(merged_into__isnull=True).in_bulk(
        {pk for pair in candidates for pk in pair})
    pairs = sorted(p for p in candidates if p[0] in people and p[1] in people)[:limit]
    return [MergeSuggestion(people[a], people[b], tuple(candidates[(a, b)]))
            for a, b in pairs]


def _handles_mentioning_each_other(active: QuerySet[SocialIdentity]) -> set[tuple[int, int]]:
    """Pairs of advocates where each one's posts name a handle of the other ("my other
    account is @maya_jp" both ways), on any network. Reads the newest mentions that name a
    handle (HANDLE_REFERENCE_MENTIONS at most); one way is too weak a clue (fans tag
    each other)."""
    texts = (Mention.objects.filter(author__advocate__merged_into__isnull=True,
                                    text__contains="@")
             .order_by("-posted_at").values_list("author__advocate_id", "text")
             [:HANDLE_REFERENCE_MENTIONS])
    named: dict[int, set[str]] = {}
    for advocate, text in texts:
        for handle in _HANDLE_REFERENCE.findall(text):
            named.setdefault(advocate, set()).add(handle.lower().rstrip("."))
    wanted = set().union(*named.values()) if named else set()
    if not wanted:
        return set()
    owners: dict[str, set[int]] = {}
    for handle, advocate in (active.annotate(key=Lower("handle"))
                             .filter(key__in=wanted | {f"@{h}" for h in wanted})
                             .values_list("key", "advocate_id")):
        owners.setdefault(handle.lstrip("@"), set()).add(advocate)
    points_at = {a: {b for h in handles for b in owners.get(h, ()) if b != a}
                 for a, handles in named.items()}
    return {(min(a, b), max(a, b)) for a, targets in points_at.items() for b in targets
            if a in points_at.get(b, ())}
