"""One definition of a valid mention time (issue 17): `advocates.schemas.posted_at_check`,
applied through `MentionIn` by the API, imports, webhooks and pollers.

A time valid with its offset but outside years 1-9999 in UTC (9999-12-31T23:59:59-14:00)
was stored, then broke every batch, report and export that read it. The API, the JSONL
import and the X webhook are tested end to end in tests/reliability/test_signed_input.py;
here the window's edges, and the CSV import.
"""

import csv
import io
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.core.management import call_command
from pydantic import ValidationError

from advocates.models import Mention
from advocates.schemas import (
    POSTED_AT_EARLIEST,
    POSTED_AT_MAX_AHEAD,
    MentionIn,
    mention_item_parse,
    posted_at_check,
)
from tests.factories import mention_item

WINDOW = "posted_at must lie between 2006-01-01 and one day from now, in UTC"
POISON = ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59Z",
          "2005-12-31T23:59:59Z", "2999-01-01T00:00:00+09:00"]


@pytest.mark.parametrize("posted_at", POISON)
def test_times_outside_the_window_are_refused_with_the_window_named(posted_at):
    item, reason = mention_item_parse(mention_item(1, posted_at=posted_at))
    assert item is None
    assert WINDOW in reason


def test_the_window_starts_on_2006_01_01_utc_whatever_the_offset():
    assert posted_at_check(POSTED_AT_EARLIEST) == POSTED_AT_EARLIEST
    # 2005 on the wall clock, already 2006 in UTC: inside.
    late_2005_local = datetime(2005, 12, 31, 23, 0, tzinfo=timezone(timedelta(hours=-14)))
    assert posted_at_check(late_2005_local) == late_2005_local
    # 2006 on the wall clock, still 2005 in UTC: outside.
    with pytest.raises(ValueError, match=WINDOW):
        posted_at_check(datetime(2006, 1, 1, 9, 0, tzinfo=timezone(timedelta(hours=14))))


def test_the_window_ends_one_day_from_now():
    now = datetime.now(UTC)
    almost = now + POSTED_AT_MAX_AHEAD - timedelta(minutes=1)
    assert posted_at_check(almost) == almost
    with pytest.raises(ValueError, match=WINDOW):
        posted_at_check(now + POSTED_AT_MAX_AHEAD + timedelta(minutes=1))


@pytest.mark.parametrize(("posted_at", "message"), [
    ("2026-11-20T09:30:00", "posted_at needs a UTC offset"),
    ("2026-11-20T09:30:00+15:00", "UTC offset must be between -14:00 and +14:00"),
])
def test_a_time_without_a_real_offset_is_refused(posted_at, message):
    with pytest.raises(ValidationError, match=re.escape(message)):
        MentionIn.model_validate(mention_item(1, posted_at=posted_at))


@pytest.mark.django_db
def test_a_csv_import_reports_each_poison_row_and_imports_the_rest(tmp_path):
    rows = [mention_item(1)] + [mention_item(n, posted_at=p) for n, p in enumerate(POISON, 2)]
    rows.append(mention_item(99))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    path = tmp_path / "mentions.csv"
    path.write_text(buffer.getvalue(), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()

    call_command("import_mentions", str(path), stdout=out, stderr=err)

    assert f"2 created, 0 duplicate, {len(POISON)} invalid" in out.getvalue()
    for line in range(3, 3 + len(POISON)):  # the header is line 1, the good row line 2
        assert f"line {line}: posted_at: Value error, {WINDOW}" in err.getvalue()
    assert set(Mention.objects.values_list("external_id", flat=True)) == {"ext-1", "ext-99"}
