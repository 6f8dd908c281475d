"""Staff opt an advocate out on their behalf, and merge two advocates who are one person."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone
from wagtail.models import ModelLogEntry

from advocates.models import Advocate, Mention, Outreach, OutreachStatus, SocialIdentity
from advocates.services import (
    advocate_opt_out,
    advocate_unmergeable,
    advocates_merge,
    advocates_unmerge,
)
from tests.advocates.outreach_helpers import default_data, propose  # noqa: F401
from tests.factories import MentionFactory, OutreachFactory, SocialIdentityFactory
from tests.roles import FINANCE, SOCIAL_STAFF, user_in_role

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_data")]


def _client(client, role):
    client.force_login(user_in_role(role))
    return client


def _logged(advocate, action):
    return ModelLogEntry.objects.filter(object_id=str(advocate.pk), action=action)


# --- opt-out -----------------------------------------------------------------------------------


def test_social_staff_opt_an_advocate_out_and_their_pending_proposals_go(client):
    outreach = propose()
    advocate = outreach.advocate
    staff = _client(client, SOCIAL_STAFF)
    url = f"/admin/advocates/people/{advocate.pk}/opt-out/"

    page = staff.get(url)
    assert page.status_code == 200
    assert "1 pending proposal will be rejected" in page.content.decode()
    advocate.refresh_from_db()
    assert advocate.opted_out_at is None  # a GET changes nothing

    response = staff.post(url, {"note": "asked by DM on 1 Dec"})

    assert response.status_code == 302
    advocate.refresh_from_db()
    assert (advocate.opt_out_source, advocate.opted_out_at is not None) == ("staff", True)
    assert Outreach.objects.get(pk=outreach.pk).status == OutreachStatus.REJECTED
    entry = _logged(advocate, "kansha.advocate.opt_out").get()
    assert entry.data["note"] == "asked by DM on 1 Dec"
    assert entry.user.username == "social_staff"


def test_the_advocate_list_offers_the_opt_out_to_social_staff(client):
    advocate = SocialIdentityFactory().advocate
    page = _client(client, SOCIAL_STAFF).get("/admin/snippets/advocates/advocate/")
    assert f"/admin/advocates/people/{advocate.pk}/opt-out/" in page.content.decode()
    assert f"/admin/advocates/people/{advocate.pk}/merge/" not in page.content.decode()


@pytest.mark.parametrize("action", ["opt-out", "merge", "unmerge"])
def test_finance_gets_403_and_nothing_changes(client, action):
    advocate = SocialIdentityFactory().advocate
    finance = _client(client, FINANCE)
    url = f"/admin/advocates/people/{advocate.pk}/{action}/"

    assert finance.get(url).status_code == 403
    assert finance.post(url, {"absorbed": advocate.pk}).status_code == 403
    advocate.refresh_from_db()
    assert advocate.opted_out_at is None
    assert advocate.merged_into_id is None


# --- merge -------------------------------------------------------------------------------------


@pytest.fixture
def duplicate():
    """One person as two advocates: on X (opted out there) and on the sandbox."""
    on_x = SocialIdentityFactory(platform="x", handle="@aiko")
    on_sandbox = SocialIdentityFactory(handle="@aiko_drinks")
    MentionFactory(author=on_x)
    outreach = propose(mention=MentionFactory(author=on_x))
    advocate_opt_out(advocate=on_x.advocate, source="reply")
    return on_sandbox.advocate, on_x.advocate, outreach


def test_merge_moves_identities_mentions_and_outreach_and_is_audited(duplicate):
    survivor, absorbed, outreach = duplicate
    user = get_user_model().objects.create_superuser("lead", "lead@example.com", "pw")

    advocates_merge(survivor=survivor, absorbed=absorbed, user=user)

    assert set(survivor.identities.values_list("handle", flat=True)) == {"@aiko", "@aiko_drinks"}
    assert Mention.objects.filter(author__advocate=survivor).count() == 2
    assert Outreach.objects.get(pk=outreach.pk).advocate_id == survivor.pk
    survivor.refresh_from_db()
    assert survivor.opt_out_source == "reply"  # the stricter choice carries over
    absorbed.refresh_from_db()
    assert absorbed.merged_into_id == survivor.pk
    assert not absorbed.identities.exists()
    entry = _logged(survivor, "kansha.advocate.merge").get()
    assert entry.data["absorbed"] == absorbed.pk


def test_merging_twice_or_into_itself_is_refused_and_changes_nothing(duplicate):
    survivor, absorbed, _ = duplicate
    with pytest.raises(ValueError, match="into itself"):
        advocates_merge(survivor=survivor, absorbed=survivor)
    advocates_merge(survivor=survivor, absorbed=absorbed)
    with pytest.raises(ValueError, match="already merged"):
        advocates_merge(survivor=Advocate.objects.create(), absorbed=absorbed)
    assert _logged(survivor, "kansha.advocate.merge").count() == 1


def test_an_admin_merges_through_the_form(client, duplicate):
    survivor, absorbed, _ = duplicate
    client.force_login(get_user_model().objects.create_superuser("lead", "l@example.com", "pw"))
    url = f"/admin/advocates/people/{survivor.pk}/merge/"

    assert client.get(url).status_code == 200
    refused = client.post(url, {"absorbed": survivor.pk})
    assert "cannot be merged into itself" in refused.content.decode()
    missing = client.post(url, {"absorbed": 999999})
    assert "No such advocate" in missing.content.decode()
    absorbed.refresh_from_db()
    assert absorbed.merged_into_id is None

    response = client.post(url, {"absorbed": absorbed.pk})

    assert response.status_code == 302
    absorbed.refresh_from_db()
    assert absorbed.merged_into_id == survivor.pk


# --- merge by search, with a preview; unmerge within 30 days (issue 15) -------------------------


def _admin(client):
    client.force_login(get_user_model().objects.create_superuser("lead", "l@example.com", "pw"))
    return client


def test_the_other_person_is_found_by_handle_and_previewed_before_anything_moves(
        client, duplicate):
    survivor, absorbed, _ = duplicate
    url = f"/admin/advocates/people/{survivor.pk}/merge/"
    admin = _admin(client)

    found = admin.get(url, {"q": "@aiko"}).content.decode()
    assert f"?absorbed={absorbed.pk}" in found
    assert f"?absorbed={survivor.pk}" not in found  # never yourself

    preview = admin.get(url, {"absorbed": absorbed.pk}).content.decode()
    assert "Identities that move:" in preview
    assert "@aiko (X)" in preview
    assert "2 mentions move with them." in preview
    assert "They opted out: this advocate will be opted out too." in preview
    absorbed.refresh_from_db()
    assert absorbed.merged_into_id is None  # a preview changes nothing


def test_the_result_message_names_both_people_and_what_moved(client, duplicate):
    survivor, absorbed, _ = duplicate
    Advocate.objects.filter(pk__in=[survivor.pk, absorbed.pk]).update(display_name="Maya Hall")

    response = _admin(client).post(f"/admin/advocates/people/{survivor.pk}/merge/",
                                   {"absorbed": absorbed.pk}, follow=True)

    html = response.content.decode()
    assert (f"Maya Hall (#{absorbed.pk}) was merged into Maya Hall (#{survivor.pk}): "
            "@aiko (X) now belong to Maya Hall.") in html
    assert response.redirect_chain[-1][0] == f"/admin/advocates/people/{survivor.pk}/"


def _owners(survivor, absorbed):
    """Who owns what, as rows: identities, outreach, and both advocates' flags."""
    people = Advocate.objects.filter(pk__in=[survivor.pk, absorbed.pk]).order_by("pk")
    return (
        sorted(SocialIdentity.objects.filter(advocate__in=people)
               .values_list("pk", "advocate_id")),
        sorted(Outreach.objects.filter(advocate__in=people).values_list("pk", "advocate_id")),
        list(people.values_list("pk", "merged_into_id", "opted_out_at", "opt_out_source",
                                "is_employee", "flagged")),
    )


def test_merge_then_unmerge_restores_the_same_rows(client, duplicate):
    survivor, absorbed, _ = duplicate
    before = _owners(survivor, absorbed)
    admin = _admin(client)
    admin.post(f"/admin/advocates/people/{survivor.pk}/merge/", {"absorbed": absorbed.pk})
    assert _owners(survivor, absorbed) != before
    profile = admin.get(f"/admin/advocates/people/{absorbed.pk}/").content.decode()
    assert "Undo the merge" in profile

    response = admin.post(f"/admin/advocates/people/{absorbed.pk}/unmerge/", follow=True)

    assert _owners(survivor, absorbed) == before
    assert "is a person of their own again" in response.content.decode()
    assert _logged(survivor, "kansha.advocate.unmerge").count() == 1


def test_unmerge_gives_back_what_their_identities_were_offered_since(duplicate):
    survivor, absorbed, _ = duplicate
    advocates_merge(survivor=survivor, absorbed=absorbed)
    on_x = SocialIdentity.objects.get(handle="@aiko")
    # (merged, they are opted out, so routing proposes nothing: a DM staff wrote by hand)
    later = OutreachFactory(kind="dm", mention=MentionFactory(author=on_x), identity=on_x,
                            advocate=survivor)
    absorbed.refresh_from_db()

    advocates_unmerge(absorbed=absorbed)

    assert Outreach.objects.get(pk=later.pk).advocate_id == absorbed.pk


def test_a_merge_older_than_30_days_cannot_be_undone(duplicate):
    survivor, absorbed, _ = duplicate
    advocates_merge(survivor=survivor, absorbed=absorbed)
    absorbed.refresh_from_db()

    with pytest.raises(ValueError, match="older than 30 days"):
        advocates_unmerge(absorbed=absorbed, now=timezone.now() + timedelta(days=31))
    assert not advocate_unmergeable(absorbed=absorbed, now=timezone.now() + timedelta(days=31))
    absorbed.refresh_from_db()
    assert absorbed.merged_into_id == survivor.pk


def test_unmerging_someone_never_merged_is_refused():
    lone = SocialIdentityFactory().advocate
    with pytest.raises(ValueError, match="not merged"):
        advocates_unmerge(absorbed=lone)
