from datetime import UTC, datetime

import pytest

from advocates.models import Advocate, Mention, SocialIdentity
from advocates.schemas import MentionIn, mention_item_parse
from advocates.services import mentions_ingest
from tests.factories import mention_item

pytestmark = pytest.mark.django_db


def _items(n: int, **overrides) -> list[MentionIn]:
    return [MentionIn.model_validate(mention_item(i, **overrides)) for i in range(n)]


def test_ingest_creates_mentions_identities_and_advocates():
    result = mentions_ingest(items=_items(20), source="api", detect=False)

    assert (result.created, result.duplicate, result.invalid) == (20, 0, [])
    assert Mention.objects.count() == 20
    assert SocialIdentity.objects.count() == 7  # authors are n % 7
    assert Advocate.objects.count() == 7
    mention = Mention.objects.get(external_id="ext-3")
    assert mention.author.handle == "@fan3"
    assert mention.posted_at == datetime(2026, 11, 20, 0, 30, tzinfo=UTC)
    assert mention.raw["external_id"] == "ext-3"


def test_reingesting_the_same_batch_creates_nothing():
    mentions_ingest(items=_items(20), source="api", detect=False)
    before = list(Mention.objects.order_by("id").values())

    again = mentions_ingest(items=_items(20), source="api", detect=False)

    assert (again.created, again.duplicate) == (0, 20)
    assert list(Mention.objects.order_by("id").values()) == before
    assert Advocate.objects.count() == 7


def test_duplicates_inside_one_batch_count_once():
    items = _items(3) + _items(3)
    result = mentions_ingest(items=items, source="api", detect=False)
    assert (result.created, result.duplicate) == (3, 3)


def test_same_external_id_on_another_platform_is_a_different_mention():
    mentions_ingest(items=_items(1), source="api", detect=False)
    result = mentions_ingest(items=_items(1, platform="x"), source="api", detect=False)
    assert result.created == 1
    assert Mention.objects.filter(external_id="ext-0").count() == 2


def test_identity_profile_is_refreshed_by_newer_mentions():
    mentions_ingest(items=_items(1, followers=10), source="api", detect=False)
    mentions_ingest(items=[MentionIn.model_validate(
        mention_item(7, author_handle="@renamed", followers=99))], source="api", detect=False)
    identity = SocialIdentity.objects.get(platform_user_id="author-0")
    assert (identity.handle, identity.follower_count) == ("@renamed", 99)


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ({"platform": "myspace"}, "platform"),
        ({"posted_at": "2026-11-20T09:30:00"}, "UTC offset"),
        ({"rating": 7}, "rating"),
        ({"external_id": ""}, "external_id"),
        ({"kind": "essay"}, "kind"),
        ({"url": "javascript:alert(1)"}, "url"),
    ],
)
def test_bad_items_are_rejected_with_a_reason(override, expected):
    item, reason = mention_item_parse(mention_item(1, **override))
    assert item is None
    assert expected in reason


def test_detection_is_enqueued_after_commit(django_capture_on_commit_callbacks, monkeypatch):
    enqueued = []
    monkeypatch.setattr("advocates.tasks.mentions_detect_enqueue", enqueued.extend)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = mentions_ingest(items=_items(5), source="api")
    assert enqueued == []  # nothing before commit
    for callback in callbacks:
        callback()
    assert sorted(enqueued) == sorted(result.mention_ids)


def _miss_lookups_of(model, monkeypatch):
    """Make the ingest's "already stored?" lookup for `model` see nothing, as if a concurrent
    batch had stored its rows between that lookup and the insert."""
    from advocates.services import ingest

    real = ingest.rows_by_keys

    def blind(target, keys, first, second, columns):
        if target is model:
            blind.calls += 1
            if blind.calls == 1:
                return []
        return real(target, keys, first, second, columns)

    blind.calls = 0
    monkeypatch.setattr(ingest, "rows_by_keys", blind)


def test_a_mention_stored_meanwhile_by_a_concurrent_batch_counts_as_duplicate(monkeypatch):
    mentions_ingest(items=_items(3), source="api", detect=False)
    _miss_lookups_of(Mention, monkeypatch)

    result = mentions_ingest(items=_items(5), source="api", detect=False)

    assert (result.created, result.duplicate) == (2, 3)
    assert sorted(Mention.objects.filter(pk__in=result.mention_ids)
                  .values_list("external_id", flat=True)) == ["ext-3", "ext-4"]
    assert Mention.objects.count() == 5


def test_an_author_created_meanwhile_by_a_concurrent_batch_is_reused(monkeypatch):
    mentions_ingest(items=_items(3), source="api", detect=False)  # authors 0, 1, 2
    _miss_lookups_of(SocialIdentity, monkeypatch)

    result = mentions_ingest(items=[
        MentionIn.model_validate(mention_item(i, external_id=f"new-{i}")) for i in range(5)
    ], source="api", detect=False)

    assert result.created == 5
    assert SocialIdentity.objects.count() == 5
    assert Advocate.objects.count() == 5  # the spare advocates of the losing insert are gone
    assert set(Mention.objects.filter(external_id__startswith="new-")
               .values_list("author__platform_user_id", flat=True)) == {
        f"author-{i}" for i in range(5)}


def test_new_mentions_get_their_ids_and_model_defaults():
    result = mentions_ingest(
        items=_items(4, rating=5, kind="review", venue="Kansha Coffee Kyoto"),
        source="import", detect=False)

    mentions = Mention.objects.filter(pk__in=result.mention_ids)
    assert mentions.count() == 4
    mention = mentions.first()
    assert (mention.source, mention.rating, mention.venue) == ("import", 5, "Kansha Coffee Kyoto")
    assert (mention.detected_at, mention.detection_reasons, mention.detection_flags,
            mention.route) == (None, [], [], "")
    assert mention.author.advocate.display_name == mention.author.display_name
