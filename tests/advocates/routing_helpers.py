"""Shared setup for the routing tests: the brand's detector settings and mention ingestion."""

from __future__ import annotations

from datetime import UTC, datetime

from advocates.models import DetectorSettings, Mention
from advocates.schemas import MentionIn
from advocates.services import mentions_detect, mentions_ingest
from tests.factories import mention_item


def brand_settings(**overrides) -> DetectorSettings:
    """The same brand as tests/advocates/detection/conftest.py, stored as the CMS setting."""
    settings = DetectorSettings.load()
    settings.tracked_terms = "kansha coffee\nカンシャ珈琲"
    settings.tracked_handles = "@kanshacoffee"
    settings.exclusions = "kansha bank\nカンシャ銀行"
    settings.competitors = "starbucks\nblue bottle\ndoutor\nスタバ\nブルーボトル\nドトール"
    settings.own_handles = "@kanshacoffee\n@kanshacoffee_jp"
    for name, value in overrides.items():
        setattr(settings, name, value)
    settings.save()
    return settings


def ingest_and_detect(items: list[dict]) -> list[Mention]:
    """Ingest raw items through the public schema, then detect and route them (one batch).

    Returns the stored mentions in the order of `items`.
    """
    parsed = [MentionIn.model_validate(item) for item in items]
    result = mentions_ingest(items=parsed, source="api", detect=False)
    mentions_detect(mention_ids=result.mention_ids)
    # Ingestion writes a batch in key order (so concurrent batches lock rows in one order),
    # not input order: hand the mentions back in the order the items were given.
    stored = {(m.platform, m.external_id): m
              for m in Mention.objects.filter(pk__in=result.mention_ids)}
    return [stored[(p.platform, p.external_id)] for p in parsed]


def item(n: int, text: str, **overrides) -> dict:
    fields = {"external_id": f"r-{n}", "author_id": f"author-r{n}",
              "author_handle": f"@fan_r{n}", "author_name": f"Aiko R{n}", "text": text,
              "posted_at": datetime.now(UTC).isoformat()}
    fields.update(overrides)
    return mention_item(n, **fields)
