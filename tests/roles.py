"""Staff users in the roles created by cms/migrations/0003_roles.py, for admin tests."""

import importlib

from django.apps import apps
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from advocates.roles import FINANCE, MARKETING, SOCIAL_STAFF, STORE_STAFF

__all__ = ["FINANCE", "MARKETING", "SOCIAL_STAFF", "STORE_STAFF", "roles_ensure",
           "user_in_role"]


def roles_ensure() -> None:
    """Put the roles back if a transactional test flushed the data-migration rows (idempotent)."""
    if Group.objects.filter(name__in=[SOCIAL_STAFF, MARKETING, FINANCE]).count() == 3:
        return
    importlib.import_module("cms.migrations.0003_roles").create_roles(apps, None)


def user_in_role(role: str | None, username: str | None = None, **fields):
    """An active user in the named group (None: a user with no role at all)."""
    roles_ensure()
    username = username or (role or "nobody").lower().replace(" ", "_")
    user = get_user_model().objects.create_user(
        username=username, password="pw-for-tests-only", email=f"{username}@example.com",
        **fields)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user
