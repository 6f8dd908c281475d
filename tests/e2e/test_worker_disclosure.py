"""Disclosure watch with a real Celery worker on Redis and PostgreSQL.

Two rewarded advocates post through the ingest API; the worker detects the posts, then runs
the watch: the undisclosed post yields exactly one reminder, the disclosed ones (an English and
a Japanese marker) none.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest

from advocates.models import Mention, Outreach, OutreachKind
from advocates.services import ingest_token_issue
from rewards.models import DisclosureCheck, GrantStatus, RewardGrant
from rewards.tasks import disclosures_check
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.conftest import wait_for
from tests.rewards.conftest import make_advocate, make_rule

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("default_data")]


def _rewarded(user_id: str, name: str):
    advocate = make_advocate(platform_user_id=user_id, display_name=name)
    RewardGrant.objects.create(
        advocate=advocate, rule=make_rule(), period_key=f"p-{user_id}", reward={},
        reward_kind="discount", currency="jpy", status=GrantStatus.DELIVERED,
        delivered_at=datetime.now(UTC) - timedelta(days=1))
    return advocate


def _item(n: int, author_id: str, text: str, language: str) -> dict:
    return {"platform": "sandbox", "external_id": f"disc-{n}", "kind": "post",
            "author_id": author_id, "author_handle": f"@{author_id}", "text": text,
            "language": language, "posted_at": datetime.now(UTC).isoformat()}


def test_the_worker_reminds_the_undisclosed_post_once_and_not_the_disclosed_ones(
        celery_worker_process, client):
    aiko = _rewarded("aiko", "Aiko Tanaka")
    ren = _rewarded("ren", "Ren Sato")
    _, secret = ingest_token_issue(name="e2e")
    posts = [
        _item(1, "aiko", "Best flat white in town, love it! Thank you @kanshacoffee", "en"),
        _item(2, "aiko", "Another amazing latte, thank you @kanshacoffee! So good", "en"),
        _item(3, "ren", "Love the new cold brew, thank you @kanshacoffee! #ad", "en"),
        _item(4, "ren", "カンシャ珈琲の新作ラテ、とても美味しかったです！ありがとう #PR", "ja"),
    ]
    response = client.post("/api/v1/mentions", data=json.dumps({"mentions": posts}),
                           content_type="application/json",
                           headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200, response.content
    wait_for(lambda: not Mention.objects.filter(detected_at__isnull=True).exists(), timeout=90)
    positive = set(Mention.objects.filter(detection_label="positive")
                   .values_list("external_id", flat=True))
    if not {"disc-1", "disc-3", "disc-4"} <= positive:
        pytest.skip(f"the detector did not call the posts positive: {sorted(positive)}")

    disclosures_check.delay()
    wait_for(lambda: DisclosureCheck.objects.count() == len(positive), timeout=60)

    reminders = Outreach.objects.filter(kind=OutreachKind.DISCLOSURE)
    assert list(reminders.values_list("advocate_id", flat=True)) == [aiko.pk]
    assert reminders.get().mention.external_id in {"disc-1", "disc-2"}
    # In marketing's words: the live "disclosure" reply template in the post's language.
    assert reminders.get().template_key == "disclosure/en"
    disclosed = DisclosureCheck.objects.filter(advocate=ren)
    assert set(disclosed.values_list("disclosed", "marker")) == {(True, "#ad"), (True, "#PR")}
