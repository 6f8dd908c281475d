"""Dead letters (issue 17): one poison row per batch task; the others go through, the poison
row is set aside where an admin sees it, and replaying it after a fix processes it once."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime

import pytest
from django.contrib.auth import get_user_model
from django.db import DataError
from wagtail.models import ModelLogEntry

from advocates.models import DeadLetter, DeadLetterStatus, Mention, Outreach, WebhookDelivery
from advocates.services import mentions_detect, mentions_undetected_ids
from advocates.services.deadletters import (
    ReplayRefused,
    dead_letter_discard,
    dead_letter_replay,
)
from rewards import services
from rewards.models import Redemption, StripeEvent
from rewards.stripe_client import webhook_signature_header
from tests.advocates.platforms.conftest import _credentials_key, connect  # noqa: F401
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


# --- Every batch task: one poison row among good ones ---------------------------------------

def _listed(client, letter: DeadLetter, text: str) -> None:
    """The dead letter is in the real Wagtail admin list, with its error and a Replay link."""
    listing = client.get("/admin/snippets/advocates/deadletter/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert text in page
    assert f"/admin/kansha-dead-letters/{letter.pk}/replay/" in page


def _replay(client, letter: DeadLetter) -> DeadLetter:
    assert client.post(f"/admin/kansha-dead-letters/{letter.pk}/replay/").status_code == 302
    letter.refresh_from_db()
    return letter


def _audited(letter: DeadLetter) -> list[str]:
    return sorted(ModelLogEntry.objects.filter(object_id=str(letter.pk))
                  .values_list("action", flat=True))


def test_routing_runs_inside_the_detect_batch_so_a_routing_failure_is_a_detect_dead_letter(
        admin, client, monkeypatch):
    from advocates import routing

    good = [MentionFactory(text="Lovely latte, thank you!") for _ in range(5)]
    poison = MentionFactory(text="Lovely latte, thank you! (poison)")
    original = routing.mentions_route

    def route(*, mentions, **kwargs):
        if any(m.pk == poison.pk for m in mentions):
            raise ValueError("routing refused this mention")
        return original(mentions=mentions, **kwargs)

    monkeypatch.setattr(routing, "mentions_route", route)
    assert mentions_detect(mention_ids=[m.pk for m in [*good[:2], poison, *good[2:]]]) == 5

    letter = DeadLetter.objects.get()
    assert (letter.task, letter.key) == ("detect", str(poison.pk))
    assert letter.error.startswith("ValueError: routing refused")
    assert not Mention.objects.filter(pk__in=[m.pk for m in good], route="").exists()
    _listed(client, letter, "routing refused this mention")
    monkeypatch.setattr(routing, "mentions_route", original)  # the fix
    assert _replay(client, letter).status == DeadLetterStatus.REPLAYED
    poison.refresh_from_db()
    assert poison.detected_at is not None
    assert poison.route


@pytest.fixture
def x_account(connect):  # noqa: F811 - the imported fixture
    return connect("x", "http://127.0.0.1:9", {"consumer_secret": "dead-letter-secret"},
                   handle="@kanshacoffee", platform_user_id="1000")


def _tweet(n: int, tweet_id: str | None = None) -> dict:
    return {"for_user_id": "1000", "tweet_create_events": [{
        "id_str": tweet_id or f"88{n:04d}", "text": f"@kanshacoffee lovely latte #{n}",
        "lang": "en", "created_at": datetime.now(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y"),
        "user": {"id_str": f"99{n}", "screen_name": f"fan{n}", "name": f"Fan {n}"},
        "entities": {"user_mentions": [{"id_str": "1000", "screen_name": "kanshacoffee"}]}}]}


def test_a_webhook_delivery_the_database_refuses_is_a_dead_letter_replayed_once(
        admin, client, x_account, monkeypatch):
    from advocates.services import platforms
    from advocates.services.platforms import webhook_accept, webhooks_process_pending

    good = [webhook_accept(account=x_account, dedupe_key=f"good-{n}", body=_tweet(n))[0]
            for n in range(4)]
    poison = webhook_accept(account=x_account, dedupe_key="poison",
                            body=_tweet(9, tweet_id="889999"))[0]
    original = platforms.mentions_ingest

    def ingest(*, items, **kwargs):  # the database refuses any batch holding the poison tweet
        if any(item.external_id == "889999" for item in items):
            raise DataError("value out of range for its column")
        return original(items=items, **kwargs)

    monkeypatch.setattr(platforms, "mentions_ingest", ingest)
    outcome = webhooks_process_pending()

    assert (outcome.claimed, outcome.created, outcome.failed) == (5, 4, 1)
    assert Mention.objects.count() == 4
    assert not WebhookDelivery.objects.filter(pk__in=good, processed_at__isnull=True).exists()
    letter = DeadLetter.objects.get()
    assert (letter.task, letter.key, letter.payload) == (
        "webhook_ingest", str(poison), {"delivery_id": poison})
    assert letter.error.startswith("DataError: value out of range")
    assert WebhookDelivery.objects.get(pk=poison).error.startswith("ingest failed: DataError")
    assert webhooks_process_pending().claimed == 0  # not claimed again
    _listed(client, letter, "value out of range for its column")

    assert _replay(client, letter).status == DeadLetterStatus.OPEN  # not fixed yet
    assert letter.attempts == 2
    monkeypatch.setattr(platforms, "mentions_ingest", original)  # the fix
    assert _replay(client, letter).status == DeadLetterStatus.REPLAYED
    assert Mention.objects.filter(external_id="889999").count() == 1
    assert Mention.objects.count() == 5
    assert WebhookDelivery.objects.get(pk=poison).error == ""
    _replay(client, letter)  # refused: already replayed
    assert Mention.objects.count() == 5
    assert _audited(letter) == ["kansha.deadletter.replay", "kansha.deadletter.replay_failed"]


@pytest.mark.usefixtures("rewards_config")
def test_a_poison_advocacy_event_does_not_stop_the_ledger_and_gets_its_points_once(
        admin, client):
    from rewards.models import PointsEntry, RewardsSettings
    from rewards.services import ledger
    from tests.rewards.conftest import make_advocate, make_event

    RewardsSettings.objects.update(expiry_days=365)
    advocate = make_advocate()
    good = [make_event(advocate) for _ in range(3)]
    # The issue's poison date: its points would expire after year 9999 (OverflowError).
    poison = make_event(make_advocate(), at=POISON_POSTED_AT, mention=False,
                        created_at=datetime.now(UTC))
    good += [make_event(advocate) for _ in range(2)]

    result = ledger.events_process_batch()

    assert result.processed == 5
    assert set(PointsEntry.objects.values_list("event_id", flat=True)) == {e.pk for e in good}
    letter = DeadLetter.objects.get()
    assert (letter.task, letter.key, letter.payload) == (
        "ledger", str(poison.pk), {"event_id": poison.pk})
    assert letter.error.startswith("OverflowError")
    # The sweep and the next batches skip it while it is open.
    assert not ledger.events_unprocessed_exist()
    assert ledger.events_process_batch().processed == 0
    assert ledger.ledger_rescan() == 0
    assert DeadLetter.objects.get().attempts == 1
    _listed(client, letter, "OverflowError")

    poison.occurred_at = datetime.now(UTC)  # the fix
    poison.save(update_fields=["occurred_at"])
    assert _replay(client, letter).status == DeadLetterStatus.REPLAYED
    assert PointsEntry.objects.filter(event_id=poison.pk).count() == 1
    assert PointsEntry.objects.get(event_id=poison.pk).points > 0
    _replay(client, letter)
    assert ledger.events_process_batch().processed == 0
    assert PointsEntry.objects.count() == 6


@pytest.mark.usefixtures("rewards_config")
def test_a_grant_whose_code_cannot_be_built_is_set_aside_and_the_others_are_issued(
        admin, client, django_capture_on_commit_callbacks):
    from rewards import tasks
    from rewards.models import DiscountCode, GrantStatus, RewardGrant
    from tests.rewards.conftest import make_advocate, make_rule

    rule = make_rule(trigger_count=1)
    grants = [services.grant_create(rule=rule, advocate_id=make_advocate().pk)
              for _ in range(4)]
    RewardGrant.objects.update(status=GrantStatus.APPROVED)
    poison = grants[1]
    # A reward snapshot whose code would expire after year 9999: the code row cannot be built.
    RewardGrant.objects.filter(pk=poison.pk).update(
        reward={**poison.reward, "code_expiry_days": 5_000_000})

    with django_capture_on_commit_callbacks(execute=True):
        tasks.grants_issue.delay([g.pk for g in grants])

    issued = set(RewardGrant.objects.filter(status=GrantStatus.ISSUED).values_list("pk",
                                                                                flat=True))
    assert issued == {g.pk for g in grants} - {poison.pk}
    assert DiscountCode.objects.count() == 3
    letter = DeadLetter.objects.get()
    assert (letter.task, letter.key, letter.payload) == (
        "grant_issue", str(poison.pk), {"grant_id": poison.pk})
    assert letter.error.startswith("OverflowError")
    RewardGrant.objects.filter(pk=poison.pk).update(
        approved_at=datetime(2026, 1, 1, tzinfo=UTC))
    assert poison.pk not in services.grants_approved_stale_ids()  # the sweep skips it
    _listed(client, letter, "OverflowError")

    RewardGrant.objects.filter(pk=poison.pk).update(  # the fix
        reward={**poison.reward, "code_expiry_days": 30})
    with django_capture_on_commit_callbacks(execute=True):
        assert _replay(client, letter).status == DeadLetterStatus.REPLAYED
        _replay(client, letter)
    assert RewardGrant.objects.get(pk=poison.pk).status == GrantStatus.ISSUED
    assert DiscountCode.objects.filter(grant=poison).count() == 1
    assert DiscountCode.objects.count() == 4


def _rollups_built():
    from rewards.reports.rollups import rollups_refresh

    assert rollups_refresh().rebuilt


def test_a_rollup_period_that_cannot_be_counted_is_set_aside_and_the_others_refresh(
        admin, client):
    from rewards.models import ActivePeriodRollup, ReportDirtyPeriod
    from rewards.reports.rollups import rollups_refresh
    from tests.rewards.conftest import make_advocate, make_event

    _rollups_built()
    advocate = make_advocate()
    for month in (10, 11):
        make_event(advocate, at=datetime(2026, month, 15, 12, tzinfo=UTC), mention=False,
                   created_at=datetime.now(UTC))
    # The issue's poison date: the week and month holding it end after year 9999.
    make_event(make_advocate(), at=POISON_POSTED_AT, mention=False,
               created_at=datetime.now(UTC))

    rollups_refresh()

    months = set(ActivePeriodRollup.objects.filter(period="month")
                 .values_list("start", flat=True))
    assert {date(2026, 10, 1), date(2026, 11, 1)} <= months
    letters = {letter.key: letter for letter in DeadLetter.objects.all()}
    assert set(letters) == {"active:week:9999-12-27", "active:month:9999-12-01",
                            "top:month:9999-12-01"}
    assert all(letter.task == "report_rollup" and letter.error.startswith("OverflowError")
               for letter in letters.values())
    _listed(client, letters["active:month:9999-12-01"], "report_rollup")
    # Those periods cannot exist: the operator discards them; the refreshes leave them be.
    for letter in letters.values():
        response = client.post(f"/admin/kansha-dead-letters/{letter.pk}/discard/")
        assert response.status_code == 302
        assert _audited(letter) == ["kansha.deadletter.discard"]
    rollups_refresh()
    assert DeadLetter.objects.filter(status=DeadLetterStatus.OPEN).count() == 0
    assert ReportDirtyPeriod.objects.filter(start__year=9999).count() == 3


def test_a_rollup_period_replayed_after_the_fix_is_recounted_once(admin, client, monkeypatch):
    from dataclasses import replace

    from rewards.models import ActivePeriodRollup, ReportDirtyPeriod
    from rewards.reports import rollups
    from rewards.reports.params import ReportParams
    from tests.rewards.conftest import make_advocate, make_event

    _rollups_built()
    advocate = make_advocate()
    for month in (9, 10, 11):
        make_event(advocate, at=datetime(2026, month, 15, 12, tzinfo=UTC), mention=False,
                   created_at=datetime.now(UTC))
    original = rollups.SUMMARIES["active"]
    october = date(2026, 10, 1)

    def count(p):  # the database refuses to count October (a bad row in it)
        if p.period == "month" and p.date_from <= october <= p.date_to:
            raise DataError("invalid input in October")
        return original.count(p)

    monkeypatch.setitem(rollups.SUMMARIES, "active", replace(original, count=count))
    rollups.rollups_refresh()

    months = set(ActivePeriodRollup.objects.filter(period="month")
                 .values_list("start", flat=True))
    assert months == {date(2026, 9, 1), date(2026, 11, 1)}
    letter = DeadLetter.objects.get()
    assert letter.key == "active:month:2026-10-01"
    assert ReportDirtyPeriod.objects.filter(summary="active", start=october).exists()
    _listed(client, letter, "invalid input in October")

    monkeypatch.setitem(rollups.SUMMARIES, "active", original)  # the fix
    # Until the replay, reports count the set-aside period directly (its rollup is stale).
    ActivePeriodRollup.objects.create(period="month", start=october, platform="sandbox",
                                      active_advocates=7, events=70, reshares=0)
    frame = rollups.rollup_advocates_active(ReportParams(date(2026, 9, 1), date(2026, 11, 30),
                                                  period="month"))
    assert list(frame["events"]) == [1, 1, 1]
    ActivePeriodRollup.objects.filter(period="month", start=october).delete()
    assert _replay(client, letter).status == DeadLetterStatus.REPLAYED
    _replay(client, letter)
    assert ActivePeriodRollup.objects.filter(period="month", start=october).count() == 1
    assert ActivePeriodRollup.objects.get(period="month", start=october).events == 1
    assert not ReportDirtyPeriod.objects.filter(summary="active", start=october).exists()
