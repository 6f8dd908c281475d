"""The admin home shows social staff what is waiting, with links into the queue."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from advocates import selectors
from tests.factories import MentionFactory, OutreachFactory
from tests.roles import FINANCE, SOCIAL_STAFF, user_in_role

pytestmark = pytest.mark.django_db


def _care(due_in: timedelta, **kwargs):
    return OutreachFactory(kind="care", sla_due_at=timezone.now() + due_in,
                           mention=MentionFactory(detection_intent="complaint"), **kwargs)


@pytest.fixture
def waiting():
    OutreachFactory.create_batch(3)
    OutreachFactory(kind="reshare")
    OutreachFactory(status="sent")  # not pending
    _care(timedelta(minutes=30))
    _care(-timedelta(minutes=5))
    _care(-timedelta(hours=2))
    _care(-timedelta(hours=2), status="rejected")  # decided, so not overdue


def test_counts_pending_thank_yous_and_overdue_care(waiting):
    counts = selectors.outreach_queue_counts()
    assert (counts.pending_thanks, counts.pending_care, counts.overdue_care) == (4, 3, 2)


def test_panel_links_into_the_filtered_queue(waiting):
    client = Client()
    client.force_login(user_in_role(SOCIAL_STAFF))

    html = client.get(reverse("wagtailadmin_home")).content.decode()

    assert "4 pending thank-yous" in html
    assert "2 overdue care items" in html
    assert 'href="/admin/outreach/?kind=thanks"' in html
    assert 'href="/admin/outreach/?kind=care&amp;sla=overdue"' in html
    overdue = client.get("/admin/outreach/", {"kind": "care", "sla": "overdue"})
    assert len(overdue.context["page"].items) == 2


def test_panel_is_not_shown_to_finance(waiting):
    client = Client()
    client.force_login(user_in_role(FINANCE))
    html = client.get(reverse("wagtailadmin_home")).content.decode()
    assert "pending thank-you" not in html
