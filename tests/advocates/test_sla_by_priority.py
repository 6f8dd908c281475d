"""First-response SLAs per priority (Settings › Detector settings): routing's due time, the
alerts that follow it, and the settings' validation."""

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError

from advocates.models import DetectorSettings, Outreach, OutreachKind, sla_tiers
from advocates.services.care_alerts import care_alerts_send
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.advocates.routing_helpers import brand_settings, ingest_and_detect, item
from tests.fakes.slack_server import FakeSlack

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_data")]

SEVERE = "@kanshacoffee food poisoning after your sandwich, terrible, I got sick"
MILD = "@kanshacoffee the latte was a bit cold today, disappointing"


def _care(n: int, text: str, posted: datetime) -> Outreach:
    (mention,) = ingest_and_detect([item(n, text, posted_at=posted.isoformat())])
    return Outreach.objects.get(mention=mention, kind=OutreachKind.CARE)


def test_care_items_are_due_by_their_priority_and_alerted_at_that_time():
    posted = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    with FakeSlack() as slack:
        brand_settings(care_sla_minutes=60, care_alert_soon_minutes=0,
                       care_slack_webhook_url=slack.webhook_url, care_alert_email="c@k.example")
        mild = _care(1, MILD, posted)
        threshold = mild.priority + 1  # only items above the mild one are urgent
        brand_settings(care_sla_by_priority=f"{threshold}: 15")
        urgent = _care(2, SEVERE, posted)
        assert urgent.priority >= threshold, (urgent.priority, mild.priority)

        assert mild.sla_due_at == posted + timedelta(minutes=60)
        assert urgent.sla_due_at == posted + timedelta(minutes=15)

        breach = care_alerts_send(now=posted + timedelta(minutes=16))
        assert breach.slack == 1
        assert f"#{urgent.pk}" in slack.messages[0]["text"]


def test_answers_have_their_own_lines_and_fall_back_to_the_answer_sla():
    prefs = DetectorSettings(care_sla_minutes=60, answer_sla_minutes=240,
                             answer_sla_by_priority="50: 90\n0: 120",
                             care_sla_by_priority="80: 20\n40: 45")
    assert [prefs.sla_minutes(kind="answer", priority=p) for p in (0, 49, 50, 100)] == [
        120, 120, 90, 90]
    assert [prefs.sla_minutes(kind="care", priority=p) for p in (10, 40, 79, 80)] == [
        60, 45, 45, 20]
    prefs.care_sla_by_priority = "urgent: 5"  # saved around the form: the route's SLA
    assert prefs.sla_minutes(kind="care", priority=90) == 60


def test_lines_that_are_not_priority_minutes_are_refused():
    assert sla_tiers(" 40 : 45 \n\n80:20") == [(80, 20), (40, 45)]
    for bad in ("high: 20", "80 20", "120: 5", "50: 0"):
        with pytest.raises(ValueError, match="priority: minutes"):
            sla_tiers(bad)
    with pytest.raises(ValidationError) as caught:
        DetectorSettings(care_sla_by_priority="80 20").clean()
    assert "care_sla_by_priority" in caught.value.message_dict
