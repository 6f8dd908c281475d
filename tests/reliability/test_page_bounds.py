"""Page numbers from the address bar (issue 17): a page far past the end, or a number that
does not fit a database integer, is a page like any other, never a 500."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from advocates import selectors
from tests.factories import OutreachFactory

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999"  # beyond a 64-bit integer, so an OFFSET built from it overflows
BAD_PAGES = [HUGE, "-" + HUGE, "0", "-1", "1e9", "abc", "", "2", "100000000"]


@pytest.fixture
def admin_client():
    user = get_user_model().objects.create_superuser(
        username="pager", email="pager@example.com", password="pw-for-tests-only")
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("page", BAD_PAGES)
@pytest.mark.parametrize("url", [
    reverse("kansha_outreach:queue"),
    reverse("kansha_outreach:queue") + "?tab=&q=latte&",  # the search path pages in Python
    reverse("kansha_sandbox_timeline"),
])
def test_kansha_lists_answer_any_page_number(admin_client, url, page):
    OutreachFactory()
    joiner = "&" if "?" in url else "?"
    response = admin_client.get(f"{url}{joiner}p={page}")
    assert response.status_code == 200


def test_a_page_past_the_end_is_empty_and_links_back(admin_client):
    OutreachFactory()
    response = admin_client.get(reverse("kansha_outreach:queue") + f"?tab=&p={HUGE}")
    page = response.context["page"]
    assert page.items == []
    assert page.number == selectors.PAGE_NUMBER_MAX
    assert page.has_previous


@pytest.mark.parametrize("raw", [None, "", "abc", "0", "-5", "1.5", "٣", HUGE, 10**30])
def test_page_number_reads_anything_as_a_page_in_range(raw):
    number = selectors.page_number(raw)
    assert 1 <= number <= selectors.PAGE_NUMBER_MAX


def test_page_number_keeps_an_ordinary_page():
    assert selectors.page_number("7") == 7
    assert selectors.page_number(3) == 3


@pytest.mark.parametrize("url", [
    "/admin/snippets/advocates/mention/",
    "/admin/snippets/advocates/deadletter/",
    "/admin/snippets/rewards/redemption/",
])
def test_wagtail_listings_answer_a_huge_page(admin_client, url):
    # Wagtail pages with Django's Paginator, which already clamps; kept here so a custom
    # listing that pages by hand is caught too.
    response = admin_client.get(f"{url}?p={HUGE}")
    assert response.status_code == 200


@pytest.mark.parametrize("report", ["ambassador", "redemptions", "ledger", "liability",
                                    "reconciliation"])
def test_reports_answer_a_huge_page_and_section_page(admin_client, report):
    # Reports page their main table (?p=) and each section (?<key>_page=) with Django's
    # Paginator; reconciliation also takes a run id from the address bar.
    query = "&".join(f"{key}={HUGE}" for key in (
        "p", "ledger_page", "items_page", "totals_page", "run"))
    response = admin_client.get(reverse(f"kansha_reports:{report}") + f"?{query}")
    assert response.status_code == 200
