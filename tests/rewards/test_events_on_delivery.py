"""A delivered thank-you reaches the rewards ledger at once, not at the next sweep."""

import pytest
from django.contrib.auth import get_user_model

from advocates.services import outreach_approve
from rewards.models import PointsEntry, RewardGrant
from tests.advocates.outreach_helpers import default_data, propose  # noqa: F401
from tests.rewards.conftest import make_rule

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_data")]


def test_delivering_a_thank_you_earns_points_and_fires_a_rule_without_the_sweep(
        config, django_capture_on_commit_callbacks):
    make_rule(name="First thank-you", trigger_count=1, trigger_days=30, percent_off=5)
    staff = get_user_model().objects.create_user("sora")
    outreach = propose()

    # Approval commits; after commit the delivery runs (in-process here), appends the
    # AdvocacyEvent, and its commit signals rewards, which processes the event.
    with django_capture_on_commit_callbacks(execute=True):
        outreach_approve(outreach_id=outreach.pk, user=staff)

    entry = PointsEntry.objects.get()
    assert (entry.advocate_id, entry.kind) == (outreach.advocate_id, "praise")
    grant = RewardGrant.objects.get()
    assert (grant.advocate_id, grant.rule.name) == (outreach.advocate_id, "First thank-you")
