"""The Outreach queue's menu item counts overdue care items and answers: one query, cached."""

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client, RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from advocates import selectors
from advocates.admin.menu import OVERDUE_CACHE_KEY
from advocates.wagtail_hooks import register_outreach_queue_menu_item
from tests.factories import OutreachFactory
from tests.roles import SOCIAL_STAFF, user_in_role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fresh_badge():
    cache.delete(OVERDUE_CACHE_KEY)
    yield
    cache.delete(OVERDUE_CACHE_KEY)


def _care(*, due_in: timedelta, kind: str = "care", status: str = "proposed"):
    return OutreachFactory(kind=kind, status=status, sla_due_at=timezone.now() + due_in)


def test_the_count_is_overdue_pending_care_items_and_answers_in_one_query(
        django_assert_num_queries):
    _care(due_in=-timedelta(minutes=5))
    _care(due_in=-timedelta(hours=3), kind="answer")
    _care(due_in=timedelta(minutes=30))  # not yet due
    _care(due_in=-timedelta(minutes=5), status="sent")  # answered
    OutreachFactory()  # a thank-you is not care

    with django_assert_num_queries(1):
        assert selectors.care_overdue_count() == 2


def test_the_menu_shows_the_badge_and_reads_it_from_the_cache():
    staff = user_in_role(SOCIAL_STAFF)
    client = Client()
    client.force_login(staff)
    _care(due_in=-timedelta(minutes=5))
    _care(due_in=-timedelta(minutes=9))

    page = client.get(reverse("wagtailadmin_home")).content.decode()
    assert "Outreach queue \\u00b7 2 overdue" in page or "Outreach queue · 2 overdue" in page
    assert cache.get(OVERDUE_CACHE_KEY) == 2

    _care(due_in=-timedelta(minutes=1))  # a minute's grace: the cached number stands
    item = register_outreach_queue_menu_item()
    request = RequestFactory().get("/admin/")
    request.user = staff
    with CaptureQueriesContext(connection) as ctx:
        component = item.render_component(request)
    assert (component.label, len(ctx.captured_queries)) == ("Outreach queue · 2 overdue", 0)

    cache.delete(OVERDUE_CACHE_KEY)
    with CaptureQueriesContext(connection) as ctx:
        component = item.render_component(request)
    assert (component.label, len(ctx.captured_queries)) == ("Outreach queue · 3 overdue", 1)
    assert component.attrs["data-overdue-count"] == "3"


def test_no_overdue_no_badge():
    staff = user_in_role(SOCIAL_STAFF)
    client = Client()
    client.force_login(staff)
    _care(due_in=timedelta(minutes=30))

    page = client.get(reverse("wagtailadmin_home")).content.decode()
    assert "Outreach queue" in page
    assert "Outreach queue \\u00b7" not in page
    assert "Outreach queue ·" not in page
