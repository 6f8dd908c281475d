"""The demo's reward program: tiers, perks and rules, published as marketing would.

Used by `manage.py demo_setup`. Idempotent: what exists (by name) is left as it is, so a
marketer's edits in the demo survive a second run.
"""

from __future__ import annotations

from rewards.models import (
    DiscountType,
    Perk,
    PerkKind,
    RewardKind,
    RewardRule,
    RewardsSettings,
    Tier,
    TriggerKind,
)

# (name, Japanese name, kind, stock (None = unlimited), unit cost in yen, description,
#  Japanese description)
PERKS = [
    ("Kansha tote bag", "カンシャ トートバッグ", PerkKind.SWAG, 20, 1200,
     "A canvas tote with the Kansha Coffee mark.",
     "カンシャ珈琲のロゴ入りキャンバストート。"),
    ("Latte art workshop", "ラテアート ワークショップ", PerkKind.EVENT_INVITE, 4, 3000,
     "An evening with our baristas at the Shibuya roastery.",
     "渋谷の焙煎所で、バリスタと過ごすひととき。"),
    ("New blend early access", "新ブレンド先行体験", PerkKind.EARLY_ACCESS, None, 0,
     "Taste each seasonal blend a week before it reaches the stores.",
     "季節のブレンドを、店頭に並ぶ1週間前にお試しいただけます。"),
]
# (name, Japanese name, points, window in days (None = lifetime), badge, perk names,
#  description, Japanese description)
TIERS = [
    ("Bronze", "ブロンズ", 30, None, "🥉", [],
     "Where every regular starts.", "すべての常連さんはここから。"),
    ("Silver", "シルバー", 100, 90, "🥈", ["New blend early access"],
     "Taste the new blends first.", "新しいブレンドをいち早く。"),
    ("Gold", "ゴールド", 250, 90, "🥇", ["Kansha tote bag", "Latte art workshop"],
     "Our thanks, in person.", "感謝の気持ちを、直接。"),
]
REGULARS_RULE = "Regulars: 3 thank-yous in 30 days"
FIRST_VISIT_RULE = "First check-in at a store: ¥200 off"


def _rules(tiers: dict[str, Tier], perks: dict[str, Perk]) -> list[dict]:
    return [
        {"name": REGULARS_RULE, "trigger": TriggerKind.EVENTS_IN_DAYS, "trigger_count": 3,
         "trigger_days": 30, "reward_kind": RewardKind.DISCOUNT,
         "discount_type": DiscountType.PERCENT, "percent_off": 10, "currency": "jpy",
         "code_expiry_days": 30, "budget_estimate_minor": 60,
         "monthly_budget_minor": 300_000, "period": "month"},
        # Not "a review of 4 stars or more": a reward conditional on a positive rating is
        # unlawful (FTC 16 CFR 465.4), see docs/compliance.md.
        {"name": FIRST_VISIT_RULE, "trigger": TriggerKind.FIRST_CHECKIN,
         "reward_kind": RewardKind.DISCOUNT,
         "discount_type": DiscountType.AMOUNT, "amount_off_minor": 200, "currency": "jpy",
         "minimum_order_minor": 800, "code_expiry_days": 45, "period": "ever"},
        {"name": "Reaching Gold: a tote bag", "trigger": TriggerKind.TIER_REACHED,
         "trigger_tier": tiers["Gold"], "reward_kind": RewardKind.PERK,
         "perk": perks["Kansha tote bag"], "currency": "jpy", "period": "ever"},
    ]


def demo_program_ensure() -> list[str]:
    """Create the demo's perks, tiers and live rules that do not exist yet; say what was done.

    The demo's advocates are all new to Kansha and the sandbox tells no account ages, so the
    new-account fraud guard is turned off for the demo (a real brand keeps it).
    """
    done: list[str] = []
    perks: dict[str, Perk] = {}
    for name, name_ja, kind, stock, cost, description, description_ja in PERKS:
        perk = Perk.objects.filter(name=name).first()
        if perk is None:
            perk = Perk(name=name, name_ja=name_ja, kind=kind, stock=stock,
                        unit_cost_minor=cost, currency="jpy", description=description,
                        description_ja=description_ja)
            perk.save()
            perk.save_revision().publish()
            done.append(f"perk {name!r}")
        perks[name] = perk

    tiers: dict[str, Tier] = {}
    for level, (name, name_ja, threshold, window, badge, perk_names, about,
                about_ja) in enumerate(TIERS, 1):
        tier = Tier.objects.filter(name=name).first()
        if tier is None:
            tier = Tier.objects.create(name=name, name_ja=name_ja, level=level,
                                       threshold=threshold, window_days=window, badge=badge,
                                       description=about, description_ja=about_ja)
            tier.perks.set([perks[p] for p in perk_names])
            tier.save()
            done.append(f"tier {name!r}")
        tiers[name] = tier

    for fields in _rules(tiers, perks):
        if RewardRule.objects.filter(name=fields["name"]).exists():
            continue
        rule = RewardRule(**fields)
        rule.full_clean()
        rule.save()
        rule.save_revision().publish()
        done.append(f"rule {fields['name']!r}")

    if done:
        config = RewardsSettings.load()
        config.min_account_age_days = 0
        config.save()
    return done
