"""Points, tiers, rules, perks, grants, discount codes and redemptions.

`rewards` reads `advocates` (its models and selectors) and never writes its tables; the
append-only `advocates.AdvocacyEvent` is the hand-off. Money is integer minor units plus an
ISO 4217 currency everywhere; datetimes are timezone-aware. Tables that reports group by carry
the rule, tier, advocate and currency directly, with indexes on them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, validate_email
from django.db import models
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from modelcluster.fields import ParentalManyToManyField
from modelcluster.models import ClusterableModel
from wagtail.admin.panels import FieldPanel, FieldRowPanel, MultiFieldPanel
from wagtail.contrib.settings.models import BaseGenericSetting, register_setting
from wagtail.models import (
    AbstractGroupApprovalTask,
    DraftStateMixin,
    LockableMixin,
    RevisionMixin,
    WorkflowMixin,
)
from wagtail.search import index

from advocates.models import (
    AdvocacyEvent,
    AdvocacyKind,
    Advocate,
    Mention,
    Outreach,
    ReplyTemplate,
    TemplatePurpose,
)
from advocates.template_text import template_text_variables
from rewards.codes import code_key, perk_voucher_generate
from rewards.currencies import (
    CurrencyField,
    MoneyError,
    amount_clean,
    money_format,
    validate_currency,
    validate_text,
)
from rewards.forms import RewardsSettingsForm
from rewards.money import money_display

__all__ = ["money_format"]  # re-exported: reports and tests format money from here

# Migrations 0001 and 0002 name the currency validator by this old name.
_currency_validator = validate_currency


def _amounts_check(instance: models.Model, fields: tuple[str, ...], currency: str) -> None:
    """Each money field within the bounds of its currency (rewards/currencies.py), or a
    ValidationError on that field. An unknown currency is its own field's error."""
    errors = {}
    for name in fields:
        value = getattr(instance, name)
        if value is None:
            continue
        try:
            amount_clean(value, currency, field=name.removesuffix("_minor").replace("_", " "),
                         allow_zero=True)
        except MoneyError as exc:
            errors[name] = str(exc)
        except KeyError:
            return
    if errors:
        raise ValidationError(errors)


# --- Settings ------------------------------------------------------------------------------


class ClawbackPolicy(models.TextChoices):
    NONE = "none", "Keep the points"
    FULL = "full", "Take them back when the order is fully refunded or disputed"
    PROPORTIONAL = "proportional", "Take back the refunded share of them"


@register_setting(icon="pick")
class RewardsSettings(BaseGenericSetting):
    """How advocacy turns into points, and the fraud guards; marketing edits it in Settings."""

    points_praise = models.PositiveIntegerField(default=10)
    points_checkin = models.PositiveIntegerField(default=5)
    points_review_per_star = models.PositiveIntegerField(
        default=4, help_text="A review earns its star rating times this (5★ = 20 by default).")
    points_review_unrated = models.PositiveIntegerField(default=5)
    points_reshare = models.PositiveIntegerField(default=15, help_text="Consented reshares.")
    daily_cap = models.PositiveIntegerField(
        default=100, help_text="Most points one advocate can earn per day (UTC); 0 = no cap.")
    expiry_days = models.PositiveIntegerField(
        default=365, help_text="Points expire this many days after the act; 0 = never.")
    # Fraud guards (rewards/fraud.py).
    velocity_max_per_hour = models.PositiveIntegerField(
        default=12, help_text="More advocacy events than this from one advocate in an hour "
        "flags them for review.")
    min_account_age_days = models.PositiveIntegerField(
        default=14, help_text="Social accounts younger than this are flagged for review.")
    min_followers = models.PositiveIntegerField(
        default=5, help_text="Accounts with fewer followers are flagged for review.")
    duplicate_text_identities = models.PositiveIntegerField(
        default=3, help_text="The same text posted by this many identities flags them all.")
    employee_handles = models.TextField(
        blank=True, help_text="One handle per line: employees never receive rewards.")
    low_stock_threshold = models.PositiveIntegerField(
        default=5, help_text="Perks with this many or fewer left show on the dashboard.")
    refund_points_clawback = models.CharField(
        max_length=12, choices=ClawbackPolicy.choices, default=ClawbackPolicy.NONE,
        help_text="When an order paid with an advocate's code is refunded or disputed: keep "
        "their points, or take back the points of the act that earned the reward.")
    # Disclosure watch (rewards/services/disclosure.py, docs/compliance.md).
    disclosure_window_days = models.PositiveIntegerField(
        default=90, help_text="For this many days after a reward, the advocate's new posts "
        "about the brand are checked for a disclosure such as #ad or #PR; 0 = never.")
    disclosure_markers_en = models.TextField(
        default="#ad\n#sponsored\n#PR\n#gifted\n#partner",
        help_text="One per line: what counts as a disclosure in posts in English (and in "
        "languages without their own list). Case does not matter.")
    disclosure_markers_ja = models.TextField(
        default="#PR\n#提供\n#プロモーション\n広告",
        help_text="One per line: what counts as a disclosure in posts in Japanese.")

    panels = [
        MultiFieldPanel([FieldPanel("points_praise"), FieldPanel("points_checkin"),
                         FieldPanel("points_review_per_star"),
                         FieldPanel("points_review_unrated"), FieldPanel("points_reshare"),
                         FieldPanel("daily_cap"), FieldPanel("expiry_days")],
                        heading=gettext_lazy("Points")),
        MultiFieldPanel([FieldPanel("velocity_max_per_hour"), FieldPanel("min_account_age_days"),
                         FieldPanel("min_followers"), FieldPanel("duplicate_text_identities"),
                         FieldPanel("employee_handles")],
                        heading=gettext_lazy("Fraud guards")),
        FieldPanel("low_stock_threshold"),
        FieldPanel("refund_points_clawback"),
        MultiFieldPanel([FieldPanel("disclosure_window_days"), FieldPanel("disclosure_markers_en"),
                         FieldPanel("disclosure_markers_ja")],
                        heading=gettext_lazy("Disclosure watch")),
    ]

    def disclosure_markers(self, language: str) -> list[str]:
        """The markers that count as a disclosure in a post in `language` (English's list for
        a language without its own), plus the other list: a Japanese post saying "#ad" has
        disclosed too."""
        ja = [m.strip() for m in self.disclosure_markers_ja.splitlines() if m.strip()]
        en = [m.strip() for m in self.disclosure_markers_en.splitlines() if m.strip()]
        return [*ja, *en] if language.startswith("ja") else [*en, *ja]

    base_form_class = RewardsSettingsForm

    class Meta:
        verbose_name = "rewards settings"

    # What an act is worth and how long it lasts: money, so a change to these waits for a
    # finance approver (PointsSettingsChange); the fraud guards and the stock warning save
    # at once.
    POINTS_FIELDS = ("points_praise", "points_checkin", "points_review_per_star",
                     "points_review_unrated", "points_reshare", "daily_cap", "expiry_days",
                     "refund_points_clawback")

    def points_values(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.POINTS_FIELDS}

    def points_for(self, *, kind: str, rating: int | None) -> int:
        """Points one event of `kind` earns before the daily cap."""
        if kind == "review":
            return rating * self.points_review_per_star if rating else self.points_review_unrated
        return self.points_table().get(kind, 0)

    def points_table(self) -> dict[str, int]:
        """Points per kind (reviews by rating aside), as plain strings for the batch loop."""
        return {str(AdvocacyKind.PRAISE.value): self.points_praise,
                str(AdvocacyKind.CHECKIN.value): self.points_checkin,
                str(AdvocacyKind.RESHARE.value): self.points_reshare}

    def employee_handle_set(self) -> frozenset[str]:
        return frozenset(h.strip().lstrip("@").lower() for h in self.employee_handles.splitlines()
                         if h.strip())


# --- Ledger --------------------------------------------------------------------------------


class LedgerCursor(models.Model):
    """Where the event scan starts, and the lock that makes one worker process a batch.

    `scan_from_id` only moves past events older than a safety lag, so an event whose id was
    taken by a transaction that committed late is still found (see services.ledger).
    """

    name = models.CharField(max_length=40, unique=True)
    scan_from_id = models.BigIntegerField(default=0)
    # Every event above this id is new; between scan_from_id and this one, stragglers are
    # found by comparing ids with the points entries (no anti-join over the whole ledger).
    max_processed_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.name} from #{self.scan_from_id}"


class PointsEntry(models.Model):
    """One line of the points ledger. Append-only; balance and lifetime are sums over it.

    The unique `event` is also the exactly-once claim: an event has at most one entry.
    """

    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT, related_name="points",
                                 verbose_name=gettext_lazy("advocate"))
    event = models.OneToOneField(AdvocacyEvent, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="points_entry", verbose_name=gettext_lazy("event"))
    # A clawback (or its return) for a refunded or disputed order: at most one per reversal.
    reversal = models.OneToOneField("RedemptionReversal", null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="points_entry",
                                    verbose_name=gettext_lazy("reversal"))
    # A manual adjustment a finance approver approved: at most one entry per adjustment.
    adjustment = models.OneToOneField("PointsAdjustment", null=True, blank=True,
                                      on_delete=models.PROTECT, related_name="points_entry",
                                      verbose_name=gettext_lazy("adjustment"))
    # Points the advocate spent on a perk (or got back when it was cancelled): the key from
    # their request makes a double click one spend (`rewards/services/spending.py`).
    spend_key = models.CharField(max_length=80, null=True, blank=True, unique=True,
                                 verbose_name=gettext_lazy("spend key"))
    kind = models.CharField(max_length=10, choices=AdvocacyKind.choices, blank=True,
                            verbose_name=gettext_lazy("kind"))
    platform = models.CharField(max_length=20, blank=True, verbose_name=gettext_lazy("platform"))
    points = models.IntegerField(verbose_name=gettext_lazy("points"))
    reason = models.CharField(max_length=200, verbose_name=gettext_lazy("reason"))
    occurred_at = models.DateTimeField(verbose_name=gettext_lazy("occurred at"))
    day = models.DateField(help_text="UTC day of the act, for the daily cap.",
                           verbose_name=gettext_lazy("day"))
    expires_at = models.DateTimeField(null=True, blank=True,
                                      verbose_name=gettext_lazy("expires at"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))

    class Meta:
        verbose_name_plural = gettext_lazy("points entries")
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["advocate", "occurred_at"], name="points_advocate_time"),
            models.Index(fields=["advocate", "day"], name="points_advocate_day"),
            models.Index(fields=["occurred_at"], name="points_occurred"),
            models.Index(fields=["expires_at"], name="points_expires"),
            # New entries since the last report rollup refresh (rewards/reports/rollups.py).
            models.Index(fields=["created_at"], name="points_created"),
        ]
        verbose_name = gettext_lazy("points entry")

    def __str__(self) -> str:
        return f"{self.points:+d} for advocate {self.advocate_id} ({self.reason})"


# --- Perks ---------------------------------------------------------------------------------


class PerkKind(models.TextChoices):
    SWAG = "swag", gettext_lazy("Swag")
    EVENT_INVITE = "event_invite", gettext_lazy("Event invite")
    EARLY_ACCESS = "early_access", gettext_lazy("Early access")
    EXPERIENCE = "experience", gettext_lazy("Experience")


class Perk(WorkflowMixin, DraftStateMixin, RevisionMixin, index.Indexed, models.Model):
    """Something an advocate can get that is not a discount. Stock is reserved on grant.

    Its cost, currency and stock are money: a change goes live through finance's sign-off
    (the money approval workflow), like a rule's.
    """

    name = models.CharField(max_length=120, validators=[validate_text],
                            verbose_name=gettext_lazy("name"))
    name_ja = models.CharField(gettext_lazy("name (Japanese)"), max_length=120, blank=True,
                               validators=[validate_text])
    description = models.TextField(blank=True, validators=[validate_text],
                                   verbose_name=gettext_lazy("description"))
    description_ja = models.TextField(gettext_lazy("description (Japanese)"), blank=True,
                                      validators=[validate_text])
    image = models.ForeignKey("wagtailimages.Image", null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+",
                              verbose_name=gettext_lazy("image"))
    kind = models.CharField(max_length=20, choices=PerkKind.choices, default=PerkKind.SWAG,
                            verbose_name=gettext_lazy("kind"))
    stock = models.PositiveIntegerField(
        null=True, blank=True, verbose_name=gettext_lazy("stock"),
        help_text=gettext_lazy("Units left to grant; empty means unlimited."))
    unit_cost_minor = models.PositiveIntegerField(
        default=0, help_text="What one unit costs the brand, in minor units (for budgets).",
        verbose_name=gettext_lazy("unit cost minor"))
    currency = CurrencyField(default="jpy", validators=[validate_currency],
                             help_text=gettext_lazy("ISO 4217, e.g. JPY or USD."),
                             verbose_name=gettext_lazy("currency"))
    public = models.BooleanField(default=True, verbose_name=gettext_lazy("public"),
                                 help_text=gettext_lazy("Show on the ambassador page."))
    points_price = models.PositiveIntegerField(
        null=True, blank=True, verbose_name=gettext_lazy("points price"),
        help_text=gettext_lazy("Points an advocate spends on one on their own page; "
                               "empty = not for sale."))

    search_fields = [index.SearchField("name"), index.FilterField("kind")]
    panels = [FieldPanel("name"), FieldPanel("name_ja"), FieldPanel("description"),
              FieldPanel("description_ja"), FieldPanel("image"), FieldPanel("kind"),
              FieldRowPanel([FieldPanel("stock"), FieldPanel("unit_cost_minor"),
                             FieldPanel("currency")]), FieldPanel("public"),
              FieldPanel("points_price")]

    class Meta:
        ordering = ["name"]
        verbose_name = gettext_lazy("perk")
        verbose_name_plural = gettext_lazy("perks")

    def __str__(self) -> str:
        return self.name

    def name_in(self, language: str) -> str:
        """The perk's name in a language: the Japanese one when there is one."""
        return self.name_ja if language == "ja" and self.name_ja else self.name

    def clean(self) -> None:
        super().clean()
        _amounts_check(self, ("unit_cost_minor",), self.currency)

    # Stock moves on the live row (grants reserve and release it with F()), while a revision
    # waits for finance. A revision records the live stock it was saved against; publishing
    # it keeps the live count unless the person typed a new stock, so an edit of the name
    # approved a week later does not hand back the units granted in that week.
    def serializable_data(self) -> dict:
        data = super().serializable_data()
        if self.pk is not None:
            data["stock_at_save"] = (Perk.objects.filter(pk=self.pk)
                                     .values_list("stock", flat=True).first())
        return data

    def with_content_json(self, content: dict) -> Perk:
        obj = super().with_content_json(content)
        if "stock_at_save" in content and content.get("stock") == content["stock_at_save"]:
            obj.stock = (Perk.objects.filter(pk=self.pk).values_list("stock", flat=True)
                         .first())
        return obj


# --- Tiers ---------------------------------------------------------------------------------


class Tier(WorkflowMixin, DraftStateMixin, RevisionMixin, ClusterableModel):
    """A level advocates reach on points earned over a rolling window (or their lifetime).

    Thresholds and benefits decide who gets what, so a tier (new or changed) goes live through
    finance's sign-off; only live tiers count (`live=True`).
    """

    name = models.CharField(max_length=60, validators=[validate_text],
                            verbose_name=gettext_lazy("name"))
    name_ja = models.CharField(gettext_lazy("name (Japanese)"), max_length=60, blank=True,
                               validators=[validate_text])
    level = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1)],
        help_text=gettext_lazy("Its place in the ladder: 1 for the first tier, 2 for the next. "
                               "A higher level needs more points."),
        verbose_name=gettext_lazy("level"))
    threshold = models.PositiveIntegerField(
        help_text=gettext_lazy("Points needed to reach this tier."),
        verbose_name=gettext_lazy("threshold"))
    window_days = models.PositiveIntegerField(
        null=True, blank=True, verbose_name=gettext_lazy("window days"),
        help_text=gettext_lazy("Count points from the last N days; empty = lifetime."))
    badge = models.CharField(max_length=8, blank=True, verbose_name=gettext_lazy("badge"),
                             help_text=gettext_lazy("An emoji or short mark."))
    badge_image = models.ForeignKey("wagtailimages.Image", null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=gettext_lazy("badge image"))
    description = models.TextField(blank=True, verbose_name=gettext_lazy("description"))
    description_ja = models.TextField(gettext_lazy("description (Japanese)"), blank=True)
    perks = ParentalManyToManyField(Perk, blank=True, related_name="tiers",
                                    verbose_name=gettext_lazy("perks"))

    panels = [FieldPanel("name"), FieldPanel("name_ja"),
              FieldRowPanel([FieldPanel("level"), FieldPanel("threshold"),
                             FieldPanel("window_days")]),
              FieldPanel("badge"), FieldPanel("badge_image"), FieldPanel("description"),
              FieldPanel("description_ja"), FieldPanel("perks")]

    class Meta:
        ordering = ["threshold"]
        verbose_name = gettext_lazy("tier")
        verbose_name_plural = gettext_lazy("tiers")

    def __str__(self) -> str:
        return f"{self.badge} {self.name}".strip()

    def clean(self) -> None:
        super().clean()
        self.ladder_check()

    def ladder_check(self) -> None:
        """Levels and thresholds rise together: a tier needs more points than every tier
        below it and fewer than every tier above it, and no two tiers share a level (Silver
        set above Gold is refused). Compared with the tiers in effect (the others' rows)."""
        if self.threshold is None or self.level is None:
            return
        for other in Tier.objects.filter(live=True).exclude(pk=self.pk).order_by("level"):
            if other.level == self.level:
                raise ValidationError({"level": f"{other.name} already has level {other.level}."})
            # The message names both tiers: the editor sees which pair is out of order.
            this = self.name or f"Level {self.level}"
            if other.level < self.level and other.threshold >= self.threshold:
                raise ValidationError({"threshold": (
                    f"{this} (level {self.level}, {self.threshold:,} points) must need more "
                    f"points than {other.name} (level {other.level}, {other.threshold:,} "
                    "points).")})
            if other.level > self.level and other.threshold <= self.threshold:
                raise ValidationError({"threshold": (
                    f"{this} (level {self.level}, {self.threshold:,} points) must need fewer "
                    f"points than {other.name} (level {other.level}, {other.threshold:,} "
                    "points).")})


class AdvocateTier(models.Model):
    """An advocate's current tier (the latest TierChange, kept as one row for fast reads)."""

    advocate = models.OneToOneField(Advocate, on_delete=models.CASCADE, primary_key=True,
                                    related_name="reward_tier")
    tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="members")
    points = models.IntegerField(default=0, help_text="Tier points when last evaluated.")
    changed_at = models.DateTimeField(default=timezone.now)
    evaluated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["tier"], name="advocatetier_tier")]

    def __str__(self) -> str:
        return f"advocate {self.advocate_id}: {self.tier or 'no tier'}"


class TierChange(models.Model):
    """Every promotion and demotion, append-only (reports read tier movement from here)."""

    class Direction(models.TextChoices):
        UP = "up", gettext_lazy("Promotion")
        DOWN = "down", gettext_lazy("Demotion")

    advocate = models.ForeignKey(Advocate, on_delete=models.CASCADE, related_name="tier_changes")
    from_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.SET_NULL,
                                  related_name="+")
    to_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+")
    direction = models.CharField(max_length=4, choices=Direction.choices)
    points = models.IntegerField()
    reason = models.CharField(max_length=100)
    changed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [models.Index(fields=["changed_at"], name="tierchange_time"),
                   models.Index(fields=["advocate", "changed_at"], name="tierchange_advocate")]

    def __str__(self) -> str:
        return f"advocate {self.advocate_id}: {self.from_tier_id} → {self.to_tier_id}"


# --- Rules ---------------------------------------------------------------------------------


class TriggerKind(models.TextChoices):
    EVENTS_IN_DAYS = "events_in_days", gettext_lazy("N advocacy events in D days")
    TIER_REACHED = "tier_reached", gettext_lazy("Reaching a tier")
    FIRST_CHECKIN = "first_checkin", gettext_lazy("First check-in at a venue")
    # Kept for rules saved before the compliance check; no rule may use it now (see
    # `RewardRule.compliance_refusal`).
    REVIEW = "review", gettext_lazy("A review of at least N stars (not allowed)")


class RewardKind(models.TextChoices):
    DISCOUNT = "discount", gettext_lazy("Discount code")
    PERK = "perk", gettext_lazy("Perk")


class DiscountType(models.TextChoices):
    PERCENT = "percent", gettext_lazy("Percent off")
    AMOUNT = "amount", gettext_lazy("Amount off")


class Period(models.TextChoices):
    EVER = "ever", gettext_lazy("Once ever")
    YEAR = "year", gettext_lazy("Once per year")
    MONTH = "month", gettext_lazy("Once per month")
    WEEK = "week", gettext_lazy("Once per week")


@dataclass(frozen=True, slots=True)
class RewardSnapshot:
    """What a rule gives, frozen onto each of its grants (the rule may change later).

    Stored as JSON in `RewardGrant.reward` (`as_json`, keys in this order) and read back with
    `RewardGrant.snapshot`. A default is what a grant whose JSON lacks that key has always
    meant (grants made by hand, and in tests, may hold `{}`).
    """

    rule: int | None = None
    rule_name: str = "Kansha reward"
    revision: int | None = None
    reward_kind: str = ""
    discount_type: str = ""  # "" for a perk; read as "not percent" (an amount)
    percent_off: int | None = None
    amount_off_minor: int | None = None
    currency: str = "jpy"
    code_expiry_days: int | None = None  # None or 0: the code lasts 30 days
    minimum_order_minor: int | None = None
    single_use: bool = True
    perk: int | None = None
    perk_name: str = "a perk"

    def as_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in REWARD_SNAPSHOT_KEYS}

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> RewardSnapshot:
        """The snapshot a grant holds; unknown keys are ignored, missing ones take the
        defaults above."""
        if not data:
            return cls()
        return cls(**{k: v for k, v in data.items() if k in REWARD_SNAPSHOT_KEYS})


REWARD_SNAPSHOT_KEYS = frozenset(f.name for f in fields(RewardSnapshot))


class RewardRule(WorkflowMixin, DraftStateMixin, LockableMixin, RevisionMixin, models.Model):
    """When a reward fires, for whom, what it is and how often. Only live rules fire."""

    name = models.CharField(max_length=120, validators=[validate_text],
                            verbose_name=gettext_lazy("name"))
    # Trigger
    trigger = models.CharField(max_length=20, choices=TriggerKind.choices,
                               default=TriggerKind.EVENTS_IN_DAYS,
                               verbose_name=gettext_lazy("trigger"))
    trigger_count = models.PositiveIntegerField(default=3, help_text="N events (N in D days).",
                                                verbose_name=gettext_lazy("trigger count"))
    trigger_days = models.PositiveIntegerField(default=30, help_text="D days (N in D days).",
                                               verbose_name=gettext_lazy("trigger days"))
    trigger_event_kind = models.CharField(max_length=10, choices=AdvocacyKind.choices,
                                          blank=True, help_text="Count only this kind.",
                                          verbose_name=gettext_lazy("trigger event kind"))
    trigger_tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="rules",
                                     verbose_name=gettext_lazy("trigger tier"))
    trigger_min_rating = models.PositiveSmallIntegerField(
        default=4, validators=[MinValueValidator(1), MaxValueValidator(5)],
        verbose_name=gettext_lazy("trigger min rating"))
    # Eligibility (the fraud guards and `Advocate.flagged` send grants to review instead)
    min_account_age_days = models.PositiveIntegerField(
        default=0, verbose_name=gettext_lazy("min account age days"))
    min_followers = models.PositiveIntegerField(default=0,
                                                verbose_name=gettext_lazy("min followers"))
    pause_after_ignored_reminders = models.BooleanField(
        default=False, help_text=gettext_lazy(
            "No reward from this rule for an advocate who ignored two disclosure reminders "
            "(posted again without #ad / #PR after each)."),
        verbose_name=gettext_lazy("pause after ignored reminders"))
    # Reward
    reward_kind = models.CharField(max_length=10, choices=RewardKind.choices,
                                   default=RewardKind.DISCOUNT,
                                   verbose_name=gettext_lazy("reward kind"))
    discount_type = models.CharField(max_length=10, choices=DiscountType.choices,
                                     default=DiscountType.PERCENT,
                                     verbose_name=gettext_lazy("discount type"))
    percent_off = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(100)],
        verbose_name=gettext_lazy("percent off"))
    amount_off_minor = models.PositiveIntegerField(null=True, blank=True,
                                                   verbose_name=gettext_lazy("amount off minor"))
    currency = CurrencyField(default="jpy", validators=[validate_currency],
                             help_text=gettext_lazy("ISO 4217, e.g. JPY or USD."),
                             verbose_name=gettext_lazy("currency"))
    code_expiry_days = models.PositiveIntegerField(default=30,
                                                   verbose_name=gettext_lazy("code expiry days"))
    minimum_order_minor = models.PositiveIntegerField(
        null=True, blank=True, verbose_name=gettext_lazy("minimum order minor"))
    single_use = models.BooleanField(default=True, verbose_name=gettext_lazy("single use"))
    perk = models.ForeignKey(Perk, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="rules", verbose_name=gettext_lazy("perk"))
    # Limits
    period = models.CharField(max_length=5, choices=Period.choices, default=Period.MONTH,
                              verbose_name=gettext_lazy("period"))
    monthly_budget_minor = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most this rule may commit per calendar month (UTC), "
        "in minor units of the rule's currency; empty = no budget.",
        verbose_name=gettext_lazy("monthly budget minor"))
    budget_estimate_minor = models.PositiveIntegerField(
        default=0, help_text="What one percent-off grant counts against the budget.",
        verbose_name=gettext_lazy("budget estimate minor"))
    finance_approval_above_minor = models.PositiveIntegerField(
        null=True, blank=True, help_text="Grants costing more wait for finance approval.",
        verbose_name=gettext_lazy("finance approval above minor"))
    message_template = models.ForeignKey(
        ReplyTemplate, null=True, blank=True, on_delete=models.SET_NULL, related_name="+",
        limit_choices_to={"purpose": TemplatePurpose.REWARD},
        help_text=gettext_lazy(
            "A reward message template ({code} {reward} {expires}); a discount's variants must "
            "all show {code}. The default reward template is used if empty."),
        verbose_name=gettext_lazy("message template"))

    panels = [
        FieldPanel("name"),
        MultiFieldPanel([FieldPanel("trigger"), FieldRowPanel([
            FieldPanel("trigger_count"), FieldPanel("trigger_days")]),
            FieldPanel("trigger_event_kind"), FieldPanel("trigger_tier"),
            FieldPanel("trigger_min_rating")], heading=gettext_lazy("Trigger")),
        MultiFieldPanel([FieldPanel("min_account_age_days"), FieldPanel("min_followers"),
                         FieldPanel("pause_after_ignored_reminders")],
                        heading=gettext_lazy("Eligibility")),
        MultiFieldPanel([FieldPanel("reward_kind"), FieldPanel("discount_type"),
                         FieldRowPanel([FieldPanel("percent_off"),
                                        FieldPanel("amount_off_minor"), FieldPanel("currency")]),
                         FieldPanel("code_expiry_days"), FieldPanel("minimum_order_minor"),
                         FieldPanel("single_use"), FieldPanel("perk"),
                         FieldPanel("message_template")], heading=gettext_lazy("Reward")),
        MultiFieldPanel([FieldPanel("period"), FieldPanel("monthly_budget_minor"),
                         FieldPanel("budget_estimate_minor"),
                         FieldPanel("finance_approval_above_minor")],
                        heading=gettext_lazy("Limits")),
    ]

    class Meta:
        ordering = ["name"]
        verbose_name = gettext_lazy("reward rule")
        verbose_name_plural = gettext_lazy("reward rules")

    def __str__(self) -> str:
        return self.name

    MONEY_FIELDS = ("amount_off_minor", "minimum_order_minor", "monthly_budget_minor",
                    "budget_estimate_minor", "finance_approval_above_minor")

    def compliance_refusal(self) -> dict[str, str]:
        """Why the law forbids this rule, by field ({} when it may run).

        Kansha records a review as advocacy only after it thanked it, and it thanks only
        positive reviews, so any reward tied to reviews is conditional on a positive one: the
        FTC's rule on consumer reviews (16 CFR 465.4) forbids that on every platform, and
        Google forbids any review incentive at all (docs/compliance.md). The rule editor refuses
        such a rule and the grant engine never evaluates one that exists anyway.
        """
        why = _("A reward may not depend on a review or its star rating: Kansha only records "
                "the reviews it thanked, the positive ones, so the reward would be conditional "
                "on a positive review (FTC 16 CFR 465.4; Google forbids any review incentive). "
                "Reward repeat visits or check-ins instead.")
        refusal = {}
        if self.trigger == TriggerKind.REVIEW:
            refusal["trigger"] = why
        if self.trigger == TriggerKind.EVENTS_IN_DAYS and \
                self.trigger_event_kind == AdvocacyKind.REVIEW:
            refusal["trigger_event_kind"] = why
        return refusal

    def clean(self) -> None:
        super().clean()
        refusal = self.compliance_refusal()
        if refusal:
            raise ValidationError(refusal)
        _amounts_check(self, self.MONEY_FIELDS, self.currency)
        if self.reward_kind == RewardKind.PERK and not self.perk_id:
            raise ValidationError({"perk": "A perk reward needs a perk."})
        if self.reward_kind == RewardKind.DISCOUNT:
            if self.discount_type == DiscountType.PERCENT and not self.percent_off:
                raise ValidationError({"percent_off": "A percent discount needs a percentage."})
            if self.discount_type == DiscountType.AMOUNT and not self.amount_off_minor:
                raise ValidationError({"amount_off_minor": "An amount discount needs an amount."})
        if self.trigger == TriggerKind.TIER_REACHED and not self.trigger_tier_id:
            raise ValidationError({"trigger_tier": "Pick the tier that triggers this rule."})
        if self.message_template_id:
            self._clean_message_template()

    def _clean_message_template(self) -> None:
        """The message must be a reward message, and show the code exactly when there is one."""
        template = self.message_template
        if template is None:
            return
        if template.purpose != TemplatePurpose.REWARD:
            raise ValidationError({"message_template": (
                f"“{template.name}” is a {template.get_purpose_display().lower()} template; "
                "pick a reward message template.")})
        texts = [v.text for v in template.variants.all() if v.text.strip()]
        if not texts:
            raise ValidationError({"message_template": "This template has no text yet."})
        with_code = ["code" in template_text_variables(t) for t in texts]
        if self.reward_kind == RewardKind.DISCOUNT and not all(with_code):
            missing = ", ".join(str(n) for n, ok in enumerate(with_code, 1) if not ok)
            raise ValidationError({"message_template": (
                f"Every variant of a discount's message must show {{code}} (variant {missing} "
                "does not).")})
        if self.reward_kind == RewardKind.PERK and any(with_code):
            raise ValidationError({"message_template": (
                "A perk has no code: remove {code} from this template's variants, or pick "
                "another template.")})

    @property
    def cost_minor(self) -> int:
        """What one grant counts against the budget and the finance-approval limit."""
        if self.reward_kind == RewardKind.PERK:
            perk = self.perk if self.perk_id else None
            return perk.unit_cost_minor if perk is not None else 0
        if self.discount_type == DiscountType.AMOUNT:
            return self.amount_off_minor or 0
        return self.budget_estimate_minor

    def reward_snapshot(self) -> RewardSnapshot:
        """What this rule gives, frozen onto each grant (the rule may change later)."""
        perk = self.perk if self.perk_id else None
        return RewardSnapshot(
            rule=self.pk, rule_name=self.name,
            revision=self.live_revision_id, reward_kind=self.reward_kind,
            discount_type=self.discount_type if self.reward_kind == RewardKind.DISCOUNT
            else "", percent_off=self.percent_off, amount_off_minor=self.amount_off_minor,
            currency=self.currency, code_expiry_days=self.code_expiry_days,
            minimum_order_minor=self.minimum_order_minor, single_use=self.single_use,
            perk=self.perk_id, perk_name=perk.name if perk is not None else "")


class RuleBudget(models.Model):
    """A rule's committed spend in one calendar month; moved only by a conditional UPDATE."""

    rule = models.ForeignKey(RewardRule, on_delete=models.CASCADE, related_name="budgets")
    month = models.DateField(help_text="First day of the month (UTC).")
    currency = models.CharField(max_length=3)
    limit_minor = models.PositiveIntegerField(null=True, blank=True)
    committed_minor = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["rule", "month"], name="rulebudget_unique_month"),
            models.CheckConstraint(
                condition=models.Q(limit_minor__isnull=True)
                | models.Q(committed_minor__lte=models.F("limit_minor")),
                name="rulebudget_within_limit"),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} {self.month:%Y-%m}: {self.committed_minor}/{self.limit_minor}"


class StripeCoupon(models.Model):
    """The Stripe coupon made for one published revision of a rule."""

    rule = models.ForeignKey(RewardRule, on_delete=models.PROTECT, related_name="coupons")
    version = models.CharField(max_length=40)
    coupon_id = models.CharField(max_length=191, unique=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "version"],
                                               name="stripecoupon_unique_version")]

    def __str__(self) -> str:
        return self.coupon_id


# --- Grants, codes, redemptions ------------------------------------------------------------


class GrantStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", gettext_lazy("Pending approval")
    APPROVED = "approved", gettext_lazy("Approved")
    ISSUED = "issued", gettext_lazy("Issued")
    DELIVERED = "delivered", gettext_lazy("Delivered")
    REDEEMED = "redeemed", gettext_lazy("Redeemed")
    EXPIRED = "expired", gettext_lazy("Expired")
    REVOKED = "revoked", gettext_lazy("Revoked")


class RewardGrant(models.Model):
    """One reward for one advocate from one rule, at most once per period."""

    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT, related_name="grants",
                                 verbose_name=gettext_lazy("advocate"))
    rule = models.ForeignKey(RewardRule, on_delete=models.PROTECT, related_name="grants",
                             verbose_name=gettext_lazy("rule"))
    period_key = models.CharField(max_length=40, verbose_name=gettext_lazy("period key"))
    status = models.CharField(max_length=20, choices=GrantStatus.choices,
                              default=GrantStatus.APPROVED, verbose_name=gettext_lazy("status"))
    review_reasons = models.JSONField(default=list, blank=True,
                                      verbose_name=gettext_lazy("review reasons"))
    reward = models.JSONField(help_text="The rule's reward as it was when the grant was made.",
                              verbose_name=gettext_lazy("reward"))
    reward_kind = models.CharField(max_length=10, choices=RewardKind.choices,
                                   verbose_name=gettext_lazy("reward kind"))
    perk = models.ForeignKey(Perk, null=True, blank=True, on_delete=models.PROTECT,
                             related_name="grants", verbose_name=gettext_lazy("perk"))
    cost_minor = models.PositiveIntegerField(default=0, verbose_name=gettext_lazy("cost minor"))
    currency = models.CharField(max_length=3, verbose_name=gettext_lazy("currency"))
    budget_month = models.DateField(null=True, blank=True,
                                    verbose_name=gettext_lazy("budget month"))
    tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="grants", help_text="The advocate's tier when granted.",
                             verbose_name=gettext_lazy("tier"))
    trigger_event = models.ForeignKey(AdvocacyEvent, null=True, blank=True,
                                      on_delete=models.SET_NULL, related_name="+",
                                      verbose_name=gettext_lazy("trigger event"))
    outreach = models.ForeignKey(Outreach, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+", verbose_name=gettext_lazy("outreach"))
    issue_attempts = models.PositiveSmallIntegerField(default=0,
                                                      verbose_name=gettext_lazy("issue attempts"))
    last_error = models.TextField(blank=True, verbose_name=gettext_lazy("last error"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))
    approved_at = models.DateTimeField(null=True, blank=True,
                                       verbose_name=gettext_lazy("approved at"))
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+",
                                    verbose_name=gettext_lazy("approved by"))
    issued_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("issued at"))
    delivered_at = models.DateTimeField(null=True, blank=True,
                                        verbose_name=gettext_lazy("delivered at"))
    redeemed_at = models.DateTimeField(null=True, blank=True,
                                       verbose_name=gettext_lazy("redeemed at"))
    expires_at = models.DateTimeField(null=True, blank=True,
                                      verbose_name=gettext_lazy("expires at"))
    closed_at = models.DateTimeField(null=True, blank=True, help_text="Expired or revoked at.",
                                     verbose_name=gettext_lazy("closed at"))
    private_channel_wait_since = models.DateTimeField(
        null=True, blank=True, help_text="Issued, but the advocate can only be answered in "
        "public (e.g. a Google review): the reward waits for a private channel (a DM).",
        verbose_name=gettext_lazy("private channel wait since"))

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["advocate", "rule", "period_key"],
                                               name="grant_once_per_period")]
        indexes = [
            models.Index(fields=["status", "created_at"], name="grant_status"),
            models.Index(fields=["rule", "created_at"], name="grant_rule"),
            models.Index(fields=["created_at"], name="grant_created"),
            models.Index(fields=["expires_at"], name="grant_expires"),
            models.Index(fields=["tier"], name="grant_tier"),
        ]
        verbose_name = gettext_lazy("reward grant")
        verbose_name_plural = gettext_lazy("reward grants")

    def __str__(self) -> str:
        return f"Grant #{self.pk} ({self.rule_id} → advocate {self.advocate_id}, {self.status})"

    @property
    def snapshot(self) -> RewardSnapshot:
        """The rule's reward as it was when the grant was made (`reward`, typed)."""
        return RewardSnapshot.from_json(self.reward)

    def describe(self, language: str = "en") -> str:
        """The reward in words, for messages and the admin."""
        r = self.snapshot
        if self.reward_kind == RewardKind.PERK:
            perk = self.perk if self.perk_id else None
            if language == "ja" and perk is not None and perk.name_ja:
                return perk.name_ja
            return r.perk_name
        with translation.override(language):
            if r.discount_type == DiscountType.PERCENT:
                return _("%(percent)s%% off") % {"percent": r.percent_off}
            return _("%(amount)s off") % {"amount": money_display(
                r.amount_off_minor or 0, r.currency, language)}




class CodeProvider(models.TextChoices):
    LOCAL = "local", gettext_lazy("Kansha (local)")
    STRIPE = "stripe", gettext_lazy("Stripe")


class DiscountCode(models.Model):
    """The code a grant gave out, local or a Stripe promotion code."""

    grant = models.OneToOneField(RewardGrant, on_delete=models.PROTECT, related_name="code",
                                 verbose_name=gettext_lazy("grant"))
    provider = models.CharField(max_length=10, choices=CodeProvider.choices,
                                verbose_name=gettext_lazy("provider"))
    code = models.CharField(max_length=40, unique=True, verbose_name=gettext_lazy("code"))
    stripe_coupon_id = models.CharField(max_length=191, blank=True,
                                        verbose_name=gettext_lazy("stripe coupon id"))
    stripe_promotion_code_id = models.CharField(max_length=191, null=True, blank=True,
                                                unique=True, verbose_name=gettext_lazy(
                                                    "stripe promotion code id"))
    stripe_customer_id = models.CharField(max_length=191, blank=True,
                                          verbose_name=gettext_lazy("stripe customer id"))
    discount_type = models.CharField(max_length=10, choices=DiscountType.choices,
                                     verbose_name=gettext_lazy("discount type"))
    percent_off = models.PositiveSmallIntegerField(null=True, blank=True,
                                                   verbose_name=gettext_lazy("percent off"))
    amount_off_minor = models.PositiveIntegerField(null=True, blank=True,
                                                   verbose_name=gettext_lazy("amount off minor"))
    currency = models.CharField(max_length=3, verbose_name=gettext_lazy("currency"))
    minimum_order_minor = models.PositiveIntegerField(
        null=True, blank=True, verbose_name=gettext_lazy("minimum order minor"))
    max_redemptions = models.PositiveIntegerField(null=True, blank=True,
                                                  verbose_name=gettext_lazy("max redemptions"))
    times_redeemed = models.PositiveIntegerField(default=0,
                                                 verbose_name=gettext_lazy("times redeemed"))
    expires_at = models.DateTimeField(null=True, blank=True,
                                      verbose_name=gettext_lazy("expires at"))
    stripe_deactivated_at = models.DateTimeField(
        null=True, blank=True, help_text="When the promotion code was switched off at Stripe "
        "(its grant was revoked).", verbose_name=gettext_lazy("stripe deactivated at"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))

    class Meta:
        indexes = [models.Index(fields=["expires_at"], name="code_expires")]
        constraints = [
            # Dashes and case are cosmetic (codes.code_normalise): two stored codes that differ
            # only in them would be the same code at a till, so the key is what is unique.
            models.UniqueConstraint(code_key("code"), name="code_unique_key"),
        ]
        verbose_name = gettext_lazy("discount code")
        verbose_name_plural = gettext_lazy("discount codes")

    def __str__(self) -> str:
        return self.code


class StripeCustomer(models.Model):
    """The Stripe customer an advocate pays as, learned from the orders that used their codes.

    Promotion codes made after it is known are restricted to that customer. One customer per
    advocate and one advocate per customer: a customer who used two advocates' codes (a code
    passed on) stays with the advocate it was first seen for. Erasure deletes the row.
    """

    advocate = models.OneToOneField(Advocate, on_delete=models.CASCADE, primary_key=True,
                                    related_name="stripe_customer")
    customer_id = models.CharField(max_length=191, unique=True)
    learned_from = models.CharField(
        max_length=191, help_text="The Checkout session or invoice that showed it.")
    learned_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"advocate {self.advocate_id}: {self.customer_id}"


class RedemptionSource(models.TextChoices):
    STRIPE_CHECKOUT = "stripe_checkout", gettext_lazy("Stripe Checkout session")
    STRIPE_INVOICE = "stripe_invoice", gettext_lazy("Stripe invoice")
    STRIPE_PROMOTION_CODE = "stripe_promo", gettext_lazy("Stripe promotion code count")
    LOCAL = "local", gettext_lazy("Point of sale / API")


class Redemption(models.Model):
    """One use of a code on an order. Unique per source object (a replay adds nothing)."""

    grant = models.ForeignKey(RewardGrant, on_delete=models.PROTECT, related_name="redemptions",
                              verbose_name=gettext_lazy("grant"))
    code = models.ForeignKey(DiscountCode, on_delete=models.PROTECT, related_name="redemptions",
                             verbose_name=gettext_lazy("code"))
    rule = models.ForeignKey(RewardRule, on_delete=models.PROTECT, related_name="redemptions",
                             verbose_name=gettext_lazy("rule"))
    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT, related_name="redemptions",
                                 verbose_name=gettext_lazy("advocate"))
    source = models.CharField(max_length=20, choices=RedemptionSource.choices,
                              verbose_name=gettext_lazy("source"))
    source_id = models.CharField(max_length=191, verbose_name=gettext_lazy("source id"))
    # Order totals are unknown only for a bare promotion_code.updated count (until the order's
    # own event fills them in).
    order_amount_minor = models.PositiveBigIntegerField(
        null=True, blank=True, help_text="What the customer paid, after the discount.",
        verbose_name=gettext_lazy("order amount minor"))
    discount_minor = models.PositiveBigIntegerField(null=True, blank=True,
                                                    verbose_name=gettext_lazy("discount minor"))
    currency = models.CharField(max_length=3, blank=True, verbose_name=gettext_lazy("currency"))
    redeemed_at = models.DateTimeField(default=timezone.now,
                                       verbose_name=gettext_lazy("redeemed at"))
    stripe_event = models.ForeignKey("StripeEvent", null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="redemptions",
                                     verbose_name=gettext_lazy("stripe event"))
    stripe_payment_intent_id = models.CharField(
        max_length=191, blank=True, db_index=True,
        help_text="The PaymentIntent that paid the order (refunds and disputes name it).",
        verbose_name=gettext_lazy("stripe payment intent id"))
    # Who paid, when Stripe says: one customer paying with two advocates' codes suggests a
    # merge (selectors.merge_clues_stripe_customer). Cleared on erasure.
    stripe_customer_id = models.CharField(max_length=191, blank=True, db_index=True,
                                          verbose_name=gettext_lazy("stripe customer id"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))

    class Meta:
        ordering = ["-redeemed_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["source", "source_id"],
                                               name="redemption_unique_source")]
        indexes = [models.Index(fields=["redeemed_at"], name="redemption_time"),
                   models.Index(fields=["rule", "redeemed_at"], name="redemption_rule")]
        # The till (rewards/admin/till.py): look a code up and record its use. Not
        # `add_redemption`, which would also open the snippet's add form.
        permissions = [("use_till", "Can look up codes and record redemptions at the till")]
        verbose_name = gettext_lazy("redemption")
        verbose_name_plural = gettext_lazy("redemptions")

    def __str__(self) -> str:
        return f"{self.code_id} via {self.source} {self.source_id}"


class ReversalKind(models.TextChoices):
    REFUND = "refund", "Refund"
    REFUND_FAILED = "refund_failed", "Refund failed or cancelled (put back)"
    DISPUTE = "dispute", "Dispute (funds withdrawn)"
    DISPUTE_WON = "dispute_won", "Dispute won (put back)"


class RedemptionReversal(models.Model):
    """A correction to a redemption, appended and never edited: a refund or a dispute takes
    part or all of its order revenue and discount back (positive amounts); a refund that failed
    or a dispute that was won puts them back (negative amounts).

    The redemption itself is never changed: its net is its amounts minus the sum of its
    reversals. Unique per (redemption, kind, Stripe object), so a replayed event adds nothing.
    """

    redemption = models.ForeignKey(Redemption, on_delete=models.PROTECT,
                                   related_name="reversals",
                                   verbose_name=gettext_lazy("redemption"))
    kind = models.CharField(max_length=20, choices=ReversalKind.choices,
                            verbose_name=gettext_lazy("kind"))
    source_id = models.CharField(max_length=191, help_text="The Stripe refund or dispute id.",
                                 verbose_name=gettext_lazy("source id"))
    order_amount_minor = models.BigIntegerField(
        help_text="Order revenue taken back (negative: put back).",
        verbose_name=gettext_lazy("order amount minor"))
    discount_minor = models.BigIntegerField(
        help_text="Discount cost taken back, in proportion to the refunded share of the order.",
        verbose_name=gettext_lazy("discount minor"))
    currency = models.CharField(max_length=3, verbose_name=gettext_lazy("currency"))
    reversed_at = models.DateTimeField(help_text="When it happened at Stripe.",
                                       verbose_name=gettext_lazy("reversed at"))
    stripe_event = models.ForeignKey("StripeEvent", null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="reversals",
                                     verbose_name=gettext_lazy("stripe event"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))

    class Meta:
        ordering = ["-reversed_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["redemption", "kind", "source_id"],
                                               name="reversal_unique_source")]
        indexes = [models.Index(fields=["reversed_at"], name="reversal_time")]
        verbose_name = gettext_lazy("redemption reversal")
        verbose_name_plural = gettext_lazy("redemption reversals")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.source_id} of redemption {self.redemption_id}"


class StripeEvent(models.Model):
    """A verified Stripe webhook event, stored before any work; the event id is unique."""

    event_id = models.CharField(max_length=191, unique=True, verbose_name=gettext_lazy("event id"))
    type = models.CharField(max_length=100, verbose_name=gettext_lazy("type"))
    livemode = models.BooleanField(default=False, verbose_name=gettext_lazy("livemode"))
    payload = models.JSONField(verbose_name=gettext_lazy("payload"))
    received_at = models.DateTimeField(default=timezone.now,
                                       verbose_name=gettext_lazy("received at"))
    processed_at = models.DateTimeField(null=True, blank=True,
                                        verbose_name=gettext_lazy("processed at"))
    outcome = models.CharField(max_length=300, blank=True, verbose_name=gettext_lazy("outcome"))
    error = models.TextField(blank=True, verbose_name=gettext_lazy("error"))
    attempts = models.PositiveSmallIntegerField(default=0, verbose_name=gettext_lazy("attempts"))

    class Meta:
        ordering = ["-received_at"]
        indexes = [models.Index(fields=["received_at"], name="stripeevent_unprocessed",
                                condition=models.Q(processed_at__isnull=True))]
        verbose_name = gettext_lazy("Stripe event")
        verbose_name_plural = gettext_lazy("Stripe events")

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


# --- Reconciliation with Stripe (rewards/services/reconciliation.py) -------------------------


class ReconciliationRun(models.Model):
    """One comparison of Kansha's codes, grants and redemptions with Stripe for a date range
    (UTC days, inclusive), by `manage.py reconcile_stripe`, the daily beat task or the admin."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    date_from = models.DateField()
    date_to = models.DateField()
    trigger = models.CharField(max_length=20, help_text="command, beat or admin")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    counts = models.JSONField(default=dict, blank=True,
                              help_text="Items per kind, e.g. {\"matched\": 40}.")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return (f"Reconciliation #{self.pk}: {self.date_from:%Y-%m-%d} to {self.date_to:%Y-%m-%d}"
                f" ({self.get_status_display().lower()})")

    @property
    def mismatches(self) -> int:
        return sum(n for kind, n in (self.counts or {}).items() if kind != "matched")


class ReconciliationItem(models.Model):
    """One object compared: matched, or what differs, with both sides as they were read."""

    class Kind(models.TextChoices):
        MATCHED = "matched", "Matched"
        MISSING_OURS = "missing_ours", "Missing on our side"
        MISSING_STRIPE = "missing_stripe", "Missing at Stripe"
        AMOUNT_DIFF = "amount_diff", "Amount differences"

    class ObjectType(models.TextChoices):
        PROMOTION_CODE = "promotion_code", "Promotion code"
        CHECKOUT_SESSION = "checkout_session", "Checkout session"
        INVOICE = "invoice", "Invoice"

    run = models.ForeignKey(ReconciliationRun, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    object_type = models.CharField(max_length=20, choices=ObjectType.choices)
    stripe_id = models.CharField(max_length=191, blank=True)
    code = models.ForeignKey(DiscountCode, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    grant = models.ForeignKey(RewardGrant, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    redemption = models.ForeignKey(Redemption, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    currency = models.CharField(max_length=3, blank=True)
    detail = models.CharField(max_length=300, blank=True,
                              help_text="What differs, in words (empty when matched).")
    ours = models.JSONField(default=dict, blank=True, help_text="Kansha's side, as read.")
    theirs = models.JSONField(default=dict, blank=True, help_text="Stripe's side, as read.")

    class Meta:
        ordering = ["run", "object_type", "kind", "id"]
        indexes = [models.Index(fields=["run", "kind"], name="reconitem_run_kind")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.get_object_type_display()} {self.stripe_id}"


class PerkFulfilment(models.Model):
    """Getting a perk to an advocate: granted → shipped → delivered → redeemed (or cancelled)."""

    class Status(models.TextChoices):
        GRANTED = "granted", gettext_lazy("Granted")
        SHIPPED = "shipped", gettext_lazy("Shipped")
        DELIVERED = "delivered", gettext_lazy("Delivered")
        REDEEMED = "redeemed", gettext_lazy("Redeemed")
        CANCELLED = "cancelled", gettext_lazy("Cancelled (stock released)")

    # From a rule's grant, or bought with points on the advocate's own page (the spend).
    grant = models.OneToOneField(RewardGrant, null=True, blank=True, on_delete=models.PROTECT,
                                 related_name="fulfilment", verbose_name=gettext_lazy("grant"))
    points_entry = models.OneToOneField(PointsEntry, null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="fulfilment")
    perk = models.ForeignKey(Perk, on_delete=models.PROTECT, related_name="fulfilments",
                             verbose_name=gettext_lazy("perk"))
    # Shown on the advocate's own page; the till takes it to hand the perk over (redeemed).
    voucher = models.CharField(max_length=20, unique=True, default=perk_voucher_generate)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.GRANTED,
                              verbose_name=gettext_lazy("status"))
    notes = models.TextField(blank=True, verbose_name=gettext_lazy("notes"))
    updated_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("updated at"))
    created_at = models.DateTimeField(default=timezone.now)

    panels = [FieldPanel("status"), FieldPanel("notes")]

    class Meta:
        indexes = [models.Index(fields=["perk", "status"], name="fulfilment_perk_status")]
        constraints = [models.CheckConstraint(
            condition=models.Q(grant__isnull=False) | models.Q(points_entry__isnull=False),
            name="fulfilment_grant_or_spend")]
        verbose_name = gettext_lazy("perk fulfilment")
        verbose_name_plural = gettext_lazy("perk fulfilments")

    def __str__(self) -> str:
        if self.grant_id is None:
            return f"{self.perk} for points entry #{self.points_entry_id} ({self.status})"
        return f"{self.perk} for grant #{self.grant_id} ({self.status})"


class FraudFlag(models.Model):
    """Why an advocate's grants wait for review; open until a person clears it."""

    class Reason(models.TextChoices):
        VELOCITY = "velocity", gettext_lazy("Too many events in an hour")
        NEW_ACCOUNT = "new_account", gettext_lazy("New social account")
        LOW_FOLLOWERS = "low_followers", gettext_lazy("Few followers")
        DUPLICATE_TEXT = "duplicate_text", gettext_lazy("Same text posted by several identities")
        EMPLOYEE = "employee", gettext_lazy("On the employee list")

    advocate = models.ForeignKey(Advocate, on_delete=models.CASCADE, related_name="fraud_flags",
                                 verbose_name=gettext_lazy("advocate"))
    reason = models.CharField(max_length=20, choices=Reason.choices,
                              verbose_name=gettext_lazy("reason"))
    detail = models.JSONField(default=dict, blank=True, verbose_name=gettext_lazy("detail"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))
    cleared_at = models.DateTimeField(null=True, blank=True,
                                      verbose_name=gettext_lazy("cleared at"))
    cleared_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=gettext_lazy("cleared by"))

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(
            fields=["advocate", "reason"], condition=models.Q(cleared_at__isnull=True),
            name="fraudflag_one_open_per_reason")]
        verbose_name = gettext_lazy("fraud flag")
        verbose_name_plural = gettext_lazy("fraud flags")

    def __str__(self) -> str:
        return f"{self.get_reason_display()} (advocate {self.advocate_id})"


# --- Reports (rewards/reports/) --------------------------------------------------------------


@register_setting(icon="table")
class ReportSettings(BaseGenericSetting):
    """Who receives the weekly report e-mail. Its `view_reports` permission opens the reports."""

    weekly_recipients = models.TextField(
        blank=True, help_text="One e-mail address per line; each Monday they receive the "
        "ambassador, redemption and liability reports for the past week as XLSX.")

    panels = [FieldPanel("weekly_recipients")]

    class Meta:
        verbose_name = "report settings"
        permissions = [("view_reports", "Can view the ambassador, redemption and liability "
                        "reports")]

    def clean(self) -> None:
        super().clean()
        for address in self.recipient_list():
            try:
                validate_email(address)
            except ValidationError:
                raise ValidationError(
                    {"weekly_recipients": f"{address!r} is not an e-mail address."}) from None

    def recipient_list(self) -> list[str]:
        return [line.strip() for line in self.weekly_recipients.splitlines() if line.strip()]


# --- Dual control: money changes wait for a finance approver who did not make them -----------


def change_makers(obj: models.Model) -> set[int]:
    """The people who made the change now waiting for approval: whoever submitted it and
    whoever wrote a revision since the live one (an approver who edits a change becomes one of
    its makers, and someone else must approve it)."""
    makers: set[int] = set()
    state = getattr(obj, "current_workflow_state", None)
    if state is not None and state.requested_by_id:
        makers.add(state.requested_by_id)
    revisions = obj.revisions  # type: ignore[attr-defined]
    live_revision_id = getattr(obj, "live_revision_id", None)
    if live_revision_id:
        revisions = revisions.filter(id__gt=live_revision_id)
    makers.update(uid for uid in revisions.values_list("user_id", flat=True) if uid)
    return makers


class FinanceApprovalTask(AbstractGroupApprovalTask):
    """Finance's sign-off on a money change (rules, tiers, perks), by a member of the chosen
    groups who is not one of the change's makers: superusers included, and a person in both
    Marketing and Finance cannot approve their own change. The approval publishes it."""

    def get_actions(self, obj, user):
        if user.pk in change_makers(obj):
            return []
        return super().get_actions(obj, user)

    def on_action(self, task_state, user, action_name, **kwargs):
        # The views ask get_actions first; this holds for any other caller too.
        if action_name == "approve" and user.pk in change_makers(
                task_state.workflow_state.content_object):
            raise PermissionDenied(_("You made this change: another finance approver must "
                                     "approve it."))
        return super().on_action(task_state, user, action_name, **kwargs)

    def get_task_states_user_can_moderate(self, user, **kwargs):
        return (super().get_task_states_user_can_moderate(user, **kwargs)
                .exclude(workflow_state__requested_by=user).exclude(revision__user=user))

    @classmethod
    def get_description(cls):
        return gettext_lazy("Members of the chosen groups approve; never the person who made "
                            "the change")

    class Meta:
        verbose_name = gettext_lazy("Finance approval (another person)")
        verbose_name_plural = gettext_lazy("Finance approvals (another person)")


class ChangeStatus(models.TextChoices):
    PENDING = "pending", gettext_lazy("Awaiting finance")
    APPROVED = "approved", gettext_lazy("Approved")
    REJECTED = "rejected", gettext_lazy("Rejected")
    SUPERSEDED = "superseded", gettext_lazy("Replaced by a later change")


class MoneyChangeRequest(models.Model):
    """A change that waits for a finance approver who is not its maker
    (rewards/services/approvals.py decides and applies it)."""

    status = models.CharField(max_length=12, choices=ChangeStatus.choices,
                              default=ChangeStatus.PENDING, verbose_name=gettext_lazy("status"))
    made_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                related_name="+", verbose_name=gettext_lazy("made by"))
    made_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("made at"))
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+",
                                   verbose_name=gettext_lazy("decided by"))
    decided_at = models.DateTimeField(null=True, blank=True,
                                      verbose_name=gettext_lazy("decided at"))
    decision_note = models.CharField(max_length=300, blank=True,
                                     verbose_name=gettext_lazy("decision note"))

    class Meta:
        abstract = True
        ordering = ["-made_at", "-id"]


class PointsSettingsChange(MoneyChangeRequest):
    """New points values for Rewards settings, held until finance approves them. `before` is
    what was live when the change was made: approving refuses if the live values moved since
    (someone else's change went live first)."""

    before = models.JSONField(verbose_name=gettext_lazy("before"))
    after = models.JSONField(verbose_name=gettext_lazy("after"))

    class Meta(MoneyChangeRequest.Meta):
        verbose_name = gettext_lazy("points settings change")
        indexes = [models.Index(fields=["status"], name="pointschange_status")]
        verbose_name_plural = gettext_lazy("points settings changes")

    def __str__(self) -> str:
        return f"Points settings change #{self.pk} ({self.status})"

    def changed_fields(self) -> list[str]:
        return [name for name in RewardsSettings.POINTS_FIELDS
                if self.before.get(name) != self.after.get(name)]


class PointsAdjustment(MoneyChangeRequest):
    """Points added to or taken from an advocate by hand (a goodwill gesture, a correction);
    appended to the ledger only once a finance approver who did not ask for it approves."""

    MAX_POINTS = 100_000

    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT,
                                 related_name="points_adjustments",
                                 verbose_name=gettext_lazy("advocate"))
    points = models.IntegerField(
        validators=[MinValueValidator(-MAX_POINTS), MaxValueValidator(MAX_POINTS)],
        help_text=gettext_lazy("Points to add; negative to take points back."),
        verbose_name=gettext_lazy("points"))
    reason = models.CharField(max_length=200, validators=[validate_text],
                              help_text=gettext_lazy("Why, for the ledger and the approver."),
                              verbose_name=gettext_lazy("reason"))

    panels = [FieldPanel("advocate"), FieldPanel("points"), FieldPanel("reason")]

    class Meta(MoneyChangeRequest.Meta):
        verbose_name = gettext_lazy("points adjustment")
        indexes = [models.Index(fields=["status"], name="pointsadjust_status")]
        verbose_name_plural = gettext_lazy("points adjustments")

    def __str__(self) -> str:
        return f"{self.points:+d} points for {self.advocate} (#{self.pk})"

    def clean(self) -> None:
        super().clean()
        if self.points == 0:
            raise ValidationError({"points": _("An adjustment of 0 points changes nothing.")})


class DisclosureCheck(models.Model):
    """One post by a rewarded advocate, checked once for a disclosure (#ad, #PR, 広告…).

    The unique mention is the exactly-once claim: a re-run of the watch checks nothing twice.
    An undisclosed post may have proposed a reminder (at most one per advocate per week).
    """

    mention = models.OneToOneField(Mention, on_delete=models.CASCADE, related_name="+")
    advocate = models.ForeignKey(Advocate, on_delete=models.CASCADE, related_name="+")
    grant = models.ForeignKey(RewardGrant, on_delete=models.CASCADE, related_name="+",
                              help_text="The latest reward before the post.")
    disclosed = models.BooleanField()
    marker = models.CharField(max_length=60, blank=True, help_text="The marker found.")
    reminder = models.ForeignKey(Outreach, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="+")
    checked_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-checked_at", "-id"]
        indexes = [models.Index(fields=["advocate", "checked_at"], name="disclosure_advocate")]

    def __str__(self) -> str:
        return f"disclosure check of mention {self.mention_id}: {self.disclosed}"


# --- Report rollups: the tables live in rewards/reports/models.py (the reports package's own
# module); imported here, last, so that the app registry and the migrations find them in
# `rewards` as before.
from rewards.reports.models import (  # noqa: E402, F401
    ActivePeriodRollup,
    MentionDayRollup,
    NewAdvocatePeriodRollup,
    OutreachDayRollup,
    PeriodKind,
    PointsExpiryRollup,
    ReportDirtyPeriod,
    ReportRollupState,
    ResponsePeriodRollup,
    TopAdvocateMonthRollup,
)
