"""The ambassador report's care sections: first-response and resolution times (median, p90),
first-response and resolution SLA hit rates, outcomes and complainers who became advocates,
by platform and by staff member.

Four conversations resolved in November 2026 (and one in October, left out), every figure
worked out by hand below. p90 is linear between the two nearest values: for n sorted values
it sits at position 0.9 × (n − 1).

conv platform staff outcome    first post  first response (SLA due)    resolved (due)
A    x        kei   refunded   3rd 10:00   10:20 = 20 min (11:00 hit)  12:00 = 120 (13:00 hit)
B    x        kei   fixed      4th 10:00   11:30 = 90 min (11:00 miss) 14:00 = 240 (15:00 hit)
C    line     mio   explained  5th 10:00   10:10 = 10 min (no SLA)     10:40 = 40 (no due)
D    x        mio   no_reply   6th 10:00   never (11:00 miss)          7th = 1440 (6th 14:00 miss)
Advocacy: A on 20 Dec (yes); B 100 days after (no); C and D none.
"""

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from django.urls import reverse

from advocates.models import AdvocacyEvent, Conversation, ConversationMessage, Outreach
from rewards.reports import ReportParams, ambassador_report, frames
from tests.factories import SocialIdentityFactory
from tests.roles import MARKETING, SOCIAL_STAFF, user_in_role

pytestmark = pytest.mark.django_db
NAN = float("nan")


def at(day: int, hour: int = 10, minute: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


def _conversation(n: int, *, platform: str, staff, outcome: str, first: datetime,
                  kind: str, sent: datetime | None, due: datetime | None,
                  resolved: datetime, advocacy: datetime | None = None,
                  resolution_due: datetime | None = None) -> Conversation:
    identity = SocialIdentityFactory(platform=platform, platform_user_id=f"care-{n}")
    conversation = Conversation.objects.create(
        advocate=identity.advocate, identity=identity, platform=platform, status="resolved",
        outcome=outcome, opened_at=first, resolved_at=resolved, resolved_by=staff,
        resolution_due_at=resolution_due)
    ConversationMessage.objects.create(conversation=conversation, kind=kind, platform=platform,
                                       text="my order was cold", at=first)
    Outreach.objects.create(
        kind="care", status="sent" if sent else "rejected", advocate=identity.advocate,
        identity=identity, platform=platform, dedupe_key=f"care-report:{n}",
        conversation=conversation, sla_due_at=due, sent_at=sent, created_at=first)
    if advocacy:
        AdvocacyEvent.objects.create(advocate=identity.advocate, kind="praise",
                                     platform=platform, occurred_at=advocacy,
                                     dedupe_key=f"care-report-event:{n}")
    return conversation


@pytest.fixture
def seeded():
    kei = user_in_role(SOCIAL_STAFF, username="kei")
    mio = user_in_role(SOCIAL_STAFF, username="mio")
    _conversation(1, platform="x", staff=kei, outcome="refunded", first=at(3), kind="mention",
                  sent=at(3, 10, 20), due=at(3, 11), resolved=at(3, 12),
                  resolution_due=at(3, 13), advocacy=at(20, month=12))
    _conversation(2, platform="x", staff=kei, outcome="fixed", first=at(4), kind="dm_in",
                  sent=at(4, 11, 30), due=at(4, 11), resolved=at(4, 14),
                  resolution_due=at(4, 15), advocacy=at(4, 14) + timedelta(days=100))
    _conversation(3, platform="line", staff=mio, outcome="explained", first=at(5),
                  kind="dm_in", sent=at(5, 10, 10), due=None, resolved=at(5, 10, 40))
    _conversation(4, platform="x", staff=mio, outcome="no_reply", first=at(6), kind="mention",
                  sent=None, due=at(6, 11), resolved=at(7), resolution_due=at(6, 14))
    _conversation(5, platform="x", staff=kei, outcome="fixed", first=at(29, month=10),
                  kind="mention", sent=at(29, 10, 5, month=10), due=at(29, 11, month=10),
                  resolved=at(30, month=10))  # resolved in October: not in November's report


def _table(report, name: str) -> pd.DataFrame:
    return report.sections[name].frame.set_index(report.sections[name].frame.columns[0])


def test_by_platform_every_figure_as_worked_out_by_hand(seeded):
    report = ambassador_report(ReportParams(date(2026, 11, 1), date(2026, 11, 30)),
                               direct=True)
    table = _table(report, "care_platform")

    assert list(table.index) == ["line", "x", "all"]
    line, x, everything = (table.loc[k].to_dict() for k in ("line", "x", "all"))
    # x: first responses 20 and 90 (D never answered); resolutions 120, 240, 1440.
    assert x["resolved"] == 3
    assert x["first_response_median_minutes"] == 55.0  # (20 + 90) / 2
    assert x["first_response_p90_minutes"] == 83.0  # 20 + 0.9 × (90 − 20)
    assert x["resolution_median_minutes"] == 240.0
    assert x["resolution_p90_minutes"] == 1200.0  # position 1.8: 240 + 0.8 × 1200
    assert x["sla_hit_rate"] == 0.3333  # A hit; B and D missed
    assert x["resolution_sla_hit_rate"] == 0.6667  # A and B resolved in time; D was not
    assert (x["refunded"], x["fixed"], x["no_reply"], x["explained"]) == (1, 1, 1, 0)
    assert x["became_advocates"] == 1  # A (47 days later); B's act came after 100 days
    assert (line["resolved"], line["first_response_median_minutes"],
            line["resolution_p90_minutes"], line["explained"]) == (1, 10.0, 40.0, 1)
    assert pd.isna(line["sla_hit_rate"])  # a DM-only conversation has no SLA
    assert pd.isna(line["resolution_sla_hit_rate"])  # nor a resolution due time
    # all four: first responses 10, 20, 90; resolutions 40, 120, 240, 1440.
    assert everything["resolved"] == 4
    assert everything["first_response_median_minutes"] == 20.0
    assert everything["first_response_p90_minutes"] == 76.0  # 20 + 0.8 × 70
    assert everything["resolution_median_minutes"] == 180.0  # (120 + 240) / 2
    assert everything["resolution_p90_minutes"] == 1080.0  # position 2.7: 240 + 0.7 × 1200
    assert everything["sla_hit_rate"] == 0.3333
    assert everything["resolution_sla_hit_rate"] == 0.6667  # C has none: 2 of 3
    assert everything["became_advocates"] == 1


def test_by_staff_member_as_worked_out_by_hand(seeded):
    report = ambassador_report(ReportParams(date(2026, 11, 1), date(2026, 11, 30)),
                               direct=True)
    table = _table(report, "care_staff")

    kei, mio = table.loc["kei"].to_dict(), table.loc["mio"].to_dict()
    assert (kei["resolved"], kei["first_response_median_minutes"],
            kei["first_response_p90_minutes"]) == (2, 55.0, 83.0)
    assert (kei["resolution_median_minutes"], kei["resolution_p90_minutes"]) == (180.0, 228.0)
    assert (kei["sla_hit_rate"], kei["refunded"], kei["fixed"], kei["became_advocates"]) == (
        0.5, 1, 1, 1)
    assert kei["resolution_sla_hit_rate"] == 1.0  # A and B
    assert mio["resolution_sla_hit_rate"] == 0.0  # D missed; C had no due time
    assert (mio["resolved"], mio["first_response_median_minutes"],
            mio["first_response_p90_minutes"]) == (2, 10.0, 10.0)
    assert (mio["resolution_median_minutes"], mio["resolution_p90_minutes"]) == (740.0, 1300.0)
    assert (mio["sla_hit_rate"], mio["explained"], mio["no_reply"]) == (0.0, 1, 1)


def test_the_platform_filter_and_an_empty_month():
    report = ambassador_report(ReportParams(date(2026, 11, 1), date(2026, 11, 30),
                                            platform="line"), direct=True)
    assert report.sections["care_platform"].frame.empty
    assert list(frames.shape_care_summary(pd.DataFrame(), "staff").columns) == [
        "staff", *frames.CARE_COLUMNS]


def test_the_report_page_shows_the_care_sections(seeded, client):
    client.force_login(user_in_role(MARKETING, username="viewer"))
    html = client.get(reverse("kansha_reports:ambassador"), {
        "date_range_from": "2026-11-01", "date_range_to": "2026-11-30"}).content.decode()
    assert "Care by platform" in html
    assert "Care by staff member" in html
    assert "First response: p90 minutes" in html
    assert "33.3%" in html  # the SLA hit rate on x
    assert "Resolution: SLA hit rate" in html
    assert "100.0%" in html  # kei's resolution SLA hit rate
