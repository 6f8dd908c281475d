"""The till (issue 15): store staff type a code and see whether it is good, whose it is (first
name) and the discount; they record the sale in normal units (¥4,200, $12.50). Wrong, used,
expired and revoked codes each get a plain message, and nothing is recorded for them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from advocates.models import Advocate
from rewards import services
from rewards.models import DiscountCode, GrantStatus, Redemption
from tests.rewards.conftest import make_advocate, make_rule
from tests.roles import FINANCE, MARKETING, SOCIAL_STAFF, STORE_STAFF, user_in_role

pytestmark = pytest.mark.django_db
URL = "/admin/till/"


def _code(code="KAN-7XK2-MP9QRT", *, status=GrantStatus.DELIVERED, currency="jpy",
          expires_at=None, **discount) -> DiscountCode:
    advocate = make_advocate()
    Advocate.objects.filter(pk=advocate.pk).update(display_name="Aiko Tanaka")
    grant = services.grant_create(rule=make_rule(trigger_count=1, currency=currency),
                                  advocate_id=advocate.pk)
    grant.status = status
    grant.save()
    discount = discount or {"discount_type": "percent", "percent_off": 10}
    return DiscountCode.objects.create(grant=grant, provider="local", code=code,
                                       currency=currency, max_redemptions=1,
                                       expires_at=expires_at, **discount)


@pytest.fixture
def cashier(client):
    client.force_login(user_in_role(STORE_STAFF))
    return client


def _page(client, code: str) -> str:
    response = client.get(URL, {"code": code})
    assert response.status_code == 200
    return response.content.decode()


def test_a_valid_code_shows_the_first_name_and_the_discount(cashier):
    _code()

    html = _page(cashier, "kan 7xk2 mp9qrt")  # typed without dashes, in lower case

    assert "Valid. Ring up the order, then record it here." in html
    assert "Aiko" in html
    assert "Tanaka" not in html  # the first name only
    assert "10% off" in html
    assert "Record the sale" in html


def test_recording_a_sale_in_yen_stores_minor_units_and_says_what_to_charge(cashier):
    code = _code()

    response = cashier.post(URL, {"code": code.code, "currency": "jpy", "amount": "¥4,200",
                                  "order_ref": "R-1001"}, follow=True)

    redemption = Redemption.objects.get()
    assert (redemption.order_amount_minor, redemption.discount_minor) == (3780, 420)
    assert redemption.source_id == "R-1001"
    assert ("Recorded for Aiko: order ¥4,200, discount ¥420, to pay ¥3,780."
            in response.content.decode())
    # The same receipt again records nothing more.
    cashier.post(URL, {"code": code.code, "currency": "jpy", "amount": "4200",
                       "order_ref": "R-1001"})
    assert Redemption.objects.count() == 1


def test_dollars_are_typed_with_cents(cashier):
    code = _code(currency="usd", discount_type="amount", amount_off_minor=500)

    cashier.post(URL, {"code": code.code, "currency": "usd", "amount": "$12.50"})

    redemption = Redemption.objects.get()
    assert (redemption.order_amount_minor, redemption.discount_minor) == (750, 500)


def test_an_amount_the_till_cannot_read_records_nothing(cashier):
    code = _code()

    response = cashier.post(URL, {"code": code.code, "currency": "jpy", "amount": "12.5"})

    assert response.status_code == 200
    assert "Type the amount as on the receipt, e.g. ¥420,000." in response.content.decode()
    assert not Redemption.objects.exists()


def test_an_unknown_code(cashier):
    html = _page(cashier, "KAN-NOPE-NOPE00")
    assert "No such code. Check what was typed: codes never use 0, O, 1, I, L or U." in html
    assert "Record the sale" not in html


def test_a_used_code_says_when(cashier):
    code = _code()
    services.code_redeem(code=code.code, order_amount_minor=1000, currency="jpy")

    html = _page(cashier, code.code)

    assert "This code was already used on" in html
    assert "A code works once." in html
    assert "Record the sale" not in html


def test_an_expired_code_says_since_when(cashier):
    code = _code(expires_at=datetime(2026, 1, 31, 12, tzinfo=UTC))
    html = _page(cashier, code.code)
    assert "This code expired on" in html
    assert "Record the sale" not in html


def test_a_revoked_code(cashier):
    code = _code(status=GrantStatus.REVOKED)
    html = _page(cashier, code.code)
    assert "This code was withdrawn and cannot be used." in html
    assert "Record the sale" not in html


def test_a_code_used_between_the_check_and_the_sale_is_refused_plainly(cashier):
    code = _code()
    services.code_redeem(code=code.code, order_amount_minor=1000, currency="jpy")

    response = cashier.post(URL, {"code": code.code, "currency": "jpy", "amount": "4200"},
                            follow=True)

    assert "This code was already used on" in response.content.decode()
    assert Redemption.objects.count() == 1


def test_a_post_for_a_revoked_code_records_nothing(cashier):
    code = _code(status=GrantStatus.REVOKED, expires_at=datetime.now(UTC) + timedelta(days=9))

    cashier.post(URL, {"code": code.code, "currency": "jpy", "amount": "4200"})

    assert not Redemption.objects.exists()


@pytest.mark.parametrize(("role", "status"), [(FINANCE, 200), (SOCIAL_STAFF, 403),
                                              (MARKETING, 403)])
def test_who_may_use_the_till(client, role, status):
    client.force_login(user_in_role(role))
    assert client.get(URL).status_code == status


def test_store_staff_see_the_till_and_nothing_else(cashier):
    dashboard = cashier.get("/admin/").content.decode()
    assert "/admin/till/" in dashboard  # the sidebar menu
    assert cashier.get("/admin/snippets/advocates/advocate/").status_code in (302, 403)
    assert cashier.get("/admin/snippets/rewards/redemption/").status_code in (302, 403)


# --- Perks: the voucher on the advocate's own page, handed over at the till -----------------


def _bought_perk():
    from rewards.models import PerkFulfilment
    from tests.rewards.test_points_spend import give_points, make_perk

    advocate = make_advocate()
    Advocate.objects.filter(pk=advocate.pk).update(display_name="Aiko Tanaka")
    give_points(advocate, 200)
    spend = services.points_spend(advocate_id=advocate.pk, perk_id=make_perk(price=100).pk,
                                  key="till-perk-1")
    return PerkFulfilment.objects.get(pk=spend.fulfilment.pk)


def test_a_perk_voucher_is_handed_over_once(cashier):
    fulfilment = _bought_perk()
    typed = fulfilment.voucher.lower().replace("-", " ")
    page = cashier.get(URL, {"code": typed}).content.decode()
    assert "Valid. Hand the perk over" in page
    assert "Aiko" in page
    assert "Tanaka" not in page
    assert "Tote bag" in page

    response = cashier.post(URL, {"voucher": typed}, follow=True)
    assert "Handed over: Tote bag for Aiko." in response.content.decode()
    fulfilment.refresh_from_db()
    assert fulfilment.status == "redeemed"

    again = cashier.get(URL, {"code": fulfilment.voucher}).content.decode()
    assert "This perk was already handed over." in again
    assert "Perk handed over</button>" not in again
    response = cashier.post(URL, {"voucher": fulfilment.voucher}, follow=True)
    assert "This perk was already handed over." in response.content.decode()


def test_a_cancelled_perk_is_not_handed_over(cashier):
    fulfilment = _bought_perk()
    services.perk_fulfilment_update(fulfilment_id=fulfilment.pk, status="cancelled")
    page = cashier.get(URL, {"code": fulfilment.voucher}).content.decode()
    assert "This perk was cancelled and cannot be handed over." in page
    response = cashier.post(URL, {"voucher": fulfilment.voucher}, follow=True)
    assert "cancelled" in response.content.decode()
    fulfilment.refresh_from_db()
    assert fulfilment.status == "cancelled"


def test_an_unknown_voucher(cashier):
    response = cashier.post(URL, {"voucher": "PRK-2222-222222"}, follow=True)
    assert "No such code." in response.content.decode()
