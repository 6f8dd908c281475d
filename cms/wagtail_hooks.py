"""Kansha's own face in the Wagtail admin: its stylesheet, the dashboard per role, and menus
that show each role only what it uses.

Branding (name, logo, favicon, sign-in page, page titles) is in the templates under
cms/templates/wagtailadmin/ (Wagtail's branding blocks).
"""

from __future__ import annotations

from django.templatetags.static import static
from django.utils.html import format_html
from wagtail import hooks

from cms.dashboard import role_dashboards, uses_pages

# Wagtail's page-centred parts: the page tree, its media, its search and its page reports.
PAGE_MENU_ITEMS = frozenset({"explorer", "images", "documents", "locked-pages",
                             "aging-pages", "page-types-usage", "site-history",
                             "workflows", "workflow-tasks"})
# Dashboard panels about pages; finance keeps "Awaiting your review" (reward rules).
PAGE_PANELS = frozenset({"site_summary", "locked_pages", "recent_edits",
                         "pages_for_moderation", "user_objects_in_workflow_moderation"})


@hooks.register("insert_global_admin_css")
def kansha_admin_css():
    return format_html('<link rel="stylesheet" href="{}">', static("cms/kansha-admin.css"))


@hooks.register("construct_homepage_panels", order=100)  # after the apps' own panels
def role_dashboard_panels(request, panels):
    pages = uses_pages(request.user)
    panels[:] = [p for p in panels if pages or getattr(p, "name", "") not in PAGE_PANELS]
    panels[:0] = role_dashboards(request)


@hooks.register("construct_main_menu")
def menu_for_the_role(request, menu_items):
    if not uses_pages(request.user):
        menu_items[:] = [item for item in menu_items if item.name not in PAGE_MENU_ITEMS]


@hooks.register("construct_reports_menu")
def reports_menu_for_the_role(request, menu_items):
    if not uses_pages(request.user):
        menu_items[:] = [item for item in menu_items if item.name not in PAGE_MENU_ITEMS]


@hooks.register("construct_help_menu")
def help_menu_for_the_role(request, menu_items):
    # "What's new in Wagtail" is Wagtail's news, not Kansha's (and its badge asks for a click);
    # Wagtail's editor guide is about editing pages.
    hidden = {"editor-guide"} if not uses_pages(request.user) else set()
    menu_items[:] = [item for item in menu_items if item.name not in hidden
                     and not item.name.startswith("whats-new-in-wagtail")]


@hooks.register("construct_search")
def search_for_the_role(request, search_areas):
    # "Search all pages…" in the sidebar is for people who edit pages.
    if not uses_pages(request.user):
        search_areas[:] = []


@hooks.register("construct_snippet_action_menu")
def cancel_workflow_is_never_the_main_button(menu_items, request, context):
    # While a rule waits for finance, Wagtail makes "Cancel workflow" the editor's main button
    # (the first item); saving the draft is what the person came to do, cancelling is a
    # deliberate step in the menu.
    cancel = [item for item in menu_items if item.name == "action-cancel-workflow"]
    if cancel and menu_items and menu_items[0] is cancel[0]:
        menu_items.remove(cancel[0])
        menu_items.append(cancel[0])
