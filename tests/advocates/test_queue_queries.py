"""The queue costs the same number of queries for 10 rows as for 50: nothing runs per row."""

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from advocates import selectors
from tests.factories import OutreachFactory
from tests.roles import SOCIAL_STAFF, user_in_role

pytestmark = pytest.mark.django_db


def _queries_for_page(client, params) -> int:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("kansha_outreach:queue"), params)
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_queue_page_query_count_does_not_grow_with_rows():
    staff = user_in_role(SOCIAL_STAFF)
    client = Client()
    client.force_login(staff)
    OutreachFactory.create_batch(10, assignee=staff)
    client.get(reverse("kansha_outreach:queue"))  # warm up caches (site, content types)

    ten = _queries_for_page(client, {})
    OutreachFactory.create_batch(40, assignee=staff)  # a full page of 50
    fifty = _queries_for_page(client, {})
    OutreachFactory.create_batch(10, assignee=staff)  # 60: a next page, so a (capped) count
    with_next = _queries_for_page(client, {})
    OutreachFactory.create_batch(60, assignee=staff)
    more = _queries_for_page(client, {})

    assert ten == fifty, (ten, fifty)
    assert with_next == more == fifty + 1, (with_next, more, fifty)


def test_queue_page_render_stays_under_a_fixed_budget(django_assert_max_num_queries):
    staff = user_in_role(SOCIAL_STAFF)
    client = Client()
    client.force_login(staff)
    OutreachFactory.create_batch(60, assignee=staff)
    client.get(reverse("kansha_outreach:queue"))

    # Session, user, groups/permissions, Wagtail's profile and menu: ~10; the queue: 4.
    with django_assert_max_num_queries(20):
        client.get(reverse("kansha_outreach:queue"), {"kind": "thanks", "q": "flat"})


def test_queue_selector_is_four_queries_for_any_page_size(django_assert_num_queries):
    staff = user_in_role(SOCIAL_STAFF)
    OutreachFactory.create_batch(60)
    filters = selectors.QueueFilters()

    for per_page in (10, 50):
        # ids of the care items, ids of the rest, rows with joins, capped count
        with django_assert_num_queries(4):
            page = selectors.outreach_queue_page(filters=filters, user=staff,
                                                 per_page=per_page)
            # What a row renders touches no lazy relation.
            shown = [(item.mention.text, item.identity.handle, item.identity.follower_count,
                      item.advocate.display_name, item.assignee) for item in page.items]
            assert len(shown) == per_page


def test_a_search_is_one_scan_for_the_page_and_the_total(django_assert_num_queries):
    staff = user_in_role(SOCIAL_STAFF)
    OutreachFactory.create_batch(60)
    with django_assert_num_queries(2):  # matching ids (up to the cap), rows with joins
        page = selectors.outreach_queue_page(filters=selectors.QueueFilters(q="flat white"),
                                             user=staff)
    assert (len(page.items), page.total, page.has_next) == (50, 60, True)


def test_pages_walk_care_items_then_the_rest_without_gaps_or_repeats():
    staff = user_in_role(SOCIAL_STAFF)
    care = [OutreachFactory(kind="care", priority=p) for p in (90, 50, 10)]
    thanks = [OutreachFactory(priority=p) for p in (0, 0, 30, 0)]
    expected = [care[0].pk, care[1].pk, care[2].pk, thanks[2].pk, thanks[0].pk, thanks[1].pk,
                thanks[3].pk]

    walked, number = [], 1
    while True:
        page = selectors.outreach_queue_page(filters=selectors.QueueFilters(), user=staff,
                                             page=number, per_page=2)
        walked += [item.pk for item in page.items]
        if not page.has_next:
            break
        number += 1

    assert walked == expected
    assert number == 4
    assert page.total == 7
