"""Admin menu items shown only to users holding a permission."""

from __future__ import annotations

from wagtail.admin.menu import MenuItem
from wagtail.admin.ui.menus import MenuItem as DropdownItem


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
