"""Personal data: export and erasure of one advocate, and the raw-payload retention purge.

What Kansha holds about a person lives in two apps. `advocates` owns identities, mentions,
detections, outreach, consents and advocacy events; `rewards` owns points, tiers, grants, codes
and redemptions. `advocates` never imports `rewards`, so the other side plugs in as a
*privacy provider*: a module named in `settings.KANSHA_PRIVACY_PROVIDERS` that offers

    advocate_export(*, advocate_ids: list[int]) -> dict      (a JSON-ready section)
    advocate_erase(*, advocate_ids: list[int], pseudonym: str) -> dict[str, int]   (counts)
    raw_payloads_purge(*, cutoff: datetime) -> dict[str, int]                        (counts)

The entry points here (`advocate_export`, `advocate_erase`, `raw_payloads_purge`) cover every
provider, inside one transaction for erasure, so commands and admin actions call one function.

Erasure pseudonymises rather than deletes: finance rows (grants, codes, redemptions, points)
keep pointing at the same `Advocate` row, now named by a pseudonym, so every total holds. The
schema has no `erased_at` column yet; the marker is `Advocate.opted_out_at` +
`opt_out_source="erased"` (so the person is never contacted again) and the pseudonym in
`display_name`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import Model, QuerySet
from django.utils import timezone
from wagtail.log_actions import log
from wagtail.models import ModelLogEntry
from wagtail.search import index

from advocates.models import (
    AdvocacyEvent,
    Advocate,
    ConsentRecord,
    Conversation,
    ConversationMessage,
    DetectorExample,
    Mention,
    Outreach,
    OutreachLog,
    SandboxPost,
    SocialIdentity,
    Suppression,
    WebhookDelivery,
)

if TYPE_CHECKING:
    from advocates.actors import Actor

logger = logging.getLogger(__name__)

ERASED_SOURCE = "erased"
EXPORT_FORMAT = "kansha.advocate-export/1"
_PURGE_CHUNK = 5_000


def privacy_providers() -> list[ModuleType]:
    """The modules of other apps that hold personal data (settings.KANSHA_PRIVACY_PROVIDERS)."""
    return [import_module(path) for path in getattr(settings, "KANSHA_PRIVACY_PROVIDERS", [])]


def _rows(queryset: QuerySet[Model]) -> list[dict[str, Any]]:
    return list(queryset.order_by("pk").values())


def advocate_pseudonym(*, advocate_id: int) -> str:
    """A stable, non-reversible name for an erased advocate (HMAC of the id with SECRET_KEY).

    Stable so finance can still tell "the same (erased) person" apart across exports; keyed
    so nobody can map it back by hashing ids.
    """
    digest = hmac.new(settings.SECRET_KEY.encode(), f"advocate:{advocate_id}".encode(),
                      hashlib.sha256).hexdigest()
    return f"erased-{digest[:16]}"


def _erased_value(*, kind: str, value: str) -> str:
    digest = hmac.new(settings.SECRET_KEY.encode(), f"{kind}:{value}".encode(),
                      hashlib.sha256).hexdigest()
    return f"erased-{digest[:24]}"


def _advocate_ids(advocate: Advocate) -> list[int]:
    """The advocate and every advocate merged into it (their history is the same person's)."""
    ids = [advocate.pk]
    frontier = [advocate.pk]
    while frontier:
        frontier = list(Advocate.objects.filter(merged_into_id__in=frontier)
                        .exclude(pk__in=ids).values_list("pk", flat=True))
        ids.extend(frontier)
    return ids


def advocate_export(*, advocate_id: int) -> dict[str, Any]:
    """Everything Kansha holds about one advocate, as a JSON-ready dict (subject access).

    Covers the advocate (and advocates merged into it), identities, mentions with their raw
    payloads and detections, outreach with its history, consent records, advocacy events,
    sandbox posts addressed to them, and each privacy provider's section (rewards: points,
    tiers, grants, codes, redemptions). Read-only. Raises Advocate.DoesNotExist.
    """
    advocate = Advocate.objects.get(pk=advocate_id)
    ids = _advocate_ids(advocate)
    identities = SocialIdentity.objects.filter(advocate_id__in=ids)
    identity_ids = list(identities.values_list("pk", flat=True))
    mentions = Mention.objects.filter(author_id__in=identity_ids)
    outreach = Outreach.objects.filter(advocate_id__in=ids)
    handles = [h for h in identities.values_list("handle", flat=True) if h]
    external_ids = list(mentions.values_list("external_id", flat=True))
    data: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "exported_at": timezone.now(),
        "advocate": _rows(Advocate.objects.filter(pk__in=ids)),
        "identities": _rows(identities),
        "mentions": _rows(mentions),
        "outreach": _rows(outreach),
        "outreach_log": _rows(OutreachLog.objects.filter(outreach__in=outreach)),
        "consents": _rows(ConsentRecord.objects.filter(advocate_id__in=ids)),
        "conversations": _rows(Conversation.objects.filter(advocate_id__in=ids)),
        "conversation_messages": _rows(ConversationMessage.objects.filter(
            conversation__advocate_id__in=ids)),
        "detector_examples": _rows(DetectorExample.objects.filter(advocate_id__in=ids)),
        "advocacy_events": _rows(AdvocacyEvent.objects.filter(advocate_id__in=ids)),
        "sandbox_posts": _rows(SandboxPost.objects.filter(target_handle__in=handles)
                               | SandboxPost.objects.filter(in_reply_to__in=external_ids)),
    }
    for provider in privacy_providers():
        data.update(provider.advocate_export(advocate_ids=ids))
    # Round-trip through the encoder so the caller gets plain JSON types (datetimes as ISO).
    plain: dict[str, Any] = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    return plain


@dataclass
class ErasureResult:
    advocate_id: int
    pseudonym: str
    counts: dict[str, int] = field(default_factory=dict)


def advocate_erase(*, advocate_id: int, user: Actor = None) -> ErasureResult:
    """Erase one advocate's personal data; keep what finance needs under a pseudonym.

    Preconditions: none (erasing twice is harmless: the second run finds nothing to blank).
    Effects, in one transaction with the advocate row locked:
    - advocate (and advocates merged into it): display name → pseudonym, notes and flag reason
      cleared, opted out with source "erased" so nothing is ever proposed to them again;
    - identities: handle → pseudonym, name, profile URL, follower count and account dates
      cleared, platform user id → keyed hash (a later post by the same account arrives as a
      new, unknown person), and the account is suppressed: a `Suppression` row keyed by a
      hash of (platform, platform user id) stops any proposal to it until staff lift it;
    - mentions: text, URL, venue, raw payload and detection reasons cleared, external id →
      keyed hash; labels and intents stay (they are not personal and feed the counts);
    - outreach: proposed and final texts, reasons, result URL and errors blanked; history
      details cleared; consent evidence cleared; sandbox posts to them blanked; the
      detector's examples from their posts deleted;
    - each privacy provider erases its side (rewards: grants, codes and redemptions kept
      under the pseudonym with their amounts);
    - the search index is refreshed and the erasure is audited (under the pseudonym).
    """
    with transaction.atomic():
        advocate = Advocate.objects.select_for_update().get(pk=advocate_id)
        pseudonym = advocate_pseudonym(advocate_id=advocate.pk)
        ids = _advocate_ids(advocate)
        now = timezone.now()
        counts: dict[str, int] = {}

        identities = list(SocialIdentity.objects.select_for_update()
                          .filter(advocate_id__in=ids).order_by("pk"))
        handles = [i.handle for i in identities if i.handle]
        counts["suppressions"] = _suppress_accounts(identities, now=now)
        for identity in identities:
            identity.handle = pseudonym
            identity.display_name = ""
            identity.profile_url = ""
            identity.follower_count = None
            identity.verified = False
            identity.account_created_at = None
            if not identity.platform_user_id.startswith("erased-"):
                # The row's id is in the hash: an account erased, back, and erased again has
                # two erased rows, which must not collide on (platform, platform_user_id). The
                # account itself is recognised through its `Suppression`, not through this.
                identity.platform_user_id = _erased_value(
                    kind=f"user:{identity.platform}:{identity.pk}",
                    value=identity.platform_user_id)
            identity.updated_at = now
        SocialIdentity.objects.bulk_update(
            identities, ["handle", "display_name", "profile_url", "follower_count", "verified",
                         "account_created_at", "platform_user_id", "updated_at"])
        counts["identities"] = len(identities)

        mentions = list(Mention.objects.select_for_update()
                        .filter(author_id__in=[i.pk for i in identities]).order_by("pk"))
        external_ids = [m.external_id for m in mentions]
        for mention in mentions:
            mention.text = ""
            mention.url = ""
            mention.venue = ""
            mention.raw = {}
            mention.in_reply_to = ""
            mention.detection_reasons = []
            if not mention.external_id.startswith("erased-"):
                mention.external_id = _erased_value(kind=f"mention:{mention.platform}",
                                                    value=mention.external_id)
        Mention.objects.bulk_update(
            mentions, ["text", "url", "venue", "raw", "in_reply_to", "detection_reasons",
                       "external_id"], batch_size=1000)
        counts["mentions"] = len(mentions)

        outreach = Outreach.objects.filter(advocate_id__in=ids)
        counts["outreach"] = outreach.update(proposed_text="", final_text="", reasons=[],
                                             platform_result_url="", last_error="",
                                             updated_at=now)
        counts["outreach_log"] = OutreachLog.objects.filter(outreach__in=outreach).update(
            detail={})
        counts["consents"] = ConsentRecord.objects.filter(advocate_id__in=ids).update(
            evidence={})
        # Their words and ours in care threads (DMs included); outcomes and times stay for
        # the care report.
        counts["conversation_messages"] = ConversationMessage.objects.filter(
            conversation__advocate_id__in=ids).update(text="", raw={})
        # The detector learns from words: an erased person's posts stop teaching it.
        counts["detector_examples"] = DetectorExample.objects.filter(
            advocate_id__in=ids).delete()[0]
        counts["sandbox_posts"] = (
            SandboxPost.objects.filter(target_handle__in=handles)
            | SandboxPost.objects.filter(in_reply_to__in=external_ids)
        ).update(text="", target_handle=pseudonym, in_reply_to="")

        for provider in privacy_providers():
            counts.update(provider.advocate_erase(advocate_ids=ids, pseudonym=pseudonym))

        for person in Advocate.objects.select_for_update().filter(pk__in=ids):
            person.display_name = pseudonym
            person.notes = ""
            person.flagged_reason = ""
            if not person.opted_out_at:
                person.opted_out_at = now
            person.opt_out_source = ERASED_SOURCE
            person.save(update_fields=["display_name", "notes", "flagged_reason",
                                       "opted_out_at", "opt_out_source"])
        counts["advocates"] = len(ids)

        # Queryset updates bypass Wagtail's search signals; re-index so no old text lingers
        # (a no-op for models that are not in the search index).
        for obj in [*Advocate.objects.filter(pk__in=ids), *identities, *mentions]:
            _search_reindex(obj)
        # Earlier audit entries (merges, opt-outs) carry the old name as their label.
        counts["log_entries"] = ModelLogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(Advocate),
            object_id__in=[str(pk) for pk in ids]).update(label=pseudonym)
        # Logged with the renamed row: the entry's label must not name the person.
        log(instance=Advocate.objects.get(pk=advocate.pk), action="kansha.advocate.erase",
            user=user, data={"counts": counts})
    # Ids only: the log must not carry what was just erased.
    logger.info("advocate %s erased (%s)", advocate_id, counts)
    return ErasureResult(advocate_id=advocate_id, pseudonym=pseudonym, counts=counts)


def _suppress_accounts(identities: Sequence[SocialIdentity], *, now: datetime) -> int:
    """Remember each account only as a keyed hash, so that nothing is proposed to it again
    (an erasure is also an objection to being contacted). Erasing again re-suppresses an
    account whose suppression staff had lifted."""
    accounts = {(i.platform, i.platform_user_id) for i in identities
                if i.platform_user_id and not i.platform_user_id.startswith("erased-")}
    for platform, user_id in sorted(accounts):
        Suppression.objects.update_or_create(
            key=Suppression.key_for(platform=platform, platform_user_id=user_id),
            defaults={"platform": platform, "reason": ERASED_SOURCE, "created_at": now,
                      "lifted_at": None, "lifted_by": None, "lift_note": ""})
    return len(accounts)


def suppression_lift(*, suppression_id: int, user: Actor, note: str,
                     now: datetime | None = None) -> bool:
    """Lift a suppression: the account may be proposed to again (e.g. the person wrote to the
    brand asking for it). Returns False if it was already lifted. Audited with the note."""
    if not note.strip():
        raise ValidationError("Say why the suppression is lifted (where the person asked).")
    now = now or timezone.now()
    with transaction.atomic():
        lifted = Suppression.objects.filter(pk=suppression_id, lifted_at__isnull=True).update(
            lifted_at=now, lifted_by=user, lift_note=note.strip())
        if lifted:
            log(instance=Suppression.objects.get(pk=suppression_id),
                action="kansha.suppression.lift", user=user, data={"note": note.strip()})
    return bool(lifted)


def _search_reindex(obj: Model) -> None:
    """Refresh `obj` in the search index, if its model is indexed at all.

    Advocates, identities and mentions are not `index.Indexed` (the admin searches them in the
    database, so nothing of theirs is in the index); asking Wagtail to index them raised
    AttributeError('... has no attribute get_indexed_instance') and logged a traceback per
    erased row."""
    if not index.class_is_indexed(type(obj)):
        return
    try:
        index.insert_or_update_object(obj)
    except Exception:  # the search index is a cache of the rows; never fail erasure on it
        logger.exception("search re-index failed for %s #%s", type(obj).__name__, obj.pk)


def raw_payloads_purge(*, older_than_days: int | None = None,
                       now: datetime | None = None) -> dict[str, int]:
    """Drop raw payloads received more than N days ago (default KANSHA_RAW_RETENTION_DAYS).

    Effects: `Mention.raw` → {} for mentions received before the cutoff; processed
    `WebhookDelivery.body` → {} (unprocessed ones are kept: their work is not done); each
    privacy provider purges its own raw copies (rewards: Stripe event payloads). The parsed
    columns (text, author, detection) are untouched; only the platform's full payload goes.
    Works in chunks so a big backlog never holds long locks. Returns counts per table.
    """
    days = settings.KANSHA_RAW_RETENTION_DAYS if older_than_days is None else older_than_days
    if days < 0:
        raise ValueError("older_than_days must be zero or more.")
    cutoff = (now or timezone.now()) - timedelta(days=days)
    counts = {
        "mentions": _purge_chunks(
            Mention.objects.filter(received_at__lt=cutoff).exclude(raw={}), raw={}),
        "webhook_deliveries": _purge_chunks(
            WebhookDelivery.objects.filter(received_at__lt=cutoff, processed_at__isnull=False)
            .exclude(body={}), body={}),
    }
    for provider in privacy_providers():
        counts.update(provider.raw_payloads_purge(cutoff=cutoff))
    logger.info("raw payloads purged before %s: %s", cutoff.isoformat(), counts)
    return counts


def _purge_chunks(queryset: QuerySet[Model], **values: Any) -> int:
    total = 0
    while True:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:_PURGE_CHUNK])
        if not ids:
            return total
        total += queryset.model._default_manager.filter(pk__in=ids).update(**values)
