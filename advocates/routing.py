"""Routing (step 3): turn detections into Outreach proposals, guards first.

Called by `services.mentions_detect` inside its transaction, for batches of up to 500
mentions. The shape, for one batch:

1. **Commands and decisions**: the advocate's answers to us ("stop", "#yes", "#no") are acted
   on and routed nowhere; every other mention gets `route_decide` (content: thank, care,
   answer or nothing, with why).
2. **Context**: `RoutingContext.load` runs a fixed number of queries for the whole batch
   (brand accounts, existing proposals, recent thank-yous, suppressed accounts, accounts that
   ask consent for reshares, templates), however many mentions it holds.
3. **Guards**: `GUARDS` is an ordered tuple of `(name, guard)`; each guard is
   `guard(mention, decision, ctx) -> reason` ("" if it does not apply), and the first
   non-empty reason wins and is recorded in `skip_reason`: opted out, suppressed, the brand's
   own account, care item or answer already proposed, one thank-you per mention,
   per-advocate cooldown, the platform's policy (its automation rule and the kinds it lets a
   brand answer: the same `PlatformPolicy.reply_refusal` delivery asks). The last three guard
   thank-yous only: care items and answers are never held back by a cooldown.
4. **Proposals**: `ProposalBuilder` makes a thank-you reply (+ a reshare, or a consent
   request first where consent is required), a care item for a complaint, or an answer for a
   question (with the answer template its words pick), then inserts them all in bulk. Care
   items and answers carry a priority and an SLA due time counted from when the person
   posted, not from when Kansha found the post.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max

from advocates.detection import Detection, DetectorConfig
from advocates.models import (
    BrandAccount,
    ConsentRecord,
    DetectorSettings,
    Mention,
    Outreach,
    OutreachKind,
    OutreachStatus,
    Route,
)
from advocates.policies import PlatformPolicy, policy_for
from advocates.routing_rules import RouteDecision, brand_names, route_decide
from advocates.selectors import suppressed_identity_ids
from advocates.services.consent import (
    consent_page_urls,
    consent_request_record,
    consent_url,
    mentions_commands_handle,
)
from advocates.services.conversations import (
    conversation_mentions_record,
    conversations_for_care,
)
from advocates.services.detection import mention_detection_input
from advocates.services.outreach import outreach_bulk_propose
from advocates.services.templates import (
    TemplateBook,
    reshare_disclosure_render,
    template_context,
)

# An erased person's account posting again: their erasure is their objection on record, so
# nothing is proposed until staff lift it (docs/compliance.md).
SUPPRESSED_REASON = "account suppressed: its owner asked to be erased"

# Kinds of mention whose content can be reshared from a brand account.
RESHAREABLE_KINDS = frozenset({"post", "quote", "checkin", "story"})


def _handle_key(handle: str) -> str:
    return handle.lower().lstrip("@")


@dataclass(frozen=True)
class RoutingContext:
    """What the guards and the proposal builder need to know about one batch, loaded once.

    `last_thanked` is the one mutable part: a thank-you proposed in this batch starts its
    advocate's cooldown at once, so a second praise by the same person in the same batch is
    held back like one in a later batch.
    """

    now: datetime
    config: DetectorConfig
    prefs: DetectorSettings
    own_ids: frozenset[tuple[str, str]]  # (platform, platform user id) of the brand accounts
    own_handles: frozenset[str]  # lower case, without "@"
    existing: frozenset[str]  # dedupe keys already proposed: thank:, care:, answer:<id>
    last_thanked: dict[int, datetime]  # advocate id -> last thank-you within the cooldown
    policies: Mapping[str, PlatformPolicy]
    suppressed: frozenset[int]  # identity ids whose owner asked to be erased
    consent_required_platforms: frozenset[str]  # a brand account there asks consent first
    book: TemplateBook

    @classmethod
    def load(cls, *, mentions: Sequence[Mention], config: DetectorConfig,
             prefs: DetectorSettings, now: datetime) -> RoutingContext:
        """One query each, in this order, whatever the number of `mentions`."""
        advocate_ids = {m.author.advocate_id for m in mentions}
        own_ids: set[tuple[str, str]] = set()
        own_handles = {_handle_key(h) for h in config.own_handles}
        for platform, user_id, handle in BrandAccount.objects.values_list(
                "platform", "platform_user_id", "handle"):
            if user_id:
                own_ids.add((platform, user_id))
            if handle:
                own_handles.add(_handle_key(handle))
        keys = [f"{prefix}:{m.pk}" for m in mentions for prefix in ("thank", "care", "answer")]
        existing = frozenset(Outreach.objects.filter(dedupe_key__in=keys)
                             .values_list("dedupe_key", flat=True))
        cooldown = timedelta(days=prefs.cooldown_days)
        last_thanked: dict[int, datetime] = dict(
            Outreach.objects.filter(advocate_id__in=advocate_ids, kind=OutreachKind.REPLY,
                                    dedupe_key__startswith="thank:",
                                    created_at__gte=now - cooldown)
            .exclude(status=OutreachStatus.REJECTED)
            .values_list("advocate_id").annotate(last=Max("created_at")).order_by()
        )
        policies = {p: policy_for(p) for p in {m.platform for m in mentions}}
        suppressed = frozenset(suppressed_identity_ids(identities=[m.author for m in mentions]))
        consent_required = frozenset(
            platform for platform, config_json in BrandAccount.objects.filter(active=True)
            .values_list("platform", "config") if (config_json or {}).get("reshare_needs_consent")
        )
        return cls(now=now, config=config, prefs=prefs, own_ids=frozenset(own_ids),
                   own_handles=frozenset(own_handles), existing=existing,
                   last_thanked=last_thanked, policies=policies, suppressed=suppressed,
                   consent_required_platforms=consent_required,
                   book=TemplateBook(advocate_ids=advocate_ids, now=now))


# --- guards: (mention, decision, ctx) -> why not ("" if the guard does not apply) ----------

Guard = Callable[[Mention, RouteDecision, RoutingContext], str]


def guard_opted_out(mention: Mention, decision: RouteDecision, ctx: RoutingContext) -> str:
    return "advocate opted out" if mention.author.advocate.opted_out_at is not None else ""


def guard_suppressed(mention: Mention, decision: RouteDecision, ctx: RoutingContext) -> str:
    return SUPPRESSED_REASON if mention.author.pk in ctx.suppressed else ""


def guard_own_account(mention: Mention, decision: RouteDecision, ctx: RoutingContext) -> str:
    author = mention.author
    if ((mention.platform, author.platform_user_id) in ctx.own_ids
            or _handle_key(author.handle or "") in ctx.own_handles):
        return "brand's own account"
    return ""


def guard_care_proposed(mention: Mention, decision: RouteDecision, ctx: RoutingContext) -> str:
    if decision.route == Route.CARE and f"care:{mention.pk}" in ctx.existing:
        return "care item already proposed"
    return ""


def guard_answer_proposed(mention: Mention, decision: RouteDecision,
                          ctx: RoutingContext) -> str:
    if decision.route == Route.ANSWER and f"answer:{mention.pk}" in ctx.existing:
        return "answer already proposed"
    return ""


def guard_already_thanked(mention: Mention, decision: RouteDecision,
                          ctx: RoutingContext) -> str:
    if decision.route == Route.THANK and f"thank:{mention.pk}" in ctx.existing:
        return "already thanked for this mention"
    return ""


def guard_cooldown(mention: Mention, decision: RouteDecision, ctx: RoutingContext) -> str:
    last = ctx.last_thanked.get(mention.author.advocate_id)
    if decision.route != Route.THANK or last is None:
        return ""
    days = (ctx.now - last).days
    return (f"cooldown: thanked {days} day{'s' if days != 1 else ''} ago "
            f"(minimum {ctx.prefs.cooldown_days})")


def guard_platform_policy(mention: Mention, decision: RouteDecision,
                          ctx: RoutingContext) -> str:
    """Why the platform's policy forbids a brand reply to this mention ("" if allowed)."""
    if decision.route != Route.THANK:
        return ""
    target = mention.reply_target(brand_names=brand_names(ctx.config))
    return ctx.policies[mention.platform].reply_refusal(target)


# In order: the first guard that gives a reason stops the mention, with that reason.
GUARDS: tuple[tuple[str, Guard], ...] = (
    ("opted_out", guard_opted_out),
    ("suppressed", guard_suppressed),
    ("own_account", guard_own_account),
    ("care_already_proposed", guard_care_proposed),
    ("answer_already_proposed", guard_answer_proposed),
    ("already_thanked", guard_already_thanked),
    ("cooldown", guard_cooldown),
    ("platform_policy", guard_platform_policy),
)


def guards_check(mention: Mention, decision: RouteDecision, ctx: RoutingContext) -> str:
    """The first guard's reason not to propose anything for `mention` ("" if none applies)."""
    for _name, guard in GUARDS:
        reason = guard(mention, decision, ctx)
        if reason:
            return reason
    return ""


# --- proposals ----------------------------------------------------------------------------

class ProposalBuilder:
    """Builds the Outreach rows (and consent requests) for mentions every guard let through,
    then saves them in bulk with `save`."""

    def __init__(self, ctx: RoutingContext) -> None:
        self.ctx = ctx
        self.rows: list[Outreach] = []
        self.consent_records: list[ConsentRecord] = []
        self._consent_urls: dict[str, str] | None = None  # read when the first one is asked

    def add(self, mention: Mention, detection: Detection, decision: RouteDecision) -> str:
        """Propose for one mention; returns why nothing was proposed ("" if something was)."""
        if decision.route == Route.CARE:
            self._care(mention, detection, decision)
            return ""
        if decision.route == Route.ANSWER:
            self._answer(mention, detection, decision)
            return ""
        return self._thank(mention, detection)

    def _common(self, mention: Mention) -> dict[str, object]:
        return {"advocate_id": mention.author.advocate_id, "identity_id": mention.author.pk,
                "platform": mention.platform, "mention": mention}

    def _context(self, mention: Mention) -> dict[str, object]:
        return template_context(identity=mention.author, mention=mention,
                                brand=self.ctx.config.brand_name)

    def _care(self, mention: Mention, detection: Detection, decision: RouteDecision) -> None:
        prefs = self.ctx.prefs
        rendered = self.ctx.book.render(
            purpose="care", language=mention.language or detection.language,
            advocate_id=mention.author.advocate_id, context=self._context(mention))
        self.rows.append(Outreach(
            kind=OutreachKind.CARE, dedupe_key=f"care:{mention.pk}",
            proposed_text=rendered.text if rendered else "",
            template_key=rendered.template_key if rendered else "",
            template_variant=rendered.variant if rendered else None,
            reasons=[*detection.reasons, f"care: {detection.intent}, priority {decision.priority}"],
            priority=decision.priority,
            sla_due_at=mention.posted_at + timedelta(minutes=prefs.sla_minutes(
                kind="care", priority=decision.priority)),
            **self._common(mention)))

    def _answer(self, mention: Mention, detection: Detection, decision: RouteDecision) -> None:
        prefs = self.ctx.prefs
        answer, topic = self.ctx.book.render_answer(
            language=mention.language or detection.language, question=mention.text,
            advocate_id=mention.author.advocate_id, context=self._context(mention))
        why = f"answer: {topic}" if topic else "answer: no topic template matched"
        # Never dropped: without a live answer template staff write the answer.
        self.rows.append(Outreach(
            kind=OutreachKind.ANSWER, dedupe_key=f"answer:{mention.pk}",
            proposed_text=answer.text if answer else "",
            template_key=answer.template_key if answer else "",
            template_variant=answer.variant if answer else None,
            reasons=[*detection.reasons, f"{why}, priority {decision.priority}"],
            priority=decision.priority,
            sla_due_at=mention.posted_at + timedelta(minutes=prefs.sla_minutes(
                kind="answer", priority=decision.priority)),
            **self._common(mention)))

    def _thank(self, mention: Mention, detection: Detection) -> str:
        ctx, prefs = self.ctx, self.ctx.prefs
        author = mention.author
        advocate = author.advocate
        reasons = list(detection.reasons)
        context = self._context(mention)
        language = mention.language or detection.language
        common = self._common(mention)

        intent = detection.intent if detection.intent in ("praise", "checkin", "review") \
            else "praise"
        rendered = ctx.book.render(purpose=intent, language=language, advocate_id=advocate.pk,
                                   context=context)
        if rendered is None:
            return f"no live {intent} template"
        thank_you = Outreach(
            kind=OutreachKind.REPLY, dedupe_key=f"thank:{mention.pk}",
            proposed_text=rendered.text, template_key=rendered.template_key,
            template_variant=rendered.variant,
            reasons=[*reasons, f"thank-you for {intent}"], **common)
        self.rows.append(thank_you)
        # Within one batch the same advocate gets one thank-you: the cooldown starts now
        # (unless marketing turned the cooldown off).
        if prefs.cooldown_days:
            ctx.last_thanked[advocate.pk] = ctx.now

        policy = ctx.policies[mention.platform]
        if not (prefs.reshare_enabled and mention.kind in RESHAREABLE_KINDS and policy.reshare):
            return ""
        # The same check delivery makes: a rewarded author's post is reshared only with a
        # disclosure line, so not where a reshare carries no text.
        refusal = policy.reshare_refusal(
            disclosure_needed=advocate.reward_received_at is not None)
        if refusal:
            thank_you.reasons.append(f"no reshare: {refusal}")
            return ""
        needs_consent = (prefs.reshare_requires_consent or policy.reshare_needs_consent
                         or mention.platform in ctx.consent_required_platforms)
        if not needs_consent:
            line = reshare_disclosure_render(advocate=advocate, identity=author,
                                             mention=mention, brand=ctx.config.brand_name,
                                             now=ctx.now, book=ctx.book)
            self.rows.append(Outreach(
                kind=OutreachKind.RESHARE, dedupe_key=f"reshare:{mention.pk}",
                proposed_text=line.text if line else "",
                template_key=line.template_key if line else "",
                template_variant=line.variant if line else None,
                reasons=[*reasons, "reshare: no consent needed here",
                         *(["reshare: its author has received a reward: with "
                            "a disclosure line"] if line else [])],
                **common))
            return ""
        if policy.one_reply_per_post:
            # Asking for consent would be a second reply to the same post, which the platform
            # refuses: the thank-you goes out alone, and there is no reshare to propose.
            thank_you.reasons.append(
                f"no reshare: consent is needed and {policy.label} allows one reply per post")
            return ""
        if self._consent_urls is None:
            self._consent_urls = consent_page_urls()
        record = consent_request_record(mention=mention)
        consent_context = {**context, "consent_url": consent_url(
            urls=self._consent_urls, token=record.token, language=language)}
        asked = ctx.book.render(purpose="consent", language=language, advocate_id=advocate.pk,
                                context=consent_context)
        if asked is None:
            return ""
        self.consent_records.append(record)
        self.rows.append(Outreach(
            kind=OutreachKind.CONSENT, dedupe_key=f"consent:{mention.pk}",
            proposed_text=asked.text, template_key=asked.template_key,
            template_variant=asked.variant,
            reasons=[*reasons, "reshare needs the author's consent first"], **common))
        return ""

    def save(self) -> None:
        """Insert the consent requests and proposals; care items open their conversations."""
        if self.consent_records:
            # Only for mentions we have not asked about yet (their consent:<id> is new).
            asked_before = set(Outreach.objects.filter(
                dedupe_key__in=[f"consent:{r.mention_id}" for r in self.consent_records])
                .values_list("dedupe_key", flat=True))
            ConsentRecord.objects.bulk_create(
                [r for r in self.consent_records
                 if f"consent:{r.mention_id}" not in asked_before])
        conversations_for_care(rows=self.rows, now=self.ctx.now, prefs=self.ctx.prefs)
        outreach_bulk_propose(rows=self.rows, now=self.ctx.now)


def mentions_route(*, mentions: Sequence[Mention], detections: Sequence[Detection],
                   config: DetectorConfig, now: datetime) -> None:
    """Set `route` and `skip_reason` on each mention (the caller saves them) and propose.

    Precondition: runs inside the caller's transaction, with `mention.author.advocate`
    loaded. Proposals use dedupe keys "thank:<id>", "reshare:<id>", "consent:<id>",
    "care:<id>", "answer:<id>", so running it again for the same mentions proposes nothing
    twice. Care items and answers open or join their author's conversation, and every mention
    by someone with an unresolved conversation on its platform joins that thread.
    """
    if not mentions:
        return
    _propose(mentions=mentions, detections=detections, config=config, now=now)
    conversation_mentions_record(mentions=mentions, now=now)


def _propose(*, mentions: Sequence[Mention], detections: Sequence[Detection],
             config: DetectorConfig, now: datetime) -> None:
    prefs = DetectorSettings.load()
    handled = mentions_commands_handle(mentions=mentions, now=now)

    decisions: dict[int, tuple[Mention, Detection, RouteDecision]] = {}
    for mention, detection in zip(mentions, detections, strict=True):
        if mention.pk in handled:
            mention.route, mention.skip_reason = Route.NONE, handled[mention.pk][:200]
            continue
        decision = route_decide(mention_detection_input(mention), detection, config,
                                followers=mention.author.follower_count)
        mention.route, mention.skip_reason = decision.route, decision.skip_reason[:200]
        if decision.route != Route.NONE:
            decisions[mention.pk] = (mention, detection, decision)
    if not decisions:
        return

    ctx = RoutingContext.load(mentions=[m for m, _, _ in decisions.values()], config=config,
                              prefs=prefs, now=now)
    builder = ProposalBuilder(ctx)
    for mention, detection, decision in decisions.values():
        reason = guards_check(mention, decision, ctx) or builder.add(mention, detection,
                                                                     decision)
        if reason:
            mention.route, mention.skip_reason = Route.NONE, reason[:200]
    builder.save()
