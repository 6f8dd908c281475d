"""Kansha's own face in the admin: its name in titles and on the sign-in page, and menus that
show each role only what it uses (no Pages, Images, Documents or page search for finance and
social staff)."""

import json
import re

import pytest
from django.test import Client
from django.urls import reverse

from tests.roles import FINANCE, MARKETING, SOCIAL_STAFF, user_in_role

pytestmark = pytest.mark.django_db

PAGE_ITEMS = {"explorer", "images", "documents"}


def _sidebar(role: str) -> tuple[set[str], list[str], str]:
    """(menu item names, sidebar module types, the page) of the admin home for a role."""
    client = Client()
    client.force_login(user_in_role(role))
    html = client.get(reverse("wagtailadmin_home")).content.decode()
    props = json.loads(re.search(r'id="wagtail-sidebar-props"[^>]*>(.*?)</script>', html,
                                 re.S).group(1))
    names: set[str] = set()
    modules = [module["_type"] for module in props["modules"] if module]

    def walk(value):
        # Menu items are {"_type": ..., "_args": [{"name": ..., ...}, children?]}.
        if isinstance(value, dict):
            if isinstance(value.get("name"), str) and "label" in value:
                names.add(value["name"])
            for child in value.values():
                walk(child)
        elif isinstance(value, list):
            for child in value:
                walk(child)

    walk(props)
    return names, modules, html


def test_finance_menu_has_no_pages_images_documents_or_page_search():
    names, modules, html = _sidebar(FINANCE)
    assert "reports" in names  # the menu itself was read
    assert not names & PAGE_ITEMS
    assert "wagtail.sidebar.SearchModule" not in modules
    assert "Search all pages" not in html


def test_social_staff_menu_has_no_pages_images_documents_or_page_search():
    names, modules, html = _sidebar(SOCIAL_STAFF)
    assert "outreach-queue" in names
    assert not names & PAGE_ITEMS
    assert "wagtail.sidebar.SearchModule" not in modules
    assert "editor-guide" not in names


def test_marketing_keeps_the_pages_it_edits():
    names, modules, _ = _sidebar(MARKETING)
    assert "explorer" in names
    assert "wagtail.sidebar.SearchModule" in modules
    assert "editor-guide" in names


@pytest.mark.parametrize("role", [FINANCE, SOCIAL_STAFF, MARKETING])
def test_no_role_is_sent_wagtail_release_notes(role):
    names, _, _ = _sidebar(role)
    assert "help" in names  # the keyboard shortcuts stay
    assert not [name for name in names if name.startswith("whats-new-in-wagtail")]


def test_titles_and_sign_in_page_say_kansha_not_wagtail():
    login = Client().get(reverse("wagtailadmin_login")).content.decode()
    assert re.search(r"<title>\s*Sign in - Kansha\s*</title>", login)
    assert "Sign in to Kansha" in login
    assert "Wagtail" not in re.search(r"<title>(.*?)</title>", login, re.S).group(1)
    assert "cms/favicon.svg" in login
    assert "cms/kansha-mark.svg" in login
    client = Client()
    client.force_login(user_in_role(FINANCE))
    home = client.get(reverse("wagtailadmin_home")).content.decode()
    assert re.search(r"<title>\s*Dashboard - Kansha\s*</title>", home)
    assert "editor guide" not in home
