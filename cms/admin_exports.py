"""Wagtail's own exporting admin views, made formula-safe like Kansha's.

Wagtail 8's reports (locked pages, workflows and their tasks, site history, aging pages) and
the redirects listing write CSV cells raw: a page title, a user's name or a log entry's label
typed as `=HYPERLINK(...)` reaches the spreadsheet as a formula. Wagtail offers no hook to
swap these views, so each is subclassed with `SafeSpreadsheetExportMixin` and routed at its
own address ahead of Wagtail's admin URLs (cms/urls.py); `reverse()` of Wagtail's names still
gives the same paths. The listings that export nothing (users, groups, sites, images,
documents, page types usage) are left alone.
"""

from __future__ import annotations

from typing import Any

from django.urls import URLPattern, path
from wagtail.admin.auth import require_admin_access
from wagtail.admin.views.reports.aging_pages import AgingPagesView
from wagtail.admin.views.reports.audit_logging import LogEntriesView
from wagtail.admin.views.reports.locked_pages import LockedPagesView
from wagtail.admin.views.reports.workflows import WorkflowTasksView, WorkflowView
from wagtail.contrib.redirects.views import IndexView as RedirectIndexView
from wagtail.utils.urlpatterns import decorate_urlpatterns

from advocates.admin.exports import SafeSpreadsheetExportMixin

# admin path → Wagtail's view that exports a list.
WAGTAIL_EXPORT_VIEWS: dict[str, type] = {
    "reports/locked/": LockedPagesView,
    "reports/workflow/": WorkflowView,
    "reports/workflow_tasks/": WorkflowTasksView,
    "reports/site-history/": LogEntriesView,
    "reports/aging-pages/": AgingPagesView,
    "redirects/": RedirectIndexView,
}


def _safe(view: type) -> Any:
    return type(f"Safe{view.__name__}", (SafeSpreadsheetExportMixin, view), {})


def safe_export_urls(prefix: str = "admin/") -> list[URLPattern]:
    """The paths of WAGTAIL_EXPORT_VIEWS (and their /results/), served by the safe views,
    behind the same admin access check Wagtail puts on its own."""
    urls = []
    for route, view in WAGTAIL_EXPORT_VIEWS.items():
        safe = _safe(view)
        urls += [path(prefix + route, safe.as_view()),
                 path(f"{prefix}{route}results/", safe.as_view(results_only=True))]
    return decorate_urlpatterns(urls, require_admin_access)
