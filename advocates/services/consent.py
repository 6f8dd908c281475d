"""Consent before a reshare, and opt-out (issue 4, items 5 and 6).

Consent: routing proposes a consent request (a public reply from a template: "reply #yes to
let us share") with a `ConsentRecord` in status requested. The answer comes back as a reply
mention from the same author (#yes / #はい grants, #no / #いいえ revokes) or as a click on the
public consent page (which records the page's terms version). A grant proposes the reshare;
a revocation rejects a pending reshare and proposes taking down one already posted.

Opt-out: a reply "stop" / 「停止」, the public opt-out page or staff mark the advocate opted
out; they are never proposed again and what was waiting for them is rejected ("opted out").
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from wagtail.log_actions import log

from advocates.models import (
    Advocate,
    ConsentPage,
    ConsentRecord,
    ConsentStatus,
    Mention,
    Outreach,
    OutreachKind,
    OutreachStatus,
    SocialIdentity,
    TemplatePurpose,
)
from advocates.policies import policy_for
from advocates.services.outreach import outreach_propose, outreach_reject_pending_for
from advocates.services.outreach_states import outreach_transition
from advocates.services.templates import reshare_disclosure_render, template_render

if TYPE_CHECKING:
    from advocates.actors import Actor

logger = logging.getLogger(__name__)

# A reply that is only a command (plus handles, punctuation, "please"), so "don't stop making
# this latte" is not an opt-out.
_HANDLES = re.compile(r"[@＠][\w.]+")
_OPT_OUT = re.compile(
    r"^[#＃]?(?:stop|unsubscribe|opt[ -]?out|停止|配信停止|ストップ)"
    r"(?:\s*(?:please|pls|thanks|thank you|お願いします|してください|して))?[\s.!！。]*$",
    re.IGNORECASE,
)
_YES = re.compile(r"[#＃](?:yes|はい|ok|いいよ)(?![\w])", re.IGNORECASE)
_NO = re.compile(r"[#＃](?:no|いいえ|だめ)(?![\w])", re.IGNORECASE)
OPT_OUT_REASON = "opted out"
_OPT_OUT_SALT = "kansha.advocates.opt-out"


def mention_command(text: str) -> str | None:
    """'stop', 'yes', 'no' when a mention is an advocate's answer to us, else None."""
    cleaned = _HANDLES.sub(" ", text or "").strip()
    if len(cleaned) <= 40 and _OPT_OUT.match(cleaned):
        return "stop"
    if _NO.search(cleaned):
        return "no"
    if _YES.search(cleaned):
        return "yes"
    return None


def mentions_commands_handle(*, mentions: Sequence[Mention], now: datetime) -> dict[int, str]:
    """Act on the opt-outs and consent answers in a batch; return mention id -> skip reason.

    Runs before content routing, so "stop" is never thanked. A #yes/#no from someone with no
    open consent request is not an answer and is routed like any other mention.
    """
    handled: dict[int, str] = {}
    answers: list[tuple[Mention, str]] = []
    for mention in mentions:
        command = mention_command(mention.text)
        if command == "stop":
            advocate_opt_out(advocate=mention.author.advocate, source="reply", now=now,
                             evidence={"mention": mention.external_id})
            handled[mention.pk] = "opt-out request (\"stop\")"
        elif command in ("yes", "no"):
            answers.append((mention, command))
    if not answers:
        return handled
    records: dict[int, list[ConsentRecord]] = {}
    identity_ids = {m.author_id for m, _ in answers}
    for open_record in (ConsentRecord.objects.filter(
            identity_id__in=identity_ids,
            status__in=(ConsentStatus.REQUESTED, ConsentStatus.GRANTED))
            .select_related("mention").order_by("-requested_at")):
        records.setdefault(open_record.identity_id, []).append(open_record)
    request_posts = dict(
        Outreach.objects.filter(kind=OutreachKind.CONSENT, identity_id__in=identity_ids)
        .exclude(platform_result_id="").values_list("platform_result_id", "mention_id"))
    for mention, command in answers:
        candidates = records.get(mention.author_id, [])
        wanted = ConsentStatus.REQUESTED if command == "yes" else None
        record = _record_answered(candidates, request_posts.get(mention.in_reply_to), wanted)
        if record is None:
            continue
        evidence = {"mention": mention.external_id, "text": mention.text[:280]}
        if command == "yes":
            consent_grant(record=record, method="reply_hashtag", evidence=evidence, now=now,
                          language=mention.language)
            handled[mention.pk] = "consent answer (#yes)"
        else:
            consent_revoke(record=record, method="reply_hashtag", evidence=evidence, now=now)
            handled[mention.pk] = "consent answer (#no)"
    return handled


def _record_answered(records: list[ConsentRecord], mention_id: int | None,
                     status: str | None) -> ConsentRecord | None:
    usable = [r for r in records if status is None or r.status == status]
    if mention_id is not None:
        for record in usable:
            if record.mention_id == mention_id:
                return record
    return usable[0] if usable else None


def consent_terms_version(language: str = "en") -> str:
    """The terms version currently shown on the live consent page (or the default)."""
    page = (ConsentPage.objects.live().filter(language=language).first()
            or ConsentPage.objects.live().first())
    if page is not None and page.terms_version:
        terms: str = page.terms_version  # a CharField (Wagtail's pages are untyped)
        return terms
    return settings.KANSHA_CONSENT_TERMS_VERSION


def consent_page_urls() -> dict[str, str]:
    """language -> the public consent page's URL (one query); used to fill {consent_url}."""
    urls: dict[str, str] = {}
    for page in ConsentPage.objects.live().specific():
        url = page.get_full_url()
        if url:
            urls.setdefault(page.language, url)
    fallback = f"{settings.WAGTAILADMIN_BASE_URL.rstrip('/')}/consent/"
    urls.setdefault("en", fallback)
    return urls


def consent_url(*, urls: dict[str, str], token: uuid.UUID, language: str) -> str:
    base = urls.get(language) or urls["en"]
    return f"{base}?token={token}"


def consent_request_record(*, mention: Mention) -> ConsentRecord:
    """An unsaved ConsentRecord (status requested) for a consent request about `mention`."""
    return ConsentRecord(advocate_id=mention.author.advocate_id, identity_id=mention.author_id,
                         mention=mention, status=ConsentStatus.REQUESTED,
                         requested_at=timezone.now())


def consent_grant(*, record: ConsentRecord, method: str, evidence: dict[str, Any] | None = None,
                  terms_version: str | None = None, now: datetime | None = None,
                  language: str = "en") -> ConsentRecord:
    """Record the advocate's yes (idempotent) and propose the reshare of their mention.

    Precondition: the record is requested (or already granted: nothing changes). A revoked
    or expired record cannot be granted again; a new request is needed.
    """
    now = now or timezone.now()
    with transaction.atomic():
        record = ConsentRecord.objects.select_for_update(of=("self",)).select_related(
            "mention", "identity", "advocate").get(pk=record.pk)
        if record.status == ConsentStatus.GRANTED:
            return record
        if record.status != ConsentStatus.REQUESTED:
            raise ValidationError(f"this consent was {record.status}; ask again to reshare")
        record.status = ConsentStatus.GRANTED
        record.method = method
        record.terms_version = terms_version or consent_terms_version(language)
        record.granted_at = now
        record.expires_at = now + timedelta(days=settings.KANSHA_CONSENT_DAYS)
        record.evidence = {**record.evidence, "granted": evidence or {}}
        record.save()
        if record.mention is not None:
            _reshare_propose(record=record, mention=record.mention, method=method, now=now)
    return record


def _reshare_propose(*, record: ConsentRecord, mention: Mention, method: str,
                     now: datetime) -> None:
    """The reshare a yes allows, with a disclosure line if its author has received a reward;
    none where the platform's policy would refuse it (the check delivery makes)."""
    refusal = policy_for(mention.platform).reshare_refusal(
        disclosure_needed=record.advocate.reward_received_at is not None)
    if refusal:
        logger.info("consent %s granted, no reshare: %s", record.pk, refusal)
        return
    line = reshare_disclosure_render(advocate=record.advocate, identity=record.identity,
                                     mention=mention, brand=settings.KANSHA_BRAND_NAME,
                                     now=now)
    outreach_propose(
        kind=OutreachKind.RESHARE, advocate=record.advocate, identity=record.identity,
        platform=mention.platform, dedupe_key=_key_once(f"reshare:{record.mention_id}", record),
        text=line.text if line else "", mention=mention,
        template_key=line.template_key if line else "",
        template_variant=line.variant if line else None,
        reasons=[f"consent granted ({method}, terms {record.terms_version})"],
    )


def consent_revoke(*, record: ConsentRecord, method: str, evidence: dict[str, Any] | None = None,
                   now: datetime | None = None) -> ConsentRecord:
    """Record a no: reject a pending reshare, propose a take-down of one already posted."""
    now = now or timezone.now()
    with transaction.atomic():
        record = ConsentRecord.objects.select_for_update(of=("self",)).select_related(
            "mention", "identity", "advocate").get(pk=record.pk)
        if record.status == ConsentStatus.REVOKED:
            return record
        record.status = ConsentStatus.REVOKED
        record.revoked_at = now
        record.evidence = {**record.evidence, "revoked": {"method": method, **(evidence or {})}}
        record.save()
        _reshares_withdraw(record=record, why=f"consent revoked ({method})",
                           reject_reason="consent revoked", now=now)
    return record


def _reshares_withdraw(*, record: ConsentRecord, why: str, reject_reason: str,
                       now: datetime) -> None:
    """The reshares that relied on a consent that ended: reject the ones waiting, propose the
    take-down of one already posted. The caller holds the record's row lock."""
    mention = record.mention
    if mention is None:
        return
    pending = (OutreachStatus.PROPOSED, OutreachStatus.SNOOZED, OutreachStatus.APPROVED)
    reshares = Outreach.objects.filter(mention=mention, kind=OutreachKind.RESHARE)
    waiting = list(reshares.filter(status__in=pending).values_list("id", flat=True))
    if waiting:
        outreach_transition(waiting, from_=pending, to=OutreachStatus.REJECTED,
                            action="rejected", detail={"reason": reject_reason}, now=now,
                            reject_reason=reject_reason, decided_at=now)
    if reshares.filter(status__in=(OutreachStatus.SENT, OutreachStatus.SENDING)).exists():
        outreach_propose(
            kind=OutreachKind.TAKEDOWN, advocate=record.advocate, identity=record.identity,
            platform=mention.platform, dedupe_key=_key_once(f"takedown:{mention.pk}", record),
            text="", mention=mention, priority=80,
            reasons=[f"{why}: take the reshare down"],
        )


def _key_once(key: str, record: ConsentRecord) -> str:
    """The dedupe key of a reshare or take-down resting on `record`: the plain key the first
    time; after a re-consent the same post may be reshared (and taken down) again, so later
    rounds carry the record's id."""
    return f"{key}:{record.pk}" if Outreach.objects.filter(dedupe_key=key).exists() else key


def consents_expire(*, now: datetime | None = None, batch: int = 200) -> int:
    """Mark granted consents past `expires_at` EXPIRED and withdraw the reshares they allowed.

    The periodic task calls this. Each record moves in its own short transaction, claimed with
    a row lock that skips rows another worker holds, so two beat runs never expire one record
    twice, and a revocation racing the expiry wins or loses cleanly (only GRANTED moves).
    After expiry the person's post is not reshared again until they consent again: delivery
    refuses an expired consent (`selectors.consent_granted`), an expired record cannot be
    granted (`consent_grant`), and routing asks anew for each new post. Returns how many
    expired.
    """
    now = now or timezone.now()
    due = list(ConsentRecord.objects.filter(
        status=ConsentStatus.GRANTED, expires_at__lte=now).order_by("expires_at")
        .values_list("id", flat=True)[:batch])
    expired = 0
    for record_id in due:
        with transaction.atomic():
            record = (ConsentRecord.objects.select_for_update(of=("self",), skip_locked=True)
                      .select_related("mention", "identity", "advocate")
                      .filter(pk=record_id, status=ConsentStatus.GRANTED, expires_at__lte=now)
                      .first())
            if record is None:
                continue
            record.status = ConsentStatus.EXPIRED
            record.evidence = {**record.evidence, "expired": {"at": now.isoformat()}}
            record.save(update_fields=["status", "evidence"])
            _reshares_withdraw(record=record, why="consent expired",
                               reject_reason="consent expired", now=now)
            _consent_ask_again(record=record, now=now)
            expired += 1
    return expired


def _consent_ask_again(*, record: ConsentRecord, now: datetime) -> None:
    """Offer a new yes for the post an expired consent covered: a consent request (a reply to
    the post with a fresh page link) that staff approve or reject like the first one. Not where
    the platform allows one reply per post (it would refuse a second), nor without a live
    consent template."""
    mention = record.mention
    if mention is None or policy_for(mention.platform).one_reply_per_post:
        return
    language = "ja" if mention.language == "ja" else "en"
    fresh = consent_request_record(mention=mention)
    rendered = template_render(
        purpose=TemplatePurpose.CONSENT, language=language, advocate_id=record.advocate_id,
        identity=record.identity, mention=mention, brand=settings.KANSHA_BRAND_NAME, now=now,
        extra={"consent_url": consent_url(urls=consent_page_urls(), token=fresh.token,
                                          language=language)})
    if rendered is None:
        return
    asked = outreach_propose(
        kind=OutreachKind.CONSENT, advocate=record.advocate, identity=record.identity,
        platform=mention.platform, dedupe_key=f"reconsent:{record.pk}", text=rendered.text,
        mention=mention, template_key=rendered.template_key,
        template_variant=rendered.variant, reasons=["consent expired: ask again"])
    if asked is not None:
        fresh.save()


def consent_by_token(token: str) -> ConsentRecord | None:
    try:
        value = uuid.UUID(str(token))
    except (TypeError, ValueError):
        return None
    return ConsentRecord.objects.select_related("mention", "identity").filter(
        token=value).first()


def advocate_opt_out(*, advocate: Advocate, source: str, user: Actor = None,
                     now: datetime | None = None, evidence: dict[str, Any] | None = None) -> int:
    """Never propose anything to this advocate again; reject what is waiting for them.

    `source` is where it came from: "reply", "page", "staff". Idempotent: the first opt-out's
    time and source are kept. Returns how many pending proposals were rejected.
    """
    now = now or timezone.now()
    with transaction.atomic():
        Advocate.objects.filter(pk=advocate.pk, opted_out_at__isnull=True).update(
            opted_out_at=now, opt_out_source=source[:40])
        advocate.refresh_from_db(fields=["opted_out_at", "opt_out_source"])
        log(instance=advocate, action="kansha.advocate.opt_out", user=user,
            data={"source": source, **(evidence or {})})
        return outreach_reject_pending_for(advocate_id=advocate.pk, reason=OPT_OUT_REASON,
                                           user=user)


def advocate_opt_out_by_handle(*, platform: str, handle: str) -> bool:
    """The public opt-out page: opt out whoever owns `handle` on `platform`.

    Returns whether someone was found. The page says the same thing either way, so it does
    not reveal whether a handle is known to us.
    """
    handle = handle.strip()
    if not handle:
        raise ValidationError("Enter your handle.")
    variants = {handle, handle.lstrip("@"), "@" + handle.lstrip("@")}
    identity = (SocialIdentity.objects.select_related("advocate")
                .filter(platform=platform, handle__in=variants).first())
    if identity is None:
        return False
    advocate_opt_out(advocate=identity.advocate, source="page",
                     evidence={"platform": platform, "handle": handle})
    return True


def opt_out_token_make(advocate: Advocate) -> str:
    """A signed token for a one-click opt-out link (no table needed, cannot be guessed)."""
    return signing.dumps(advocate.pk, salt=_OPT_OUT_SALT, compress=True)


def opt_out_token_read(token: str) -> Advocate | None:
    try:
        advocate_id = signing.loads(token, salt=_OPT_OUT_SALT)
    except signing.BadSignature:
        return None
    return Advocate.objects.filter(pk=advocate_id).first()


_OWN_PAGE_SALT = "kansha.advocates.own-page"
# A link in a DM is a key to someone's points: it stops working after this long, and the
# next DM carries a fresh one.
OWN_PAGE_MAX_AGE = timedelta(days=90)


def own_page_token_make(advocate: Advocate) -> str:
    """A signed, timestamped token for the advocate's own page (the link in our DMs)."""
    return signing.dumps(advocate.pk, salt=_OWN_PAGE_SALT, compress=True)


def own_page_url(advocate: Advocate) -> str:
    """The whole link to the advocate's own page, for a DM ({page_url} in reward messages)."""
    path = reverse("own-page", kwargs={"token": own_page_token_make(advocate)})
    return settings.WAGTAILADMIN_BASE_URL.rstrip("/") + path


def own_page_token_read(token: str) -> Advocate | None:
    """The advocate a token names (the one they were merged into, if so), or None if the
    token is forged, cut short or older than OWN_PAGE_MAX_AGE."""
    try:
        advocate_id = signing.loads(token, salt=_OWN_PAGE_SALT,
                                    max_age=OWN_PAGE_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(advocate_id, int):
        return None
    for _ in range(5):  # merge chains are short; follow them to the survivor
        advocate = Advocate.objects.filter(pk=advocate_id).first()
        if advocate is None or advocate.merged_into_id is None:
            return advocate
        advocate_id = advocate.merged_into_id
    return None
