"""The whole journey on real infrastructure: ingest -> detect -> proposal -> approve ->
delivered by a real Celery worker on Redis -> on the sandbox timeline -> AdvocacyEvent.

The admin-view variant of the approval (a social-staff user clicking Approve in the queue)
lives with the queue's tests; here the approval is the service the view calls.
"""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Group

from advocates import ratelimit
from advocates.models import (
    AdvocacyEvent,
    BrandAccount,
    Mention,
    Outreach,
    OutreachKind,
    OutreachStatus,
    SandboxPost,
)
from advocates.schemas import MentionIn
from advocates.services import mentions_ingest, outreach_approve
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.advocates.routing_helpers import brand_settings
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("default_data")]


def test_a_praised_coffee_becomes_a_thank_you_on_the_timeline_and_an_advocacy_event(
        celery_worker_process, django_user_model):
    brand_settings(reshare_requires_consent=True)
    ratelimit.reset(BrandAccount.objects.get(platform="sandbox"))
    staff = django_user_model.objects.create_user("sora", password="pw")
    staff.groups.add(Group.objects.get_or_create(name="Social staff")[0])

    item = MentionIn.model_validate({
        "platform": "sandbox", "external_id": "journey-1", "author_id": "u-aiko",
        "author_handle": "@aiko_drinks_coffee", "author_name": "Aiko Tanaka",
        "text": "Best flat white in Shibuya, thank you @kanshacoffee! ☕",
        "posted_at": datetime.now(UTC).isoformat(), "kind": "checkin",
        "venue": "Shibuya store", "followers": 840,
    })
    result = mentions_ingest(items=[item], source="api")  # detection is enqueued on commit
    assert result.created == 1

    # The worker detects and routes the mention: a thank-you and a consent request.
    reply = wait_for(lambda: Outreach.objects.filter(kind=OutreachKind.REPLY).first(),
                     timeout=60)
    mention = Mention.objects.get(external_id="journey-1")
    assert (mention.detection_label, mention.detection_intent, mention.route) == (
        "positive", "checkin", "thank")
    assert reply.status == OutreachStatus.PROPOSED
    assert "Aiko" in reply.proposed_text
    assert reply.template_key == "checkin/en"
    assert Outreach.objects.filter(kind=OutreachKind.CONSENT, mention=mention).exists()

    outreach_approve(outreach_id=reply.pk, user=staff)

    # The worker delivers it through the sandbox client.
    wait_for(lambda: Outreach.objects.filter(pk=reply.pk, status=OutreachStatus.SENT).exists(),
             timeout=60)
    reply.refresh_from_db()
    post = SandboxPost.objects.get(kind="reply")
    assert post.in_reply_to == "journey-1"
    assert post.target_handle == "@aiko_drinks_coffee"
    assert post.text == reply.final_text == reply.proposed_text
    assert post.idempotency_key == str(reply.idempotency_key)
    assert reply.platform_result_id == post.external_id
    assert reply.attempts == 1

    event = AdvocacyEvent.objects.get(dedupe_key=f"outreach:{reply.pk}")
    assert (event.kind, event.advocate_id, event.venue) == ("checkin", reply.advocate_id,
                                                            "Shibuya store")
    assert list(reply.log.values_list("action", flat=True)) == ["proposed", "approved",
                                                                "attempt"]
