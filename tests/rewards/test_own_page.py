"""The advocate's own page: the signed link, standing, codes, spending points."""

from __future__ import annotations

import re

import pytest
from django.core import signing

from advocates.services.consent import own_page_token_make, own_page_url
from rewards.models import DiscountCode, PerkFulfilment, RewardGrant
from rewards.selectors import points_balance
from rewards.services import points_spend
from rewards.services.ledger import events_process_batch
from tests.rewards.conftest import make_advocate, make_event, make_rule
from tests.rewards.test_points_spend import give_points, make_perk

pytestmark = pytest.mark.django_db


def url(advocate, lang="en"):
    return f"/me/{own_page_token_make(advocate)}/?lang={lang}"


def test_bad_token_is_a_clear_404(client):
    response = client.get("/me/not-a-token/")
    assert response.status_code == 404
    assert b"not valid or has expired" in response.content


def test_a_token_for_another_purpose_is_refused(client):
    advocate = make_advocate()
    forged = signing.dumps(advocate.pk, salt="kansha.advocates.opt-out", compress=True)
    assert client.get(f"/me/{forged}/").status_code == 404


def test_page_shows_balance_perks_and_history_in_japanese(client):
    advocate = make_advocate()
    give_points(advocate, 150)
    make_perk(price=100, stock=3)
    response = client.get(url(advocate, "ja"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "トートバッグ" in body
    assert "あなたのポイント" in body
    assert "ポイントを使う" in body
    assert "150" in body
    assert response["Cache-Control"] == "no-store, private"


def test_spending_from_the_page_and_a_double_click_is_one_spend(client):
    advocate = make_advocate()
    give_points(advocate, 150)
    perk = make_perk(price=100, stock=3)
    page = client.get(url(advocate)).content.decode()
    key = re.search(r'name="key" value="([^"]+)"', page)[1]
    for _ in range(2):
        response = client.post(url(advocate), {"perk": perk.pk, "key": key})
        assert response.status_code == 200
        assert b"is yours" in response.content
    assert PerkFulfilment.objects.filter(points_entry__advocate=advocate).count() == 1
    assert points_balance(advocate_id=advocate.pk) == 50


@pytest.mark.parametrize(("perk", "key", "says"), [
    ("999999", "k" * 32, b"not available"),
    ("abc", "k" * 32, b"not available"),
    (None, "short", b"not available"),
    (None, "k" * 32, b"not have enough points"),
])
def test_bad_spends_are_refused_clearly_and_change_nothing(client, perk, key, says):
    advocate = make_advocate()
    give_points(advocate, 50)
    real = make_perk(price=100, stock=3)
    response = client.post(url(advocate), {"perk": perk or real.pk, "key": key})
    assert response.status_code == 400
    assert says in response.content
    assert points_balance(advocate_id=advocate.pk) == 50
    assert not PerkFulfilment.objects.exists()


def test_the_link_for_a_dm_opens_the_page(client, settings):
    settings.WAGTAILADMIN_BASE_URL = "https://kansha.example/"
    advocate = make_advocate()
    link = own_page_url(advocate)
    assert link.startswith("https://kansha.example/me/")
    assert client.get(link.removeprefix("https://kansha.example")).status_code == 200


@pytest.mark.parametrize(("status", "shown"), [("delivered", True), ("revoked", False),
                                               ("expired", False)])
def test_only_a_usable_code_is_on_the_page(client, status, shown):
    advocate = make_advocate()
    grant = RewardGrant.objects.create(
        advocate=advocate, rule=make_rule(trigger_count=1), period_key="2026-12", status=status,
        reward={"discount_type": "percent", "percent_off": 10}, reward_kind="discount",
        currency="jpy")
    DiscountCode.objects.create(grant=grant, provider="local", code="KAN-7XK2-MP9QRT",
                                discount_type="percent", percent_off=10, currency="jpy")
    assert (b"KAN-7XK2-MP9QRT" in client.get(url(advocate)).content) is shown


def test_the_points_history_says_why_in_japanese(client, config):
    advocate = make_advocate()
    make_event(advocate, "praise")
    make_event(advocate, "checkin")
    events_process_batch(enqueue=False)
    give_points(advocate, 200)
    perk = make_perk(price=100)
    points_spend(advocate_id=advocate.pk, perk_id=perk.pk, key="k" * 20)

    body = client.get(url(advocate, "ja")).content.decode()
    history = body[body.index("ポイント履歴"):]
    assert "称賛" in history
    assert "チェックイン" in history
    assert "トートバッグと交換" in history
    assert "praise" not in history
    assert "spent on" not in history

    english = client.get(url(advocate, "en")).content.decode()
    assert "Spent on Tote bag" in english
    assert "Praise" in english


def test_a_bought_perk_shows_its_voucher_until_it_is_handed_over(client):
    advocate = make_advocate()
    give_points(advocate, 150)
    spend = points_spend(advocate_id=advocate.pk, perk_id=make_perk(price=100).pk,
                         key="v" * 20)
    voucher = spend.fulfilment.voucher
    assert re.fullmatch(r"PRK-[2-9A-Z]{4}-[2-9A-Z]{6}", voucher)
    assert voucher in client.get(url(advocate)).content.decode()
    from rewards.services import perk_voucher_redeem

    perk_voucher_redeem(code=voucher)
    assert voucher not in client.get(url(advocate)).content.decode()
