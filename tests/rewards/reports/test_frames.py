"""Each frame builder on a small literal input, against the exact frame it must produce."""

from __future__ import annotations

import numpy as np
import pandas as pd
from pandas.testing import assert_frame_equal

from rewards.reports import frames

NAN = np.nan


def df(**columns) -> pd.DataFrame:
    return pd.DataFrame(columns)


def test_ambassador_trend_joins_every_source_by_period_and_platform():
    mentions = df(period=["2026-11-01", "2026-11-01"], platform=["sandbox", "x"],
                  mentions=[10, 4], positive=[6, 1], detected=[10, 4])
    outreach = df(
        period=["2026-11-01"] * 6, platform=["sandbox"] * 5 + ["x"],
        kind=["reply", "reply", "reply", "reply", "reshare", "care"],
        status=["sent", "failed", "rejected", "proposed", "sent", "sent"],
        items=[3, 1, 2, 1, 2, 4], with_sla=[0, 0, 0, 0, 0, 4], within_sla=[0, 0, 0, 0, 0, 3])
    times = df(period=["2026-11-01", "2026-11-01"], platform=["sandbox", "x"],
               kind=["reply", "care"], sent=[3, 4], median_seconds=[3600.0, 1530.0])
    new = df(period=["2026-11-01"], platform=["sandbox"], new_advocates=[5])
    active = df(period=["2026-11-01", "2026-11-01"], platform=["sandbox", "x"],
                active_advocates=[7, 2], events=[9, 2], reshares=[2, 0])
    consents = df(period=["2026-11-01"], platform=["sandbox"], consents_granted=[1])

    got = frames.shape_ambassador_trend(mentions=mentions, outreach=outreach, times=times, new=new,
                                  active=active, consents=consents)

    expected = df(
        period=["2026-11-01", "2026-11-01"], platform=["sandbox", "x"],
        mentions=[10, 4], positive=[6, 1], positive_share=[0.6, 0.25],
        thanks_proposed=[7, 0], thanks_approved=[4, 0], thanks_sent=[3, 0],
        thanks_rejected=[2, 0], median_minutes_to_thank=[60.0, NAN],
        care_items=[0, 4], care_median_minutes_to_response=[NAN, 25.5],
        care_within_sla_share=[NAN, 0.75], new_advocates=[5, 0], active_advocates=[7, 2],
        reshares_sent=[2, 0], consents_granted=[1, 0])
    assert_frame_equal(got, expected)


def test_ambassador_trend_of_nothing_is_an_empty_frame_with_the_columns():
    empty = pd.DataFrame()
    got = frames.shape_ambassador_trend(mentions=empty, outreach=empty, times=empty, new=empty,
                                  active=empty, consents=empty)
    assert list(got.columns) == list(frames.TREND_COLUMNS)
    assert got.empty


def test_outbound_balance_against_50_30_20():
    outreach = df(period=["2026-11-02"] * 6 + ["2026-11-09"],
                  platform=["sandbox"] * 7,
                  kind=["reply", "care", "consent", "dm", "reshare", "reply", "reply"],
                  status=["sent", "sent", "sent", "sent", "sent", "rejected", "sent"],
                  items=[5, 1, 1, 1, 2, 9, 4], with_sla=[0] * 7, within_sla=[0] * 7)
    expected = df(period=["2026-11-02", "2026-11-09"], replies=[5, 4], conversations=[3, 0],
                  broadcasts=[2, 0], replies_share=[0.5, 1.0], conversations_share=[0.3, 0.0],
                  broadcasts_share=[0.2, 0.0], largest_gap_points=[0.0, 50.0])
    assert_frame_equal(frames.shape_outbound_balance(outreach), expected)


def test_rejection_reasons_most_frequent_first_with_shares():
    reasons = df(reason=["off-brand", "sarcasm", "spam"], rejected=[1, 3, 1])
    expected = df(reason=["sarcasm", "off-brand", "spam"], rejected=[3, 1, 1],
                  share=[0.6, 0.2, 0.2])
    assert_frame_equal(frames.shape_rejection_reasons(reasons), expected)


def test_tier_distribution_in_threshold_order():
    tiers = df(tier=["Gold", "(no tier)", "Silver"], threshold=[100, 0, 50],
               advocates=[1, 6, 3])
    expected = df(tier=["(no tier)", "Silver", "Gold"], advocates=[6, 3, 1],
                  share=[0.6, 0.3, 0.1])
    assert_frame_equal(frames.shape_tier_distribution(tiers), expected)


def test_tier_movement_promotions_and_demotions_per_tier():
    changes = df(period=["2026-11-01", "2026-11-01", "2026-11-01", "2026-12-01"],
                 tier=["Gold", "Silver", "Silver", "Gold"],
                 direction=["up", "up", "down", "up"], changes=[2, 5, 1, 1])
    expected = df(period=["2026-11-01", "2026-11-01", "2026-12-01"],
                  tier=["Gold", "Silver", "Gold"], promotions=[2, 5, 1], demotions=[0, 1, 0])
    assert_frame_equal(frames.shape_tier_movement(changes), expected)


def test_top_advocates_keeps_the_rank_order():
    top = df(rank=[2, 1], advocate_id=[9, 4], name=["Bo", "Al"], events=[3, 8],
             reach=[40, 1000], redemptions=[0, 2])
    expected = df(rank=[1, 2], advocate_id=[4, 9], name=["Al", "Bo"], reach=[1000, 40],
                  events=[8, 3], redemptions=[2, 0])
    assert_frame_equal(frames.shape_top_advocates(top), expected)


def test_redemption_summary_never_mixes_currencies():
    keys = {"month": ["2026-11-01", "2026-11-01"], "rule_id": [1, 1], "rule": ["R", "R"],
            "tier": ["Gold", "Gold"], "currency": ["jpy", "usd"]}
    cohort = df(**keys, issued=[4, 2], redeemed=[1, 2], expired=[1, 0])
    redemptions = df(**{k: v[:1] for k, v in keys.items()}, redemptions=[1],
                     discount_minor=[500], order_minor=[4500], orders=[1])
    # A refund took back a third of the yen order, and with it a third of its discount.
    reversals = df(**{k: v[:1] for k, v in keys.items()}, reversals=[1],
                   discount_reversed_minor=[167], order_reversed_minor=[1500])
    expected = df(**keys, codes_issued=[4, 2], codes_redeemed=[1, 2], codes_expired=[1, 0],
                  redemption_rate=[0.25, 1.0], redemptions=[1, 0], discount_minor=[500, 0],
                  order_revenue_minor=[4500, 0], reversals=[1, 0],
                  discount_reversed_minor=[167, 0], order_revenue_reversed_minor=[1500, 0],
                  discount_net_minor=[333, 0], order_revenue_net_minor=[3000, 0])
    got = frames.shape_redemption_summary(cohort=cohort, redemptions=redemptions,
                                    reversals=reversals)
    assert_frame_equal(got, expected)

    totals = frames.shape_redemption_totals(pd.concat([got, got], ignore_index=True))
    assert_frame_equal(totals, df(
        currency=["jpy", "usd"], codes_issued=[8, 4], codes_redeemed=[2, 4],
        codes_expired=[2, 0], redemption_rate=[0.25, 1.0], redemptions=[2, 0],
        discount_minor=[1000, 0], order_revenue_minor=[9000, 0], reversals=[2, 0],
        discount_reversed_minor=[334, 0], order_revenue_reversed_minor=[3000, 0],
        discount_net_minor=[666, 0], order_revenue_net_minor=[6000, 0]))


def test_order_values_with_and_without_a_code():
    with_code = df(month=["2026-11-01", "2026-11-01", "2026-11-01"], rule_id=[1, 2, 3],
                   rule=["A", "B", "C"], tier=["", "", ""], currency=["jpy", "jpy", "usd"],
                   redemptions=[2, 1, 1], discount_minor=[0, 0, 0],
                   order_minor=[9000, 3000, 2500], orders=[2, 1, 1])
    without = df(month=["2026-11-01"], currency=["jpy"], orders=[3], order_minor=[10000])
    expected = df(month=["2026-11-01", "2026-11-01"], currency=["jpy", "usd"],
                  orders_with_code=[3, 1],
                  aov_with_code_minor=pd.array([4000, 2500], dtype="Int64"),
                  orders_without_code=[3, 0],
                  aov_without_code_minor=pd.array([3333, None], dtype="Int64"))
    assert_frame_equal(frames.shape_order_values(with_code=with_code, without_code=without),
                       expected)


def test_grant_ledger_writes_datetimes_as_utc_text():
    ledger = df(grant_id=[1, 2], created_at=["2026-11-05 10:00:00", "2026-11-06 01:02:03"],
                issued_at=["2026-11-05 10:00:01", None], expires_at=[None, None],
                stripe_promotion_code_id=["promo_1", ""])
    expected = df(grant_id=[1, 2], created_at=["2026-11-05 10:00:00", "2026-11-06 01:02:03"],
                  issued_at=["2026-11-05 10:00:01", ""], expires_at=["", ""],
                  stripe_promotion_code_id=["promo_1", ""])
    assert_frame_equal(frames.shape_grant_ledger(ledger), expected)


def test_liability_adds_codes_and_perks_per_expiry_month_and_currency():
    codes = df(expiry_month=["2026-12-01", "2026-12-01", "2026-12-01", ""],
               currency=["jpy", "jpy", "usd", "usd"],
               discount_type=["amount", "percent", "amount", "percent"],
               codes=[2, 3, 1, 1], uses=[2, 3, 1, 1], amount_minor=[1000, 0, 500, 0],
               estimate_minor=[0, 1000, 0, 0], minimum_minor=[0, 600, 0, 0],
               uncapped=[0, 1, 0, 1])
    perks = df(expiry_month=["2026-12-01", ""], currency=["jpy", "jpy"],
               perk=["Tote", "Mug"], units=[2, 1], cost_minor=[2400, 800])
    expected = df(expiry_month=["2026-12-01", "2026-12-01", "no expiry", "no expiry"],
                  currency=["jpy", "usd", "jpy", "usd"], codes_outstanding=[5, 1, 0, 1],
                  amount_codes_minor=[1000, 500, 0, 0], percent_codes_minor=[1600, 0, 0, 0],
                  percent_codes_uncapped=[1, 0, 0, 1], perk_units=[2, 0, 1, 0],
                  perk_cost_minor=[2400, 0, 800, 0], max_exposure_minor=[5000, 500, 800, 0])
    got = frames.shape_liability(codes=codes, perks=perks)
    assert_frame_equal(got, expected)
    assert_frame_equal(frames.shape_liability_totals(got), df(
        currency=["jpy", "usd"], codes_outstanding=[5, 2], amount_codes_minor=[1000, 500],
        percent_codes_minor=[1600, 0], percent_codes_uncapped=[1, 1], perk_units=[3, 0],
        perk_cost_minor=[3200, 0], max_exposure_minor=[5800, 500]))


def test_points_outstanding_lists_no_expiry_last():
    points = df(expiry_month=["", "2026-12-01"], points=[20, 10], advocates=[1, 1])
    expected = df(expiry_month=["2026-12-01", "no expiry"], points=[10, 20], advocates=[1, 1])
    assert_frame_equal(frames.shape_points_outstanding(points), expected)
