"""The advocates list: handles, tier, points, last mention and open care items per person;
search by name, handle or identity finds the person; filters by tier, platform, flagged and
opted out (issue 15)."""

from datetime import UTC, datetime

import pytest

from rewards.models import AdvocateTier, PointsEntry, Tier
from tests.factories import AdvocateFactory, MentionFactory, OutreachFactory, SocialIdentityFactory
from tests.roles import SOCIAL_STAFF, user_in_role

pytestmark = pytest.mark.django_db
URL = "/admin/snippets/advocates/advocate/"


@pytest.fixture
def staff(client):
    client.force_login(user_in_role(SOCIAL_STAFF))
    return client


@pytest.fixture
def maya():
    """Maya: on X as @maya_drinks and on Instagram, Gold, 120 points, two open complaints."""
    advocate = AdvocateFactory(display_name="Maya Hall")
    on_x = SocialIdentityFactory(advocate=advocate, platform="x", handle="@maya_drinks",
                                 platform_user_id="x-4242")
    SocialIdentityFactory(advocate=advocate, platform="instagram", handle="mayah")
    MentionFactory(author=on_x, posted_at=datetime(2026, 11, 30, 9, 0, tzinfo=UTC))
    for _ in range(2):
        OutreachFactory(kind="care", mention=MentionFactory(author=on_x), advocate=advocate)
    OutreachFactory(kind="care", status="sent", mention=MentionFactory(author=on_x),
                    advocate=advocate)  # answered: not open
    gold = Tier.objects.create(name="Gold", level=1, threshold=100, live=True)
    AdvocateTier.objects.create(advocate=advocate, tier=gold, points=120)
    PointsEntry.objects.create(advocate=advocate, points=120, reason="praise",
                               occurred_at=datetime.now(UTC), day=datetime.now(UTC).date())
    return advocate


def _names(response) -> list[str]:
    return [str(a) for a in response.context["object_list"]]


def test_the_list_shows_handles_tier_points_last_mention_and_open_care(staff, maya):
    other = SocialIdentityFactory(handle="@someone_else").advocate

    response = staff.get(URL)

    assert response.status_code == 200
    html = response.content.decode()
    for text in ("@maya_drinks", "mayah", "Gold", "Handles", "Tier", "Points",
                 "Last mention", "Open care items", "@someone_else"):
        assert text in html, text
    rows = {a.pk: a for a in response.context["object_list"]}
    assert (rows[maya.pk].tier_name, rows[maya.pk].points_balance) == ("Gold", 120)
    assert rows[maya.pk].open_care == 2
    assert rows[other.pk].open_care == 0
    assert rows[maya.pk].last_mention_at is not None
    # The name opens the profile, not the edit form.
    assert f"/admin/advocates/people/{maya.pk}/" in html


@pytest.mark.parametrize("query", ["@maya_drinks", "maya_drinks", "MAYA_DR", "x-4242", "Hall",
                                   "mayah"])
def test_a_handle_name_or_identity_search_finds_the_person_once(staff, maya, query):
    SocialIdentityFactory(handle="@bob")

    response = staff.get(URL, {"q": query})

    assert _names(response) == ["Maya Hall"]


def test_a_search_that_matches_nobody_lists_nobody(staff, maya):
    assert _names(staff.get(URL, {"q": "@nobody_here"})) == []


def test_filters_by_tier_platform_flagged_and_opted_out(staff, maya):
    bob = SocialIdentityFactory(handle="@bob", platform="sandbox").advocate
    bob.flagged, bob.opted_out_at = True, datetime.now(UTC)
    bob.save()
    gold = Tier.objects.get(name="Gold")

    assert _names(staff.get(URL, {"tier": gold.pk})) == ["Maya Hall"]
    assert _names(staff.get(URL, {"platform": "instagram"})) == ["Maya Hall"]
    assert _names(staff.get(URL, {"platform": "sandbox"})) == [str(bob)]
    assert _names(staff.get(URL, {"flagged": "true"})) == [str(bob)]
    assert _names(staff.get(URL, {"opted_out": "true"})) == [str(bob)]
    assert _names(staff.get(URL, {"opted_out": "false"})) == ["Maya Hall"]


def test_the_list_costs_the_same_queries_for_5_or_30_people(staff, maya,
                                                             django_assert_max_num_queries):
    staff.get(URL)  # warm the session and the permission caches
    for _ in range(30):
        identity = SocialIdentityFactory()
        MentionFactory(author=identity)
        OutreachFactory(kind="care", mention=MentionFactory(author=identity))
    with django_assert_max_num_queries(20):
        assert staff.get(URL).status_code == 200
