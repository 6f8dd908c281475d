"""Money in normal units, by currency and language: ¥4,200 / 4,200円, $12.50."""

import pytest
from django.utils import translation

from rewards.money import money_display, money_to_minor, money_to_units


@pytest.mark.parametrize(("minor", "currency", "language", "shown"), [
    (4200, "jpy", "en", "¥4,200"),
    (4200, "jpy", "ja", "4,200円"),
    (1250, "usd", "en", "$12.50"),
    (1250, "usd", "ja", "$12.50"),
    (990, "chf", "en", "9.90 CHF"),
    (-500, "jpy", "ja", "-500円"),
])
def test_money_is_shown_by_currency_and_language(minor, currency, language, shown):
    assert money_display(minor, currency, language) == shown
    with translation.override(language):
        assert money_display(minor, currency) == shown


def test_typed_amounts_become_minor_units_and_back():
    assert money_to_minor("12.50", "usd") == 1250
    assert money_to_minor("4,200", "jpy") == 4200
    assert str(money_to_units(1250, "usd")) == "12.50"
    assert str(money_to_units(200, "jpy")) == "200"
    with pytest.raises(ValueError, match="0 decimal places"):
        money_to_minor("12.5", "jpy")
    with pytest.raises(ValueError, match="not an amount"):
        money_to_minor("lots", "usd")


@pytest.mark.django_db
def test_a_reward_says_its_amount_in_the_currency():
    from rewards.models import RewardGrant

    grant = RewardGrant(reward_kind="discount", reward={
        "discount_type": "amount", "amount_off_minor": 200, "currency": "jpy"})
    assert grant.describe("en") == "¥200 off"
