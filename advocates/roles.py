"""Staff roles (auth Groups) and helpers that grant them permissions from data migrations.

This module lives in `advocates`, the bottom app, so that every app (and its migrations) can
import it without an import arrow pointing up the app order cms → rewards → advocates.

The groups are created by `cms/migrations/0003_roles.py`. Apps that arrive later (the
rewards' perks, tiers and rules; the finance reports) add their permissions to a role from
their own data migration, with the migration's historical `apps`:

    from advocates.roles import FINANCE, group_grant

    def grant(apps, schema_editor):
        group_grant(apps, FINANCE, ["rewards.view_redemption"])

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]

(add `("cms", "0003_roles")` to that migration's dependencies). Granting is idempotent.

Permissions are named `app_label.<action>_<model_name>`, which covers Django's default
permissions and Wagtail's extra ones (`publish_`, `lock_`, `unlock_`). A custom permission
from `Meta.permissions` whose codename does not follow that shape is named
`app_label.model_name:codename`.
"""

from __future__ import annotations

from collections.abc import Iterable

SOCIAL_STAFF = "Social staff"
MARKETING = "Marketing"
FINANCE = "Finance"
# Shop staff at the till: look codes up and record redemptions, nothing else (rewards 0016).
STORE_STAFF = "Store staff"
ROLES = (SOCIAL_STAFF, MARKETING, FINANCE, STORE_STAFF)

PAGE_ACTIONS = ("add", "change", "publish", "lock", "unlock")


def _permission_get_or_create(apps, app_label: str, model_name: str, codename: str):
    """The Permission row, created if missing.

    Django and Wagtail create permissions in `post_migrate`, which runs after every migration,
    so on a fresh database they do not exist yet when a data migration runs. Creating them here
    with the same (content type, codename) is what `post_migrate` would do; it skips rows that
    already exist.
    """
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    model = apps.get_model(app_label, model_name)
    content_type, _ = ContentType.objects.get_or_create(app_label=app_label, model=model_name)
    action = codename.split("_", 1)[0]
    name = dict(model._meta.permissions).get(codename) or (
        f"Can {action} {model._meta.verbose_name_raw}")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type, codename=codename, defaults={"name": name[:255]})
    return permission


def _parse(permission: str) -> tuple[str, str, str]:
    app_label, rest = permission.split(".", 1)
    if ":" in rest:
        model_name, codename = rest.split(":", 1)
    else:
        codename = rest
        model_name = rest.split("_", 1)[1] if "_" in rest else ""
    return app_label, model_name.lower(), codename


def group_grant(apps, group_name: str, permissions: Iterable[str]) -> list[str]:
    """Give the group (created if missing) these permissions, where their models exist.

    Returns the permissions skipped because their model is not in `apps` (an app not
    installed, or a model added by a later migration), so a caller can grant "what exists".
    """
    Group = apps.get_model("auth", "Group")
    group, _ = Group.objects.get_or_create(name=group_name)
    skipped: list[str] = []
    for permission in permissions:
        app_label, model_name, codename = _parse(permission)
        try:
            row = _permission_get_or_create(apps, app_label, model_name, codename)
        except LookupError:
            skipped.append(permission)
            continue
        group.permissions.add(row)
    return skipped


def group_grant_pages(apps, group_name: str, actions: Iterable[str] = PAGE_ACTIONS) -> None:
    """Give the group these page permissions on the tree root (so on every page).

    Wagtail keeps page permissions per page in GroupPagePermission; granting them on the root
    is how Wagtail's own "Editors" group is set up.
    """
    Group = apps.get_model("auth", "Group")
    Page = apps.get_model("wagtailcore", "Page")
    GroupPagePermission = apps.get_model("wagtailcore", "GroupPagePermission")
    group, _ = Group.objects.get_or_create(name=group_name)
    root = Page.objects.filter(depth=1).order_by("path").first()
    if root is None:
        return
    for action in actions:
        permission = _permission_get_or_create(apps, "wagtailcore", "page", f"{action}_page")
        GroupPagePermission.objects.get_or_create(group=group, page=root, permission=permission)
