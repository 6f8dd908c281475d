"""The batch inserts of `advocates.sql`: the PostgreSQL fast path (COPY) and the portable
fallback (INSERT … ON CONFLICT DO NOTHING RETURNING) give the same answer.

On PostgreSQL a stored key among the rows makes COPY fail, so these tests run the fallback
there too (the path a concurrent batch forces); on SQLite the fallback is the only path.
"""

from datetime import UTC, datetime

import pytest
from django.db.models import Q

from advocates.models import Mention, Outreach, OutreachLog
from advocates.sql import (
    JsonText,
    copy_instances,
    insert_ignoring,
    insert_rows,
    instances_insert_new,
    rows_by_keys,
    rows_insert_new,
    rows_update,
)
from tests.factories import MentionFactory, OutreachFactory, SocialIdentityFactory

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
COLUMNS = ("platform", "external_id", "kind", "author_id", "text", "language", "url",
           "posted_at", "rating", "venue", "in_reply_to", "raw", "received_at", "source")


def _row(external_id: str, author_id: int, raw: str = '{"id": 1}') -> tuple:
    return ("sandbox", external_id, "post", author_id, "hello", "en", "", NOW, None, "", "",
            JsonText(raw), NOW, "api")


def test_rows_insert_new_gives_the_new_rows_ids_and_none_for_stored_ones():
    author = SocialIdentityFactory()
    (first,) = rows_insert_new(Mention, COLUMNS, [_row("a", author.pk)],
                               unique=("platform", "external_id"))

    # "a" is stored already: on PostgreSQL COPY refuses the batch and the fallback runs.
    stored_already, second = rows_insert_new(
        Mention, COLUMNS, [_row("a", author.pk), _row("b", author.pk)],
        unique=("platform", "external_id"))

    assert stored_already is None
    assert second is not None
    assert Mention.objects.get(pk=first).external_id == "a"
    stored = Mention.objects.get(pk=second)
    assert (stored.external_id, stored.raw, stored.received_at) == ("b", {"id": 1}, NOW)
    assert Mention.objects.count() == 2


def test_json_text_is_stored_as_the_document_it_holds_not_as_a_string():
    author = SocialIdentityFactory()
    (pk,) = rows_insert_new(Mention, COLUMNS, [_row("c", author.pk, '{"a": [1, "x"]}')],
                            unique=("platform", "external_id"))
    assert Mention.objects.get(pk=pk).raw == {"a": [1, "x"]}


def _outreach(key: str, existing: Outreach) -> Outreach:
    return Outreach(kind="reply", advocate_id=existing.advocate_id,
                    identity_id=existing.identity_id, platform="sandbox", dedupe_key=key,
                    proposed_text="thanks", reasons=["praise"], created_at=NOW,
                    updated_at=NOW)


def test_instances_insert_new_skips_stored_and_repeated_keys():
    existing = OutreachFactory(dedupe_key="thank:1")
    rows = [_outreach("thank:1", existing), _outreach("thank:2", existing),
            _outreach("thank:2", existing), _outreach("thank:3", existing)]

    created = instances_insert_new(Outreach, rows, unique=("dedupe_key",))

    assert [o.dedupe_key for o in created] == ["thank:2", "thank:3"]
    assert all(o.pk and not o._state.adding for o in created)
    assert {o.pk for o in created} == set(
        Outreach.objects.filter(dedupe_key__in=["thank:2", "thank:3"])
        .values_list("pk", flat=True))
    assert rows[0].pk is None
    assert rows[2].pk is None


def test_instances_insert_new_falls_back_when_copy_meets_a_stored_key(monkeypatch):
    """A key stored by a concurrent batch after the lookup: COPY fails, the fallback skips it."""
    existing = OutreachFactory(dedupe_key="thank:1")
    rows = [_outreach("thank:1", existing), _outreach("thank:4", existing)]
    # The lookup sees nothing stored, as if the other batch committed right after it.
    monkeypatch.setattr("advocates.sql._keys_in", lambda unique, keys: Q(pk__in=[]))

    created = instances_insert_new(Outreach, rows, unique=("dedupe_key",))

    assert [o.dedupe_key for o in created] == ["thank:4"]
    assert rows[0].pk is None
    assert Outreach.objects.filter(dedupe_key="thank:1").count() == 1


def test_copy_instances_and_insert_rows_store_what_they_are_given():
    existing = OutreachFactory()
    (log_id,) = copy_instances(OutreachLog, [OutreachLog(
        outreach_id=existing.pk, action="proposed", at=NOW, detail={"reasons": ["praise"]})])
    log = OutreachLog.objects.get(pk=log_id)
    assert (log.action, log.detail) == ("proposed", {"reasons": ["praise"]})

    insert_rows(OutreachLog, ("outreach_id", "action", "at", "detail"),
                [(existing.pk, "edited", NOW, {"from": "a"})])
    assert OutreachLog.objects.get(action="edited").detail == {"from": "a"}


def test_rows_update_stores_each_rows_own_values():
    first, second = MentionFactory(), MentionFactory()
    first.detection_reasons, first.route = ["praise word: loving"], "thank"
    first.detected_at = datetime(2026, 12, 7, 12, 0, 0, 123456, tzinfo=UTC)
    second.detection_reasons, second.route, second.detected_at = [], "none", NOW

    rows_update(Mention, [first, second], ["detection_reasons", "route", "detected_at"])

    stored = {m.pk: m for m in Mention.objects.filter(pk__in=[first.pk, second.pk])}
    assert (stored[first.pk].detection_reasons, stored[first.pk].route,
            stored[first.pk].detected_at) == (["praise word: loving"], "thank",
                                              first.detected_at)
    assert (stored[second.pk].detection_reasons, stored[second.pk].route) == ([], "none")


def test_rows_by_keys_reads_the_rows_of_the_keys_that_are_stored():
    mention = MentionFactory(external_id="k-1")
    rows = rows_by_keys(Mention, [("sandbox", "k-1"), ("sandbox", "k-2")], "platform",
                        "external_id", ("id", "external_id"))
    assert rows == [(mention.pk, "k-1")]


def test_insert_ignoring_one_row_gives_its_id_or_nothing_for_a_duplicate():
    existing = OutreachFactory(dedupe_key="dm:1")
    (created,) = insert_ignoring(Outreach, [_outreach("dm:2", existing)], ("dedupe_key",))
    assert Outreach.objects.get(pk=created.pk).dedupe_key == "dm:2"
    assert insert_ignoring(Outreach, [_outreach("dm:1", existing)], ("dedupe_key",)) == []
