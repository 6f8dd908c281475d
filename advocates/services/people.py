"""People: merging advocates, opting out, API tokens for integrations."""

from __future__ import annotations

import secrets
from collections.abc import Collection

from django.db import transaction
from django.utils import timezone
from wagtail.log_actions import log

from advocates.models import Advocate, IngestToken, TokenScope


def advocates_merge(*, survivor: Advocate, absorbed: Advocate, user=None) -> Advocate:
    """Move every identity (and with them their mentions) of `absorbed` onto `survivor`.

    Advocacy events stay as written (the table is append-only); readers follow `merged_into`.

    The absorbed advocate is kept, pointing at the survivor, so history stays explainable; an
    opt-out on either side carries over (the stricter choice wins). Audited in Wagtail's log.
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
        moved = list(absorbed.identities.values_list("id", flat=True))
        absorbed.identities.update(advocate=survivor)
        absorbed.outreach.update(advocate=survivor)
        if absorbed.opted_out_at and not survivor.opted_out_at:
            survivor.opted_out_at, survivor.opt_out_source = (
                absorbed.opted_out_at, absorbed.opt_out_source)
        survivor.is_employee = survivor.is_employee or absorbed.is_employee
        survivor.flagged = survivor.flagged or absorbed.flagged
        survivor.save()
        absorbed.merged_into = survivor
        absorbed.save(update_fields=["merged_into"])
        log(instance=survivor, action="kansha.advocate.merge", user=user,
            data={"absorbed": absorbed.pk, "identities": moved})
    return survivor


def ingest_token_issue(*, name: str, user=None,
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
        created_by=user if user is not None and user.is_authenticated else None,
    )
    return token, secret


def api_token_revoke(*, token_id: int, user=None) -> bool:
    """Revoke a token now (its next request gets 401); True if this call revoked it.

    A conditional update: revoking twice keeps the first time. Audited in Wagtail's log.
    """
    done = IngestToken.objects.filter(pk=token_id, revoked_at__isnull=True).update(
        revoked_at=timezone.now())
    if done:
        log(instance=IngestToken.objects.get(pk=token_id), action="kansha.token.revoke",
            user=user if user is not None and user.is_authenticated else None)
    return bool(done)
