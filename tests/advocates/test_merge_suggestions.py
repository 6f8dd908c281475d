"""Merge suggestions (issue 15): advocates that look like one person, for a person to review."""

import pytest
from django.contrib.auth import get_user_model

from advocates.selectors import merge_suggestions
from advocates.services import advocates_merge
from tests.factories import AdvocateFactory, SocialIdentityFactory
from tests.roles import SOCIAL_STAFF, user_in_role

pytestmark = pytest.mark.django_db


def _pairs():
    return {(s.survivor.pk, s.absorbed.pk): s.reasons for s in merge_suggestions()}


def _person(**identity):
    return SocialIdentityFactory(advocate=AdvocateFactory(), **identity).advocate


def test_the_same_profile_link_suggests_a_merge_older_record_first():
    a = _person(platform="x", profile_url="https://x.com/maya")
    b = _person(platform="x", profile_url="https://x.com/maya")
    _person(platform="x", profile_url="https://x.com/someone")

    assert _pairs() == {(a.pk, b.pk): ("Same profile link",)}


def test_the_same_name_on_another_network_suggests_a_merge():
    a = _person(platform="x", display_name="Maya Hall")
    b = _person(platform="instagram", display_name="mayahall")  # case and spaces ignored

    assert _pairs() == {(a.pk, b.pk): ("Same display name on another network",)}


def test_the_same_name_on_the_same_network_is_no_clue():
    _person(platform="x", display_name="Maya Hall")
    _person(platform="x", display_name="Maya Hall")
    assert _pairs() == {}


def test_a_common_name_is_no_clue():
    for platform in ("x", "instagram", "bluesky", "sandbox"):
        _person(platform=platform, display_name="Yuki")
    assert _pairs() == {}


def test_merged_people_are_not_suggested_again():
    a = _person(platform="x", profile_url="https://x.com/maya")
    b = _person(platform="x", profile_url="https://x.com/maya")
    advocates_merge(survivor=a, absorbed=b)
    assert _pairs() == {}


def test_the_suggestions_page_links_each_pair_to_its_merge_preview(client):
    a = _person(platform="x", display_name="Maya Hall")
    b = _person(platform="instagram", display_name="Maya Hall")
    client.force_login(get_user_model().objects.create_superuser("lead", "l@example.com", "pw"))

    html = client.get("/admin/advocates/people/merge-suggestions/").content.decode()

    assert f"/admin/advocates/people/{a.pk}/merge/?absorbed={b.pk}" in html
    assert "Same display name on another network" in html


def test_social_staff_may_not_see_suggestions(client):
    client.force_login(user_in_role(SOCIAL_STAFF))
    assert client.get("/admin/advocates/people/merge-suggestions/").status_code == 403
