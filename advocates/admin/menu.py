"""Admin menu items shown only to users holding a permission."""

from __future__ import annotations

from django.core.cache import cache
from django.utils.translation import ngettext
from wagtail.admin.menu import MenuItem
from wagtail.admin.ui.menus import MenuItem as DropdownItem
from wagtail.admin.ui.sidebar import LinkMenuItem as LinkMenuItemComponent

from advocates.selectors import care_overdue_count

# The overdue count is global (not per user), so one cached number serves every page load;
# a minute old at most.
OVERDUE_CACHE_KEY = "advocates:menu:care-overdue"
OVERDUE_CACHE_SECONDS = 60


class PermissionMenuItem(MenuItem):
    """A menu item hidden from users without `permission` (its view answers 403 anyway)."""

    def __init__(self, *args, permission: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.permission = permission

    def is_shown(self, request) -> bool:
        return request.user.has_perm(self.permission)


class PermissionButton(DropdownItem):
    """An item of a listing row's "More" menu, hidden from users without `permission`."""

    def __init__(self, *args, permission: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.permission = permission

    def is_shown(self, user) -> bool:
        return user.has_perm(self.permission)


class CareQueueMenuItem(PermissionMenuItem):
    """The Outreach queue's menu item with the number of overdue care items and answers in
    its label ("Outreach queue · 3 overdue"): one COUNT, cached for a minute, read only when
    the item is shown."""

    def render_component(self, request):
        count = cache.get(OVERDUE_CACHE_KEY)
        if count is None:
            count = care_overdue_count()
            cache.set(OVERDUE_CACHE_KEY, count, OVERDUE_CACHE_SECONDS)
        label = self.label
        if count:
            label = ngettext("%(label)s · %(count)s overdue", "%(label)s · %(count)s overdue",
                             count) % {"label": self.label, "count": count}
        # A new attrs dict: menu item instances are shared between requests.
        return LinkMenuItemComponent(
            self.name, label, self.url, icon_name=self.icon_name, classname=self.classname,
            attrs={**self.attrs, "data-overdue-count": str(count)})
