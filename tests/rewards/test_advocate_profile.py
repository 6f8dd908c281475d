"""The advocate profile (issue 15): one read-first page with identities, mentions and the
detector's call, outreach, conversations, points, tier progress, grants with codes (masked for
roles that may not see codes), redemptions and consent; open care items flagged at the top; a
number of queries that does not grow with the advocate's history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from advocates.models import AdvocacyEvent, Mention
from rewards import services
from rewards.models import AdvocateTier, DiscountCode, GrantStatus, PointsEntry, Tier
from tests.factories import OutreachFactory
from tests.rewards.conftest import make_advocate, make_event, make_rule
from tests.roles import FINANCE, SOCIAL_STAFF, STORE_STAFF, user_in_role

pytestmark = pytest.mark.django_db
CODE = "KAN-7XK2-MP9QRT"


def _url(advocate) -> str:
    return f"/admin/advocates/people/{advocate.pk}/"


def _grow(advocate, *, mentions: int, entries: int) -> None:
    """Give the advocate a long history (mentions, acts of advocacy, points), in bulk."""
    identity = advocate.identities.get()
    now = datetime.now(UTC)
    Mention.objects.bulk_create([
        Mention(platform="sandbox", external_id=f"grow-{advocate.pk}-{n}", author=identity,
                text=f"Great coffee #{n}", posted_at=now - timedelta(minutes=n), source="api",
                detection_label="positive", detection_intent="praise",
                detection_confidence=0.9, route="thank") for n in range(mentions)])
    AdvocacyEvent.objects.bulk_create([
        AdvocacyEvent(advocate=advocate, kind="praise", platform="sandbox",
                      occurred_at=now - timedelta(hours=n),
                      dedupe_key=f"grow-{advocate.pk}-{n}") for n in range(entries)])
    PointsEntry.objects.bulk_create([
        PointsEntry(advocate=advocate, points=10, reason=f"praise {n}",
                    occurred_at=now - timedelta(hours=n), day=(now - timedelta(hours=n)).date())
        for n in range(entries)])


@pytest.fixture
def regular():
    """A regular: Silver on the way to Gold, a code, and two open complaints."""
    advocate = make_advocate(handle="@regular", platform="x",
                             profile_url="https://x.com/regular", verified=True,
                             follower_count=4200)
    silver = Tier.objects.create(name="Silver", level=1, threshold=100, live=True)
    Tier.objects.create(name="Gold", level=2, threshold=500, live=True)
    AdvocateTier.objects.create(advocate=advocate, tier=silver, points=300)
    _grow(advocate, mentions=3, entries=3)
    make_event(advocate, "checkin", venue="Kansha Coffee Shibuya")
    identity = advocate.identities.get()
    for _ in range(2):
        OutreachFactory(kind="care", advocate=advocate, identity=identity,
                        mention=Mention.objects.filter(author=identity).first())
    grant = services.grant_create(rule=make_rule(trigger_count=1), advocate_id=advocate.pk)
    grant.status = GrantStatus.DELIVERED
    grant.save()
    DiscountCode.objects.create(grant=grant, provider="local", code=CODE,
                                discount_type="percent", percent_off=10, currency="jpy",
                                max_redemptions=1)
    return advocate


def test_social_staff_see_the_whole_person_with_codes_masked(client, regular):
    client.force_login(user_in_role(SOCIAL_STAFF))

    response = client.get(_url(regular))

    assert response.status_code == 200
    html = response.content.decode()
    for text in ("2 open care items: answer before you reward.", "@regular",
                 "https://x.com/regular", "4200", "Silver", "200 points to Gold",
                 "Great coffee #0", "Positive", "Praise", "praise 0", "Delivered",
                 "•••-••••-••9QRT", "Kansha Coffee Shibuya"):
        assert text in html, text
    assert CODE not in html
    assert "Redemptions" not in html  # amounts are finance's


def test_finance_see_the_code_and_redemptions(client, regular):
    services.code_redeem(code=CODE, order_amount_minor=4200, currency="jpy", order_ref="T-1")
    # Finance do not see advocates by default; one who also may (a finance lead) sees codes.
    finance = user_in_role(FINANCE)
    finance.user_permissions.add(Permission.objects.get(codename="view_advocate",
                                                        content_type__app_label="advocates"))
    client.force_login(finance)

    html = client.get(_url(regular)).content.decode()

    assert CODE in html
    for text in ("Redemptions", "¥3,780", "¥420"):
        assert text in html, text


def test_a_role_that_may_not_see_advocates_gets_403(client, regular):
    # Store staff see only the till (finance and marketing see people since issue 15).
    client.force_login(user_in_role(STORE_STAFF))
    assert client.get(_url(regular)).status_code == 403


def test_an_unknown_advocate_is_404(client):
    client.force_login(user_in_role(SOCIAL_STAFF))
    assert client.get("/admin/advocates/people/999999/").status_code == 404


def _queries(client, advocate) -> int:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(_url(advocate)).status_code == 200
    return len(ctx.captured_queries)


def test_the_profile_costs_the_same_queries_for_5000_mentions_and_500_points_entries(
        client, regular):
    client.force_login(user_in_role(SOCIAL_STAFF))
    small = make_advocate()
    _grow(small, mentions=1, entries=1)
    big = make_advocate()
    _grow(big, mentions=5000, entries=500)
    _queries(client, small)  # warm the session, permission and settings caches

    assert _queries(client, big) == _queries(client, small) == _queries(client, regular)
