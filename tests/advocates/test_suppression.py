"""Suppression after erasure: an erased person's account, known only by a keyed hash, is
proposed nothing when it posts again, until an admin lifts the suppression (docs/compliance.md)."""

import pytest

from advocates.models import Outreach, OutreachKind, Route, SocialIdentity, Suppression
from advocates.routing import SUPPRESSED_REASON
from advocates.services import outreach_propose
from advocates.services.privacy import advocate_erase, suppression_lift
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.advocates.routing_helpers import brand_settings, ingest_and_detect, item

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_data")]

PRAISE = "Best flat white in town, thank you @kanshacoffee! ☕"


@pytest.fixture
def erased():
    """Aiko was thanked once, then asked to be erased."""
    brand_settings(cooldown_days=0)
    (first,) = ingest_and_detect([item(1, PRAISE, author_id="aiko-1")])
    assert first.route == Route.THANK
    advocate_erase(advocate_id=first.author.advocate_id)
    return first


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw")


def _post_again(n: int):
    (again,) = ingest_and_detect([item(n, f"{PRAISE} #{n}", author_id="aiko-1")])
    return again


def test_an_erased_account_that_posts_again_gets_no_proposal(erased):
    (suppression,) = Suppression.objects.all()
    # Only a keyed hash stands for the account: neither its id nor its handle is stored.
    assert "aiko-1" not in suppression.key
    assert len(suppression.key) == 64
    assert suppression.key == Suppression.key_for(platform="sandbox", platform_user_id="aiko-1")

    again = _post_again(2)

    assert again.author_id != erased.author_id  # a new, unknown person to the tables ...
    assert (again.route, again.skip_reason) == (Route.NONE, SUPPRESSED_REASON)  # ... but known
    assert not Outreach.objects.filter(mention=again).exists()
    # Nor does a proposal made outside routing reach them (a reshare after consent, a reward).
    assert outreach_propose(kind=OutreachKind.RESHARE, advocate=again.author.advocate,
                            identity=again.author, platform="sandbox",
                            dedupe_key="reshare:test", text="", mention=again) is None
    # Someone else is thanked as usual.
    (other,) = ingest_and_detect([item(3, PRAISE, author_id="someone-else")])
    assert other.route == Route.THANK


def test_an_admin_lifts_the_suppression_and_the_account_is_thanked_again(erased, client,
                                                                         superuser):
    suppression = Suppression.objects.get()
    client.force_login(superuser)
    listing = client.get("/admin/snippets/advocates/suppression/").content.decode()
    url = f"/admin/advocates/suppressions/{suppression.pk}/lift/"
    assert url in listing
    assert client.get(url).status_code == 200

    client.post(url, {"note": "  "})  # a lift needs a reason
    suppression.refresh_from_db()
    assert suppression.lifted_at is None

    response = client.post(url, {"note": "Aiko e-mailed support on 7 Dec asking for news"})
    assert response.status_code == 302
    suppression.refresh_from_db()
    assert suppression.lifted_at is not None
    assert suppression.lifted_by == superuser
    assert "e-mailed support" in suppression.lift_note

    again = _post_again(2)
    assert again.route == Route.THANK
    assert Outreach.objects.filter(mention=again, dedupe_key__startswith="thank:").exists()


@pytest.mark.parametrize("role", ["Social staff", "Marketing", "Finance"])
def test_staff_roles_cannot_lift_a_suppression(erased, client, role):
    from tests.roles import user_in_role

    suppression = Suppression.objects.get()
    client.force_login(user_in_role(role))
    response = client.post(f"/admin/advocates/suppressions/{suppression.pk}/lift/",
                           {"note": "asked"})
    assert response.status_code == 403
    suppression.refresh_from_db()
    assert suppression.lifted_at is None


def test_erasing_again_suppresses_a_lifted_account_again(erased, superuser):
    suppression = Suppression.objects.get()
    assert suppression_lift(suppression_id=suppression.pk, user=superuser, note="asked")
    assert not suppression_lift(suppression_id=suppression.pk, user=superuser, note="asked")
    again = _post_again(2)
    assert again.route == Route.THANK

    advocate_erase(advocate_id=again.author.advocate_id)

    suppression.refresh_from_db()
    assert suppression.lifted_at is None
    assert Suppression.objects.count() == 1
    assert SocialIdentity.objects.filter(platform_user_id="aiko-1").count() == 0
    assert _post_again(3).skip_reason == SUPPRESSED_REASON
