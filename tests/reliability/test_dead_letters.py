"""Dead letters (issue 17): one poison row per batch task; the others go through, the poison
row is set aside where an admin sees it, and replaying it after a fix processes it once."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime

import pytest
from django.contrib.auth import get_user_model
from wagtail.models import ModelLogEntry

from advocates.models import DeadLetter, DeadLetterStatus, Mention, Outreach
from advocates.services import mentions_detect, mentions_undetected_ids
from advocates.services.deadletters import (
    ReplayRefused,
    dead_letter_discard,
    dead_letter_replay,
)
from rewards import services
from rewards.models import Redemption, StripeEvent
from rewards.stripe_client import webhook_signature_header
from tests.factories import MentionFactory
from tests.rewards.test_redemptions import _checkout, _event, _grant_with_code

pytestmark = pytest.mark.django_db

# The poison from the issue: valid with its offset, but at the very end of year 9999 in UTC;
# stored before the edge refused it, it broke every detect batch that held it (a complaint's
# care clock runs from the posting time, and that overflowed).
POISON_POSTED_AT = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)


@pytest.fixture
def rewards_config(db):
    """Fraud guards relaxed, as tests/rewards/conftest.py's `config`."""
    from rewards.models import RewardsSettings

    s = RewardsSettings.load()
    s.velocity_max_per_hour = s.min_account_age_days = s.min_followers = 0
    s.duplicate_text_identities = 0
    s.save()
    return s


@pytest.fixture
def admin(client):
    user = get_user_model().objects.create_superuser("ops", "ops@example.com", "pw")
    client.force_login(user)
    return user


def test_a_poison_mention_is_set_aside_and_the_rest_of_its_batch_is_detected(admin, client):
    good = [MentionFactory(text="Terrible service, my order was wrong and cold") for _ in range(6)]
    poison = MentionFactory(text="Terrible service, my order was wrong and cold",
                            posted_at=POISON_POSTED_AT)
    ids = [m.pk for m in good[:3]] + [poison.pk] + [m.pk for m in good[3:]]

    assert mentions_detect(mention_ids=ids) == 6

    assert not Mention.objects.filter(pk__in=[m.pk for m in good],
                                      detected_at__isnull=True).exists()
    letter = DeadLetter.objects.get()
    assert (letter.task, letter.key, letter.status) == ("detect", str(poison.pk), "open")
    assert letter.payload == {"mention_id": poison.pk}
    assert letter.error.startswith("OverflowError")
    # The sweep no longer re-queues it forever.
    Mention.objects.filter(pk=poison.pk).update(received_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert poison.pk not in mentions_undetected_ids(older_than_seconds=0)

    # The admin lists it with its actions.
    listing = client.get("/admin/snippets/advocates/deadletter/")
    assert listing.status_code == 200
    assert "OverflowError" in listing.content.decode()
    assert f"/admin/kansha-dead-letters/{letter.pk}/replay/" in listing.content.decode()

    # Replaying before the fix fails again, and says so; after the fix it goes through once.
    response = client.post(f"/admin/kansha-dead-letters/{letter.pk}/replay/")
    assert response.status_code == 302
    letter.refresh_from_db()
    assert (letter.status, letter.attempts) == ("open", 2)
    Mention.objects.filter(pk=poison.pk).update(posted_at=datetime.now(UTC))
    client.post(f"/admin/kansha-dead-letters/{letter.pk}/replay/")
    letter.refresh_from_db()
    assert letter.status == DeadLetterStatus.REPLAYED
    assert Mention.objects.get(pk=poison.pk).detected_at is not None
    assert Outreach.objects.filter(mention=poison).count() == 1
    # A second replay is refused: nothing runs twice.
    assert client.post(f"/admin/kansha-dead-letters/{letter.pk}/replay/").status_code == 302
    assert Outreach.objects.filter(mention=poison).count() == 1
    actions = list(ModelLogEntry.objects.filter(object_id=str(letter.pk))
                   .values_list("action", flat=True))
    assert sorted(actions) == ["kansha.deadletter.replay", "kansha.deadletter.replay_failed"]


@pytest.mark.usefixtures("rewards_config")
def test_a_poison_stripe_event_is_set_aside_fixed_and_replayed_once(admin, client, settings):
    settings.STRIPE_WEBHOOK_SECRET = "whsec_dead"
    grant = _grant_with_code()

    def store(body):
        payload = json.dumps(body).encode()
        header = webhook_signature_header(payload=payload, secret="whsec_dead",
                                          timestamp=int(time.time()))
        return services.stripe_event_store(payload=payload, sig_header=header)[0]

    poison = store(_event("checkout.session.completed", ["not", "an", "object"],
                          event_id="evt_poison"))
    good = store(_event("customer.created", {"id": "cus_1", "object": "customer"},
                        event_id="evt_good"))
    StripeEvent.objects.update(received_at=datetime(2026, 1, 1, tzinfo=UTC))

    with pytest.raises(AttributeError):
        services.stripe_event_process(stripe_event_id=poison.pk)
    services.stripe_event_process(stripe_event_id=good.pk)

    letter = DeadLetter.objects.get(task="stripe_event")
    assert letter.key == str(poison.pk)
    assert services.stripe_events_unprocessed_ids() == []  # the sweep skips it

    # The fix: the payload edited in the admin (the snippet's edit form), then a replay.
    fixed = {**letter.payload, "payload": _event("checkout.session.completed", _checkout(),
                                                  event_id="evt_poison")}
    response = client.post(f"/admin/snippets/advocates/deadletter/edit/{letter.pk}/",
                           {"payload": json.dumps(fixed)})
    assert response.status_code == 302, response.content.decode()[:2000]
    ok, error = dead_letter_replay(dead_letter_id=letter.pk, user=admin)
    assert (ok, error) == (True, "")
    assert Redemption.objects.filter(grant=grant).count() == 1
    with pytest.raises(ReplayRefused):
        dead_letter_replay(dead_letter_id=letter.pk, user=admin)
    poison.refresh_from_db()
    assert poison.processed_at is not None
    assert ModelLogEntry.objects.filter(object_id=str(letter.pk),
                                        action="wagtail.edit").exists()


def test_discard_gives_up_on_the_row_and_is_audited(admin):
    letter = DeadLetter.objects.create(task="detect", key="123", payload={"mention_id": 123},
                                       error="OverflowError: date value out of range")
    assert dead_letter_discard(dead_letter_id=letter.pk, user=admin)
    assert not dead_letter_discard(dead_letter_id=letter.pk, user=admin)  # once
    letter.refresh_from_db()
    assert letter.status == DeadLetterStatus.DISCARDED
    assert ModelLogEntry.objects.filter(object_id=str(letter.pk),
                                        action="kansha.deadletter.discard").count() == 1
