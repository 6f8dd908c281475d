"""The report rollup tables (rewards/reports/rollups.py fills and reads them).

Derived tables: each can be rebuilt from the tables it counts (`manage.py report_rollups
--rebuild`), and reports answered from them equal the same reports counted from those tables
(tests/rewards/reports/test_rollups.py). Days and period starts are UTC dates.

They belong to the `rewards` app (app_label and table names unchanged): `rewards/models.py`
imports this module, so the app registry and the migrations see them where they always were.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy


class PeriodKind(models.TextChoices):
    WEEK = "week", gettext_lazy("Week (from Monday)")
    MONTH = "month", gettext_lazy("Month")


class ReportRollupState(models.Model):
    """When the rollups were last brought up to date; its row lock serialises refreshes."""

    name = models.CharField(max_length=40, unique=True)
    built_at = models.DateTimeField(null=True, blank=True)
    build_seconds = models.FloatField(default=0.0)
    refreshed_at = models.DateTimeField(null=True, blank=True)
    # The start of the last refresh that looked back a margin (the periodic one).
    settled_at = models.DateTimeField(null=True, blank=True)
    # Merging advocates moves identities without touching a timestamp; a change in this count
    # is how a refresh notices that new-advocate counts must be recounted.
    merged_advocates = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.name} refreshed {self.refreshed_at}"


class ReportDirtyPeriod(models.Model):
    """A period whose summary must be recounted before a report reads it (or by the
    periodic refresh)."""

    summary = models.CharField(max_length=20)
    period = models.CharField(max_length=5, choices=PeriodKind.choices)
    start = models.DateField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["summary", "period", "start"],
                                               name="reportdirty_unique")]

    def __str__(self) -> str:
        return f"{self.summary} {self.period} of {self.start} (dirty)"


class MentionDayRollup(models.Model):
    """Mentions per UTC posting day and platform."""

    day = models.DateField()
    platform = models.CharField(max_length=20)
    mentions = models.BigIntegerField()
    positive = models.BigIntegerField()
    detected = models.BigIntegerField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "platform"],
                                               name="mentionday_unique")]

    def __str__(self) -> str:
        return f"{self.day} {self.platform}: {self.mentions} mentions"


class OutreachDayRollup(models.Model):
    """Outreach per UTC day proposed, platform, kind, status and (rejected replies) reason."""

    day = models.DateField()
    platform = models.CharField(max_length=20)
    kind = models.CharField(max_length=10)
    status = models.CharField(max_length=10)
    reason = models.CharField(max_length=300)
    items = models.BigIntegerField()
    with_sla = models.BigIntegerField()
    within_sla = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["day"], name="outreachday_day")]

    def __str__(self) -> str:
        return f"{self.day} {self.platform} {self.kind} {self.status}: {self.items}"


class ResponsePeriodRollup(models.Model):
    """Per whole week or month: sent replies and care items and their median response time
    (a median cannot be added up from days, so it is kept per period)."""

    period = models.CharField(max_length=5, choices=PeriodKind.choices)
    start = models.DateField()
    platform = models.CharField(max_length=20)
    kind = models.CharField(max_length=10)
    sent = models.BigIntegerField()
    median_seconds = models.FloatField(null=True)

    class Meta:
        indexes = [models.Index(fields=["period", "start"], name="responseperiod_start")]

    def __str__(self) -> str:
        return f"{self.period} of {self.start} {self.platform} {self.kind}: {self.sent} sent"


class ActivePeriodRollup(models.Model):
    """Per whole week or month: distinct advocates with confirmed advocacy, and their events."""

    period = models.CharField(max_length=5, choices=PeriodKind.choices)
    start = models.DateField()
    platform = models.CharField(max_length=20)
    active_advocates = models.BigIntegerField()
    events = models.BigIntegerField()
    reshares = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["period", "start"], name="activeperiod_start")]

    def __str__(self) -> str:
        return f"{self.period} of {self.start} {self.platform}: {self.active_advocates} active"


class NewAdvocatePeriodRollup(models.Model):
    """Per whole week or month: distinct advocates first seen on each platform."""

    period = models.CharField(max_length=5, choices=PeriodKind.choices)
    start = models.DateField()
    platform = models.CharField(max_length=20)
    new_advocates = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["period", "start"], name="newperiod_start")]

    def __str__(self) -> str:
        return f"{self.period} of {self.start} {self.platform}: {self.new_advocates} new"


class TopAdvocateMonthRollup(models.Model):
    """Per whole month: the advocates with the most events, on one platform or on all ('').

    Only the first `rollups.TOP_KEEP` of each month are kept; the last one kept bounds the
    count of everyone left out, which is what lets the top of a year be found from a few
    hundred rows (rollups.rollup_top_advocates)."""

    month = models.DateField()
    scope = models.CharField(max_length=20, help_text="A platform, or '' for all of them.")
    advocate_id = models.BigIntegerField()
    events = models.BigIntegerField()

    class Meta:
        indexes = [models.Index(fields=["scope", "month"], name="topmonth_scope")]

    def __str__(self) -> str:
        return f"{self.month} {self.scope or 'all'}: advocate {self.advocate_id} {self.events}"


class PointsExpiryRollup(models.Model):
    """Per month of expiry (NULL: never): the points of every entry expiring then and the
    distinct advocates holding them. All of it is outstanding as of any time after the last
    entry occurred and before the month starts, which is the usual question (as of now)."""

    month = models.DateField(null=True)
    points = models.BigIntegerField()
    advocates = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.month or 'never'}: {self.points} points, {self.advocates} advocates"
