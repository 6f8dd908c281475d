"""Disclosure watch: rewarded advocates who keep praising the brand must say they were rewarded.

A reward is a "material connection" (FTC Endorsement Guides, 16 CFR 255.5), and in Japan a
post the brand influenced must be recognisable as the brand's (the stealth-marketing
designation under the Premiums and Representations Act, in force since 1 October 2023). For
`RewardsSettings.disclosure_window_days` after a reward reached them, every new positive post of
the advocate is checked once for a disclosure marker (#ad, #PR, 広告…; per language in
Settings). An undisclosed one proposes a friendly private reminder, at most one per advocate
per week, in the words of marketing's "disclosure" reply template (EN and JA), that staff
approve like any message. See docs/compliance.md.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from advocates.models import DetectionLabel, Mention, Outreach, OutreachKind, SocialIdentity
from advocates.policies import dm_platforms
from advocates.services import outreach_propose
from advocates.services.templates import TemplateBook, template_context
from rewards.models import DisclosureCheck, GrantStatus, RewardGrant, RewardsSettings
from rewards.services.issuing import _private_identity_for

# Grants that reached the advocate: the reward is theirs from the moment it was delivered.
_RECEIVED = (GrantStatus.DELIVERED, GrantStatus.REDEEMED, GrantStatus.EXPIRED)
REMINDER_INTERVAL = timedelta(days=7)


def disclosure_marker_found(text: str, markers: Sequence[str]) -> str:
    """The first marker the text carries ("" if none).

    A hashtag marker counts as a whole tag ("#ad" but not "#adventure"; "＃" as "#"); a word
    marker as a whole word in Latin script ("ad" is not in "made") and anywhere in Japanese,
    which has no spaces ("広告" in "広告です").
    """
    text = (text or "").replace("＃", "#")
    for marker in markers:
        wanted = marker.strip().replace("＃", "#")
        if not wanted:
            continue
        before = r"(?<![\w#])" if wanted.startswith("#") or wanted.isascii() else ""
        after = r"(?!\w)" if wanted.startswith("#") or wanted.isascii() else ""
        if re.search(before + re.escape(wanted) + after, text, re.IGNORECASE):
            return marker.strip()
    return ""


def disclosures_check(*, now: datetime | None = None, limit: int = 2000) -> dict[str, int]:
    """Check rewarded advocates' new positive posts once each; propose reminders.

    Precondition: none (the periodic task calls it). Effects: one `DisclosureCheck` per post
    (its unique mention is the claim, so a re-run or a second worker checks nothing twice);
    for an undisclosed post, a `disclosure` outreach (a DM) unless the advocate had one in the
    last 7 days or cannot be messaged privately. Returns counts.
    """
    now = now or timezone.now()
    config = RewardsSettings.load()
    counts = {"checked": 0, "disclosed": 0, "reminders": 0, "no_private_channel": 0}
    if not config.disclosure_window_days:
        return counts
    grants: dict[int, list[RewardGrant]] = defaultdict(list)
    for grant in (RewardGrant.objects.filter(
            status__in=_RECEIVED, delivered_at__isnull=False,
            delivered_at__gte=now - timedelta(days=config.disclosure_window_days))
            .order_by("delivered_at")):
        grants[grant.advocate_id].append(grant)
    if not grants:
        return counts
    # Only posts made after a reward reached their author: the others would never get a
    # check row and, re-read on every run, would crowd out the new ones under `limit`.
    after_reward = Exists(RewardGrant.objects.filter(
        advocate_id=OuterRef("author__advocate_id"), status__in=_RECEIVED,
        delivered_at__lt=OuterRef("posted_at")))
    posts = (Mention.objects.filter(
        author__advocate_id__in=list(grants), detection_label=DetectionLabel.POSITIVE,
        posted_at__gte=now - timedelta(days=config.disclosure_window_days), posted_at__lte=now)
        .filter(after_reward)
        .exclude(pk__in=DisclosureCheck.objects.values("mention_id"))
        .select_related("author", "author__advocate").order_by("posted_at", "id")[:limit])
    for post in posts:
        advocate_id = post.author.advocate_id
        before = [g for g in grants[advocate_id]
                  if g.delivered_at is not None and g.delivered_at < post.posted_at]
        if not before:
            continue  # posted before the reward reached them
        marker = disclosure_marker_found(
            post.text, config.disclosure_markers("ja" if post.language == "ja" else "en"))
        outcome = _check_record(post=post, grant=before[-1], marker=marker, now=now)
        for key, n in outcome.items():
            counts[key] += n
    return counts


def _check_record(*, post: Mention, grant: RewardGrant, marker: str,
                  now: datetime) -> dict[str, int]:
    with transaction.atomic():
        check, created = DisclosureCheck.objects.get_or_create(
            mention=post, defaults={"advocate_id": post.author.advocate_id, "grant": grant,
                                    "disclosed": bool(marker), "marker": marker[:60],
                                    "checked_at": now})
        if not created:
            return {}
        if marker:
            return {"checked": 1, "disclosed": 1}
        advocate_id = post.author.advocate_id
        if Outreach.objects.filter(kind=OutreachKind.DISCLOSURE, advocate_id=advocate_id,
                                   created_at__gt=now - REMINDER_INTERVAL).exists():
            return {"checked": 1}  # a nudge a week at most, not nagging
        # Privately only: a public reminder would announce the person's reward to everyone.
        identity = post.author if post.platform in dm_platforms() else \
            _private_identity_for(advocate_id)
        if identity is None:
            return {"checked": 1, "no_private_channel": 1}
        reminder = _reminder_propose(post=post, identity=identity, now=now)
        if reminder is None:
            return {"checked": 1}
        DisclosureCheck.objects.filter(pk=check.pk).update(reminder=reminder)
        return {"checked": 1, "reminders": 1}


def _reminder_propose(*, post: Mention, identity: SocialIdentity, now: datetime
                      ) -> Outreach | None:
    advocate = post.author.advocate
    language = "ja" if post.language == "ja" else "en"
    context = template_context(identity=identity, mention=post, brand=settings.KANSHA_BRAND_NAME)
    # Marketing's live "disclosure" template in the post's language, else the built-in words.
    rendered = TemplateBook(advocate_ids=[advocate.pk], now=now, purposes=["disclosure"]
                            ).render_required(purpose="disclosure", language=language,
                                              advocate_id=advocate.pk, context=context)
    iso_year, iso_week, _ = now.isocalendar()
    return outreach_propose(
        kind=OutreachKind.DISCLOSURE, advocate=advocate, identity=identity,
        platform=identity.platform, mention=post, priority=10,
        # One per advocate per calendar week even if two watches race.
        dedupe_key=f"disclosure:{advocate.pk}:{iso_year}-W{iso_week:02d}",
        text=rendered.text, template_key=rendered.template_key,
        template_variant=rendered.variant,
        reasons=[f"disclosure reminder: post {post.external_id} after a reward, "
                 "no #ad / #PR"])
