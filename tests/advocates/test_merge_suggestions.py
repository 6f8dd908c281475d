"""Merge suggestions (issue 15): advocates that look like one person, for a person to review."""

import pytest
from django.contrib.auth import get_user_model

from advocates.models import MergeDismissal
from advocates.selectors import merge_suggestions
from advocates.services import advocates_merge, merge_suggestion_dismiss
from tests.factories import AdvocateFactory, MentionFactory, SocialIdentityFactory
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


def _says(advocate, text):
    MentionFactory(author=advocate.identities.first(), text=text)


def test_accounts_whose_posts_mention_each_other_suggest_a_merge():
    a = _person(platform="x", handle="@maya_hall")
    b = _person(platform="instagram", handle="maya.hall.jp")
    fan = _person(platform="x", handle="@coffee_fan")
    _says(a, "My Japanese account is @maya.hall.jp, follow me there")
    _says(b, "English posts at @Maya_Hall! 日本語はこちら")
    _says(fan, "Great latte with @maya_hall today")  # one way only: fans tag people

    assert _pairs() == {(a.pk, b.pk): ("Their accounts mention each other",)}


def test_an_e_mail_address_is_not_a_handle():
    a = _person(platform="x", handle="@maya")
    b = _person(platform="x", handle="@ben")
    _says(a, "write to ben@ben.example")
    _says(b, "thanks @maya")
    assert _pairs() == {}


def test_a_dismissed_pair_is_not_suggested_again(client):
    a = _person(platform="x", profile_url="https://x.com/maya")
    b = _person(platform="x", profile_url="https://x.com/maya")
    lead = get_user_model().objects.create_superuser("lead", "l@example.com", "pw")
    client.force_login(lead)

    response = client.post("/admin/advocates/people/merge-suggestions/dismiss/",
                           {"first": b.pk, "second": a.pk})

    assert response.status_code == 302
    assert _pairs() == {}
    dismissal = MergeDismissal.objects.get()
    assert (dismissal.first_id, dismissal.second_id, dismissal.dismissed_by) == (a.pk, b.pk, lead)
    # Again, or nonsense: nothing more changes.
    merge_suggestion_dismiss(first_id=a.pk, second_id=b.pk, user=lead)
    client.post("/admin/advocates/people/merge-suggestions/dismiss/",
                {"first": a.pk, "second": a.pk})
    client.post("/admin/advocates/people/merge-suggestions/dismiss/",
                {"first": a.pk, "second": "x"})
    assert MergeDismissal.objects.count() == 1
    # A third person with the same link is still suggested with each of them.
    c = _person(platform="x", profile_url="https://x.com/maya")
    assert set(_pairs()) == {(a.pk, c.pk), (b.pk, c.pk)}


def test_social_staff_may_not_dismiss(client):
    a = _person(platform="x", profile_url="https://x.com/maya")
    b = _person(platform="x", profile_url="https://x.com/maya")
    client.force_login(user_in_role(SOCIAL_STAFF))
    response = client.post("/admin/advocates/people/merge-suggestions/dismiss/",
                           {"first": a.pk, "second": b.pk})
    assert response.status_code == 403
    assert not MergeDismissal.objects.exists()
