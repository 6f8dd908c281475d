"""The base for Kansha's snippet viewsets.

- A permission denial is a real 403. Wagtail answers a denied admin view with a redirect to
  the dashboard and a flash message; a person who followed a link sees the dashboard and a
  script sees a 302. Kansha's own admin pages answer 403 (advocates/admin/queue.py
  `forbidden`), and its snippets do the same.
- No "Copy": nothing Kansha lists is made by copying a row.
- `empty_message`: what an empty list says creates its rows (instead of Wagtail's "Why not
  add one?", which is wrong for rows that only Kansha itself creates).
- `read_only`: rows written only by Kansha's services (ingestion, the till, Stripe) can be
  listed and inspected, never added, edited or deleted from a form.
- List exports are formula-safe, XLSX sheets ready to use, files named
  `kansha-<rows>-<date>` (advocates/admin/exports.py).
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.utils import translation
from django.utils.functional import cached_property
from django.utils.text import slugify
from wagtail.permission_policies import ModelPermissionPolicy
from wagtail.permissions import register_permission_policy
from wagtail.snippets.views.snippets import IndexView, SnippetViewSet
from wagtail.utils.urlpatterns import decorate_urlpatterns

from advocates.admin.exports import SafeSpreadsheetExportMixin
from advocates.admin.queue import forbidden


def forbidden_on_denial(view):
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        try:
            return view(request, *args, **kwargs)
        except PermissionDenied:
            if request.headers.get("x-requested-with") == "XMLHttpRequest":
                raise
            return forbidden(request)

    return wrapped


class KanshaIndexView(SafeSpreadsheetExportMixin, IndexView):
    empty_message: Any = ""

    @property
    def no_results_message(self):
        if self.empty_message and not (self.is_searching or self.is_filtering):
            return self.empty_message
        return super().no_results_message


class ReadOnlyPermissionPolicy(ModelPermissionPolicy):
    """Viewing as usual; the `writes` refused to everyone, superusers too, so no form, button
    or link offers them."""

    def __init__(self, model, *, writes=frozenset({"add", "change", "delete"}), **kwargs):
        super().__init__(model, **kwargs)
        self.writes = frozenset(writes)

    def user_has_permission(self, user, action):
        return action not in self.writes and super().user_has_permission(user, action)

    def users_with_any_permission(self, actions):
        actions = [a for a in actions if a not in self.writes]
        if not actions:
            return get_user_model().objects.none()
        return super().users_with_any_permission(actions)


class KanshaSnippetViewSet(SnippetViewSet):
    index_view_class = KanshaIndexView
    copy_view_enabled = False
    empty_message: Any = ""
    # Actions nobody may take through a form here (see ReadOnlyPermissionPolicy).
    refused: frozenset[str] = frozenset()

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        # Registered when the class is defined, before Wagtail first asks for the policy.
        if cls.refused and getattr(cls, "model", None) is not None:
            register_permission_policy(
                cls.model, ReadOnlyPermissionPolicy(cls.model, writes=cls.refused),
                exact_class=True)

    @cached_property
    def export_filename(self):
        # `kansha-mentions`, not Wagtail's table name (`advocates_mention`); in English
        # whatever the admin's language, as a slug of Japanese would be empty.
        with translation.override(None):
            return f"kansha-{slugify(str(self.model._meta.verbose_name_plural))}"

    def get_index_view_kwargs(self, **kwargs):
        return super().get_index_view_kwargs(empty_message=self.empty_message, **kwargs)

    def get_urlpatterns(self):
        patterns = super().get_urlpatterns()
        # The refused views are not even routed.
        routes = {"add": "add", "change": "edit", "delete": "delete"}
        gone = {routes[action] for action in self.refused if action in routes}
        patterns = [p for p in patterns if getattr(p, "name", None) not in gone]
        return decorate_urlpatterns(patterns, forbidden_on_denial)
