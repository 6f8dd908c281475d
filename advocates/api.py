"""The ingest API: `POST /api/v1/mentions` takes a JSON batch of normalised mentions."""

import json

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from ninja import Router, Schema
from ninja.errors import AuthorizationError, ValidationError
from ninja.security import HttpBearer
from pydantic import Field

from advocates.models import IngestToken, MentionSource, TokenScope
from advocates.schemas import MentionIn
from advocates.services import mentions_ingest
from advocates.sql import JsonTooDeep, json_storable


class ApiTokenAuth(HttpBearer):
    """`Authorization: Bearer <token>` holding `scope`; tokens are created in the admin and
    stored hashed.

    No token, an unknown or a revoked one: 401. A valid token without the scope: 403 (the
    caller is known, it just may not do this), and nothing runs.
    """

    def __init__(self, scope: str) -> None:
        self.scope = scope
        super().__init__()

    def authenticate(self, request: HttpRequest, token: str) -> IngestToken | None:
        found = IngestToken.objects.filter(
            key_hash=IngestToken.hash_key(token), revoked_at__isnull=True
        ).first()
        if found is None:
            return None
        # Not every request needs a write; a minute's precision is plenty for "last used".
        now = timezone.now()
        if found.last_used_at is None or (now - found.last_used_at).total_seconds() > 60:
            IngestToken.objects.filter(pk=found.pk).update(last_used_at=now)
        if not found.has_scope(self.scope):
            raise AuthorizationError(message=f"This token does not have the '{self.scope}' "
                                     f"scope (it has: {found.scopes_display}).")
        return found


class MentionBatchIn(Schema):
    mentions: list[MentionIn] = Field(
        min_length=1, max_length=settings.KANSHA_API_MAX_BATCH,
        description=f"1 to {settings.KANSHA_API_MAX_BATCH} normalised mentions",
    )


class InvalidOut(Schema):
    position: int
    reason: str


class IngestOut(Schema):
    created: int
    duplicate: int
    invalid: list[InvalidOut]


class ErrorOut(Schema):
    detail: list[dict] | str


router = Router(tags=["ingest"])


@router.post("/mentions", auth=ApiTokenAuth(TokenScope.INGEST),
             response={200: IngestOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut})
def mentions_post(request: HttpRequest, batch: MentionBatchIn):
    """Ingest a batch. Mentions already stored (same platform and external_id) are counted as
    duplicates and change nothing. Any invalid item rejects the whole request with 400.
    Each mention's raw payload is the item as sent, unknown fields included."""
    # The schema drops unknown fields, but docs/ingest.md promises they are kept in the raw
    # payload; the body already passed validation, so it is a JSON object with that list.
    try:
        raw = json_storable(json.loads(request.body)["mentions"])
    except JsonTooDeep as exc:
        return 400, {"detail": f"mentions: {exc}"}
    return mentions_ingest(items=batch.mentions, source=MentionSource.API,
                           raw_payloads=raw).as_dict()


def validation_error_response(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    """The API's answer to a request that fails validation (registered in cms/api.py).

    Ninja answers 422 by default; our contract is 400 with the field errors.
    """
    errors = [
        {"loc": [str(p) for p in err.get("loc", [])], "msg": err.get("msg", "invalid")}
        for err in exc.errors
    ]
    return JsonResponse({"detail": errors}, status=400)
