"""Helpers shared by the outreach, routing, delivery and consent tests."""

from __future__ import annotations

import importlib

import pytest

from advocates.models import OutreachKind
from advocates.services import outreach_propose
from tests.factories import MentionFactory


def propose(kind: str = OutreachKind.REPLY, mention=None, text: str = "Thank you, Aiko!",
            **overrides):
    """One proposal about a (new) sandbox mention, as routing would make it."""
    mention = mention or MentionFactory(detection_intent="praise", detection_label="positive")
    prefix = "thank" if kind == OutreachKind.REPLY else kind
    fields = dict(kind=kind, advocate=mention.author.advocate, identity=mention.author,
                  platform=mention.platform, dedupe_key=f"{prefix}:{mention.pk}", text=text,
                  mention=mention, reasons=["praise word 'best'", "thank-you for praise"])
    fields.update(overrides)
    return outreach_propose(**fields)


def actions(outreach) -> list[str]:
    return list(outreach.log.order_by("at", "id").values_list("action", flat=True))


@pytest.fixture
def default_data():
    """The rows the data migrations create (sandbox account, default templates, pages).

    A transactional test anywhere in the run flushes the tables, data-migration rows
    included, so tests that rely on them put them back (idempotent).
    """
    from django.apps import apps

    migration = importlib.import_module(
        "advocates.migrations.0003_default_templates_account_pages")
    migration.forwards(apps, None)
    importlib.import_module("advocates.migrations.0007_answer_route_templates_and_sla") \
        .seed_answer_templates(apps, None)
    importlib.import_module("advocates.migrations.0015_disclosure_templates_reward_received") \
        .seed_disclosure_templates(apps, None)
