"""Privacy: one advocate's data exported, erased (finance totals intact), raw payloads purged."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count, Sum
from wagtail.models import ModelLogEntry
from wagtail.search.models import IndexEntry

from advocates.models import (
    Advocate,
    ConsentRecord,
    Mention,
    Outreach,
    OutreachLog,
    SocialIdentity,
    WebhookDelivery,
)
from advocates.services.privacy import advocate_erase, advocate_export, raw_payloads_purge
from rewards import services as rewards_services
from rewards.models import DiscountCode, GrantStatus, Redemption, StripeEvent
from tests.factories import MentionFactory, OutreachFactory
from tests.rewards.conftest import make_advocate, make_rule

pytestmark = pytest.mark.django_db

HANDLE = "@hanako_loves_coffee"
TEXT = "Hanako here: the Shibuya kansha coffee latte is perfect"


def _redeemed_grant(advocate, *, currency: str, orders: list[tuple[int, int]], n: int):
    """A delivered grant with a code and one redemption per (order, discount) in `orders`."""
    rule = make_rule(trigger_count=1, currency=currency, discount_type="amount",
                     percent_off=None, amount_off_minor=500)
    grant = rewards_services.grant_create(rule=rule, advocate_id=advocate.pk)
    grant.status = GrantStatus.REDEEMED
    grant.save()
    code = DiscountCode.objects.create(
        grant=grant, provider="stripe", code=f"KAN-PRIV-{n}", discount_type="amount",
        amount_off_minor=500, currency=currency, max_redemptions=1,
        stripe_promotion_code_id=f"promo_priv_{n}", stripe_customer_id=f"cus_priv_{n}")
    for i, (order, discount) in enumerate(orders):
        Redemption.objects.create(
            grant=grant, code=code, rule=rule, advocate=advocate, source="stripe_checkout",
            source_id=f"cs_priv_{n}_{i}", order_amount_minor=order, discount_minor=discount,
            currency=currency)
    return grant


@pytest.fixture
def person(db):
    """An advocate with everything Kansha can hold about a person, on both sides."""
    advocate = make_advocate(handle=HANDLE, display_name="Hanako Yamada",
                             profile_url="https://example.social/@hanako_loves_coffee")
    advocate.display_name = "Hanako Yamada"
    advocate.notes = "Regular at Shibuya; prefers oat milk"
    advocate.save()
    identity = advocate.identities.get()
    mention = MentionFactory(author=identity, text=TEXT, url="https://example.social/p/1",
                             raw={"user": {"screen_name": HANDLE}, "text": TEXT},
                             detection_label="positive", detection_intent="praise")
    outreach = OutreachFactory(mention=mention, proposed_text=f"Thank you {HANDLE}!",
                               final_text=f"Thank you so much {HANDLE}!")
    OutreachLog.objects.create(outreach=outreach, action="edited",
                               detail={"text": f"Thank you so much {HANDLE}!"})
    ConsentRecord.objects.create(advocate=advocate, identity=identity, mention=mention,
                                 evidence={"reply_text": f"{HANDLE} #yes"})
    from tests.rewards.conftest import make_event

    make_event(advocate)
    _redeemed_grant(advocate, currency="jpy", orders=[(3780, 500), (1200, 500)], n=1)
    _redeemed_grant(advocate, currency="usd", orders=[(2599, 500)], n=2)
    return advocate


def _totals():
    return {r["currency"]: (r["n"], r["orders"], r["discounts"]) for r in
            Redemption.objects.values("currency").annotate(
                n=Count("id"), orders=Sum("order_amount_minor"),
                discounts=Sum("discount_minor")).order_by("currency")}


def test_export_holds_everything_about_the_person(person):
    data = advocate_export(advocate_id=person.pk)
    assert data["format"] == "kansha.advocate-export/1"
    assert data["advocate"][0]["display_name"] == "Hanako Yamada"
    assert data["identities"][0]["handle"] == HANDLE
    assert data["mentions"][0]["text"] == TEXT
    assert data["mentions"][0]["raw"]["user"]["screen_name"] == HANDLE
    assert data["outreach"][0]["final_text"].startswith("Thank you so much")
    assert data["outreach_log"][0]["action"] == "edited"
    assert data["consents"][0]["evidence"]["reply_text"].endswith("#yes")
    assert len(data["advocacy_events"]) == 1
    # The rewards side, through the provider.
    assert {g["currency"] for g in data["grants"]} == {"jpy", "usd"}
    assert {c["code"] for c in data["codes"]} == {"KAN-PRIV-1", "KAN-PRIV-2"}
    assert len(data["redemptions"]) == 3
    json.dumps(data)  # plain JSON all the way down


def test_erasure_removes_personal_data_and_keeps_finance_totals(person):
    other = make_advocate(handle="@someone_else")
    _redeemed_grant(other, currency="jpy", orders=[(5000, 500)], n=3)
    before = _totals()

    result = advocate_erase(advocate_id=person.pk)

    assert _totals() == before  # finance: same counts and sums per currency
    person.refresh_from_db()
    assert person.display_name == result.pseudonym
    assert person.display_name.startswith("erased-")
    assert person.notes == ""
    assert person.opted_out_at is not None
    assert person.opt_out_source == "erased"
    identity = SocialIdentity.objects.get(advocate=person)
    assert identity.handle == result.pseudonym
    assert identity.display_name == identity.profile_url == ""
    assert identity.platform_user_id.startswith("erased-")
    mentions = Mention.objects.filter(author=identity)
    assert {(m.text, json.dumps(m.raw), m.url) for m in mentions} == {("", "{}", "")}
    assert "positive" in {m.detection_label for m in mentions}  # non-personal analytics stay
    outreach = Outreach.objects.get(advocate=person)
    assert outreach.proposed_text == outreach.final_text == ""
    assert OutreachLog.objects.get(outreach=outreach).detail == {}
    assert ConsentRecord.objects.get(advocate=person).evidence == {}
    assert set(DiscountCode.objects.filter(grant__advocate=person)
               .values_list("stripe_customer_id", flat=True)) == {""}
    assert Redemption.objects.filter(advocate=person).count() == 3
    # Nothing left anywhere that still says who it was: rows, search index, audit log.
    dump = json.dumps(advocate_export(advocate_id=person.pk))
    for needle in (HANDLE, "Hanako", "Shibuya", "cus_priv_1"):
        assert needle not in dump
    assert not IndexEntry.objects.filter(body__icontains="hanako").exists()
    assert not IndexEntry.objects.filter(title__icontains="hanako").exists()
    entry = ModelLogEntry.objects.get(action="kansha.advocate.erase")
    assert "Hanako" not in entry.label
    # The other advocate is untouched.
    assert SocialIdentity.objects.get(advocate=other).handle == "@someone_else"


def test_erasure_twice_is_harmless(person):
    first = advocate_erase(advocate_id=person.pk)
    second = advocate_erase(advocate_id=person.pk)
    assert first.pseudonym == second.pseudonym
    assert SocialIdentity.objects.get(advocate=person).handle == first.pseudonym


def test_erasure_covers_advocates_merged_into_the_person(person):
    from advocates.services import advocates_merge

    twin = make_advocate(handle="@hanako_alt")
    advocates_merge(survivor=person, absorbed=twin)
    advocate_erase(advocate_id=person.pk)
    assert not SocialIdentity.objects.filter(handle__startswith="@hanako").exists()
    assert not ModelLogEntry.objects.filter(label__icontains="hanako").exists()  # merge entry
    twin.refresh_from_db()
    assert twin.display_name.startswith("erased-")


def test_erased_person_is_never_proposed_again(person):
    advocate_erase(advocate_id=person.pk)
    assert Advocate.objects.get(pk=person.pk).opted_out


def test_retention_purges_old_raw_payloads_only(person):
    now = datetime.now(UTC)
    old = MentionFactory(author=person.identities.get(), raw={"secret": "old"},
                         received_at=now - timedelta(days=100))
    fresh = MentionFactory(author=person.identities.get(), raw={"secret": "fresh"},
                           received_at=now - timedelta(days=5))
    done = WebhookDelivery.objects.create(platform="x", dedupe_key="x:1", body={"a": 1},
                                          received_at=now - timedelta(days=100),
                                          processed_at=now - timedelta(days=100))
    pending = WebhookDelivery.objects.create(platform="x", dedupe_key="x:2", body={"a": 2},
                                             received_at=now - timedelta(days=100))
    event = StripeEvent.objects.create(event_id="evt_old", type="checkout.session.completed",
                                       payload={"customer_email": "h@example.com"},
                                       received_at=now - timedelta(days=100),
                                       processed_at=now - timedelta(days=100))
    counts = raw_payloads_purge(older_than_days=90)
    assert counts["mentions"] >= 1
    assert counts["stripe_events"] == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    done.refresh_from_db()
    pending.refresh_from_db()
    event.refresh_from_db()
    assert old.raw == {}
    assert old.text
    assert fresh.raw == {"secret": "fresh"}
    assert done.body == {}
    assert pending.body == {"a": 2}
    assert event.payload == {}
    assert event.event_id == "evt_old"
    assert raw_payloads_purge(older_than_days=90)["mentions"] == 0  # nothing left to do


def test_retention_setting_and_beat_entry(settings):
    assert settings.KANSHA_RAW_RETENTION_DAYS >= 0
    assert settings.CELERY_BEAT_SCHEDULE["purge-raw-payloads"]["task"] == (
        "advocates.tasks.raw_payloads_purge")


def test_commands_export_erase_and_purge(person, tmp_path):
    out = tmp_path / "export.json"
    call_command("export_advocate", str(person.pk), "--output", str(out), stderr=StringIO())
    assert json.loads(out.read_text())["identities"][0]["handle"] == HANDLE

    with pytest.raises(CommandError, match="--yes"):
        call_command("erase_advocate", str(person.pk))
    assert SocialIdentity.objects.get(advocate=person).handle == HANDLE  # nothing happened
    with pytest.raises(CommandError, match="No advocate"):
        call_command("erase_advocate", "999999", "--yes")
    stdout = StringIO()
    call_command("erase_advocate", str(person.pk), "--yes", stdout=stdout)
    assert "erased" in stdout.getvalue()
    assert SocialIdentity.objects.get(advocate=person).handle.startswith("erased-")

    stdout = StringIO()
    call_command("purge_raw_payloads", "--days", "0", stdout=stdout)
    assert "Purged raw payloads" in stdout.getvalue()
    with pytest.raises(CommandError):
        call_command("purge_raw_payloads", "--days", "-1")


# --- Admin actions ---------------------------------------------------------------------------


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw")


def test_admin_export_downloads_json(client, person, superuser):
    client.force_login(superuser)
    response = client.get(f"/admin/advocates/privacy/{person.pk}/export/")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment")
    assert json.loads(response.content)["identities"][0]["handle"] == HANDLE


def test_admin_erase_needs_confirmation_then_erases(client, person, superuser):
    client.force_login(superuser)
    url = f"/admin/advocates/privacy/{person.pk}/erase/"
    page = client.get(url)
    assert page.status_code == 200
    assert HANDLE in page.content.decode()
    assert SocialIdentity.objects.get(advocate=person).handle == HANDLE  # GET changes nothing
    client.post(url, {"confirm": "nope"})
    assert SocialIdentity.objects.get(advocate=person).handle == HANDLE
    response = client.post(url, {"confirm": "erase"})
    assert response.status_code == 302
    assert SocialIdentity.objects.get(advocate=person).handle.startswith("erased-")


def test_admin_listing_offers_the_actions_to_superusers(client, person, superuser):
    client.force_login(superuser)
    html = client.get("/admin/snippets/advocates/advocate/").content.decode()
    assert f"/admin/advocates/privacy/{person.pk}/export/" in html
    assert f"/admin/advocates/privacy/{person.pk}/erase/" in html


@pytest.mark.parametrize("role", ["Social staff", "Marketing", "Finance"])
def test_admin_privacy_actions_are_refused_to_staff_roles(client, person, role):
    from tests.roles import user_in_role

    client.force_login(user_in_role(role))
    assert client.get(f"/admin/advocates/privacy/{person.pk}/export/").status_code == 403
    assert client.post(f"/admin/advocates/privacy/{person.pk}/erase/",
                       {"confirm": "erase"}).status_code == 403
    assert SocialIdentity.objects.get(advocate=person).handle == HANDLE


def test_erasure_logs_no_errors(person, caplog):
    """Re-indexing the erased rows must not log a traceback per row (the search index is a
    cache of the rows; the erasure itself succeeded)."""
    other = make_advocate(handle="@hanako_alt")
    from advocates.services import advocates_merge

    advocates_merge(survivor=person, absorbed=other)
    with caplog.at_level(logging.DEBUG):
        advocate_erase(advocate_id=person.pk)
    bad = [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not bad, [(r.name, r.getMessage()) for r in bad]
