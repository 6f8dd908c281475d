"""People, their social identities, the mentions they post, and what Kansha proposes back.

`advocates` never imports `rewards`. The append-only `AdvocacyEvent` table is the one hand-off.
"""

import hashlib
import hmac
import uuid
from collections.abc import Callable, Sequence

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext_lazy
from modelcluster.fields import ParentalKey
from modelcluster.models import ClusterableModel
from wagtail.admin.panels import FieldPanel
from wagtail.contrib.settings.models import BaseGenericSetting, register_setting
from wagtail.fields import RichTextField
from wagtail.models import DraftStateMixin, LockableMixin, Page, PreviewableMixin, RevisionMixin

from advocates.detection import DetectorConfig
from advocates.detection.types import DEFAULT_THANK_THRESHOLD
from advocates.policies import PLATFORM_CHOICES, ReplyTarget, as_handles
from advocates.template_text import sample_mention_text, template_preview, template_text_validate


class Advocate(models.Model):
    """A person, who may have several social identities (merged by staff)."""

    display_name = models.CharField(max_length=200, blank=True,
                                    verbose_name=gettext_lazy("display name"))
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    opted_out_at = models.DateTimeField(null=True, blank=True)
    opt_out_source = models.CharField(max_length=40, blank=True)
    is_employee = models.BooleanField(default=False, verbose_name=gettext_lazy("is employee"))
    flagged = models.BooleanField(default=False, verbose_name=gettext_lazy("flagged"))
    flagged_reason = models.CharField(max_length=200, blank=True,
                                      verbose_name=gettext_lazy("flagged reason"))
    notes = models.TextField(blank=True, verbose_name=gettext_lazy("notes"))
    # Set when two advocates are merged: the absorbed one points at the survivor.
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="absorbed")
    # When a reward from the brand last reached them (rewards sets it through
    # `advocate_reward_received`). From then on a reshare of their posts carries a disclosure
    # line (docs/compliance.md).
    reward_received_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = gettext_lazy("advocate")
        verbose_name_plural = gettext_lazy("advocates")

    def __str__(self) -> str:
        return self.display_name or f"Advocate #{self.pk}"

    @property
    def opted_out(self) -> bool:
        return self.opted_out_at is not None


class MergeDismissal(models.Model):
    """A merge suggestion a person looked at and decided against: two people, not one. The
    pair (lower id first) is not suggested again."""

    first = models.ForeignKey(Advocate, on_delete=models.CASCADE, related_name="+")
    second = models.ForeignKey(Advocate, on_delete=models.CASCADE, related_name="+")
    dismissed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    dismissed_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["first", "second"], name="merge_dismissal_pair"),
            models.CheckConstraint(condition=models.Q(first__lt=models.F("second")),
                                   name="merge_dismissal_ordered"),
        ]

    def __str__(self) -> str:
        return f"advocates {self.first_id} and {self.second_id} are two people"


class SocialIdentity(models.Model):
    """One account on one platform; unique per (platform, platform user id)."""

    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT, related_name="identities",
                                 verbose_name=gettext_lazy("advocate"))
    platform = models.CharField(max_length=20, choices=PLATFORM_CHOICES,
                                verbose_name=gettext_lazy("platform"))
    platform_user_id = models.CharField(max_length=128)
    handle = models.CharField(max_length=200, blank=True, verbose_name=gettext_lazy("handle"))
    display_name = models.CharField(max_length=200, blank=True,
                                    verbose_name=gettext_lazy("display name"))
    profile_url = models.URLField(max_length=500, blank=True)
    follower_count = models.PositiveIntegerField(null=True, blank=True,
                                                 verbose_name=gettext_lazy("follower count"))
    verified = models.BooleanField(default=False, verbose_name=gettext_lazy("verified"))
    account_created_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name_plural = gettext_lazy("social identities")
        constraints = [
            models.UniqueConstraint(fields=["platform", "platform_user_id"],
                                    name="identity_unique_platform_user"),
        ]
        indexes = [
            models.Index(fields=["platform", "handle"], name="identity_platform_handle"),
            # Reports: new advocates per period, and the identities a rollup refresh must
            # count again (first_seen_at is set once, at creation).
            models.Index(fields=["first_seen_at"], include=["platform", "advocate"],
                         name="identity_first_seen"),
        ]
        verbose_name = gettext_lazy("social identity")

    def __str__(self) -> str:
        return f"{self.handle or self.platform_user_id} on {self.get_platform_display()}"


class MentionKind(models.TextChoices):
    POST = "post", gettext_lazy("Post")
    REPLY = "reply", gettext_lazy("Reply")
    QUOTE = "quote", gettext_lazy("Quote")
    COMMENT = "comment", gettext_lazy("Comment")
    CHECKIN = "checkin", gettext_lazy("Check-in")
    REVIEW = "review", gettext_lazy("Review")
    TAG = "tag", gettext_lazy("Tag")
    STORY = "story", gettext_lazy("Story")


class MentionSource(models.TextChoices):
    WEBHOOK = "webhook", gettext_lazy("Webhook")
    POLL = "poll", gettext_lazy("Poll")
    IMPORT = "import", gettext_lazy("Import")
    API = "api", gettext_lazy("API")
    STREAM = "stream", gettext_lazy("Stream")


class DetectionLabel(models.TextChoices):
    POSITIVE = "positive", gettext_lazy("Positive")
    NEUTRAL = "neutral", gettext_lazy("Neutral")
    NEGATIVE = "negative", gettext_lazy("Negative")


class DetectionIntent(models.TextChoices):
    PRAISE = "praise", gettext_lazy("Praise")
    CHECKIN = "checkin", gettext_lazy("Check-in")
    REVIEW = "review", gettext_lazy("Review")
    COMPLAINT = "complaint", gettext_lazy("Complaint")
    QUESTION = "question", gettext_lazy("Question")
    OTHER = "other", gettext_lazy("Other")


class Route(models.TextChoices):
    THANK = "thank", gettext_lazy("Thank")
    CARE = "care", gettext_lazy("Care")
    ANSWER = "answer", gettext_lazy("Answer")
    NONE = "none", gettext_lazy("None")


class Mention(models.Model):
    """Something an identity posted about the brand, keyed by (platform, external id)."""

    platform = models.CharField(max_length=20, choices=PLATFORM_CHOICES,
                                verbose_name=gettext_lazy("platform"))
    external_id = models.CharField(max_length=191)
    kind = models.CharField(max_length=10, choices=MentionKind.choices, default=MentionKind.POST,
                            verbose_name=gettext_lazy("kind"))
    author = models.ForeignKey(SocialIdentity, on_delete=models.PROTECT, related_name="mentions",
                               verbose_name=gettext_lazy("author"))
    text = models.TextField(blank=True, verbose_name=gettext_lazy("text"))
    language = models.CharField(max_length=8, blank=True, verbose_name=gettext_lazy("language"))
    url = models.URLField(max_length=500, blank=True)
    posted_at = models.DateTimeField(verbose_name=gettext_lazy("posted at"))
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    venue = models.CharField(max_length=200, blank=True)
    in_reply_to = models.CharField(max_length=191, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    received_at = models.DateTimeField(default=timezone.now)
    source = models.CharField(max_length=10, choices=MentionSource.choices,
                              verbose_name=gettext_lazy("source"))

    # Detection (step 2): empty until the detector has run; the sweeper looks for NULL.
    detected_at = models.DateTimeField(null=True, blank=True)
    detection_label = models.CharField(max_length=10, choices=DetectionLabel.choices, blank=True,
                                       verbose_name=gettext_lazy("detection label"))
    detection_intent = models.CharField(max_length=10, choices=DetectionIntent.choices,
                                        blank=True, verbose_name=gettext_lazy("detection intent"))
    detection_confidence = models.FloatField(null=True, blank=True)
    detection_reasons = models.JSONField(default=list, blank=True)
    detection_flags = models.JSONField(default=list, blank=True)
    detector_version = models.CharField(max_length=40, blank=True)
    # Routing (step 3): what was decided, and why a guard skipped it.
    route = models.CharField(max_length=6, choices=Route.choices, blank=True,
                             verbose_name=gettext_lazy("route"))
    skip_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-posted_at"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "external_id"],
                                    name="mention_unique_platform_external_id"),
            models.CheckConstraint(
                condition=models.Q(rating__isnull=True) | models.Q(rating__gte=1, rating__lte=5),
                name="mention_rating_1_to_5",
            ),
        ]
        indexes = [
            models.Index(fields=["-posted_at"], name="mention_posted_at"),
            models.Index(fields=["received_at"], name="mention_undetected",
                         condition=models.Q(detected_at__isnull=True)),
            # The last time a mention's counted columns changed: it arrived (received_at) or
            # was detected (detected_at). The report rollups find the days to recount by it.
            models.Index(Coalesce("detected_at", "received_at"), name="mention_changed"),
        ]
        verbose_name = gettext_lazy("mention")
        verbose_name_plural = gettext_lazy("mentions")

    def __str__(self) -> str:
        return f"{self.get_platform_display()} {self.get_kind_display()} {self.external_id}"

    @property
    def origin(self) -> str:
        """How the mention reached Kansha, where its platform's policy cares (Instagram media
        found by a hashtag search, or only tagged)."""
        raw = self.raw or {}
        return str(raw.get("origin") or raw.get("source") or "")

    def reply_target(self, *, brand_names: Sequence[str]) -> ReplyTarget:
        """This mention as its platform's policy sees it (`PlatformPolicy.reply_refusal`)."""
        return ReplyTarget(kind=self.kind, text=self.text, origin=self.origin,
                           brand_names=tuple(brand_names))


class TokenScope(models.TextChoices):
    """What an API token may do; a token holds only the scopes it was given."""

    INGEST = "ingest", "ingest: post mentions"
    REDEEM = "redeem", "redeem: record code redemptions"
    READ_REPORTS = "read-reports", "read-reports: read the finance and marketing reports"


class IngestToken(models.Model):
    """An integration's API token. Only a SHA-256 of the secret is stored.

    Each token carries scopes (`TokenScope`): the ingest API needs `ingest`, the redemption API
    `redeem`, the report API `read-reports`; a valid token without the scope gets 403.
    """

    name = models.CharField(max_length=100, help_text="Which tool or script uses this token.",
                            verbose_name=gettext_lazy("name"))
    scopes = models.JSONField(default=list, help_text="What the token may do (TokenScope).",
                              verbose_name=gettext_lazy("scopes"))
    prefix = models.CharField(max_length=12, editable=False, db_index=True,
                              verbose_name=gettext_lazy("prefix"))
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False,
                                      verbose_name=gettext_lazy("created at"))
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False,
                                        verbose_name=gettext_lazy("last used at"))
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = gettext_lazy("API token")
        verbose_name_plural = gettext_lazy("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])

    @property
    def scopes_display(self) -> str:
        return ", ".join(s for s in TokenScope.values if s in (self.scopes or [])) or "none"

    @staticmethod
    def hash_key(key: str) -> str:
        # Tokens are 32 random bytes, so a plain SHA-256 is enough (no slow KDF needed).
        return hashlib.sha256(key.encode()).hexdigest()


class OutreachKind(models.TextChoices):
    REPLY = "reply", gettext_lazy("Thank-you reply")
    RESHARE = "reshare", gettext_lazy("Reshare")
    DM = "dm", gettext_lazy("Direct message")
    CARE = "care", gettext_lazy("Care")
    ANSWER = "answer", gettext_lazy("Answer to a question")
    CONSENT = "consent", gettext_lazy("Consent request")
    TAKEDOWN = "takedown", gettext_lazy("Take down reshare")
    # A private message asking a rewarded advocate to disclose the reward (#ad, #PR).
    DISCLOSURE = "disclosure", gettext_lazy("Disclosure reminder")


class OutreachStatus(models.TextChoices):
    PROPOSED = "proposed", gettext_lazy("Proposed")
    APPROVED = "approved", gettext_lazy("Approved")
    SENDING = "sending", gettext_lazy("Sending")
    SENT = "sent", gettext_lazy("Sent")
    FAILED = "failed", gettext_lazy("Failed")
    REJECTED = "rejected", gettext_lazy("Rejected")
    SNOOZED = "snoozed", gettext_lazy("Snoozed")


class Outreach(models.Model):
    """Something Kansha proposes to say or do on a platform; nothing goes out unapproved."""

    kind = models.CharField(max_length=10, choices=OutreachKind.choices)
    status = models.CharField(max_length=10, choices=OutreachStatus.choices,
                              default=OutreachStatus.PROPOSED)
    mention = models.ForeignKey(Mention, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="outreach")
    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT, related_name="outreach")
    identity = models.ForeignKey(SocialIdentity, on_delete=models.PROTECT,
                                 related_name="outreach")
    platform = models.CharField(max_length=20, choices=PLATFORM_CHOICES)
    # A stable key from the proposer (e.g. "grant:42") so a re-run proposes nothing twice.
    dedupe_key = models.CharField(max_length=191, unique=True)
    proposed_text = models.TextField(blank=True)
    final_text = models.TextField(blank=True)
    reasons = models.JSONField(default=list, blank=True)
    template_key = models.CharField(max_length=100, blank=True)
    template_variant = models.PositiveSmallIntegerField(null=True, blank=True)
    priority = models.PositiveSmallIntegerField(default=0)
    sla_due_at = models.DateTimeField(null=True, blank=True)
    # Care items and answers, and the replies staff write in a conversation, belong to one.
    conversation = models.ForeignKey("Conversation", null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="outreach")
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="assigned_outreach")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="decided_outreach")
    decided_at = models.DateTimeField(null=True, blank=True)
    reject_reason = models.CharField(max_length=300, blank=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    platform_result_id = models.CharField(max_length=191, blank=True)
    platform_result_url = models.URLField(max_length=500, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Sent with every platform write for this row, so a retried delivery cannot post twice.
    idempotency_key = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "outreach"
        ordering = ["-priority", "created_at"]
        indexes = [
            models.Index(fields=["status", "-priority", "created_at"], name="outreach_queue"),
            models.Index(fields=["advocate", "kind", "status"], name="outreach_advocate"),
            # Template rotation asks "when was each variant last used" per batch.
            models.Index(fields=["template_key", "template_variant", "created_at"],
                         name="outreach_template_use"),
            # Reports count outreach by the day it was proposed; every status change sets
            # updated_at, which is how a rollup refresh finds the days to count again.
            models.Index(fields=["created_at"], name="outreach_created"),
            models.Index(fields=["updated_at"], name="outreach_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"


class ConversationStatus(models.TextChoices):
    OPEN = "open", gettext_lazy("Open")
    WAITING = "waiting", gettext_lazy("Waiting on customer")
    RESOLVED = "resolved", gettext_lazy("Resolved")


class ConversationOutcome(models.TextChoices):
    FIXED = "fixed", gettext_lazy("Fixed")
    REFUNDED = "refunded", gettext_lazy("Refunded")
    EXPLAINED = "explained", gettext_lazy("Explained")
    NO_REPLY = "no_reply", gettext_lazy("No reply")
    NOT_OUR_FAULT = "not_our_fault", gettext_lazy("Not our fault")


class CareShift(models.Model):
    """Whether a staff member is on shift for care, and when round-robin last gave them a
    conversation (`conversation_assign_round_robin` picks whoever waited longest)."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                primary_key=True, related_name="care_shift")
    on_shift = models.BooleanField(default=False)
    last_assigned_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.user} ({'on' if self.on_shift else 'off'} shift)"


class Conversation(models.Model):
    """One person's care thread on one platform: their public mentions, our public replies and
    direct messages both ways, internal notes, until staff resolve it with an outcome.

    At most one unresolved conversation per (advocate, platform); a care item or a message
    joins it, and the first one after a resolution opens a new thread, so each resolved case
    keeps its own outcome. Status, assignee and outcome change only through
    `advocates/services/conversations.py`.
    """

    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT,
                                 related_name="conversations")
    identity = models.ForeignKey(SocialIdentity, on_delete=models.PROTECT,
                                 related_name="conversations")
    platform = models.CharField(max_length=20, choices=PLATFORM_CHOICES)
    status = models.CharField(max_length=10, choices=ConversationStatus.choices,
                              default=ConversationStatus.OPEN)
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                 on_delete=models.SET_NULL, related_name="conversations")
    tags = models.JSONField(default=list, blank=True)
    outcome = models.CharField(max_length=15, choices=ConversationOutcome.choices, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    # The newest message either way: the conversation list is ordered by it.
    last_message_at = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    # Set by `conversation_snooze` (its pending care items are snoozed as long); the
    # customer's next message clears it.
    snoozed_until = models.DateTimeField(null=True, blank=True)
    # By when the case should be resolved: the earliest of its care items' (and the direct
    # message that opened it) posting or event time plus the resolution SLA for its priority
    # (`DetectorSettings.resolution_sla_minutes_for`). Null: no resolution SLA.
    resolution_due_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_message_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["advocate", "platform"], name="conversation_one_unresolved",
                condition=~models.Q(status="resolved")),
            models.CheckConstraint(
                condition=models.Q(status="resolved", outcome__gt="")
                | (~models.Q(status="resolved") & models.Q(outcome="")),
                name="conversation_outcome_iff_resolved"),
        ]
        indexes = [models.Index(fields=["status", "-last_message_at"],
                                name="conversation_inbox")]

    def __str__(self) -> str:
        return f"Conversation #{self.pk} with {self.identity} ({self.status})"


class MessageKind(models.TextChoices):
    MENTION = "mention", gettext_lazy("Public post")
    REPLY = "reply", gettext_lazy("Our public reply")
    DM_IN = "dm_in", gettext_lazy("Direct message from them")
    DM_OUT = "dm_out", gettext_lazy("Our direct message")
    NOTE = "note", gettext_lazy("Internal note")
    EVENT = "event", gettext_lazy("Event")


class ConversationMessage(models.Model):
    """One entry of a conversation's thread, oldest first.

    Inbound direct messages are keyed by (platform, external_id), so a redelivered webhook
    adds nothing; a public mention or one of our outreach rows appears at most once.
    """

    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE,
                                     related_name="messages")
    kind = models.CharField(max_length=8, choices=MessageKind.choices)
    platform = models.CharField(max_length=20, choices=PLATFORM_CHOICES)
    text = models.TextField(blank=True)
    at = models.DateTimeField(default=timezone.now)
    mention = models.OneToOneField(Mention, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="conversation_message")
    outreach = models.OneToOneField("Outreach", null=True, blank=True,
                                    on_delete=models.SET_NULL,
                                    related_name="conversation_message")
    external_id = models.CharField(max_length=191, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                               on_delete=models.SET_NULL, related_name="+")
    raw = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["platform", "external_id"],
                                    condition=~models.Q(external_id=""),
                                    name="message_unique_platform_external_id"),
        ]
        indexes = [models.Index(fields=["conversation", "at"], name="message_thread")]

    def __str__(self) -> str:
        return f"{self.kind} in conversation #{self.conversation_id}"


class CareAlertStage(models.TextChoices):
    # A care item's or an answer's first response (`CareAlert.outreach`) ...
    DUE_SOON = "due_soon", gettext_lazy("Due soon")
    BREACHED = "breached", gettext_lazy("Overdue")
    # ... and a conversation's resolution (`CareAlert.conversation`).
    RESOLUTION_DUE_SOON = "resolution_due_soon", gettext_lazy("Resolution due soon")
    RESOLUTION_BREACHED = "resolution_breached", gettext_lazy("Resolution overdue")


RESOLUTION_STAGES = (CareAlertStage.RESOLUTION_DUE_SOON, CareAlertStage.RESOLUTION_BREACHED)


class AlertChannelState(models.TextChoices):
    PENDING = "pending", "pending"
    SENT = "sent", "sent"
    SKIPPED = "skipped", "skipped"  # the channel is not configured: nothing to send
    FAILED = "failed", "failed"  # refused for good (a revoked Slack webhook, a bad address)


class CareAlert(models.Model):
    """One SLA alert for one care item or answer at one stage (due soon, overdue), or for one
    conversation's resolution (resolution due soon, resolution overdue).

    Unique per (outreach, stage) and per (conversation, stage): a stage is alerted once,
    however often the sweep runs. Exactly one of `outreach` and `conversation` is set.
    Each channel (Slack, e-mail) has its own state, so one that failed for now is retried
    without sending the other again. Written only by `advocates/services/care_alerts.py`.
    """

    outreach = models.ForeignKey(Outreach, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="alerts")
    conversation = models.ForeignKey(Conversation, null=True, blank=True,
                                     on_delete=models.CASCADE, related_name="alerts")
    stage = models.CharField(max_length=20, choices=CareAlertStage.choices)
    created_at = models.DateTimeField(default=timezone.now)
    slack = models.CharField(max_length=8, choices=AlertChannelState.choices,
                             default=AlertChannelState.PENDING)
    slack_sent_at = models.DateTimeField(null=True, blank=True)
    email = models.CharField(max_length=8, choices=AlertChannelState.choices,
                             default=AlertChannelState.PENDING)
    email_to = models.CharField(max_length=254, blank=True)
    email_sent_at = models.DateTimeField(null=True, blank=True)
    # A sender holds the alert until this moment, so two sweeps never send it both.
    claimed_until = models.DateTimeField(null=True, blank=True)
    # Set when the item was answered or withdrawn before its alert went out.
    cancelled_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["outreach", "stage"],
                                    name="care_alert_one_per_stage"),
            models.UniqueConstraint(fields=["conversation", "stage"],
                                    name="care_alert_one_per_conversation_stage"),
            models.CheckConstraint(
                condition=models.Q(outreach__isnull=False, conversation__isnull=True)
                | models.Q(outreach__isnull=True, conversation__isnull=False),
                name="care_alert_outreach_xor_conversation"),
        ]

    def __str__(self) -> str:
        if self.conversation_id:
            return f"{self.stage} alert for conversation #{self.conversation_id}"
        return f"{self.stage} alert for outreach #{self.outreach_id}"


class AdvocacyKind(models.TextChoices):
    PRAISE = "praise", gettext_lazy("Praise")
    CHECKIN = "checkin", gettext_lazy("Check-in")
    REVIEW = "review", gettext_lazy("Review")
    RESHARE = "reshare", gettext_lazy("Consented reshare")


class AdvocacyEvent(models.Model):
    """A confirmed act of advocacy. Append-only: the hand-off from `advocates` to `rewards`."""

    advocate = models.ForeignKey(Advocate, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=10, choices=AdvocacyKind.choices)
    mention = models.ForeignKey(Mention, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="advocacy_events")
    platform = models.CharField(max_length=20, choices=PLATFORM_CHOICES)
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    venue = models.CharField(max_length=200, blank=True)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    # Derived from what confirmed it (e.g. "outreach:17"), so a re-run appends nothing twice.
    dedupe_key = models.CharField(max_length=191, unique=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            # Reports: events by the time of the act (index-only scans for active and top
            # advocates), new events for a rollup refresh, one advocate's events in a range.
            models.Index(fields=["occurred_at"], include=["advocate", "platform", "kind"],
                         name="event_occurred"),
            models.Index(fields=["created_at"], name="event_created"),
            models.Index(fields=["advocate", "occurred_at"], include=["platform"],
                         name="event_advocate_time"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} by {self.advocate_id} at {self.occurred_at:%Y-%m-%d}"


class OutreachLog(models.Model):
    """The audit trail of one outreach: every decision and every delivery attempt."""

    outreach = models.ForeignKey(Outreach, on_delete=models.CASCADE, related_name="log")
    action = models.CharField(max_length=40)  # proposed, approved, edited, rejected, attempt…
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                              on_delete=models.SET_NULL)
    at = models.DateTimeField(default=timezone.now)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.action} on outreach #{self.outreach_id}"


class ConsentStatus(models.TextChoices):
    REQUESTED = "requested", gettext_lazy("Requested")
    GRANTED = "granted", gettext_lazy("Granted")
    REVOKED = "revoked", gettext_lazy("Revoked")
    EXPIRED = "expired", gettext_lazy("Expired")


class ConsentRecord(models.Model):
    """An advocate's permission to reshare their content: who, how, when, on which terms."""

    advocate = models.ForeignKey(Advocate, on_delete=models.CASCADE, related_name="consents")
    identity = models.ForeignKey(SocialIdentity, on_delete=models.CASCADE,
                                 related_name="consents")
    mention = models.ForeignKey(Mention, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="consents")
    status = models.CharField(max_length=10, choices=ConsentStatus.choices,
                              default=ConsentStatus.REQUESTED)
    method = models.CharField(max_length=20, blank=True)  # reply_hashtag, page, staff
    terms_version = models.CharField(max_length=20, blank=True)
    # The public consent page's link carries this token instead of any id.
    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    requested_at = models.DateTimeField(default=timezone.now)
    granted_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    evidence = models.JSONField(default=dict, blank=True)  # e.g. the reply's external id

    class Meta:
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"Consent of {self.identity} ({self.status})"


class Suppression(models.Model):
    """An erased person's objection on record: no proposal to their account again.

    Erasure forgets who they were; it remembers only a keyed hash of (platform, platform
    user id) (`advocates.services.privacy.suppression_key`), so nobody can read the account
    back from this table, yet a later post by the same account is recognised and routed
    nowhere. Staff lift it when the person writes to the brand and asks to hear from it again.
    """

    key = models.CharField(max_length=64, unique=True, editable=False)
    platform = models.CharField(max_length=20, choices=PLATFORM_CHOICES,
                                verbose_name=gettext_lazy("platform"))
    reason = models.CharField(max_length=40, default="erasure", verbose_name=gettext_lazy("reason"))
    created_at = models.DateTimeField(default=timezone.now, verbose_name=gettext_lazy("created at"))
    lifted_at = models.DateTimeField(null=True, blank=True, verbose_name=gettext_lazy("lifted at"))
    lifted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+",
                                  verbose_name=gettext_lazy("lifted by"))
    lift_note = models.TextField(blank=True, help_text=gettext_lazy(
        "Why it was lifted: where and when the person asked to hear from the brand again."),
                                 verbose_name=gettext_lazy("lift note"))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = gettext_lazy("suppressed account")
        verbose_name_plural = gettext_lazy("suppressed accounts")

    def __str__(self) -> str:
        return f"{self.get_platform_display()} account {self.key[:12]}…"

    @staticmethod
    def key_for(*, platform: str, platform_user_id: str) -> str:
        """The keyed hash that stands for one account: HMAC-SHA256 with SECRET_KEY, so the
        table cannot be reversed by hashing known ids (a plain hash could)."""
        return hmac.new(settings.SECRET_KEY.encode(),
                        f"suppress:{platform}:{platform_user_id}".encode(),
                        hashlib.sha256).hexdigest()


class SandboxPost(models.Model):
    """What the `sandbox` platform's client "posted": the demo's public timeline."""

    kind = models.CharField(max_length=10, choices=OutreachKind.choices)
    account_handle = models.CharField(max_length=200)
    text = models.TextField(blank=True)
    in_reply_to = models.CharField(max_length=191, blank=True)
    target_handle = models.CharField(max_length=200, blank=True)
    idempotency_key = models.CharField(max_length=191, unique=True)
    posted_at = models.DateTimeField(default=timezone.now)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-posted_at", "-id"]

    def __str__(self) -> str:
        return f"sandbox {self.kind} #{self.pk}"

    @property
    def external_id(self) -> str:
        return f"sbx-{self.pk}"


class BrandAccount(models.Model):
    """A brand's connected account on one platform. Credentials are encrypted at rest."""

    platform = models.CharField(max_length=20, choices=PLATFORM_CHOICES,
                                verbose_name=gettext_lazy("platform"))
    name = models.CharField(max_length=100, verbose_name=gettext_lazy("name"))
    handle = models.CharField(max_length=200, blank=True, verbose_name=gettext_lazy("handle"))
    platform_user_id = models.CharField(max_length=128, blank=True,
                                        verbose_name=gettext_lazy("platform user id"))
    # Non-secret settings (API base URL, instance, location or page ids).
    config = models.JSONField(default=dict, blank=True, verbose_name=gettext_lazy("config"))
    # Fernet ciphertext of a JSON object of secrets; never shown again once saved.
    credentials_encrypted = models.TextField(blank=True, editable=False)
    # Where each poller resumes (e.g. {"mentions": {"since_id": "..."}}).
    cursor = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True, verbose_name=gettext_lazy("active"))
    last_checked_at = models.DateTimeField(null=True, blank=True,
                                           verbose_name=gettext_lazy("last checked at"))
    last_error = models.TextField(blank=True, verbose_name=gettext_lazy("last error"))
    quota_remaining = models.IntegerField(null=True, blank=True,
                                          verbose_name=gettext_lazy("quota remaining"))
    quota_reset_at = models.DateTimeField(null=True, blank=True,
                                          verbose_name=gettext_lazy("quota reset at"))
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["platform", "name"]
        constraints = [models.UniqueConstraint(fields=["platform", "name"],
                                               name="brandaccount_unique_name")]
        verbose_name = gettext_lazy("brand account")
        verbose_name_plural = gettext_lazy("brand accounts")

    def __str__(self) -> str:
        return f"{self.name} ({self.get_platform_display()})"


class WebhookDelivery(models.Model):
    """An inbound platform webhook, stored (after its signature checked) before any work.

    Persisting first means a broker outage delays the work but loses none; the unique key
    makes a platform's redelivery a no-op.
    """

    platform = models.CharField(max_length=20, choices=PLATFORM_CHOICES)
    account = models.ForeignKey(BrandAccount, null=True, blank=True, on_delete=models.SET_NULL)
    dedupe_key = models.CharField(max_length=191, unique=True)
    body = models.JSONField()
    received_at = models.DateTimeField(default=timezone.now)
    processed_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "webhook deliveries"
        indexes = [models.Index(fields=["received_at"], name="webhook_unprocessed",
                                condition=models.Q(processed_at__isnull=True))]

    def __str__(self) -> str:
        return f"{self.platform} webhook {self.dedupe_key}"


class DeadLetterStatus(models.TextChoices):
    OPEN = "open", gettext_lazy("Open")
    REPLAYED = "replayed", gettext_lazy("Replayed")
    DISCARDED = "discarded", gettext_lazy("Discarded")


class DeadLetter(models.Model):
    """A row a batch task could not process, set aside so the rest of its batch went through.

    `task` names the batch task ("detect", "stripe_event"), `key` the row in its own table;
    `payload` is what a replay is given, and an operator may edit it (the fix) before replaying
    (advocates/services/deadletters.py). At most one open dead letter per row.
    """

    task = models.CharField(gettext_lazy("task"), max_length=60)
    key = models.CharField(gettext_lazy("row"), max_length=191)
    payload = models.JSONField(gettext_lazy("payload"), default=dict, blank=True)
    error = models.TextField(gettext_lazy("error"))
    attempts = models.PositiveIntegerField(gettext_lazy("attempts"), default=1)
    status = models.CharField(gettext_lazy("status"), max_length=12,
                              choices=DeadLetterStatus.choices, default=DeadLetterStatus.OPEN)
    created_at = models.DateTimeField(gettext_lazy("first failed"), default=timezone.now)
    updated_at = models.DateTimeField(gettext_lazy("last failed"), default=timezone.now)
    resolved_at = models.DateTimeField(gettext_lazy("resolved"), null=True, blank=True)

    class Meta:
        verbose_name = gettext_lazy("dead letter")
        verbose_name_plural = gettext_lazy("dead letters")
        ordering = ["-updated_at"]
        constraints = [models.UniqueConstraint(
            fields=["task", "key"], condition=models.Q(status="open"),
            name="deadletter_one_open_per_row")]

    def __str__(self) -> str:
        return f"{self.task} {self.key}"


class DetectorDecision(models.TextChoices):
    THANK = "thank", gettext_lazy("Deserves a thank-you")
    CARE = "care", gettext_lazy("Needs care")
    NONE = "none", gettext_lazy("Neither")


class ExampleSource(models.TextChoices):
    APPROVED = "approved", gettext_lazy("Approved")
    EDITED = "edited", gettext_lazy("Edited and approved")
    REJECTED = "rejected", gettext_lazy("Rejected with a reason")
    WRONG_CALL = "wrong_call", gettext_lazy("Wrong call")
    CARE_RESOLVED = "care_resolved", gettext_lazy("Care resolved")
    IMPORTED = "imported", gettext_lazy("Imported")


class DetectorExample(models.Model):
    """A post and the decision a person made about it: what the brand's model learns from.

    Filled by the queue's own actions (approve, edit, reject with a reason, wrong call, a care
    conversation resolved) and by `manage.py detector_examples_import`. One row per mention
    (the latest decision wins) or per imported text (`key`), so a re-run adds nothing twice.
    The text is copied: the example outlives a purged payload, and erasure removes it.
    """

    key = models.CharField(max_length=64, unique=True)  # "mention:<id>" or "import:<sha1>"
    text = models.TextField()
    language = models.CharField(max_length=8, blank=True)
    kind = models.CharField(max_length=10, default="post")
    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    platform = models.CharField(max_length=20, default="sandbox")
    decision = models.CharField(gettext_lazy("decision"), max_length=5,
                                choices=DetectorDecision.choices)
    source = models.CharField(gettext_lazy("source"), max_length=15,
                              choices=ExampleSource.choices)
    reason = models.CharField(max_length=40, blank=True)  # the reject reason's key
    mention = models.ForeignKey(Mention, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="detector_examples")
    advocate = models.ForeignKey(Advocate, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="detector_examples")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    decided_at = models.DateTimeField(gettext_lazy("decided"), default=timezone.now)

    class Meta:
        verbose_name = gettext_lazy("detector example")
        verbose_name_plural = gettext_lazy("detector examples")
        ordering = ["-decided_at"]
        indexes = [models.Index(fields=["decided_at"], name="detectorexample_decided")]

    def __str__(self) -> str:
        return f"{self.decision}: {self.text[:40]}"


class DetectorModelStatus(models.TextChoices):
    CANDIDATE = "candidate", gettext_lazy("Candidate")
    LIVE = "live", gettext_lazy("Live")
    RETIRED = "retired", gettext_lazy("Retired")
    REFUSED = "refused", gettext_lazy("Not promoted")


class DetectorModelVersion(models.Model):
    """A brand model trained from the examples: its weights (the `.npz` bytes, no pickle),
    its card and how it compared with the model that was live when it was trained.

    At most one is live; none live means the shipped base model decides.
    """

    version = models.CharField(max_length=40, unique=True)
    status = models.CharField(gettext_lazy("status"), max_length=10,
                              choices=DetectorModelStatus.choices,
                              default=DetectorModelStatus.CANDIDATE)
    weights = models.BinaryField()
    card = models.JSONField(default=dict)
    # {"candidate": Figures, "live": Figures, "live_version": str, "held_back": n}
    figures = models.JSONField(default=dict)
    examples = models.PositiveIntegerField(gettext_lazy("examples"), default=0)
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(gettext_lazy("trained"), default=timezone.now)
    activated_at = models.DateTimeField(null=True, blank=True)
    activated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = gettext_lazy("detector model")
        verbose_name_plural = gettext_lazy("detector models")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(
            fields=["status"], condition=models.Q(status="live"),
            name="detectormodel_one_live")]

    def __str__(self) -> str:
        return self.version


class TemplatePurpose(models.TextChoices):
    PRAISE = "praise", gettext_lazy("Thank-you for praise")
    CHECKIN = "checkin", gettext_lazy("Thank-you for a check-in")
    REVIEW = "review", gettext_lazy("Thank-you for a review")
    CARE = "care", gettext_lazy("First response to a complaint")
    ANSWER = "answer", gettext_lazy("Answer to a question")
    CONSENT = "consent", gettext_lazy("Consent request before a reshare")
    REWARD = "reward", gettext_lazy("Reward message (code or perk)")
    DISCLOSURE = "disclosure", gettext_lazy("Disclosure reminder to a rewarded advocate")
    RESHARE_PR = "reshare_pr", gettext_lazy("Disclosure line on a reshare of a rewarded "
                                            "advocate's post")


class ReplyTemplate(PreviewableMixin, DraftStateMixin, RevisionMixin, LockableMixin,
                    ClusterableModel):
    """Words Kansha proposes, per purpose and language, in several rotated variants.

    Variables: {first_name} {handle} {venue} {platform} {brand}, and for rewards {code}
    {reward} {expires} {page_url} (their own page). An unknown variable is a validation error
    when saving.
    """

    name = models.CharField(max_length=100, verbose_name=gettext_lazy("name"))
    purpose = models.CharField(max_length=10, choices=TemplatePurpose.choices,
                               verbose_name=gettext_lazy("purpose"))
    language = models.CharField(max_length=8, choices=settings.LANGUAGES, default="en",
                                verbose_name=gettext_lazy("language"))
    # Answers only: which questions this template answers (advocates/services/templates.py
    # matches them against the question's text).
    keywords = models.TextField(
        blank=True, verbose_name=gettext_lazy("keywords"),
        help_text=gettext_lazy("Answers only: words in a question that pick this template, one "
                               "per line (e.g. wifi, ワイファイ). Case, spaces and hyphens do "
                               "not matter. An answer template without keywords answers the "
                               "questions no other template matches."))
    notes = models.TextField(blank=True, verbose_name=gettext_lazy("notes"))

    class Meta:
        ordering = ["purpose", "language", "name"]
        verbose_name = gettext_lazy("reply template")
        verbose_name_plural = gettext_lazy("reply templates")

    def __str__(self) -> str:
        return f"{self.name} ({self.get_purpose_display()}, {self.language})"

    # Preview: every variant rendered on a sample mention (advocates/services/templates.py).
    def get_preview_template(self, request, mode_name):
        return "advocates/reply_template_preview.html"

    def get_preview_context(self, request, mode_name):
        context = super().get_preview_context(request, mode_name)
        context["sample_mention"] = sample_mention_text(self.language)
        context["variants"] = template_preview(template=self)
        return context


class ReplyTemplateVariant(models.Model):
    template = ParentalKey(ReplyTemplate, on_delete=models.CASCADE, related_name="variants")
    sort_order = models.PositiveSmallIntegerField(default=0, editable=False)
    text = models.TextField()

    class Meta:
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return self.text[:60]

    def clean(self) -> None:
        # An unknown variable or a broken brace is caught here, when marketing saves, so a
        # reply never fails to render when it is sent.
        # Inside the admin form the parent may not be attached yet; the form then checks
        # the purpose-specific variables itself (advocates/admin/templates.py).
        template = getattr(self, "template", None)
        try:
            template_text_validate(text=self.text or "",
                                   purpose=template.purpose if template else None)
        except ValidationError as exc:
            raise ValidationError({"text": exc.messages}) from exc


def _lines(text: str) -> tuple[str, ...]:
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def sla_tiers(text: str) -> list[tuple[int, int]]:
    """"70: 30" lines as (priority threshold, minutes), highest threshold first.

    Raises ValueError naming the line that is not "priority: minutes" (priority 0..100,
    minutes at least 1)."""
    tiers: dict[int, int] = {}
    for line in _lines(text or ""):
        left, sep, right = line.partition(":")
        try:
            threshold, minutes = int(left.strip()), int(right.strip())
        except ValueError:
            threshold, minutes = -1, 0
        if not sep or not 0 <= threshold <= 100 or minutes < 1:
            raise ValueError(f"“{line}” is not “priority: minutes” (priority 0 to 100, "
                             "minutes at least 1)")
        tiers[threshold] = minutes
    return sorted(tiers.items(), reverse=True)


@register_setting(icon="search")
class DetectorSettings(BaseGenericSetting):
    """What the detector listens for; marketing edits it in Settings › Detector."""

    brand_name = models.CharField(max_length=100, default="Kansha Coffee")
    tracked_terms = models.TextField(blank=True, default="kansha coffee\nカンシャ珈琲\nkansha",
                                     help_text="One per line: words that mean the brand.")
    tracked_handles = models.TextField(blank=True, default="@kanshacoffee",
                                       help_text="One per line: the brand's handles to listen for.")
    exclusions = models.TextField(blank=True, help_text="One per line: text that makes a "
                                  "mention irrelevant (another company with a similar name).")
    competitors = models.TextField(blank=True, default="starbucks\nblue bottle\nスタバ\n"
                                   "ブルーボトル\ndoutor\nドトール",
                                   help_text="One per line: praise for these is not praise for us.")
    own_handles = models.TextField(
        blank=True, default="@kanshacoffee\nkanshacoffee",
        help_text="One per line: the brand's own accounts (never thanked).")
    # The base model's threshold (advocates/detection/types.py says how it was chosen).
    thank_threshold = models.FloatField(
        default=DEFAULT_THANK_THRESHOLD,
        help_text="Minimum probability (0–1) of “deserves a thank-you”, from the detector's "
        "model, to propose a thank-you.")
    retrain_nightly = models.BooleanField(
        default=True, verbose_name=gettext_lazy("retrain nightly"),
        help_text=gettext_lazy("Each night, train a candidate model from the team's "
                               "decisions and make it live only if it does better on the "
                               "newest decisions than the live model."))
    cooldown_days = models.PositiveSmallIntegerField(
        default=7, help_text="Days between two thank-yous to the same advocate.")
    # Both SLAs count from the moment the person posted (Mention.posted_at), not from when
    # Kansha imported the post: a complaint found three weeks late is three weeks overdue.
    care_sla_minutes = models.PositiveIntegerField(
        default=60, help_text="How soon a complaint must get a first response.")
    answer_sla_minutes = models.PositiveIntegerField(
        default=240, verbose_name=gettext_lazy("answer SLA minutes"),
        help_text=gettext_lazy("How soon a question must get an answer, counted from when "
                               "it was posted."))
    # Per priority (routing's 0..100: severity up to 70 plus reach up to 30), overriding the
    # two above: lines "priority: minutes", the highest threshold the item reaches wins.
    care_sla_by_priority = models.TextField(
        blank=True, verbose_name=gettext_lazy("care SLA by priority"),
        help_text=gettext_lazy("One per line, “priority: minutes”, e.g. “70: 30” gives care "
                               "items of priority 70 or more 30 minutes; items below every "
                               "line keep the care SLA above."))
    answer_sla_by_priority = models.TextField(
        blank=True, verbose_name=gettext_lazy("answer SLA by priority"),
        help_text=gettext_lazy("One per line, “priority: minutes”, as for care items; "
                               "answers below every line keep the answer SLA above."))
    # Resolution: from the same moment (the post, or the direct message that opened the
    # conversation) to the conversation being resolved; 0 turns it off.
    resolution_sla_minutes = models.PositiveIntegerField(
        default=1440, verbose_name=gettext_lazy("resolution SLA minutes"),
        help_text=gettext_lazy("How soon a conversation must be resolved, counted from when "
                               "the person posted or sent their direct message (0: no "
                               "resolution SLA)."))
    resolution_sla_by_priority = models.TextField(
        blank=True, verbose_name=gettext_lazy("resolution SLA by priority"),
        help_text=gettext_lazy("One per line, “priority: minutes”, e.g. “70: 240” gives "
                               "conversations with an item of priority 70 or more 4 hours to "
                               "be resolved; below every line, the resolution SLA above."))
    care_alert_soon_minutes = models.PositiveIntegerField(
        default=15, verbose_name=gettext_lazy("alert minutes before due"),
        help_text=gettext_lazy("Alert when a care item or an answer is this close to its SLA "
                               "without a response (0: only when it is overdue)."))
    care_alert_email = models.EmailField(
        blank=True, verbose_name=gettext_lazy("care alert e-mail"),
        help_text=gettext_lazy("Where SLA alerts go when the item has no assignee with an "
                               "e-mail address (the care team's shared address)."))
    care_slack_webhook_url = models.URLField(
        blank=True, max_length=500, verbose_name=gettext_lazy("Slack webhook URL"),
        help_text=gettext_lazy("A Slack incoming webhook (https://hooks.slack.com/services/…) "
                               "for SLA alerts in the care channel; blank: no Slack alerts."))
    reshare_enabled = models.BooleanField(
        default=True, help_text="Propose reshares of praise (with consent where needed).")
    reshare_requires_consent = models.BooleanField(
        default=True, help_text="Ask the author's consent before every reshare, on every "
        "platform (Instagram always needs it).")

    class Meta:
        verbose_name = "detector settings"

    def clean(self) -> None:
        super().clean()
        errors = {}
        for name in ("care_sla_by_priority", "answer_sla_by_priority",
                     "resolution_sla_by_priority"):
            try:
                sla_tiers(getattr(self, name))
            except ValueError as exc:
                errors[name] = str(exc)
        if errors:
            raise ValidationError(errors)

    def sla_minutes(self, *, kind: str, priority: int) -> int:
        """Minutes from posting to due for a care item ("care") or an answer ("answer") of
        this priority: the per-priority line it reaches, else the route's SLA."""
        try:
            tiers = sla_tiers(self.care_sla_by_priority if kind == "care"
                              else self.answer_sla_by_priority)
        except ValueError:  # saved around the form's check: the route's SLA, never a crash
            tiers = []
        for threshold, minutes in tiers:
            if priority >= threshold:
                return minutes
        return self.care_sla_minutes if kind == "care" else self.answer_sla_minutes

    def resolution_sla_minutes_for(self, *, priority: int) -> int | None:
        """Minutes from posting (or the direct message) to resolution for a conversation whose
        item has this priority: the per-priority line it reaches, else the resolution SLA;
        None when the resolution SLA is off (0)."""
        try:
            tiers = sla_tiers(self.resolution_sla_by_priority)
        except ValueError:  # saved around the form's check: the plain SLA, never a crash
            tiers = []
        for threshold, minutes in tiers:
            if priority >= threshold:
                return minutes
        return self.resolution_sla_minutes or None

    def brand_names(self) -> tuple[str, ...]:
        """How a post names the brand: its handles, then its tracked terms."""
        return (*as_handles(_lines(self.tracked_handles)), *_lines(self.tracked_terms))

    def to_config(self):  # -> advocates.detection.DetectorConfig
        return DetectorConfig(
            brand_name=self.brand_name,
            tracked_terms=_lines(self.tracked_terms),
            tracked_handles=_lines(self.tracked_handles),
            exclusions=_lines(self.exclusions),
            competitors=_lines(self.competitors),
            own_handles=_lines(self.own_handles),
            thank_threshold=self.thank_threshold,
        )


# --- Public pages (consent and opt-out), one per language ------------------------------------

class PublicPageLanguage(models.TextChoices):
    EN = "en", "English"
    JA = "ja", "日本語"


# The views behind the public pages live in `advocates.pages`, an entry point above the
# models: `AdvocatesConfig.ready` fills this in, so a page model never imports its own view.
PUBLIC_PAGE_VIEWS: dict[str, Callable[[Page, HttpRequest], HttpResponse]] = {}


class ConsentPage(Page):
    """The public page where an advocate answers a consent request (link carries a token).

    One page per language. It records the terms version shown here with the answer.
    """

    language = models.CharField(max_length=8, choices=PublicPageLanguage.choices, default="en")
    intro = RichTextField(blank=True)
    terms = RichTextField(blank=True, help_text="What the advocate agrees to.")
    terms_version = models.CharField(max_length=20, default="2026-11",
                                     help_text="Change it whenever the terms change.")

    content_panels = [*Page.content_panels, FieldPanel("language"), FieldPanel("intro"),
                      FieldPanel("terms"), FieldPanel("terms_version")]
    template = "advocates/consent_page.html"
    subpage_types: list[str] = []

    class Meta:
        verbose_name = "consent page"

    def serve(self, request, *args, **kwargs):
        return PUBLIC_PAGE_VIEWS["consent"](self, request)


class OptOutPage(Page):
    """The public page where an advocate stops all contact: handle + platform, or a link."""

    language = models.CharField(max_length=8, choices=PublicPageLanguage.choices, default="en")
    intro = RichTextField(blank=True)

    content_panels = [*Page.content_panels, FieldPanel("language"), FieldPanel("intro")]
    template = "advocates/opt_out_page.html"
    subpage_types: list[str] = []

    class Meta:
        verbose_name = "opt-out page"

    def serve(self, request, *args, **kwargs):
        return PUBLIC_PAGE_VIEWS["opt_out"](self, request)
