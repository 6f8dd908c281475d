"""Routing (step 3): turn detections into Outreach proposals, guards first.

Called by `services.mentions_detect` inside its transaction, for batches of up to 500
mentions. Per batch it runs a fixed number of queries (settings, brand accounts, opt-outs and
cooldowns, existing proposals, templates) and inserts every proposal in bulk.

Order, for each mention:
1. the advocate's answers to us ("stop", "#yes", "#no") are acted on and routed nowhere;
2. `route_decide` (content: thank, care or nothing, with why);
3. database guards, first that applies wins and is recorded in `skip_reason`: opted out,
   the brand's own account, one thank-you per mention, per-advocate cooldown, the platform's
   policy (its automation rule and the kinds it lets a brand answer: the same
   `PlatformPolicy.reply_refusal` delivery asks);
4. proposals: a thank-you reply (+ a reshare, or a consent request first where consent is
   required), a care item for a complaint, or an answer for a question (with the answer
   template its words pick). Care items and answers carry a priority and an SLA due time
   counted from when the person posted, not from when Kansha found the post.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from advocates.routing_rules import brand_names, route_decide
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


def _platform_rule(mention: Mention, config: DetectorConfig, policy: PlatformPolicy) -> str:
    """Why the platform's policy forbids a brand reply to this mention ("" if allowed)."""
    return policy.reply_refusal(mention.reply_target(brand_names=brand_names(config)))


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

    decisions = {}
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

    # --- one query each: own accounts, existing proposals, recent thank-yous -------------
    routed = [m for m, _, _ in decisions.values()]
    advocate_ids = {m.author.advocate_id for m in routed}
    own_ids: set[tuple[str, str]] = set()
    own_handles = {h.lower().lstrip("@") for h in config.own_handles}
    for platform, user_id, handle in BrandAccount.objects.values_list(
            "platform", "platform_user_id", "handle"):
        if user_id:
            own_ids.add((platform, user_id))
        if handle:
            own_handles.add(handle.lower().lstrip("@"))
    keys = [f"{prefix}:{m.pk}" for m in routed for prefix in ("thank", "care", "answer")]
    existing = set(Outreach.objects.filter(dedupe_key__in=keys)
                   .values_list("dedupe_key", flat=True))
    cooldown = timedelta(days=prefs.cooldown_days)
    last_thanked: dict[int, datetime] = dict(
        Outreach.objects.filter(advocate_id__in=advocate_ids, kind=OutreachKind.REPLY,
                                dedupe_key__startswith="thank:", created_at__gte=now - cooldown)
        .exclude(status=OutreachStatus.REJECTED)
        .values_list("advocate_id").annotate(last=Max("created_at")).order_by()
    )

    policies = {p: policy_for(p) for p in {m.platform for m in routed}}
    suppressed = suppressed_identity_ids(identities=[m.author for m, _, _ in decisions.values()])
    consent_required_by_account = {
        platform for platform, config_json in BrandAccount.objects.filter(active=True)
        .values_list("platform", "config") if (config_json or {}).get("reshare_needs_consent")
    }
    book = TemplateBook(advocate_ids=advocate_ids, now=now)
    consent_urls: dict[str, str] | None = None

    rows: list[Outreach] = []
    consent_records: list[ConsentRecord] = []
    for mention, detection, decision in decisions.values():
        author = mention.author
        advocate = author.advocate
        handle = (author.handle or "").lower().lstrip("@")
        if advocate.opted_out_at is not None:
            reason = "advocate opted out"
        elif author.pk in suppressed:
            reason = SUPPRESSED_REASON
        elif (mention.platform, author.platform_user_id) in own_ids or handle in own_handles:
            reason = "brand's own account"
        elif decision.route == Route.CARE:
            reason = "care item already proposed" if f"care:{mention.pk}" in existing else ""
        elif decision.route == Route.ANSWER:
            reason = "answer already proposed" if f"answer:{mention.pk}" in existing else ""
        elif f"thank:{mention.pk}" in existing:
            reason = "already thanked for this mention"
        elif advocate.pk in last_thanked:
            days = (now - last_thanked[advocate.pk]).days
            reason = (f"cooldown: thanked {days} day{'s' if days != 1 else ''} ago "
                      f"(minimum {prefs.cooldown_days})")
        else:
            reason = _platform_rule(mention, config, policies[mention.platform])
        if reason:
            mention.route, mention.skip_reason = Route.NONE, reason[:200]
            continue

        reasons = list(detection.reasons)
        context = template_context(identity=author, mention=mention, brand=config.brand_name)
        language = mention.language or detection.language
        common = {"advocate_id": advocate.pk, "identity_id": author.pk,
                  "platform": mention.platform, "mention": mention}

        if decision.route == Route.CARE:
            rendered = book.render(purpose="care", language=language, advocate_id=advocate.pk,
                                   context=context)
            rows.append(Outreach(
                kind=OutreachKind.CARE, dedupe_key=f"care:{mention.pk}",
                proposed_text=rendered.text if rendered else "",
                template_key=rendered.template_key if rendered else "",
                template_variant=rendered.variant if rendered else None,
                reasons=[*reasons, f"care: {detection.intent}, priority {decision.priority}"],
                priority=decision.priority,
                sla_due_at=mention.posted_at + timedelta(minutes=prefs.sla_minutes(
                    kind="care", priority=decision.priority)),
                **common))
            continue

        if decision.route == Route.ANSWER:
            answer, topic = book.render_answer(language=language, question=mention.text,
                                               advocate_id=advocate.pk, context=context)
            why = f"answer: {topic}" if topic else "answer: no topic template matched"
            # Never dropped: without a live answer template staff write the answer.
            rows.append(Outreach(
                kind=OutreachKind.ANSWER, dedupe_key=f"answer:{mention.pk}",
                proposed_text=answer.text if answer else "",
                template_key=answer.template_key if answer else "",
                template_variant=answer.variant if answer else None,
                reasons=[*reasons, f"{why}, priority {decision.priority}"],
                priority=decision.priority,
                sla_due_at=mention.posted_at + timedelta(minutes=prefs.sla_minutes(
                    kind="answer", priority=decision.priority)),
                **common))
            continue

        intent = detection.intent if detection.intent in ("praise", "checkin", "review") \
            else "praise"
        rendered = book.render(purpose=intent, language=language, advocate_id=advocate.pk,
                               context=context)
        if rendered is None:
            mention.route, mention.skip_reason = Route.NONE, f"no live {intent} template"
            continue
        rows.append(Outreach(
            kind=OutreachKind.REPLY, dedupe_key=f"thank:{mention.pk}",
            proposed_text=rendered.text, template_key=rendered.template_key,
            template_variant=rendered.variant,
            reasons=[*reasons, f"thank-you for {intent}"], **common))
        # Within one batch the same advocate gets one thank-you: the cooldown starts now
        # (unless marketing turned the cooldown off).
        if prefs.cooldown_days:
            last_thanked[advocate.pk] = now

        policy = policies[mention.platform]
        if not (prefs.reshare_enabled and mention.kind in RESHAREABLE_KINDS and policy.reshare):
            continue
        # The same check delivery makes: a rewarded author's post is reshared only with a
        # disclosure line, so not where a reshare carries no text.
        refusal = policy.reshare_refusal(
            disclosure_needed=advocate.reward_received_at is not None)
        if refusal:
            rows[-1].reasons.append(f"no reshare: {refusal}")
            continue
        needs_consent = (prefs.reshare_requires_consent or policy.reshare_needs_consent
                         or mention.platform in consent_required_by_account)
        if not needs_consent:
            line = reshare_disclosure_render(advocate=advocate, identity=author,
                                             mention=mention, brand=config.brand_name, now=now,
                                             book=book)
            rows.append(Outreach(kind=OutreachKind.RESHARE, dedupe_key=f"reshare:{mention.pk}",
                                 proposed_text=line.text if line else "",
                                 template_key=line.template_key if line else "",
                                 template_variant=line.variant if line else None,
                                 reasons=[*reasons, "reshare: no consent needed here",
                                          *(["reshare: its author has received a reward: with "
                                             "a disclosure line"] if line else [])],
                                 **common))
            continue
        if policy.one_reply_per_post:
            # Asking for consent would be a second reply to the same post, which the platform
            # refuses: the thank-you goes out alone, and there is no reshare to propose.
            rows[-1].reasons.append(
                f"no reshare: consent is needed and {policy.label} allows one reply per post")
            continue
        if consent_urls is None:
            consent_urls = consent_page_urls()
        record = consent_request_record(mention=mention)
        consent_context = {**context, "consent_url": consent_url(
            urls=consent_urls, token=record.token, language=language)}
        asked = book.render(purpose="consent", language=language, advocate_id=advocate.pk,
                            context=consent_context)
        if asked is None:
            continue
        consent_records.append(record)
        rows.append(Outreach(
            kind=OutreachKind.CONSENT, dedupe_key=f"consent:{mention.pk}",
            proposed_text=asked.text, template_key=asked.template_key,
            template_variant=asked.variant,
            reasons=[*reasons, "reshare needs the author's consent first"], **common))

    if consent_records:
        # Only for mentions we have not asked about yet (their consent:<id> is new).
        asked_before = set(Outreach.objects.filter(
            dedupe_key__in=[f"consent:{r.mention_id}" for r in consent_records])
            .values_list("dedupe_key", flat=True))
        ConsentRecord.objects.bulk_create(
            [r for r in consent_records if f"consent:{r.mention_id}" not in asked_before])
    conversations_for_care(rows=rows, now=now, prefs=prefs)
    outreach_bulk_propose(rows=rows, now=now)
