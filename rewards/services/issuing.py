"""Issuing a grant: its code (local or a Stripe promotion code) and the message that delivers it.

Persist first, call out after: the code text and expiry are stored on a `DiscountCode` row
under the grant's lock before Stripe is called, so every retry sends identical parameters
with the idempotency key `grant-<id>-promo` and Stripe answers with the same promotion code.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from advocates.models import (
    AdvocacyEvent,
    BrandAccount,
    Mention,
    Outreach,
    SocialIdentity,
    TemplatePurpose,
)
from advocates.policies import dm_platforms
from advocates.services import outreach_propose
from advocates.services.consent import own_page_url
from advocates.services.deadletters import (
    dead_letter_error,
    dead_letter_record,
    dead_letter_replayer_register,
    dead_letter_skip_keys,
)
from advocates.services.templates import (
    TemplateBook,
    template_context,
    template_render,
)
from advocates.template_text import template_text_render, template_text_variables
from rewards import codes, selectors, stripe_client
from rewards.models import (
    CodeProvider,
    DiscountCode,
    DiscountType,
    GrantStatus,
    RewardGrant,
    RewardKind,
    StripeCoupon,
)
from rewards.services.grant_states import grant_transition
from rewards.signals import grant_code_revoked

logger = logging.getLogger(__name__)

DEFAULT_TEXT: dict[str, dict[str, str]] = {  # keyed by language, then RewardKind (a str)
    "en": {
        RewardKind.DISCOUNT: "Thank you for being such a great supporter, {first_name}! Here is "
                             "{reward} your next order at {brand}: {code} (valid until "
                             "{expires}).",
        RewardKind.PERK: "Thank you for being such a great supporter, {first_name}! You have "
                         "earned {reward} from {brand}. We will be in touch about it.",
    },
    "ja": {
        RewardKind.DISCOUNT: "{first_name}さん、いつも{brand}を応援してくださり"
                             "ありがとうございます！次回のご注文で使える{reward}のコードです：{code}（{expires}まで有効）",
        RewardKind.PERK: "{first_name}さん、いつも{brand}を応援してくださり"
                         "ありがとうございます！{reward}をお贈りします。詳細は追ってご連絡します。",
    },
}


class IssueError(Exception):
    """Issuing failed for good (the task does not retry); the grant keeps `last_error`."""


def _provider() -> str:
    return CodeProvider.STRIPE if stripe_client.enabled() else CodeProvider.LOCAL


def _code_row(grant: RewardGrant, now: datetime) -> DiscountCode:
    """The grant's code row, made once (its text and expiry are then fixed for retries)."""
    existing = DiscountCode.objects.filter(grant=grant).first()
    if existing is not None:
        return existing
    r = grant.snapshot
    expires = now + timedelta(days=r.code_expiry_days or 30)
    provider = _provider()
    # Restricted to the advocate's Stripe customer when we know it. Stored on the row like
    # the code text, so every retry sends the same parameters with the same key.
    customer = (selectors.stripe_customer_id(advocate_id=grant.advocate_id)
                if provider == CodeProvider.STRIPE else "")
    for _ in range(3):
        try:
            with transaction.atomic():
                return DiscountCode.objects.create(
                    grant=grant, provider=provider, stripe_customer_id=customer,
                    code=codes.code_generate_unique(model=DiscountCode),
                    discount_type=r.discount_type or DiscountType.PERCENT,
                    percent_off=r.percent_off if r.discount_type == DiscountType.PERCENT
                    else None,
                    amount_off_minor=r.amount_off_minor if r.discount_type ==
                    DiscountType.AMOUNT else None,
                    currency=grant.currency, minimum_order_minor=r.minimum_order_minor,
                    max_redemptions=1 if r.single_use else None,
                    expires_at=expires, created_at=now)
        except IntegrityError:
            continue  # a code clash (vanishingly rare): draw again
    raise IssueError("could not store a unique code")


def _coupon_id(grant: RewardGrant) -> str:
    """The Stripe coupon of the grant's rule revision, created once per revision."""
    r = grant.snapshot
    version = str(r.revision or 0)
    found = StripeCoupon.objects.filter(rule_id=grant.rule_id, version=version).first()
    if found:
        return found.coupon_id
    coupon_id = stripe_client.coupon_create(
        rule_id=grant.rule_id, version=version,
        percent_off=r.percent_off if r.discount_type == DiscountType.PERCENT
        else None, amount_off_minor=r.amount_off_minor, currency=grant.currency,
        name=r.rule_name)
    # Two workers may both get here; the idempotency key gave them the same coupon.
    StripeCoupon.objects.bulk_create(
        [StripeCoupon(rule_id=grant.rule_id, version=version, coupon_id=coupon_id)],
        ignore_conflicts=True)
    return coupon_id


def _fail(grant_id: int, error: str) -> None:
    RewardGrant.objects.filter(pk=grant_id).update(last_error=error[:2000])


GRANT_ISSUE_TASK = "grant_issue"  # the dead letters of grants that could not be issued


def grant_issue(*, grant_id: int, now: datetime | None = None) -> RewardGrant:
    """approved → issued: make the grant's code (or perk fulfilment) and propose its message.

    A grant not `approved` is returned unchanged (already issued, or waiting for approval).
    Raises `stripe_client.StripeTransientError` for a failure worth retrying (the caller
    retries with the same grant id, hence the same idempotency key). Any other failure (a
    code row that cannot be built, `StripePermanentError`, IssueError) needs a person: the
    grant stays approved with `last_error`, is set aside as a dead letter ("grant_issue")
    that the stale sweep skips, and the error is re-raised (the task fails, and is not
    retried). One bad grant never stops the others of its batch: the `grants_issue` task
    queues one `grant_issue` task each.
    """
    try:
        return _grant_issue(grant_id=grant_id, now=now)
    except stripe_client.StripeTransientError:
        raise
    except Exception as exc:
        error = dead_letter_error(exc)
        _fail(grant_id, error)
        dead_letter_record(task=GRANT_ISSUE_TASK, key=grant_id, payload={"grant_id": grant_id},
                           error=error)
        raise


def grant_issue_replay(payload: dict[str, Any]) -> RewardGrant:
    """Replay a "grant_issue" dead letter: issue that grant once (a grant already issued is
    left alone). Raises if it still fails."""
    return _grant_issue(grant_id=int(payload["grant_id"]))


dead_letter_replayer_register(GRANT_ISSUE_TASK, grant_issue_replay)


def _grant_issue(*, grant_id: int, now: datetime | None = None) -> RewardGrant:
    now = now or timezone.now()
    with transaction.atomic():
        grant = RewardGrant.objects.select_for_update().get(pk=grant_id)
        if grant.status != GrantStatus.APPROVED:
            return grant
        RewardGrant.objects.filter(pk=grant_id).update(issue_attempts=F("issue_attempts") + 1)
        code = _code_row(grant, now) if grant.reward_kind == RewardKind.DISCOUNT else None

    if code is not None and code.provider == CodeProvider.STRIPE and \
            not code.stripe_promotion_code_id:
        try:
            coupon_id = code.stripe_coupon_id or _coupon_id(grant)
            # _code_row, the one code-row builder, always stores an expiry.
            if code.expires_at is None:
                raise IssueError(f"code of grant #{grant.pk} has no expiry")
            result = stripe_client.promotion_code_create(
                grant_id=grant.pk, coupon_id=coupon_id, code=code.code,
                expires_at=code.expires_at, max_redemptions=code.max_redemptions,
                customer=code.stripe_customer_id, minimum_amount_minor=code.minimum_order_minor,
                currency=code.currency)
        except (stripe_client.StripeTransientError, stripe_client.StripePermanentError) as exc:
            _fail(grant_id, f"{type(exc).__name__}: {exc}")
            raise
        DiscountCode.objects.filter(pk=code.pk).update(
            stripe_promotion_code_id=result.id, stripe_coupon_id=result.coupon_id)

    with transaction.atomic():
        moved = grant_transition(
            [grant_id], from_=(GrantStatus.APPROVED,), to=GrantStatus.ISSUED, issued_at=now,
            last_error="", expires_at=code.expires_at if code is not None else None)
    grant.refresh_from_db()
    if moved:
        grant_message_propose(grant=grant, now=now)
    elif grant.status == GrantStatus.REVOKED and code is not None and \
            code.provider == CodeProvider.STRIPE:
        # Revoked while Stripe was making the code: the revocation's own switch-off found no
        # promotion code yet, so this one is switched off now.
        transaction.on_commit(lambda: grant_code_revoked.send(sender=RewardGrant,
                                                              grant_id=grant_id), robust=True)
    return grant


# --- The message ---------------------------------------------------------------------------


def _identity_for(grant: RewardGrant
                  ) -> tuple[SocialIdentity | None, Mention | None, str]:
    """Who to message: the identity behind the triggering mention, else the newest one."""
    event = (AdvocacyEvent.objects.select_related("mention__author")
             .filter(pk=grant.trigger_event_id).first() if grant.trigger_event_id else None)
    if event is not None and event.mention is not None:
        return event.mention.author, event.mention, event.platform
    identity = (SocialIdentity.objects.filter(advocate_id=grant.advocate_id)
                .order_by("-updated_at", "-id").first())
    return identity, None, identity.platform if identity else ""


def _private_identities() -> QuerySet[SocialIdentity]:
    """Identities the brand can message privately: a platform whose policy allows direct
    messages, where the brand has an active account to send from."""
    return SocialIdentity.objects.filter(platform__in=dm_platforms()).filter(
        platform__in=BrandAccount.objects.filter(active=True).values("platform"))


def _private_identity_for(advocate_id: int) -> SocialIdentity | None:
    """The advocate's identity we can DM (the most recently seen), or None."""
    return (_private_identities().filter(advocate_id=advocate_id)
            .order_by("-updated_at", "-id").first())


def grant_message_text(*, grant: RewardGrant, identity: SocialIdentity, mention: Mention | None,
                       now: datetime) -> tuple[str, str, int | None]:
    """(text, template_key, variant) of the reward message, in the advocate's language (that
    of `mention`, the post that earned it)."""
    language = "ja" if (mention is not None and mention.language == "ja") else "en"
    code = getattr(grant, "code", None) if grant.reward_kind == RewardKind.DISCOUNT else None
    extra = {"code": code.code if code else "", "reward": grant.describe(language),
             "expires": f"{grant.expires_at:%Y-%m-%d}" if grant.expires_at else "",
             "page_url": own_page_url(grant.advocate)}
    brand = settings.KANSHA_BRAND_NAME
    context = template_context(identity=identity, mention=mention, brand=brand, extra=extra)
    needs_code = grant.reward_kind == RewardKind.DISCOUNT

    def fits(text: str) -> bool:
        # A discount message without its code gives nothing; a perk message with {code}
        # would show a blank. The rule's clean() refuses such templates, but a template can
        # be edited after the rule was saved, so the variants are checked again here.
        return ("code" in template_text_variables(text)) == needs_code

    template = grant.rule.message_template
    if template is not None and template.live and template.purpose == TemplatePurpose.REWARD:
        # Rotated per person like the thank-yous, remembered under the rule's own key.
        key = f"reward/rule-{grant.rule_id}"
        book = TemplateBook(advocate_ids=[grant.advocate_id], now=now,
                            templates={key: [v.text for v in template.variants.all()]})
        rendered = book.render_key(key=key, advocate_id=grant.advocate_id, context=context,
                                   accept=fits)
        if rendered is not None:
            return rendered.text, rendered.template_key, rendered.variant
    rendered = template_render(purpose="reward", language=language,
                               advocate_id=grant.advocate_id, identity=identity,
                               mention=mention, brand=brand, extra=extra, now=now, accept=fits)
    if rendered is not None:
        return rendered.text, rendered.template_key, rendered.variant
    return (template_text_render(DEFAULT_TEXT[language][grant.reward_kind], context),
            "", None)


def grant_message_propose(*, grant: RewardGrant, now: datetime | None = None
                          ) -> Outreach | None:
    """Put the direct message that delivers this grant into the approval queue (once per
    grant), or hold the grant until the advocate can be messaged privately.

    Rewards are only ever delivered in private. When the post that earned the grant is on
    a platform whose policy has no DMs (a Google review, a Foursquare check-in),
    the message goes to the advocate's identity on a platform we can DM instead, in the
    language of that post; if they have none, nothing is proposed and the grant is marked
    `private_channel_wait_since` (staff see it on the dashboard and the grant list, and the
    periodic `grants_message_missing` proposes the DM once such an identity appears). A
    public reply there would publish the code to everyone, and on Google it would replace
    the thank-you already posted as the review's one owner reply.

    The queue's dedupe key `grant:<id>` makes a re-run propose nothing new; the outreach is
    linked and the hold cleared. Returns None when nothing is in the queue for the grant.
    """
    now = now or timezone.now()
    identity, mention, platform = _identity_for(grant)
    if identity is None:
        _fail(grant.pk, "the advocate has no social identity to message")
        return None
    if platform not in dm_platforms():
        identity = _private_identity_for(grant.advocate_id)
        if identity is None:
            RewardGrant.objects.filter(pk=grant.pk, private_channel_wait_since__isnull=True
                                       ).update(private_channel_wait_since=now)
            return None
        platform = identity.platform
    text, key, variant = grant_message_text(grant=grant, identity=identity, mention=mention,
                                            now=now)
    outreach = outreach_propose(
        kind="dm", advocate=grant.advocate, identity=identity, platform=platform,
        dedupe_key=f"grant:{grant.pk}", text=text, reasons=[f"reward: {grant.rule.name}"],
        template_key=key, template_variant=variant, priority=20)
    if outreach is None:
        outreach = Outreach.objects.filter(dedupe_key=f"grant:{grant.pk}").first()
    if outreach is not None:
        RewardGrant.objects.filter(pk=grant.pk, outreach__isnull=True).update(
            outreach=outreach, private_channel_wait_since=None)
    return outreach


def grants_message_missing(*, limit: int = 500) -> int:
    """Periodic: propose the message of issued grants that have none (e.g. a crash between
    issuing and proposing), and of grants held for a private channel
    whose advocate now has one. Grants still waiting are not looked at again (they would
    crowd out the rest)."""
    can_dm = Exists(_private_identities().filter(advocate_id=OuterRef("advocate_id")))
    done = 0
    for grant in (RewardGrant.objects.filter(status=GrantStatus.ISSUED, outreach__isnull=True)
                  .filter(Q(private_channel_wait_since__isnull=True) | Q(can_dm))
                  .select_related("rule", "advocate", "code")[:limit]):
        if grant_message_propose(grant=grant) is not None:
            done += 1
    return done


def grants_approved_stale_ids(*, older_than: timedelta = timedelta(minutes=5),
                              limit: int = 1000) -> list[int]:
    """Approved grants nobody issued (a lost task); the sweep re-enqueues them. Grants set
    aside as dead letters (open or discarded) are not."""
    cutoff = timezone.now() - older_than
    set_aside = [int(key) for key in dead_letter_skip_keys(task=GRANT_ISSUE_TASK)]
    return list(RewardGrant.objects.filter(status=GrantStatus.APPROVED,
                                           approved_at__lt=cutoff)
                .exclude(pk__in=set_aside).values_list("id", flat=True)[:limit])
