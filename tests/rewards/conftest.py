"""Fixtures for the rewards tests: advocates with identities, events, rules."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from advocates.models import AdvocacyEvent
from rewards.models import RewardRule, RewardsSettings
from tests.factories import AdvocateFactory, MentionFactory, SocialIdentityFactory

_seq = itertools.count(1)


@pytest.fixture
def now():
    return datetime.now(UTC)


@pytest.fixture
def config(db):
    """Rewards settings with fraud guards relaxed so only the test's own guard fires."""
    s = RewardsSettings.load()
    s.velocity_max_per_hour = 0
    s.min_account_age_days = 0
    s.min_followers = 0
    s.duplicate_text_identities = 0
    s.save()
    return s


def make_advocate(**identity):
    advocate = AdvocateFactory()
    identity.setdefault("follower_count", 500)
    SocialIdentityFactory(advocate=advocate, **identity)
    return advocate


def make_event(advocate, kind="praise", *, at=None, rating=None, venue="", created_at=None,
               mention=True, text=None):
    at = at or datetime.now(UTC)
    m = None
    if mention:
        identity = advocate.identities.first()
        kwargs = {"author": identity, "posted_at": at, "rating": rating, "venue": venue}
        if text is not None:
            kwargs["text"] = text
        m = MentionFactory(**kwargs)
    return AdvocacyEvent.objects.create(
        advocate=advocate, kind=kind, mention=m, platform="sandbox", rating=rating, venue=venue,
        occurred_at=at, created_at=created_at or at - timedelta(seconds=0),
        dedupe_key=f"test:{next(_seq)}")


def make_rule(**overrides) -> RewardRule:
    fields = {"name": f"Rule {next(_seq)}", "trigger": "events_in_days", "trigger_count": 3,
              "trigger_days": 30, "reward_kind": "discount", "discount_type": "percent",
              "percent_off": 10, "currency": "jpy", "period": "month", "live": True}
    fields.update(overrides)
    return RewardRule.objects.create(**fields)


@pytest.fixture
def advocate(db):
    return make_advocate()


@pytest.fixture
def process(django_capture_on_commit_callbacks):
    """Run one ledger batch and its after-commit work (issuing), as the task would."""
    from rewards import services

    def run(**kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return services.events_process_batch(**kwargs)

    return run


@pytest.fixture
def fake_stripe():
    from tests.fakes.stripe_server import FakeStripe

    server = FakeStripe().start()
    yield server
    server.stop()


@pytest.fixture
def stripe_on(settings, fake_stripe, monkeypatch):
    """The real SDK pointed at the fake server (also for worker subprocesses, via env)."""
    settings.STRIPE_API_KEY = "sk_test_kansha"
    settings.STRIPE_API_BASE = fake_stripe.url
    settings.STRIPE_TIMEOUT_SECONDS = 1.0
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_kansha")
    monkeypatch.setenv("STRIPE_API_BASE", fake_stripe.url)
    monkeypatch.setenv("STRIPE_TIMEOUT_SECONDS", "1")
    return fake_stripe
