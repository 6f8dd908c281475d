"""The sandbox simulator: believable, varied, deterministic, with advocates who come back."""

import io
import re
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command

from advocates.models import Mention
from advocates.schemas import MentionIn
from advocates.simulation import STORES, MentionSimulator, sandbox_mentions_stream

JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def test_the_same_seed_gives_the_same_mentions():
    when = datetime(2026, 11, 1, tzinfo=UTC)
    first = MentionSimulator(seed=42).batch(50, posted_at=when)
    again = MentionSimulator(seed=42).batch(50, posted_at=when)
    other = MentionSimulator(seed=43).batch(50, posted_at=when)

    assert first == again
    assert {m["external_id"] for m in first}.isdisjoint(m["external_id"] for m in other)


def test_every_mention_fits_the_public_schema():
    for item in MentionSimulator(seed=1).batch(300):
        parsed = MentionIn.model_validate(item)
        assert parsed.platform == "sandbox"


def test_the_stream_has_every_kind_of_post_in_both_languages():
    items = MentionSimulator(seed=7).batch(1500)
    texts = " ".join(m["text"] for m in items)

    kinds = Counter(m["kind"] for m in items)
    assert {"post", "checkin", "review", "reply"} <= set(kinds)
    assert {m["rating"] for m in items if m["kind"] == "review"} == {1, 2, 3, 4, 5}
    venues = {m["venue"] for m in items if m["kind"] == "checkin"}
    assert venues <= set(STORES["en"]) | set(STORES["ja"])
    assert "カンシャ珈琲 渋谷店" in venues or "Kansha Coffee Shibuya" in venues
    assert sum(bool(JAPANESE.search(m["text"])) for m in items) > 400
    assert "@kanshacoffee" in texts
    for marker in ["Starbucks", "Blue Bottle", "スタバ", "ブルーボトル",  # competitors
                   "GIVEAWAY", "プレゼント企画",  # spam
                   "?", "？",  # questions
                   "Love that for me", "（棒）",  # sarcasm
                   "charged twice", "髪の毛"]:  # complaints
        assert marker.lower() in texts.lower(), marker


def test_some_advocates_come_back_and_most_post_rarely():
    items = MentionSimulator(seed=3).batch(400)
    per_author = Counter(m["author_id"] for m in items)

    assert per_author.most_common(1)[0][1] >= 10  # a regular
    assert sum(1 for n in per_author.values() if n <= 2) > len(per_author) / 3
    # The pool does not depend on the seed: another run meets the same people.
    other_run = Counter(m["author_id"] for m in MentionSimulator(seed=99).batch(400))
    assert per_author.most_common(1)[0][0] in other_run


def test_languages_can_be_restricted():
    items = MentionSimulator(seed=5, languages=["ja"]).batch(100)
    assert all(JAPANESE.search(m["text"]) for m in items if "GIVEAWAY" not in m["text"])
    assert {m.get("language", "ja") for m in items} == {"ja"}
    with pytest.raises(ValueError, match="languages"):
        MentionSimulator(languages=["fr"])


def test_spread_covers_the_last_month_oldest_first():
    now = datetime(2026, 11, 23, tzinfo=UTC)
    items = MentionSimulator(seed=2).spread(200, days=30, now=now)
    posted = [datetime.fromisoformat(m["posted_at"]) for m in items]

    assert posted == sorted(posted)
    assert now - timedelta(days=30) <= posted[0]
    assert posted[-1] <= now
    assert posted[-1] - posted[0] > timedelta(days=20)


@pytest.mark.django_db
def test_the_stream_ingests_through_the_api_source_at_the_rate():
    batches = []
    created = sandbox_mentions_stream(simulator=MentionSimulator(seed=11), rate=50, count=120,
                                      on_batch=batches.append)

    assert created == 120
    assert [b.sent for b in batches] == [50, 50, 20]
    assert Mention.objects.filter(platform="sandbox", source="api").count() == 120


@pytest.mark.django_db
def test_a_failing_batch_is_reported_and_the_stream_goes_on(monkeypatch):
    from advocates import simulation

    real = simulation.sandbox_mentions_ingest
    calls = []

    def flaky(*, items):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database hiccup")
        return real(items=items)

    monkeypatch.setattr(simulation, "sandbox_mentions_ingest", flaky)
    errors = []
    created = sandbox_mentions_stream(simulator=MentionSimulator(seed=12), rate=100, count=300,
                                      on_error=errors.append)

    assert [str(e) for e in errors] == ["database hiccup"]
    assert created == 200


@pytest.mark.django_db
def test_simulate_mentions_prints_a_line_per_batch_and_replaying_a_seed_adds_nothing():
    out = io.StringIO()
    call_command("simulate_mentions", rate=100, count=150, seed=5, lang="en,ja", stdout=out)

    lines = out.getvalue().splitlines()
    assert "seed 5" in lines[0]
    assert lines[1] == "batch 1: 100 sent, 100 created, 0 duplicate (total created 100)"
    assert lines[2] == "batch 2: 50 sent, 50 created, 0 duplicate (total created 150)"
    assert Mention.objects.count() == 150

    again = io.StringIO()
    call_command("simulate_mentions", rate=100, count=150, seed=5, stdout=again)
    assert "Done: 0 mention(s) created." in again.getvalue()
    assert Mention.objects.count() == 150


@pytest.mark.django_db
@pytest.mark.parametrize(("options", "message"), [
    ({"lang": "en,fr"}, "languages must be among"),
    ({"rate": 0}, "--rate must be positive"),
    ({"count": 0}, "--count must be at least 1"),
])
def test_simulate_mentions_refuses_bad_options(options, message):
    with pytest.raises(CommandError, match=message):
        call_command("simulate_mentions", stdout=io.StringIO(), **options)
