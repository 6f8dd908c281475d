"""A small, fully known year of program data for the report tests.

November 2026 holds two JPY percent codes and one USD amount code (one of each redeemed), a perk
reserved, points, mentions, outreach and tier moves; every expected number in the tests can be
counted by hand from this file.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from advocates.models import AdvocacyEvent, ConsentRecord, Outreach
from rewards.models import (
    AdvocateTier,
    DiscountCode,
    Perk,
    PerkFulfilment,
    PointsEntry,
    Redemption,
    RewardGrant,
    StripeEvent,
    Tier,
    TierChange,
)
from rewards.reports import ReportParams
from tests.factories import AdvocateFactory, MentionFactory, SocialIdentityFactory
from tests.rewards.conftest import make_rule

NOV = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
AS_OF = datetime(2026, 12, 1, tzinfo=UTC)


def at(day: int, hour: int = 10, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, 0, tzinfo=UTC)


@pytest.fixture
def params():
    return ReportParams(date(2026, 11, 1), date(2026, 11, 30), period="month")


def _grant(advocate, rule, *, created, tier=None, status="delivered", currency, cost=0):
    return RewardGrant.objects.create(
        advocate=advocate, rule=rule, period_key=f"2026-11:{created:%d%H}", status=status,
        reward=rule.reward_snapshot().as_json(), reward_kind=rule.reward_kind, currency=currency,
        cost_minor=cost, tier=tier, created_at=created, issued_at=created,
        expires_at=created + timedelta(days=30))


def _code(grant, code, *, discount_type, percent=None, amount=None, currency, redeemed=0,
          minimum=None):
    return DiscountCode.objects.create(
        grant=grant, provider="stripe", code=code, stripe_coupon_id=f"co_{code}",
        stripe_promotion_code_id=f"promo_{code}", discount_type=discount_type,
        percent_off=percent, amount_off_minor=amount, currency=currency,
        minimum_order_minor=minimum, max_redemptions=1, times_redeemed=redeemed,
        expires_at=grant.expires_at, created_at=grant.created_at)


@pytest.fixture
def program(db):
    """The known data set; returns a dict of the interesting rows."""
    gold = Tier.objects.create(name="Gold", threshold=100)
    silver = Tier.objects.create(name="Silver", threshold=50)
    alice, bob, carol = (AdvocateFactory(display_name=n) for n in ("Alice", "Bob", "Carol"))
    ids = {}
    for adv, platform, followers in ((alice, "sandbox", 900), (bob, "sandbox", 50),
                                     (carol, "mastodon", 4000)):
        ids[adv.pk] = SocialIdentityFactory(advocate=adv, platform=platform,
                                            follower_count=followers, first_seen_at=at(2))
    AdvocateTier.objects.create(advocate=alice, tier=gold, points=120)
    AdvocateTier.objects.create(advocate=bob, tier=silver, points=60)
    AdvocateTier.objects.create(advocate=carol, tier=None, points=5)
    TierChange.objects.create(advocate=alice, from_tier=silver, to_tier=gold, direction="up",
                              points=120, reason="points", changed_at=at(10))
    TierChange.objects.create(advocate=bob, from_tier=None, to_tier=silver, direction="up",
                              points=60, reason="points", changed_at=at(11))
    TierChange.objects.create(advocate=carol, from_tier=silver, to_tier=None,
                              direction="down", points=5, reason="lapsed", changed_at=at(12))

    # Mentions: 4 on sandbox (3 positive), 1 on mastodon (negative), 1 in October (ignored).
    mentions = []
    for author, label, day in ((alice, "positive", 3), (alice, "positive", 4),
                               (bob, "positive", 5), (bob, "neutral", 6),
                               (carol, "negative", 7)):
        m = MentionFactory(author=ids[author.pk], platform=ids[author.pk].platform,
                           posted_at=at(day), received_at=at(day, 10), detected_at=at(day, 10),
                           detection_label=label)
        mentions.append(m)
    MentionFactory(author=ids[alice.pk], posted_at=at(30, month=10), detection_label="positive")

    def outreach(kind, status, mention, *, sent_minutes=None, sla_minutes=None, reason=""):
        o = Outreach.objects.create(
            kind=kind, status=status, mention=mention, advocate=mention.author.advocate,
            identity=mention.author, platform=mention.platform,
            dedupe_key=f"{kind}:{mention.pk}:{status}", created_at=mention.received_at,
            reject_reason=reason,
            sent_at=mention.received_at + timedelta(minutes=sent_minutes)
            if sent_minutes is not None else None,
            sla_due_at=mention.received_at + timedelta(minutes=sla_minutes)
            if sla_minutes is not None else None)
        return o

    # Replies on sandbox: sent after 30 and 90 minutes (median 60), one rejected, one proposed.
    outreach("reply", "sent", mentions[0], sent_minutes=30)
    outreach("reply", "sent", mentions[1], sent_minutes=90)
    outreach("reply", "rejected", mentions[2], reason="=HYPERLINK(\"http://x\")")
    outreach("reply", "proposed", mentions[3])
    outreach("reshare", "sent", mentions[0], sent_minutes=200)
    # Care on mastodon: answered in 45 minutes against a 60-minute SLA.
    outreach("care", "sent", mentions[4], sent_minutes=45, sla_minutes=60)

    for adv, kind, day in ((alice, "praise", 3), (alice, "praise", 4), (alice, "reshare", 5),
                           (bob, "praise", 5), (carol, "praise", 7)):
        AdvocacyEvent.objects.create(advocate=adv, kind=kind, platform=ids[adv.pk].platform,
                                     occurred_at=at(day), dedupe_key=f"t:{adv.pk}:{kind}:{day}")
    ConsentRecord.objects.create(advocate=alice, identity=ids[alice.pk], mention=mentions[0],
                                 status="granted", granted_at=at(4))

    # Rewards: JPY 10% (estimate 500 per grant), JPY 20% with a 3,000 minimum and no estimate,
    # USD 5.00 off.
    jpy = make_rule(name="Regulars 10%", percent_off=10, currency="jpy",
                    budget_estimate_minor=500)
    jpy_min = make_rule(name="Min order 20%", percent_off=20, currency="jpy",
                        minimum_order_minor=3000)
    usd = make_rule(name="USD five off", discount_type="amount", amount_off_minor=500,
                    percent_off=None, currency="usd")
    g1 = _grant(alice, jpy, created=at(5), tier=gold, currency="jpy", cost=500,
                status="redeemed")
    c1 = _code(g1, "JPYONE", discount_type="percent", percent=10, currency="jpy", redeemed=1)
    g2 = _grant(bob, jpy, created=at(6), tier=silver, currency="jpy", cost=500)
    _code(g2, "JPYTWO", discount_type="percent", percent=10, currency="jpy")
    g3 = _grant(bob, jpy_min, created=at(7), tier=silver, currency="jpy")
    _code(g3, "JPYMIN", discount_type="percent", percent=20, currency="jpy", minimum=3000)
    g4 = _grant(carol, usd, created=at(8), currency="usd", cost=500, status="redeemed")
    c4 = _code(g4, "USDFIVE", discount_type="amount", amount=500, currency="usd", redeemed=1)
    g5 = _grant(carol, usd, created=at(9), currency="usd", cost=500)
    _code(g5, "USDSIX", discount_type="amount", amount=500, currency="usd")
    # JPY order of 4,500 paid after 500 off; USD order of 25.00 paid after 5.00 off.
    Redemption.objects.create(grant=g1, code=c1, rule=jpy, advocate=alice,
                              source="stripe_checkout", source_id="cs_jpy:promo_JPYONE",
                              order_amount_minor=4500, discount_minor=500, currency="jpy",
                              redeemed_at=at(15))
    Redemption.objects.create(grant=g4, code=c4, rule=usd, advocate=carol,
                              source="stripe_checkout", source_id="cs_usd:promo_USDFIVE",
                              order_amount_minor=2500, discount_minor=500, currency="usd",
                              redeemed_at=at(16))
    # Orders without a code, from stored Checkout events: two JPY (3,000 and 5,000).
    for i, amount in enumerate((3000, 5000)):
        StripeEvent.objects.create(
            event_id=f"evt_plain_{i}", type="checkout.session.completed", received_at=at(20),
            payload={"data": {"object": {"id": f"cs_plain_{i}", "amount_total": amount,
                                         "currency": "jpy", "discounts": [],
                                         "total_details": {"amount_discount": 0}}}})

    perk = Perk.objects.create(name="Tote bag", unit_cost_minor=1200, currency="jpy", stock=10)
    perk_rule = make_rule(name="Tote", reward_kind="perk", perk=perk, percent_off=None)
    g6 = _grant(alice, perk_rule, created=at(9), currency="jpy", cost=1200)
    g6.reward_kind, g6.perk, g6.expires_at = "perk", perk, None
    g6.save()
    PerkFulfilment.objects.create(grant=g6, perk=perk, status="granted", created_at=at(9))

    for adv, points, expires in ((alice, 10, at(3, month=12)), (alice, 20, None),
                                 (bob, 7, at(2, month=11))):
        PointsEntry.objects.create(advocate=adv, points=points, reason="praise",
                                   occurred_at=at(1), day=date(2026, 11, 1),
                                   expires_at=expires)
    return {"rules": {"jpy": jpy, "jpy_min": jpy_min, "usd": usd, "perk": perk_rule},
            "tiers": {"gold": gold, "silver": silver}, "advocates": (alice, bob, carol)}
