"""The demo's reward journey on real infrastructure (PostgreSQL, Redis, a real Celery worker):
three delivered thank-yous → points → a grant → a reward message in the queue → approved →
the code on the sandbox timeline → a recorded redemption linked to the grant."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command

from advocates import ratelimit
from advocates.models import BrandAccount, Outreach, OutreachStatus, SandboxPost
from advocates.services import outreach_approve, outreach_propose
from rewards import tasks
from rewards.models import GrantStatus, PointsEntry, Redemption, RewardGrant
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.conftest import wait_for
from tests.factories import MentionFactory
from tests.rewards.conftest import make_advocate, make_rule

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True),
              pytest.mark.usefixtures("default_data")]


def test_three_delivered_thank_yous_earn_a_code_that_reaches_the_timeline_and_is_redeemed(
        celery_worker_process, django_user_model, config):
    ratelimit.reset(BrandAccount.objects.get(platform="sandbox"))
    staff = django_user_model.objects.create_user("sora", password="pw")
    staff.groups.add(Group.objects.get_or_create(name="Social staff")[0])
    make_rule(name="Regulars: 3 thank-yous in 30 days", trigger_count=3, trigger_days=30,
              percent_off=10, code_expiry_days=30)
    advocate = make_advocate(handle="@aiko_drinks_coffee", display_name="Aiko Tanaka")
    identity = advocate.identities.get()

    now = datetime.now(UTC)
    for n in range(3):
        mention = MentionFactory(author=identity, posted_at=now - timedelta(days=n),
                                 detection_intent="praise", external_id=f"praise-{n}")
        thanks = outreach_propose(kind="reply", advocate=advocate, identity=identity,
                                  platform="sandbox", dedupe_key=f"thank:{mention.pk}",
                                  text=f"Thank you, Aiko! #{n}", mention=mention)
        outreach_approve(outreach_id=thanks.pk, user=staff)
    wait_for(lambda: Outreach.objects.filter(status=OutreachStatus.SENT).count() == 3,
             timeout=60)

    # No sweep: each delivery's commit signals rewards, and the worker processes the events.
    grant = wait_for(lambda: RewardGrant.objects.filter(status=GrantStatus.ISSUED).first(),
                     timeout=60)
    assert PointsEntry.objects.filter(advocate=advocate).count() == 3
    reward_message = wait_for(
        lambda: Outreach.objects.filter(dedupe_key=f"grant:{grant.pk}").first(), timeout=30)
    assert reward_message.status == OutreachStatus.PROPOSED  # in the queue, not sent
    code = RewardGrant.objects.get(pk=grant.pk).code.code
    assert code in reward_message.proposed_text

    outreach_approve(outreach_id=reward_message.pk, user=staff)
    post = wait_for(lambda: SandboxPost.objects.filter(kind="dm", text__contains=code).first(),
                    timeout=60)
    assert post.target_handle == "@aiko_drinks_coffee"

    tasks.rewards_housekeeping.delay()
    wait_for(lambda: RewardGrant.objects.filter(pk=grant.pk, status=GrantStatus.DELIVERED)
             .exists(), timeout=60)

    call_command("redeem_code", code, "--order-amount", "4200", "--currency", "jpy",
                 "--order-ref", "till-7")
    redemption = Redemption.objects.get()
    assert (redemption.grant_id, redemption.discount_minor, redemption.order_amount_minor) == (
        grant.pk, 420, 3780)
    assert RewardGrant.objects.get(pk=grant.pk).status == GrantStatus.REDEEMED
