"""The ambassador report from rollups equals the same report counted from the tables, after
every kind of write the program makes, each made through the real services: ingest, late
detection, routing, approve / reject / snooze / send, consent, the points ledger, tiers,
grants, redemptions, a merge, an opt-out and a privacy erasure. On SQLite and PostgreSQL.

A fake clock (timezone.now) moves the program through August–October 2026, so the writes land
in whole weeks and months (read from the period summaries) and in partial ones at the ends of
a range (counted directly), and later writes change periods that are already summarised.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from advocates import ratelimit
from advocates.models import (
    Advocate,
    BrandAccount,
    ConsentRecord,
    Mention,
    Outreach,
    OutreachKind,
    OutreachStatus,
)
from advocates.schemas import MentionIn
from advocates.services import (
    advocate_opt_out,
    advocates_merge,
    consent_grant,
    consent_revoke,
    mentions_detect,
    mentions_ingest,
    outreach_approve,
    outreach_deliver,
    outreach_reject,
    outreach_snooze,
)
from advocates.services.privacy import advocate_erase
from rewards import services
from rewards.models import DiscountCode, PointsEntry, Tier
from rewards.reports import ReportParams, frames, queries, report_build, rollups
from rewards.reports.models import (
    ActivePeriodRollup,
    MentionDayRollup,
    NewAdvocatePeriodRollup,
    OutreachDayRollup,
    PointsExpiryRollup,
    ReportDirtyPeriod,
    ResponsePeriodRollup,
    TopAdvocateMonthRollup,
)
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.advocates.routing_helpers import brand_settings
from tests.factories import mention_item
from tests.rewards.conftest import make_advocate, make_event, make_rule

PRAISE = ["Best flat white in Shibuya, thank you @kanshacoffee!",
          "Kansha Coffee's hojicha latte is unreal. Three days in a row now, no regrets.",
          "@kanshacoffee your new seasonal yuzu tonic is so refreshing, please make it "
          "permanent 🙏",
          "Just had the best oat flat white of my life at @kanshacoffee. The barista even "
          "remembered my name ☕️"]
COMPLAINT = "@kanshacoffee I got food poisoning after your sandwich yesterday. Never again."
NEUTRAL = "Meeting at kansha coffee shinjuku at 3, text me if you're late"


class Clock:
    def __init__(self, start: datetime):
        self.now = start

    def advance(self, **delta) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch):
    c = Clock(datetime(2026, 9, 16, 9, 0, tzinfo=UTC))  # a Wednesday
    monkeypatch.setattr(timezone, "now", lambda: c.now)
    return c


def ranges(today: date) -> list[ReportParams]:
    """Whole months and weeks (the current ones too: the range runs to December), partial
    ones at both ends, a platform filter, and ranges ending today."""
    return [
        ReportParams(date(2026, 8, 1), date(2026, 12, 31), period="month"),
        ReportParams(date(2026, 8, 1), date(2026, 12, 31), period="week"),
        ReportParams(date(2026, 8, 20), date(2026, 10, 12), period="month"),
        ReportParams(date(2026, 8, 26), date(2026, 10, 7), period="week", platform="mastodon"),
        ReportParams(date(2026, 9, 1), today, period="week", platform="sandbox"),
        ReportParams(today - timedelta(days=40), today, period="month"),
        ReportParams(today, today, period="week"),
    ]


def assert_same_report(name: str, params: ReportParams):
    """Every table and chart of one report, from the rollups and counted directly."""
    from_rollups = report_build(name=name, params=params)
    direct = report_build(name=name, params=params, direct=True)
    assert list(from_rollups.sections) == list(direct.sections)
    for key, section in direct.sections.items():
        pd.testing.assert_frame_equal(from_rollups.sections[key].frame, section.frame,
                                      check_exact=True, obj=f"{name} {params.describe()}: {key}")
    assert from_rollups.charts == direct.charts, params.describe()
    return direct


def assert_rollups_equal_direct(today: date) -> dict:
    """The ambassador and liability reports both ways, for every range; returns the first
    range's trend totals (so a test can also check the numbers are not trivially zero)."""
    first = None
    for params in ranges(today):
        assert_same_report("liability", params)
        direct = assert_same_report("ambassador", params)
        if first is None:
            trend = direct.main.frame
            first = {c: int(trend[c].sum()) for c in (
                "mentions", "positive", "thanks_proposed", "thanks_sent", "thanks_rejected",
                "care_items", "new_advocates", "active_advocates", "reshares_sent",
                "consents_granted")}
            first["top"] = len(direct.sections["top"].frame)
    return first


def ingest(items: list[dict], *, detect: bool = True) -> list[Mention]:
    parsed = [MentionIn.model_validate(i) for i in items]
    result = mentions_ingest(items=parsed, source="webhook", detect=False)
    if detect:
        mentions_detect(mention_ids=result.mention_ids)
    return list(Mention.objects.filter(pk__in=result.mention_ids).order_by("external_id"))


def post(n: int, author: int, text: str, posted: datetime, platform: str = "sandbox") -> dict:
    return mention_item(n, external_id=f"rollup-{n}", author_id=f"author-{author}",
                        author_handle=f"@fan{author}", author_name=f"Fan {author}",
                        text=text, posted_at=posted.isoformat(), platform=platform,
                        followers=300 + author)


def deliver_all() -> None:
    for pk in Outreach.objects.filter(status=OutreachStatus.APPROVED, platform="sandbox") \
            .values_list("pk", flat=True):
        outreach_deliver(outreach_id=pk)


def rollup_rows() -> dict[str, list[tuple]]:
    tables = {
        "mentions": (MentionDayRollup, ("day", "platform", "mentions", "positive", "detected")),
        "outreach": (OutreachDayRollup, ("day", "platform", "kind", "status", "reason", "items",
                                         "with_sla", "within_sla")),
        "response": (ResponsePeriodRollup, ("period", "start", "platform", "kind", "sent",
                                            "median_seconds")),
        "active": (ActivePeriodRollup, ("period", "start", "platform", "active_advocates",
                                        "events", "reshares")),
        "new": (NewAdvocatePeriodRollup, ("period", "start", "platform", "new_advocates")),
        "top": (TopAdvocateMonthRollup, ("month", "scope", "advocate_id", "events")),
        "points": (PointsExpiryRollup, ("month", "points", "advocates")),
    }
    return {name: sorted(model.objects.values_list(*fields), key=repr)
            for name, (model, fields) in tables.items()}


def test_rollups_equal_a_direct_count_through_a_season_of_writes(
        clock, config, process, django_user_model, django_capture_on_commit_callbacks):
    # Every report's refresh has no look-back margin: each change is found by its timestamp.
    brand_settings(cooldown_days=0, reshare_requires_consent=True)
    ratelimit.reset(BrandAccount.objects.get(platform="sandbox"))
    staff = django_user_model.objects.create_user("sora", password="pw")
    Tier.objects.create(name="Bronze", threshold=10)
    Tier.objects.create(name="Silver", threshold=30)
    make_rule(name="Two thank-yous", trigger_count=2, trigger_days=60, percent_off=10)

    # Nothing yet: both ways give empty tables.
    assert_rollups_equal_direct(clock.now.date())

    # 16 September: late August and September posts arrive; two wait for detection.
    n = 0
    batch = []
    for author in range(1, 7):
        for k in range(author % 3 + 1):
            n += 1
            posted = datetime(2026, 8, 24, 8, tzinfo=UTC) + timedelta(days=3 * n, hours=author)
            batch.append(post(n, author, PRAISE[(n + k) % len(PRAISE)], posted,
                              platform="mastodon" if author == 6 else "sandbox"))
    batch += [post(50, 2, COMPLAINT, datetime(2026, 9, 15, 20, tzinfo=UTC)),
              post(51, 7, NEUTRAL, datetime(2026, 9, 1, 12, tzinfo=UTC)),
              post(52, 8, COMPLAINT, datetime(2026, 9, 14, 7, tzinfo=UTC),
                   platform="mastodon")]
    ingest(batch)
    late = ingest([post(60, 3, PRAISE[0], datetime(2026, 9, 2, 9, tzinfo=UTC)),
                   post(61, 9, PRAISE[1], datetime(2026, 8, 31, 9, tzinfo=UTC))],
                  detect=False)
    counts = assert_rollups_equal_direct(clock.now.date())
    assert counts["mentions"] > 10
    assert counts["thanks_proposed"] > 5
    assert counts["care_items"] == 2

    # An hour later: staff decide; approved replies are sent. The sandbox complaint is
    # answered after its SLA; the Mastodon one fails (no brand account there).
    clock.advance(hours=1)
    replies = list(Outreach.objects.filter(kind=OutreachKind.REPLY).order_by("pk"))
    outreach_reject(outreach_id=replies[0].pk, user=staff, reason="sarcasm")
    outreach_reject(outreach_id=replies[1].pk, user=staff, reason="=not about us")
    outreach_snooze(outreach_id=replies[2].pk, user=staff, until=clock.now + timedelta(days=3))
    for reply in replies[3:-2]:
        outreach_approve(outreach_id=reply.pk, user=staff)
    deliver_all()
    clock.advance(hours=2)
    for care in Outreach.objects.filter(kind=OutreachKind.CARE).order_by("pk"):
        outreach_approve(outreach_id=care.pk, user=staff, final_text="So sorry, DM us please.")
        outreach_deliver(outreach_id=care.pk)
    assert set(Outreach.objects.filter(kind=OutreachKind.CARE).values_list(
        "platform", "status")) == {("sandbox", "sent"), ("mastodon", "failed")}
    counts = assert_rollups_equal_direct(clock.now.date())
    assert counts["thanks_sent"] > 0
    assert counts["thanks_rejected"] == 2
    assert counts["active_advocates"] > 0

    # The ledger: points, tiers, a grant and its code; a consent answered.
    process()
    with django_capture_on_commit_callbacks(execute=True):
        # Issued as the grants_issue task does: one grant_issue per grant (its local code,
        # and the reward message proposed).
        for grant_id in services.grants_approved_stale_ids(older_than=timedelta(0)):
            services.grant_issue(grant_id=grant_id)
    # A sandbox author's consent: the brand has no Mastodon account, so a reshare there fails.
    record = (ConsentRecord.objects.filter(status="requested", mention__platform="sandbox")
              .order_by("pk").first())
    consent_grant(record=record, method="page")
    assert_rollups_equal_direct(clock.now.date())

    # 3 October: the two late mentions are detected (September counts change), old
    # September proposals are approved and sent (September outreach, response times and
    # advocacy change), the granted reshare goes out, October posts arrive.
    clock.advance(days=17)
    mentions_detect(mention_ids=[m.pk for m in late])
    for reply in Outreach.objects.filter(kind=OutreachKind.REPLY, status="proposed",
                                         platform="sandbox").order_by("pk")[:3]:
        outreach_approve(outreach_id=reply.pk, user=staff)
    for reshare in Outreach.objects.filter(kind=OutreachKind.RESHARE, status="proposed"):
        outreach_approve(outreach_id=reshare.pk, user=staff)
    deliver_all()
    ingest([post(70 + i, 1 + i % 4, PRAISE[i % len(PRAISE)],
                 datetime(2026, 10, 1, 9, tzinfo=UTC) + timedelta(hours=7 * i))
            for i in range(6)])
    for reply in Outreach.objects.filter(kind=OutreachKind.REPLY, status="proposed",
                                         created_at__gte=clock.now).order_by("pk")[:4]:
        outreach_approve(outreach_id=reply.pk, user=staff)
    deliver_all()
    process()
    counts = assert_rollups_equal_direct(clock.now.date())
    assert PointsEntry.objects.exists()
    assert counts["reshares_sent"] >= 1
    assert counts["consents_granted"] == 1
    assert counts["top"] > 2

    # A code is redeemed; a consent is revoked (its reshare was sent: a take-down).
    code = DiscountCode.objects.order_by("pk").first()
    assert code is not None
    services.code_redeem(code=code.code, order_amount_minor=4200, currency="jpy",
                         order_ref="till-1")
    consent_revoke(record=record, method="reply")
    assert_rollups_equal_direct(clock.now.date())

    # 20 October: two fans turn out to be one person (new advocates of their period
    # drop by one); one opts out (waiting proposals rejected); one asks to be erased.
    clock.advance(days=17)
    survivor = Advocate.objects.get(identities__platform_user_id="author-4")
    absorbed = Advocate.objects.get(identities__platform_user_id="author-5")
    before = assert_rollups_equal_direct(clock.now.date())
    advocates_merge(survivor=survivor, absorbed=absorbed)
    after = assert_rollups_equal_direct(clock.now.date())
    assert after["new_advocates"] == before["new_advocates"] - 1
    advocate_opt_out(advocate=Advocate.objects.get(identities__platform_user_id="author-2"),
                     source="reply")
    advocate_erase(advocate_id=Advocate.objects.get(identities__platform_user_id="author-1").pk)
    assert_rollups_equal_direct(clock.now.date())

    # The rollups kept up change by change are the ones a rebuild counts from scratch.
    rollups.rollups_refresh()
    assert not ReportDirtyPeriod.objects.exists()
    kept = rollup_rows()
    rollups.rollups_refresh(rebuild=True)
    assert rollup_rows() == kept
    assert all(kept[name] for name in ("mentions", "outreach", "response", "active", "new",
                                       "top", "points"))


def test_split_gives_whole_periods_and_the_partial_ends():
    p = ReportParams(date(2026, 8, 20), date(2026, 11, 3), period="month")
    starts, edges = rollups.split(p, "month")
    assert starts == [date(2026, 9, 1), date(2026, 10, 1)]
    assert [(e.date_from, e.date_to) for e in edges] == [
        (date(2026, 8, 20), date(2026, 8, 31)), (date(2026, 11, 1), date(2026, 11, 3))]
    starts, edges = rollups.split(p, "week")
    assert (starts[0], starts[-1], len(starts)) == (date(2026, 8, 24), date(2026, 10, 26), 10)
    assert [(e.date_from, e.date_to) for e in edges] == [
        (date(2026, 8, 20), date(2026, 8, 23)), (date(2026, 11, 2), date(2026, 11, 3))]
    whole = ReportParams(date(2026, 9, 1), date(2026, 9, 30))
    assert rollups.split(whole, "month") == ([date(2026, 9, 1)], [])
    short = ReportParams(date(2026, 9, 2), date(2026, 9, 6))
    assert rollups.split(short, "week") == ([], [short])
    assert rollups.split(ReportParams(date(2026, 12, 1), date(2027, 1, 31)), "month")[0] == [
        date(2026, 12, 1), date(2027, 1, 1)]


@pytest.fixture
def busy_advocates(db):
    """Events per advocate and month (Aug-Oct 2026) with a clear top and ties below it."""
    counts = {  # advocate -> events in (Aug, Sep, Oct)
        "a": (9, 8, 7), "b": (1, 9, 9), "c": (5, 5, 5), "d": (4, 4, 4), "e": (4, 4, 4),
        "f": (3, 0, 3), "g": (0, 2, 2), "h": (1, 1, 1)}
    people = {}
    for name, months in counts.items():
        people[name] = make_advocate()
        for month, n in zip((8, 9, 10), months, strict=True):
            for i in range(n):
                make_event(people[name], at=datetime(2026, month, 2 + i, 10, tzinfo=UTC),
                           mention=False)
    return people


@pytest.mark.parametrize("params", [
    ReportParams(date(2026, 8, 1), date(2026, 10, 31)),
    ReportParams(date(2026, 8, 5), date(2026, 10, 3)),
    ReportParams(date(2026, 9, 1), date(2026, 9, 30), platform="mastodon"),
])
@pytest.mark.parametrize("keep", [2, 3, 8, 100])
def test_top_advocates_from_the_monthly_lists_equal_the_direct_ranking(
        busy_advocates, monkeypatch, params, keep):
    monkeypatch.setattr(rollups, "TOP_KEEP", keep)
    rollups.rollups_refresh(rebuild=True)
    calls = []
    direct_count = queries.count_top_counted
    monkeypatch.setattr(queries, "count_top_counted",
                        lambda p, **kw: calls.append(p) or direct_count(p, **kw))
    for limit in (1, 2, 3):
        got = rollups.rollup_top_advocates(params, limit=limit)
        calls_from_lists = len(calls)
        want = queries.count_top_advocates(params, limit=limit)
        pd.testing.assert_frame_equal(got, want, check_exact=True)
        if keep == 100:  # every month's list is complete: always settled from the lists
            assert calls_from_lists == 0
        calls.clear()


def test_top_lists_settle_the_common_case_without_counting_everyone(busy_advocates,
                                                                     monkeypatch):
    monkeypatch.setattr(rollups, "TOP_KEEP", 3)
    rollups.rollups_refresh(rebuild=True)
    monkeypatch.setattr(queries, "count_top_counted", lambda *a, **k: pytest.fail("counted all"))
    top = rollups.rollup_top_advocates(ReportParams(date(2026, 8, 1), date(2026, 10, 31)), limit=2)
    people = busy_advocates
    assert list(top["advocate_id"]) == [people["a"].pk, people["b"].pk]
    assert list(top["events"]) == [24, 19]


def test_a_change_committed_late_is_found_by_the_periodic_refresh(db, clock):
    advocate = make_advocate()
    make_event(advocate, at=datetime(2026, 9, 1, 10, tzinfo=UTC), mention=False)
    rollups.rollups_refresh()
    params = ReportParams(date(2026, 9, 1), date(2026, 9, 30))
    assert rollups.rollup_advocates_active(params)["events"].sum() == 1
    # A transaction stamped its event a minute before that refresh started but committed
    # after it had looked. A report's refresh looks only at what was stamped since.
    clock.advance(seconds=30)
    make_event(advocate, at=datetime(2026, 9, 2, 10, tzinfo=UTC), mention=False,
               created_at=clock.now - timedelta(minutes=1))
    rollups.rollups_refresh(needed=rollups.needed_periods(params))
    assert rollups.rollup_advocates_active(params)["events"].sum() == 1
    # The periodic refresh looks back MARGIN before the previous periodic one.
    from rewards.reports.tasks import report_rollups_refresh

    report_rollups_refresh.delay()
    assert rollups.rollup_advocates_active(params)["events"].sum() == 2


def test_a_change_is_recounted_once_new_and_once_settled_not_by_every_refresh(db, clock):
    advocate = make_advocate(first_seen_at=datetime(2026, 9, 1, tzinfo=UTC))
    rollups.rollups_refresh()
    clock.advance(seconds=10)
    make_event(advocate, at=datetime(2026, 9, 2, 10, tzinfo=UTC), mention=False,
               created_at=clock.now)
    clock.advance(seconds=1)
    assert rollups.rollups_refresh().marked == 3  # its week, month and top month
    clock.advance(seconds=1)
    for _ in range(3):  # reports right after: nothing new
        assert rollups.rollups_refresh().marked == 0
    periodic = rollups.rollups_refresh(margin=rollups.MARGIN)
    assert periodic.marked == 3  # within the margin: counted once more, in case it was late
    clock.advance(seconds=1)
    assert rollups.rollups_refresh(margin=rollups.MARGIN).marked == 3  # still in the margin
    clock.advance(minutes=3)
    rollups.rollups_refresh(margin=rollups.MARGIN)
    clock.advance(seconds=1)
    assert rollups.rollups_refresh(margin=rollups.MARGIN).marked == 0  # settled


def test_periods_are_recounted_when_a_report_needs_them_or_by_the_periodic_task(db, clock):
    advocate = make_advocate()
    rollups.rollups_refresh()
    make_event(advocate, at=datetime(2026, 8, 3, 10, tzinfo=UTC), mention=False,
               created_at=clock.now)
    september = ReportParams(date(2026, 9, 1), date(2026, 9, 30))
    rollups.rollups_refresh(needed=rollups.needed_periods(september))
    # August is marked, not recounted: no report asked for it yet.
    assert ReportDirtyPeriod.objects.filter(summary="active", period="month",
                                            start=date(2026, 8, 1)).exists()
    from rewards.reports.tasks import report_rollups_refresh

    report_rollups_refresh.delay()
    assert not ReportDirtyPeriod.objects.exists()
    august = ReportParams(date(2026, 8, 1), date(2026, 8, 31))
    assert rollups.rollup_advocates_active(august)["active_advocates"].tolist() == [1]


def test_periodic_tasks_are_scheduled_on_the_reports_queue():
    schedule = settings.CELERY_BEAT_SCHEDULE
    assert schedule["reports-rollups-refresh"]["task"] == "rewards.tasks.report_rollups_refresh"
    assert schedule["reports-rollups-rescan"]["task"] == "rewards.tasks.report_rollups_rescan"
    assert settings.CELERY_TASK_ROUTES["rewards.tasks.report_*"] == {"queue": "reports"}


def test_rebuild_command_counts_everything_again(program, capsys):
    out = call_command("report_rollups", "--rebuild")
    assert out is None
    assert "rebuilt" in capsys.readouterr().out
    assert MentionDayRollup.objects.filter(platform="sandbox").aggregate(
        n=Sum("mentions"))["n"] == 5  # the fixture's four November mentions and October's


@pytest.fixture
def points_ledger(db):
    """Points expiring at awkward times: exactly at midnight on the 1st, never, late in a
    month; two advocates sharing a month; one entry that occurred late."""
    alice, bob = make_advocate(), make_advocate()
    rows = [(alice, 10, datetime(2026, 10, 3, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
            (bob, 7, datetime(2026, 10, 5, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)),
            (bob, 5, datetime(2026, 10, 9, tzinfo=UTC), datetime(2026, 12, 31, 23, tzinfo=UTC)),
            (alice, 20, datetime(2026, 10, 9, tzinfo=UTC), None),
            (alice, 4, datetime(2026, 11, 2, tzinfo=UTC), datetime(2027, 1, 15, tzinfo=UTC)),
            (bob, 3, datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 30, tzinfo=UTC))]
    for advocate, points, occurred, expires in rows:
        PointsEntry.objects.create(advocate=advocate, points=points, reason="praise",
                                   occurred_at=occurred, day=occurred.date(),
                                   expires_at=expires)


@pytest.mark.parametrize("as_of", [
    datetime(2026, 12, 1, tzinfo=UTC),  # the instant two entries expire: they are not counted
    datetime(2026, 12, 1, 0, 0, 1, tzinfo=UTC),
    datetime(2026, 11, 25, tzinfo=UTC),
    datetime(2026, 11, 30, 12, tzinfo=UTC),
    datetime(2027, 2, 1, tzinfo=UTC),
    datetime(2026, 11, 10, tzinfo=UTC),  # before the last entry occurred: counted directly
])
def test_points_outstanding_from_the_rollup_equal_the_direct_count(points_ledger, as_of):
    rollups.rollups_refresh(rebuild=True)
    # As the report shows them (the databases order '' differently; the frame puts it last).
    pd.testing.assert_frame_equal(frames.shape_points_outstanding(rollups.rollup_points_outstanding(as_of=as_of)),
                                  frames.shape_points_outstanding(queries.count_points_outstanding(as_of=as_of)),
                                  check_exact=True)


def test_new_points_are_counted_before_the_liability_report_reads(points_ledger, clock):
    params = ReportParams(date(2026, 11, 1), date(2026, 11, 30))
    assert_same_report("liability", params)
    PointsEntry.objects.create(advocate=make_advocate(), points=9, reason="praise",
                               occurred_at=datetime(2026, 11, 3, tzinfo=UTC),
                               day=date(2026, 11, 3), expires_at=datetime(2027, 3, 1, tzinfo=UTC),
                               created_at=clock.now)
    points = assert_same_report("liability", params).sections["points"].frame
    assert points.set_index("expiry_month").loc["2027-03-01", "points"] == 9
