"""The base for Kansha's snippet viewsets: a permission denial is a real 403.

Wagtail answers a denied admin view with a redirect to the dashboard and a flash message; a
person who followed a link sees the dashboard and a script sees a 302. Kansha's own admin pages
answer 403 (advocates/admin/queue.py `forbidden`), and its snippets do the same.
"""

from __future__ import annotations

from functools import wraps

from django.core.exceptions import PermissionDenied
from wagtail.snippets.views.snippets import SnippetViewSet
from wagtail.utils.urlpatterns import decorate_urlpatterns

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


class KanshaSnippetViewSet(SnippetViewSet):
    def get_urlpatterns(self):
        return decorate_urlpatterns(super().get_urlpatterns(), forbidden_on_denial)
