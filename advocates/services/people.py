"""People: merging advocates (and undoing it), opting out, API tokens for integrations."""

from __future__ import annotations

import secrets
from collections.abc import Collection
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from wagtail.log_actions import log
from wagtail.models import ModelLogEntry

from advocates.actors import actor_user
from advocates.models import (
    Advocate,
    IngestToken,
    MergeDismissal,
    Outreach,
    SocialIdentity,
    TokenScope,
)

if TYPE_CHECKING:
    from advocates.actors import Actor

UNMERGE_WITHIN = timedelta(days=30)
_FLAGS = ("opted_out_at", "opt_out_source", "is_employee", "flagged")


def advocate_reward_received(*, advocate_id: int, at: datetime) -> None:
    """Note that a reward from the brand reached this advocate at `at` (rewards calls it when a
    grant is delivered). Keeps the latest time; from then on a reshare of their posts carries a
    disclosure line (`templates.reshare_disclosure_render`)."""
    Advocate.objects.filter(Q(reward_received_at__isnull=True) | Q(reward_received_at__lt=at),
                            pk=advocate_id).update(reward_received_at=at)


def merge_suggestion_dismiss(*, first_id: int, second_id: int, user: Actor = None
                             ) -> MergeDismissal:
    """Record that two suggested advocates are two people, so the pair is not suggested again
    (either order; a second dismissal returns the first). Raises ValueError, changing
    nothing, for the same advocate twice or one that does not exist."""
    low, high = sorted((first_id, second_id))
    if low == high:
        raise ValueError(_("A person cannot be a duplicate of themselves."))
    if Advocate.objects.filter(pk__in=(low, high)).count() != 2:
        raise ValueError(_("No such advocate."))
    dismissal, created = MergeDismissal.objects.get_or_create(
        first_id=low, second_id=high, defaults={"dismissed_by": actor_user(user)})
    if created:
        log(instance=dismissal.first, action="kansha.advocate.merge_dismiss", user=user,
            data={"other": high})
    return dismissal


def advocates_merge(*, survivor: Advocate, absorbed: Advocate, user: Actor = None) -> Advocate:
    """Move every identity (and with them their mentions) and outreach of `absorbed` onto
    `survivor`.

    Advocacy events stay as written (the table is append-only); readers follow `merged_into`.

    The absorbed advocate is kept, pointing at the survivor, so history stays explainable; an
    opt-out on either side carries over (the stricter choice wins). Audited in Wagtail's log
    with what moved and the survivor's flags before, which is what `advocates_unmerge` puts
    back.
    """
    if survivor.pk == absorbed.pk:
        raise ValueError("An advocate cannot be merged into itself.")
    with transaction.atomic():
        survivor, absorbed = (
            Advocate.objects.select_for_update().get(pk=survivor.pk),
            Advocate.objects.select_for_update().get(pk=absorbed.pk),
        )
        if absorbed.merged_into_id is not None:
            raise ValueError(f"{absorbed} was already merged into #{absorbed.merged_into_id}.")
        if survivor.merged_into_id is not None:
            raise ValueError(f"{survivor} was itself merged into #{survivor.merged_into_id}.")
        before = {f: getattr(survivor, f) for f in _FLAGS}
        moved = list(absorbed.identities.values_list("id", flat=True))
        outreach = list(absorbed.outreach.values_list("id", flat=True))
        absorbed.identities.update(advocate=survivor)
        absorbed.outreach.update(advocate=survivor)
        if absorbed.opted_out_at and not survivor.opted_out_at:
            survivor.opted_out_at, survivor.opt_out_source = (
                absorbed.opted_out_at, absorbed.opt_out_source)
        survivor.is_employee = survivor.is_employee or absorbed.is_employee
        survivor.flagged = survivor.flagged or absorbed.flagged
        # A reward either of them received is theirs: reshares of the survivor disclose it.
        survivor.reward_received_at = max(
            (t for t in (survivor.reward_received_at, absorbed.reward_received_at) if t),
            default=None)
        survivor.save()
        absorbed.merged_into = survivor
        absorbed.save(update_fields=["merged_into"])
        log(instance=survivor, action="kansha.advocate.merge", user=user,
            data={"absorbed": absorbed.pk, "identities": moved, "outreach": outreach,
                  "survivor_before": {
                      **before, "opted_out_at": before["opted_out_at"].isoformat()
                      if before["opted_out_at"] else None}})
    return survivor


def advocate_merge_entry(*, absorbed: Advocate) -> ModelLogEntry | None:
    """The audit record of the merge that absorbed this advocate (None if there is none)."""
    if absorbed.merged_into_id is None:
        return None
    return (ModelLogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(Advocate),
        object_id=str(absorbed.merged_into_id), action="kansha.advocate.merge",
        data__absorbed=absorbed.pk).order_by("-timestamp").first())


def advocate_unmergeable(*, absorbed: Advocate, now: datetime | None = None) -> bool:
    entry = advocate_merge_entry(absorbed=absorbed)
    return entry is not None and entry.timestamp >= (now or timezone.now()) - UNMERGE_WITHIN


def advocates_unmerge(*, absorbed: Advocate, user: Actor = None, now: datetime | None = None
                      ) -> Advocate:
    """Undo a merge from its audit record, within UNMERGE_WITHIN: the identities and outreach
    that moved go back to `absorbed`, the survivor's opt-out, employee and flagged fields are
    what they were before, and `absorbed` stands on its own again. Returns the survivor.

    Rows that arrived since the merge stay with the survivor (a mention ingested yesterday
    belongs to whoever owns its identity: the identity moves back, and its mentions with it).
    Raises ValueError when there is no merge to undo or it is older than UNMERGE_WITHIN.
    """
    now = now or timezone.now()
    with transaction.atomic():
        absorbed = Advocate.objects.select_for_update().get(pk=absorbed.pk)
        entry = advocate_merge_entry(absorbed=absorbed)
        if entry is None or absorbed.merged_into_id is None:
            raise ValueError(f"{absorbed} is not merged into anyone.")
        if entry.timestamp < now - UNMERGE_WITHIN:
            raise ValueError(f"The merge of {absorbed} is older than "
                             f"{UNMERGE_WITHIN.days} days; it can no longer be undone.")
        survivor = Advocate.objects.select_for_update().get(pk=absorbed.merged_into_id)
        data = entry.data
        identities = data.get("identities", [])
        SocialIdentity.objects.filter(pk__in=identities, advocate=survivor).update(
            advocate=absorbed)
        # What moved, and what their identities were offered since: outreach follows its
        # identity, so no reply ends up owned by one person and addressed to the other's.
        Outreach.objects.filter(Q(pk__in=data.get("outreach", [])) | Q(identity__in=identities),
                                advocate=survivor).update(advocate=absorbed)
        before = data.get("survivor_before")
        if before:
            opted = before["opted_out_at"]
            survivor.opted_out_at = datetime.fromisoformat(opted) if opted else None
            survivor.opt_out_source = before["opt_out_source"]
            survivor.is_employee, survivor.flagged = before["is_employee"], before["flagged"]
            survivor.save(update_fields=list(_FLAGS))
        absorbed.merged_into = None
        absorbed.save(update_fields=["merged_into"])
        log(instance=survivor, action="kansha.advocate.unmerge", user=user,
            data={"absorbed": absorbed.pk, "merge_entry": entry.pk})
    return survivor


def ingest_token_issue(*, name: str, user: Actor = None,
                       scopes: Collection[str] = (TokenScope.INGEST,)) -> tuple[IngestToken, str]:
    """Create an API token for an integration with these scopes; return it with its secret
    (shown only once). Raises ValueError for an unknown scope or none at all."""
    unknown = set(scopes) - set(TokenScope.values)
    if unknown or not scopes:
        raise ValueError(f"Scopes must be some of {', '.join(TokenScope.values)}; "
                         f"got {sorted(unknown) or 'none'}.")
    secret = "ksh_" + secrets.token_urlsafe(32)
    token = IngestToken.objects.create(
        name=name, prefix=secret[:10], key_hash=IngestToken.hash_key(secret),
        scopes=[s for s in TokenScope.values if s in set(scopes)],
        created_by=actor_user(user),
    )
    return token, secret


def api_token_revoke(*, token_id: int, user: Actor = None) -> bool:
    """Revoke a token now (its next request gets 401); True if this call revoked it.

    A conditional update: revoking twice keeps the first time. Audited in Wagtail's log.
    """
    done = IngestToken.objects.filter(pk=token_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now())
    if done:
        log(instance=IngestToken.objects.get(pk=token_id), action="kansha.token.revoke",
            user=actor_user(user))
    return bool(done)
