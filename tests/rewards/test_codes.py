"""Local codes: dashes, spaces and case are cosmetic, at the till and in the unique index."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction

from rewards import codes, services
from rewards.models import DiscountCode, GrantStatus, Redemption
from tests.rewards.conftest import make_advocate, make_rule


def _local_code(code="KAN-7XK2-MP9QRT"):
    rule = make_rule(trigger_count=1, percent_off=10)
    grant = services.grant_create(rule=rule, advocate_id=make_advocate().pk)
    grant.status = GrantStatus.DELIVERED
    grant.save()
    return DiscountCode.objects.create(
        grant=grant, provider="local", code=code, discount_type="percent", percent_off=10,
        currency="jpy", max_redemptions=1)


@pytest.mark.parametrize("typed", ["KAN7XK2MP9QRT", "kan7xk2mp9qrt", "kan 7xk2 mp9qrt",
                                   "KAN-7XK2-MP9QRT", "ＫＡＮ－７ＸＫ２－ＭＰ９ＱＲＴ",
                                   "KANー7XK2ーMP9QRT"])
def test_a_stored_code_is_found_however_it_is_typed(config, typed):
    code = _local_code()
    redemption, created = services.code_redeem(code=typed, order_amount_minor=1000,
                                               currency="jpy", order_ref="POS-1")
    assert created
    assert redemption.code == code
    assert Redemption.objects.get().discount_minor == 100


def test_two_codes_that_differ_only_in_dashes_cannot_both_be_stored(config):
    _local_code("KAN-7XK2-MP9QRT")
    other = _local_code("KAN-0000-000000")
    with pytest.raises(IntegrityError), transaction.atomic():
        DiscountCode.objects.filter(pk=other.pk).update(code="kan7xk2-mp9qrt")


def test_generate_unique_skips_a_code_taken_without_its_dashes(config, monkeypatch):
    _local_code("KAN-7XK2-MP9QRT")
    drawn = iter(["KAN-7XK2M-P9QRT", "KAN-2345-6789AB"])
    monkeypatch.setattr(codes, "code_generate", lambda prefix="KAN": next(drawn))
    assert codes.code_generate_unique(model=DiscountCode) == "KAN-2345-6789AB"
