"""Routing runs for batches of hundreds of mentions: its query count must not grow with them."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from advocates.models import Mention, Outreach
from advocates.schemas import MentionIn
from advocates.services import mentions_detect, mentions_ingest
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.advocates.routing_helpers import brand_settings, item

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("default_data")]

TEXTS = [
    "Best flat white in town, thank you @kanshacoffee! ☕",
    "@kanshacoffee waited 40 minutes for a cold latte. Never again, I want a refund",
    "Kansha Coffee opens at 8 tomorrow?",
    "渋谷のカンシャ珈琲、ほうじ茶ラテ最高でした！ありがとう",
    "Starbucks is way better than kansha coffee tbh",
]


def _batch(start: int, size: int) -> list[int]:
    items = [MentionIn.model_validate(item(n, TEXTS[n % len(TEXTS)],
                                           author_id=f"author-{n % (size // 2 + 1)}"))
             for n in range(start, start + size)]
    return mentions_ingest(items=items, source="api", detect=False).mention_ids


def _queries(ids: list[int]) -> list[str]:
    with CaptureQueriesContext(connection) as ctx:
        assert mentions_detect(mention_ids=ids) == len(ids)
    # The settings row is read through Wagtail's settings cache (hit or miss varies).
    return [q["sql"] for q in ctx.captured_queries
            if "advocates_detectorsettings" not in q["sql"]]


def test_detect_and_route_queries_do_not_grow_with_the_batch():
    brand_settings(reshare_requires_consent=True)
    warm_up, small, large = _batch(5000, 4), _batch(0, 20), _batch(1000, 240)
    _queries(warm_up)  # first-use caches (content types, site root paths) fill here

    few, many = _queries(small), _queries(large)

    assert Outreach.objects.filter(mention__in=large).count() > 200
    # Literals are data, not shape: ids, and the suppression keys (64 hex digits) looked up.
    selects = [[re.sub(r"\d+", "N", re.sub(r"'[0-9a-f]{64}'", "'K'", q))[:120] for q in qs
                if q.lstrip().upper().startswith("SELECT")] for qs in (few, many)]
    assert selects[0] == selects[1], "a query per mention crept in"
    if connection.vendor == "postgresql":  # SQLite splits big inserts by parameter count
        assert len(few) == len(many)
    assert Mention.objects.filter(pk__in=large, detected_at__isnull=True).count() == 0
