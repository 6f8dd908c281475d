"""Approving in the admin queue, as a social-staff user, sends the reply through a real
Celery worker on Redis to the sandbox timeline and records the advocacy (issue 4, "done when").
"""

from datetime import UTC, datetime

import pytest
from django.test import Client
from django.urls import reverse

from advocates import ratelimit
from advocates.models import (
    AdvocacyEvent,
    BrandAccount,
    Outreach,
    OutreachKind,
    OutreachStatus,
    SandboxPost,
)
from advocates.schemas import MentionIn
from advocates.services import mentions_ingest
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.advocates.routing_helpers import brand_settings
from tests.conftest import wait_for
from tests.roles import SOCIAL_STAFF, user_in_role

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("default_data")]


def test_approve_in_the_queue_is_delivered_by_a_real_worker(celery_worker_process):
    brand_settings()
    ratelimit.reset(BrandAccount.objects.get(platform="sandbox"))
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_in_role(SOCIAL_STAFF, first_name="Sora"))
    item = MentionIn.model_validate({
        "platform": "sandbox", "external_id": "queue-journey-1", "author_id": "u-mika",
        "author_handle": "@mika_sips", "author_name": "Mika Sato",
        "text": "The hojicha latte at @kanshacoffee Kyoto is the best thing I drank all year",
        "posted_at": datetime.now(UTC).isoformat(), "kind": "post", "followers": 310,
    })
    assert mentions_ingest(items=[item], source="api").created == 1

    reply = wait_for(lambda: Outreach.objects.filter(kind=OutreachKind.REPLY).first(),
                     timeout=60)
    queue = client.get(reverse("kansha_outreach:queue"), {"kind": "thanks"})
    assert reply in queue.context["page"].items
    token = queue.context["csrf_token"]

    response = client.post(reverse("kansha_outreach:approve", args=[reply.pk]), {
        "csrfmiddlewaretoken": str(token), "proposed_text": reply.proposed_text,
        "final_text": reply.proposed_text, "next": "/admin/outreach/?kind=thanks"})

    assert response.status_code == 302
    assert response["Location"] == "/admin/outreach/?kind=thanks"
    wait_for(lambda: Outreach.objects.filter(pk=reply.pk, status=OutreachStatus.SENT).exists(),
             timeout=60)
    post = SandboxPost.objects.get(kind="reply")
    assert (post.in_reply_to, post.target_handle) == ("queue-journey-1", "@mika_sips")
    assert post.text == reply.proposed_text
    assert AdvocacyEvent.objects.filter(dedupe_key=f"outreach:{reply.pk}").exists()
    timeline = client.get(reverse("kansha_sandbox_timeline")).content.decode()
    assert post.text in timeline
    history = client.get(reverse("kansha_outreach:history", args=[reply.pk]))
    assert [e.action for e in history.context["log"]] == ["proposed", "approved", "attempt"]
