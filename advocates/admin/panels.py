"""The admin home's "Outreach queue" panel: pending thank-yous and overdue care items."""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse
from wagtail.admin.ui.components import Component

from advocates import selectors
from advocates.admin.queue import user_can_use_queue


def _queue_url(**params: str) -> str:
    return f"{reverse('kansha_outreach:queue')}?{urlencode(params)}"


class OutreachQueuePanel(Component):
    name = "kansha_outreach_queue"
    template_name = "advocates/admin/panel.html"
    order = 50  # above Wagtail's own panels: this is what staff open the admin for

    def __init__(self, request):
        self.request = request

    def get_context_data(self, parent_context=None):
        counts = selectors.outreach_queue_counts()
        return {
            "counts": counts,
            "thanks_url": _queue_url(kind="thanks"),
            "care_url": _queue_url(kind="care"),
            "overdue_url": _queue_url(kind="care", sla="overdue"),
            "queue_url": reverse("kansha_outreach:queue"),
        }

    def render_html(self, parent_context=None):
        if not user_can_use_queue(self.request.user):
            return ""
        return super().render_html(parent_context)


def construct_homepage_panels(request, panels) -> None:
    if user_can_use_queue(request.user):
        panels.append(OutreachQueuePanel(request))
