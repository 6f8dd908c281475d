"""Admin registration of the reports (rewards/reports/views.py): URLs and the Reports menu.

Imported by rewards/wagtail_hooks.py, so Wagtail's hook discovery finds these.
"""

from django.urls import include, path, reverse
from wagtail import hooks
from wagtail.admin.menu import MenuItem

from rewards.reports import views

REPORTS_MENU = [
    ("ambassador", "Ambassador program", "group", 100),
    ("redemptions", "Redemptions", "tag", 110),
    ("ledger", "Grant ledger", "list-ul", 120),
    ("liability", "Liability", "warning", 130),
]


class ReportMenuItem(MenuItem):
    permission = views.PERMISSION

    def is_shown(self, request):
        return request.user.has_perm(self.permission)


class ReconciliationMenuItem(ReportMenuItem):
    permission = views.RECONCILIATION_PERMISSION


@hooks.register("register_admin_urls")
def register_report_urls():
    return [path("kansha-reports/", include((views.admin_urls(), "kansha_reports"),
                                              namespace="kansha_reports"))]


def _menu_item(name: str, label: str, icon: str, order: int):
    def hook():
        return ReportMenuItem(label, reverse(f"kansha_reports:{name}"), name=f"kansha-{name}",
                              icon_name=icon, order=order)
    return hook


for _name, _label, _icon, _order in REPORTS_MENU:
    hooks.register("register_reports_menu_item", _menu_item(_name, _label, _icon, _order))


@hooks.register("register_reports_menu_item")
def reconciliation_menu_item():
    return ReconciliationMenuItem("Reconciliation", reverse("kansha_reports:reconciliation"),
                                  name="kansha-reconciliation", icon_name="tasks", order=140)
