"""`manage.py import_mentions`: CSV and JSONL files in the normalised schema."""

import csv
import gzip
import io
import json
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from advocates.importing import mention_batches
from advocates.models import Advocate, Mention, SocialIdentity
from tests.factories import mention_item

pytestmark = pytest.mark.django_db

COLUMNS = ["platform", "external_id", "author_id", "author_handle", "author_name", "text",
           "posted_at", "kind", "url", "language", "rating", "venue", "in_reply_to",
           "followers"]


def _import(path, **options):
    out, err = io.StringIO(), io.StringIO()
    call_command("import_mentions", str(path), stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def _jsonl(tmp_path, rows, name="mentions.jsonl"):
    path = tmp_path / name
    path.write_text("".join(
        (row if isinstance(row, str) else json.dumps(row, ensure_ascii=False)) + "\n"
        for row in rows), encoding="utf-8")
    return path


def _csv(tmp_path, rows, name="mentions.csv", columns=COLUMNS):
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: ("" if v is None else v) for k, v in row.items()})
    path = tmp_path / name
    path.write_text(buffer.getvalue(), encoding="utf-8")
    return path


def test_jsonl_import_creates_mentions_with_their_authors(tmp_path):
    path = _jsonl(tmp_path, [mention_item(i) for i in range(10)])

    out, _ = _import(path)

    assert "10 created, 0 duplicate, 0 invalid" in out
    assert Mention.objects.filter(source="import").count() == 10
    assert SocialIdentity.objects.count() == 7
    mention = Mention.objects.get(external_id="ext-4")
    assert mention.posted_at == datetime(2026, 11, 20, 0, 30, tzinfo=UTC)
    assert mention.raw == mention_item(4)  # the row as given is kept


def test_reimporting_the_same_file_creates_nothing(tmp_path):
    path = _jsonl(tmp_path, [mention_item(i) for i in range(25)])
    _import(path, batch_size=10)
    before = list(Mention.objects.order_by("id").values())

    out, _ = _import(path, batch_size=7)

    assert "0 created, 25 duplicate, 0 invalid" in out
    assert list(Mention.objects.order_by("id").values()) == before
    assert Advocate.objects.count() == 7


def test_bad_jsonl_rows_are_reported_by_line_and_good_rows_still_import(tmp_path):
    path = _jsonl(tmp_path, [
        mention_item(1),
        "{not json",
        mention_item(2, posted_at="2026-11-20T09:30:00"),
        "",
        "[1, 2]",
        mention_item(3, rating=9, kind="review"),
        mention_item(4),
    ])

    out, err = _import(path)

    assert "2 created, 0 duplicate, 4 invalid" in out
    assert "line 2: not valid JSON" in err
    assert "line 3: posted_at: Value error, posted_at needs a UTC offset" in err
    assert "line 4" not in err  # a blank line is not an error
    assert "line 5: item must be a JSON object" in err
    assert "line 6: rating" in err
    assert set(Mention.objects.values_list("external_id", flat=True)) == {"ext-1", "ext-4"}


def test_csv_import_treats_empty_cells_as_not_given(tmp_path):
    path = _csv(tmp_path, [
        mention_item(1, rating=None, followers=None, url=""),
        mention_item(2, kind="review", rating="4", followers="1200", language="ja",
                     text="最高のコーヒー、ありがとう！", venue="カンシャ珈琲 渋谷店"),
    ])

    out, err = _import(path)

    assert "2 created, 0 duplicate, 0 invalid" in out, err
    plain, review = Mention.objects.order_by("external_id")
    assert (plain.rating, plain.url, plain.author.follower_count) == (None, "", None)
    assert (review.rating, review.language, review.venue) == (4, "ja", "カンシャ珈琲 渋谷店")
    assert review.text == "最高のコーヒー、ありがとう！"
    assert review.author.follower_count == 1200


def test_bad_csv_rows_are_reported_by_line(tmp_path):
    path = _csv(tmp_path, [
        mention_item(1),
        mention_item(2, external_id=""),  # required, empty means missing
        mention_item(3, rating="five"),
        mention_item(4, text="a quoted\nmulti-line post"),
        mention_item(5, platform="myspace"),
        mention_item(6),
    ])

    out, err = _import(path)

    assert "3 created, 0 duplicate, 3 invalid" in out
    assert "line 3: external_id: Field required" in err
    assert "line 4: rating" in err
    assert "line 7: platform" in err  # line 5 holds a record spanning lines 5-6
    assert Mention.objects.get(external_id="ext-4").text == "a quoted\nmulti-line post"


def test_csv_rows_with_the_wrong_number_of_cells_are_reported(tmp_path):
    path = _csv(tmp_path, [mention_item(1)])
    with path.open("a", encoding="utf-8") as handle:
        handle.write("sandbox,ext-9,too,few\n")

    out, err = _import(path)

    assert "1 created, 0 duplicate, 1 invalid" in out
    assert "line 3: has 4 cells, the header has 14" in err


def test_csv_without_required_columns_is_refused_before_writing(tmp_path):
    path = _csv(tmp_path, [mention_item(1)], columns=["platform", "external_id", "text"])

    with pytest.raises(CommandError, match="lacks required column.*author_id"):
        _import(path)
    assert Mention.objects.count() == 0


def test_rows_that_are_not_utf8_are_reported(tmp_path):
    good = json.dumps(mention_item(1)).encode()
    bad = json.dumps(mention_item(2, text="caf\u00e9")).encode().replace(b"\\u00e9", b"\xe9")
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(good + b"\n" + bad + b"\n")

    out, err = _import(path)

    assert "1 created, 0 duplicate, 1 invalid" in out
    assert "line 2: not valid UTF-8" in err


def test_gzipped_files_are_read(tmp_path):
    path = tmp_path / "mentions.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as handle:
        for i in range(3):
            handle.write(json.dumps(mention_item(i)) + "\n")

    out, _ = _import(path)

    assert "3 created" in out


def test_a_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="File not found: .*nope.jsonl"):
        _import(tmp_path / "nope.jsonl")


def test_an_unknown_format_is_a_clear_error_and_writes_nothing(tmp_path):
    path = _jsonl(tmp_path, [mention_item(1)], name="mentions.txt")

    with pytest.raises(CommandError, match="Cannot tell the format of 'mentions.txt'"):
        _import(path)
    with pytest.raises(CommandError, match="Unknown format 'xml'"):
        _import(path, format="xml")
    assert Mention.objects.count() == 0

    out, _ = _import(path, format="jsonl")
    assert "1 created" in out


def test_a_directory_is_not_a_file(tmp_path):
    with pytest.raises(CommandError, match="Not a file"):
        _import(tmp_path, format="csv")


def test_the_file_is_streamed_in_batches(tmp_path):
    path = _jsonl(tmp_path, [mention_item(i) for i in range(25)] + ["oops"])

    batches = list(mention_batches(path=path, batch_size=10))

    assert [len(b.items) for b in batches] == [10, 10, 5]
    assert [i.position for b in batches for i in b.invalid] == [26]
    assert sum(b.bytes_read for b in batches) == path.stat().st_size


def test_progress_goes_to_stderr_and_the_summary_to_stdout(tmp_path):
    path = _jsonl(tmp_path, [mention_item(i) for i in range(3)])
    out, err = _import(path)
    assert out.strip() == "mentions.jsonl: 3 created, 0 duplicate, 0 invalid."
    assert "mentions.jsonl" in err  # tqdm's bar
