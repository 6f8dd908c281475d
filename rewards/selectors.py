"""Reads of the rewards app, for views, the ambassador page, reports and other callers."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

from django.contrib.contenttypes.models import ContentType
from django.db.models import (
    CharField,
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Cast, Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from wagtail.models import WorkflowState

from advocates.models import AdvocacyEvent, AdvocacyKind, Advocate, ConsentRecord
from advocates.policies import platform_label, review_incentive_free_platforms
from advocates.selectors import AdvocateActivity, advocate_activity
from rewards.models import (
    AdvocateTier,
    DiscountCode,
    FraudFlag,
    GrantStatus,
    Perk,
    PerkFulfilment,
    PointsAdjustment,
    PointsEntry,
    Redemption,
    RewardGrant,
    RewardRule,
    RewardsSettings,
    StripeCustomer,
    Tier,
    TierChange,
    TriggerKind,
)


@dataclass(frozen=True)
class PointsSummary:
    balance: int  # unexpired points
    lifetime: int  # everything ever earned


def points_summaries(*, advocate_ids: Collection[int], now: datetime | None = None
                     ) -> dict[int, PointsSummary]:
    """Balance and lifetime points per advocate, derived from the ledger (one GROUP BY)."""
    now = now or timezone.now()
    rows = (PointsEntry.objects.filter(advocate_id__in=advocate_ids).values("advocate_id")
            .annotate(lifetime=Sum("points"),
                      balance=Sum("points", filter=Q(expires_at__isnull=True)
                                  | Q(expires_at__gt=now))))
    out = {a: PointsSummary(0, 0) for a in advocate_ids}
    for r in rows:
        out[r["advocate_id"]] = PointsSummary(r["balance"] or 0, r["lifetime"] or 0)
    return out


def points_lots(*, advocate_id: int, now: datetime | None = None
                ) -> list[tuple[datetime | None, int]]:
    """The advocate's unexpired points as (expires_at, points available) lots, soonest expiry
    first and never-expiring points last: the order a spend consumes them in.

    A spend (or a clawback) is written with the expiry of the points it consumed, so it
    leaves the balance with them and a balance never goes below zero when they expire.
    Negative points that expire never (older spends, manual adjustments) are taken from the
    soonest lots first."""
    now = now or timezone.now()
    rows = (PointsEntry.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now),
                                       advocate_id=advocate_id)
            .values("expires_at").annotate(points=Sum("points")).order_by("expires_at"))
    totals = {r["expires_at"]: r["points"] or 0 for r in rows}
    debt = max(0, -totals.get(None, 0))
    lots: list[tuple[datetime | None, int]] = []
    for expires_at in sorted(k for k in totals if k is not None) + [None]:
        available = max(0, totals.get(expires_at, 0))
        taken = min(debt, available)
        debt -= taken
        if available - taken > 0:
            lots.append((expires_at, available - taken))
    return lots


def points_balance(*, advocate_id: int, now: datetime | None = None) -> int:
    return points_summaries(advocate_ids=[advocate_id], now=now)[advocate_id].balance


def points_lifetime(*, advocate_id: int) -> int:
    return points_summaries(advocate_ids=[advocate_id])[advocate_id].lifetime


def advocate_tier(*, advocate_id: int) -> Tier | None:
    row = AdvocateTier.objects.select_related("tier").filter(advocate_id=advocate_id).first()
    return row.tier if row else None


def tiers_public() -> QuerySet[Tier]:
    # Tier's manager comes from an untyped Wagtail mixin, so the chain is typed here.
    tiers: QuerySet[Tier] = Tier.objects.filter(live=True)
    return tiers.prefetch_related("perks").order_by("threshold")


def perks_public() -> QuerySet[Perk]:
    return Perk.objects.filter(live=True, public=True).select_related("image").order_by("name")


def perks_for_sale() -> QuerySet[Perk]:
    """Live perks with a points price, cheapest first (the advocate's own page)."""
    return Perk.objects.filter(live=True, points_price__isnull=False).order_by(
        "points_price", "name")


def perks_low_stock(*, threshold: int | None = None) -> QuerySet[Perk]:
    """Live perks with a limited stock at or below the threshold (the dashboard warning)."""
    if threshold is None:
        threshold = RewardsSettings.load().low_stock_threshold
    return Perk.objects.filter(live=True, stock__isnull=False,
                               stock__lte=threshold).order_by("stock", "name")


def grant_for_promotion_code(*, promotion_code_id: str) -> RewardGrant | None:
    code = (DiscountCode.objects.select_related("grant")
            .filter(stripe_promotion_code_id=promotion_code_id).first())
    return code.grant if code else None


def stripe_customer_id(*, advocate_id: int) -> str:
    """The Stripe customer this advocate pays as, learned from their redemptions ('' if not
    known yet)."""
    return (StripeCustomer.objects.filter(advocate_id=advocate_id)
            .values_list("customer_id", flat=True).first() or "")


def grants_awaiting_private_channel() -> QuerySet[RewardGrant]:
    """Issued grants held back because the advocate can only be answered in public."""
    return (RewardGrant.objects.filter(status=GrantStatus.ISSUED, outreach__isnull=True,
                                       private_channel_wait_since__isnull=False)
            .select_related("advocate", "rule").order_by("private_channel_wait_since"))


def grants_pending_approval() -> QuerySet[RewardGrant]:
    return (RewardGrant.objects.filter(status=GrantStatus.PENDING_APPROVAL)
            .select_related("advocate", "rule").order_by("created_at"))


def rule_in_review_expression() -> Exists:
    """For annotating rules: True while the rule waits in the "Reward rule approval"
    workflow (submitted, not yet approved or rejected by finance)."""
    return Exists(WorkflowState.objects.filter(
        status=WorkflowState.STATUS_IN_PROGRESS,
        base_content_type=ContentType.objects.get_for_model(RewardRule),
        object_id=Cast(OuterRef("pk"), output_field=CharField())))


def rules_awaiting_finance() -> QuerySet[RewardRule]:
    """Rules submitted to the "Reward rule approval" workflow and not yet decided."""
    return (RewardRule.objects.annotate(in_review=rule_in_review_expression())
            .filter(in_review=True).order_by("name"))


@dataclass(frozen=True)
class CurrencyTotal:
    currency: str
    redemptions: int
    discount_minor: int
    order_minor: int


def redemptions_totals(*, since: datetime, until: datetime | None = None
                       ) -> list[CurrencyTotal]:
    """Redemptions, discount given and order revenue per currency from `since` (one query)."""
    qs = Redemption.objects.filter(redeemed_at__gte=since)
    if until is not None:
        qs = qs.filter(redeemed_at__lt=until)
    rows = (qs.exclude(currency="").order_by().values("currency")
            .annotate(n=Count("id"), discount=Sum("discount_minor"),
                      orders=Sum("order_amount_minor")).order_by("currency"))
    return [CurrencyTotal(currency=r["currency"], redemptions=r["n"],
                          discount_minor=r["discount"] or 0, order_minor=r["orders"] or 0)
            for r in rows]


def points_rules() -> dict[str, str]:
    """Points per kind of advocacy, as shown to the public ("20" or "4–20" for reviews)."""
    s = RewardsSettings.load()
    return {"praise": str(s.points_praise), "checkin": str(s.points_checkin),
            "review": f"{s.points_review_per_star}–{5 * s.points_review_per_star}",
            "reshare": str(s.points_reshare)}


# --- The public ambassador page (cms.AmbassadorPage) ------------------------------------

class ProgramText(TypedDict):
    """The ambassador page's wording in one language (the template's `t`): all text but
    `kinds`, the (event kind, how to earn it) pairs."""

    tiers: str
    perks: str
    join: str
    points: str
    window: str
    lifetime: str
    consent: str
    opt_out: str
    left: str
    none: str
    earn: str
    kinds: list[tuple[str, str]]


TEXT: dict[str, ProgramText] = {
    "en": {"tiers": "Tiers", "perks": "Perks", "join": "How to join",
           "points": "{n} points", "window": "in the last {d} days", "lifetime": "in total",
           "consent": "Allow us to reshare your posts", "opt_out": "Stop all contact from us",
           "left": "{n} left", "none": "New perks are coming soon.",
           "earn": "How you earn points", "kinds": [
               ("praise", "Praise us in a post"), ("checkin", "Check in at one of our stores"),
               ("review", "Write a review (more stars, more points)"),
               ("reshare", "Let us reshare your post")]},
    "ja": {"tiers": "ランク", "perks": "特典", "join": "参加方法",
           "points": "{n}ポイント", "window": "（直近{d}日間）", "lifetime": "（累計）",
           "consent": "投稿のシェアを許可する", "opt_out": "今後の連絡を停止する",
           "left": "残り{n}点", "none": "新しい特典を準備中です。",
           "earn": "ポイントのため方", "kinds": [
               ("praise", "投稿で私たちを紹介する"), ("checkin", "店舗でチェックインする"),
               ("review", "レビューを書く（星が多いほど高ポイント）"),
               ("reshare", "投稿のシェアを許可する")]},
}


@dataclass(frozen=True)
class TierCard:
    name: str
    badge: str
    requirement: str
    description: str
    perks: list[str]


@dataclass(frozen=True)
class PerkCard:
    name: str
    description: str
    kind: str
    image: object
    stock_note: str


class AmbassadorProgram(TypedDict):
    """The public ambassador page's context (`cms.models`)."""

    t: ProgramText
    tiers: list[TierCard]
    perks: list[PerkCard]
    earn: list[tuple[str, str]]


def ambassador_program(*, language: str) -> AmbassadorProgram:
    """What the public ambassador page shows, in `language` (en or ja): tiers, perks, points."""
    t = TEXT.get(language, TEXT["en"])
    ja = language == "ja"
    tiers = [
        TierCard(
            name=(tier.name_ja if ja and tier.name_ja else tier.name), badge=tier.badge,
            requirement=t["points"].format(n=f"{tier.threshold:,}") + " " + (
                t["window"].format(d=tier.window_days) if tier.window_days else t["lifetime"]),
            description=tier.description_ja if ja and tier.description_ja else tier.description,
            perks=[(p.name_ja if ja and p.name_ja else p.name) for p in tier.perks.all()
                   if p.live])
        for tier in tiers_public()]
    public = list(perks_public())
    with translation.override(language):  # the kind's label in the page's language
        kinds = {p.pk: str(p.get_kind_display()) for p in public}
    perks = [
        PerkCard(name=p.name_ja if ja and p.name_ja else p.name,
                 description=p.description_ja if ja and p.description_ja else p.description,
                 kind=kinds.get(p.pk, ""), image=p.image,
                 stock_note=t["left"].format(n=p.stock) if p.stock is not None and p.stock <= 10
                 else "")
        for p in public]
    config = points_rules()
    earn = [(label, config.get(kind, "")) for kind, label in t["kinds"]]
    return {"t": t, "tiers": tiers, "perks": perks, "earn": earn}


# --- Compliance: past grants the platform policy and the review rule would refuse ------------


@dataclass(frozen=True)
class GrantRefusal:
    grant: RewardGrant
    reasons: tuple[str, ...]


def grants_refused_by_policy(*, since: datetime | None = None) -> list[GrantRefusal]:
    """Grants made before the review-incentive checks that those checks would have refused.

    For finance to review (docs/compliance.md); nothing is changed. A grant is listed when its
    rule depends on a review (16 CFR 465.4), when a review fired it, or when it needed reviews
    on a platform that forbids review incentives (Google): an "N in D days" rule short of N
    without them, a tier short of its threshold without their points. The rule is read as it
    is now (an edited rule is judged by its current trigger), which is what finance asks:
    "would today's Kansha have paid this?"
    """
    no_incentive = review_incentive_free_platforms()
    grants = (RewardGrant.objects.select_related("rule", "rule__trigger_tier", "trigger_event",
                                                 "advocate").order_by("created_at", "id"))
    if since is not None:
        grants = grants.filter(created_at__gte=since)
    # Only these advocates can have leaned on a forbidden review: one query, then the few
    # per-grant counts below are for them alone.
    reviewers = set(AdvocacyEvent.objects.filter(
        kind=AdvocacyKind.REVIEW, platform__in=no_incentive)
        .values_list("advocate_id", flat=True).distinct()) if no_incentive else set()
    refused = []
    for grant in grants.iterator(chunk_size=500):
        reasons = _grant_refusal_reasons(grant, no_incentive=no_incentive,
                                         leaned_on_reviews=grant.advocate_id in reviewers)
        if reasons:
            refused.append(GrantRefusal(grant=grant, reasons=tuple(reasons)))
    return refused


def _grant_refusal_reasons(grant: RewardGrant, *, no_incentive: list[str],
                           leaned_on_reviews: bool) -> list[str]:
    rule, event = grant.rule, grant.trigger_event
    reasons = []
    if rule.compliance_refusal():
        reasons.append("the rule depends on a review or its rating (FTC 16 CFR 465.4)")
    if event is not None and event.kind == AdvocacyKind.REVIEW:
        where = platform_label(event.platform)
        reasons.append(f"a review on {where} fired it (FTC 16 CFR 465.4"
                       + (f"; {where} forbids review incentives)"
                          if event.platform in no_incentive else ")"))
    if not leaned_on_reviews:
        return reasons
    forbidden = Q(kind=AdvocacyKind.REVIEW, platform__in=no_incentive)
    if rule.trigger == TriggerKind.EVENTS_IN_DAYS:
        window = AdvocacyEvent.objects.filter(
            advocate_id=grant.advocate_id, occurred_at__lte=grant.created_at,
            occurred_at__gte=grant.created_at - timedelta(days=rule.trigger_days))
        if rule.trigger_event_kind:
            window = window.filter(kind=rule.trigger_event_kind)
        counts = window.aggregate(all=Count("id"), forbidden=Count("id", filter=forbidden))
        if counts["forbidden"] and counts["all"] - counts["forbidden"] < rule.trigger_count:
            reasons.append(
                f"{counts['forbidden']} review(s) where the platform forbids review incentives "
                f"counted toward it: {counts['all'] - counts['forbidden']} of "
                f"{rule.trigger_count} acts without them")
    elif rule.trigger == TriggerKind.TIER_REACHED and rule.trigger_tier is not None:
        tier = rule.trigger_tier
        entries = PointsEntry.objects.filter(advocate_id=grant.advocate_id,
                                             occurred_at__lte=grant.created_at)
        if tier.window_days:
            entries = entries.filter(
                occurred_at__gte=grant.created_at - timedelta(days=tier.window_days))
        points = entries.aggregate(all=Sum("points"), forbidden=Sum("points", filter=forbidden))
        earned, forbidden_points = points["all"] or 0, points["forbidden"] or 0
        if forbidden_points > 0 and earned - forbidden_points < tier.threshold:
            reasons.append(
                f"{forbidden_points} of its points came from reviews where the platform forbids "
                f"review incentives: {earned - forbidden_points} of {tier.threshold} for "
                f"{tier.name} without them")
    return reasons


# --- People: the advocates list and the profile ---------------------------------------------


def advocates_with_standing(qs: QuerySet[Advocate], *, now: datetime | None = None
                            ) -> QuerySet[Advocate]:
    """`tier_name` and `points_balance` (unexpired points) on each row, as subqueries: the
    advocates list shows them for a page of people without a query per row."""
    now = now or timezone.now()
    balance = (PointsEntry.objects.filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now),
                                          advocate=OuterRef("pk"))
               .values("advocate").annotate(s=Sum("points")).values("s"))
    return qs.annotate(
        tier_name=Subquery(AdvocateTier.objects.filter(advocate=OuterRef("pk"))
                           .values("tier__name")[:1]),
        points_balance=Coalesce(Subquery(balance, output_field=IntegerField()), 0))


@dataclass(frozen=True)
class TierProgress:
    tier: Tier | None
    points: int  # tier points when last evaluated
    next_tier: Tier | None
    to_next: int  # points still needed for the next tier (0 at the top)
    percent: int  # of the way from this tier's threshold to the next one's


def tier_progress(*, advocate_id: int) -> TierProgress:
    """Where the advocate stands on the ladder of live tiers (two queries)."""
    row = AdvocateTier.objects.select_related("tier").filter(advocate_id=advocate_id).first()
    tier, points = (row.tier, row.points) if row else (None, 0)
    next_tier = Tier.objects.filter(live=True, threshold__gt=points).order_by("threshold").first()
    if next_tier is None:
        return TierProgress(tier, points, None, 0, 100)
    floor = tier.threshold if tier is not None and tier.threshold < next_tier.threshold else 0
    span = max(next_tier.threshold - floor, 1)
    percent = max(0, min(100, (points - floor) * 100 // span))
    return TierProgress(tier, points, next_tier, next_tier.threshold - points, percent)


@dataclass(frozen=True)
class AdvocateProfile:
    """Everything the profile page shows, each section bounded (PROFILE_ROWS newest)."""

    activity: AdvocateActivity
    points: PointsSummary
    entries: list[PointsEntry]
    entry_count: int
    tier: TierProgress
    tier_changes: list[TierChange]
    grants: list[RewardGrant]  # with their code and perk fulfilment
    redemptions: list[Redemption]
    fraud_flags: list[FraudFlag]
    adjustments: list[PointsAdjustment]

    @property
    def advocate(self) -> Advocate:
        return self.activity.advocate


def advocate_profile(*, advocate_id: int, now: datetime | None = None,
                     rows: int = 50) -> AdvocateProfile:
    """An advocate's whole story for the profile page, in a number of queries that does not
    grow with their history. Raises Advocate.DoesNotExist."""
    activity = advocate_activity(advocate_id=advocate_id, rows=rows)
    entries = PointsEntry.objects.filter(advocate_id=advocate_id)
    return AdvocateProfile(
        activity=activity,
        points=points_summaries(advocate_ids=[advocate_id], now=now)[advocate_id],
        entries=list(entries.select_related("adjustment")[:rows]),
        entry_count=entries.count(),
        tier=tier_progress(advocate_id=advocate_id),
        tier_changes=list(TierChange.objects.filter(advocate_id=advocate_id)
                          .select_related("from_tier", "to_tier")[:rows]),
        grants=list(RewardGrant.objects.filter(advocate_id=advocate_id)
                    .select_related("rule", "perk", "code", "fulfilment")[:rows]),
        redemptions=list(Redemption.objects.filter(advocate_id=advocate_id)
                         .select_related("code")[:rows]),
        fraud_flags=list(FraudFlag.objects.filter(advocate_id=advocate_id)[:rows]),
        adjustments=list(PointsAdjustment.objects.filter(advocate_id=advocate_id)
                         .select_related("made_by", "decided_by")[:rows]),
    )


def code_masked(code: str) -> str:
    """`KAN-7XK2-MP9QRT` → `KAN-••••-••9QRT`: enough to match what the advocate reads out,
    not enough to spend it."""
    keep = 4
    return "".join(ch if ch == "-" or i >= len(code) - keep else "•"
                   for i, ch in enumerate(code)) if len(code) > keep else "•" * len(code)


@dataclass(frozen=True)
class OwnPage:
    """What the advocate sees on their own page (each list bounded to its newest rows)."""

    points: PointsSummary
    entries: list[PointsEntry]
    tier: TierProgress
    grants: list[RewardGrant]  # with their code and perk fulfilment
    bought: list[PerkFulfilment]  # perks bought with points
    perks: list[Perk]  # for sale, cheapest first
    consents: list[ConsentRecord]


def own_page(*, advocate_id: int, now: datetime | None = None, rows: int = 30) -> OwnPage:
    """The advocate's own page, in a fixed number of queries."""
    return OwnPage(
        points=points_summaries(advocate_ids=[advocate_id], now=now)[advocate_id],
        entries=list(PointsEntry.objects.filter(advocate_id=advocate_id)
                     .select_related("reversal", "adjustment")[:rows]),
        tier=tier_progress(advocate_id=advocate_id),
        grants=list(RewardGrant.objects.filter(advocate_id=advocate_id)
                    .exclude(status=GrantStatus.PENDING_APPROVAL)
                    .select_related("perk", "code", "fulfilment")[:rows]),
        bought=list(PerkFulfilment.objects.filter(points_entry__advocate_id=advocate_id)
                    .select_related("perk", "points_entry").order_by("-created_at")[:rows]),
        perks=list(perks_for_sale()),
        consents=list(ConsentRecord.objects.filter(advocate_id=advocate_id)
                      .select_related("identity")[:rows]),
    )


def points_entry_label(entry: PointsEntry, *, perk_names: dict[str, str]) -> str:
    """Why the points moved, in the active language, for the advocate's own page. The ledger
    keeps its English `reason` for staff; `perk_names` maps a perk's name to the one to show
    (its Japanese name on the Japanese page)."""
    reason = entry.reason
    if entry.event_id is not None:
        if entry.points == 0 and "no incentives" in reason:
            return _("Review on %(platform)s: no points (the platform's rules)") % {
                "platform": platform_label(entry.platform)}
        label = (_("Review %(stars)s") % {"stars": reason.split(" ")[1].split("(")[0]}
                 if entry.kind == AdvocacyKind.REVIEW
                 else str(AdvocacyKind(entry.kind).label) if entry.kind in AdvocacyKind.values
                 else reason)
        return (_("%(reason)s (daily limit reached)") % {"reason": label}
                if "(daily cap" in reason else label)
    if entry.adjustment is not None:
        return _("Adjustment: %(reason)s") % {"reason": entry.adjustment.reason}
    if entry.reversal_id is not None:
        return (_("Order refunded: points taken back") if entry.points < 0
                else _("Order restored: points given back"))
    for prefix, text in (("spent on ", _("Spent on %(perk)s")),
                         ("refund: ", _("Points back: %(perk)s cancelled"))):
        if entry.spend_key and reason.startswith(prefix):
            name = reason[len(prefix):].removesuffix(" cancelled")
            return text % {"perk": perk_names.get(name) or name}
    return reason


SAME_STRIPE_CUSTOMER = gettext_lazy("Same Stripe customer")


def merge_clues_stripe_customer() -> dict[tuple[int, int], list[str]]:
    """Advocates whose codes one Stripe customer paid with (or the customer known for one of
    them paid with the other's code), as merge clues: {(lower id, higher id): [reason]}.
    Only customers seen with more than one advocate are read."""
    paid = Redemption.objects.exclude(stripe_customer_id="")
    shared = (paid.order_by().values("stripe_customer_id")
              .annotate(n=Count("advocate_id", distinct=True)).filter(n__gt=1)
              .values_list("stripe_customer_id", flat=True))
    crossed = paid.filter(Exists(StripeCustomer.objects.filter(
        customer_id=OuterRef("stripe_customer_id")).exclude(advocate_id=OuterRef("advocate_id"))
    )).values_list("stripe_customer_id", flat=True)
    customers = set(shared) | set(crossed)
    people: dict[str, set[int]] = {}
    for customer, advocate in [
            *paid.filter(stripe_customer_id__in=customers)
            .values_list("stripe_customer_id", "advocate_id").order_by().distinct(),
            *StripeCustomer.objects.filter(customer_id__in=customers)
            .values_list("customer_id", "advocate_id")]:
        people.setdefault(customer, set()).add(advocate)
    clues: dict[tuple[int, int], list[str]] = {}
    for ids in people.values():
        ordered = sorted(ids)
        for i, a in enumerate(ordered):
            for b in ordered[i + 1:]:
                clues[(a, b)] = [str(SAME_STRIPE_CUSTOMER)]
    return clues
