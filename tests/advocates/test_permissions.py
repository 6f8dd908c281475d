"""Who may use which admin page: every queue URL × every role.

Our queue views answer a real 403 to a signed-in user without the permission. Wagtail's own
views (snippets, settings) deny by redirecting to the dashboard with "Sorry, you do not have
permission to access this area." (wagtail.admin.auth.permission_denied); for those the tests
check that denial, and that a role which is allowed gets the same URL (so it exists).
"""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import Client
from django.urls import reverse

from advocates.models import Outreach, OutreachLog
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.factories import OutreachFactory
from tests.roles import FINANCE, MARKETING, SOCIAL_STAFF, user_in_role

pytestmark = pytest.mark.django_db

DENIED_BY_WAGTAIL = "Sorry, you do not have permission to access this area."


def _queue_urls(outreach_id: int) -> list[tuple[str, str, dict]]:
    """(method, url, data) for every URL of the queue and the timeline."""
    def url(name):
        return reverse(f"kansha_outreach:{name}", args=[outreach_id])

    return [
        ("get", reverse("kansha_outreach:queue"), {}),
        ("get", url("history"), {}),
        ("get", reverse("kansha_sandbox_timeline"), {}),
        ("post", url("approve"), {"final_text": "Thanks!", "proposed_text": "Thanks"}),
        ("post", url("reject"), {"reason": "duplicate"}),
        ("post", url("snooze"), {"duration": "1h"}),
        ("post", url("assign"), {"assignee": "me"}),
        ("post", url("retry"), {}),
        ("post", reverse("kansha_outreach:bulk"), {"action": "reject", "ids": [outreach_id],
                                                    "reason": "duplicate"}),
    ]


def _client_for(role):
    client = Client()
    if role == "anonymous":
        return client, AnonymousUser()
    user = user_in_role(role)
    client.force_login(user)
    return client, user


URL_NAMES = ["queue", "history", "timeline", "approve", "reject", "snooze", "assign", "retry",
             "bulk"]


@pytest.mark.parametrize("index", range(len(URL_NAMES)), ids=URL_NAMES)
def test_anonymous_users_are_sent_to_the_login_page(index):
    row = OutreachFactory()
    method, url, data = _queue_urls(row.pk)[index]

    response = getattr(Client(), method)(url, data)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("wagtailadmin_login"))
    assert Outreach.objects.get(pk=row.pk).status == "proposed"


@pytest.mark.parametrize("index", range(len(URL_NAMES)), ids=URL_NAMES)
def test_finance_gets_403_and_changes_nothing(index):
    row = OutreachFactory()
    method, url, data = _queue_urls(row.pk)[index]
    client, _ = _client_for(FINANCE)

    response = getattr(client, method)(url, data)

    assert response.status_code == 403
    assert "your role does not give you access" in response.content.decode()
    row.refresh_from_db()
    assert (row.status, row.assignee_id) == ("proposed", None)
    assert not OutreachLog.objects.filter(outreach=row).exclude(action="proposed").exists()


@pytest.mark.parametrize("index", range(len(URL_NAMES)), ids=URL_NAMES)
def test_marketing_cannot_work_the_queue(index):
    row = OutreachFactory()
    method, url, data = _queue_urls(row.pk)[index]
    client, _ = _client_for(MARKETING)

    response = getattr(client, method)(url, data)

    if URL_NAMES[index] == "timeline":
        assert response.status_code == 200  # marketing may watch the demo timeline
    else:
        assert response.status_code == 403
    assert Outreach.objects.get(pk=row.pk).status == "proposed"


@pytest.mark.parametrize("index", range(len(URL_NAMES)), ids=URL_NAMES)
def test_a_user_without_admin_access_is_sent_to_login(index):
    row = OutreachFactory()
    method, url, data = _queue_urls(row.pk)[index]
    client = Client()
    client.force_login(user_in_role(None))

    response = getattr(client, method)(url, data)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("wagtailadmin_login"))


@pytest.mark.parametrize("index", range(len(URL_NAMES)), ids=URL_NAMES)
def test_social_staff_can_use_every_queue_url(index):
    row = OutreachFactory(status="failed" if URL_NAMES[index] == "retry" else "proposed")
    method, url, data = _queue_urls(row.pk)[index]
    client, _ = _client_for(SOCIAL_STAFF)

    response = getattr(client, method)(url, {**data, "next": "/admin/outreach/?kind=care"})

    if method == "get":
        assert response.status_code == 200
    else:
        assert response.status_code == 302
        assert response["Location"] == "/admin/outreach/?kind=care"
        assert OutreachLog.objects.filter(outreach=row).exists()


def _get_through(client, url):
    """GET, following redirects that stay under `url` (settings redirect to the row's id)."""
    response = client.get(url)
    while response.status_code == 302 and response["Location"].startswith(url):
        response = client.get(response["Location"])
    return response


def _denied_by_wagtail(response) -> bool:
    if response.status_code == 403:
        return True
    if response.status_code == 302 and response["Location"] == reverse("wagtailadmin_home"):
        return True
    return False


@pytest.mark.parametrize("url", [
    "/admin/snippets/advocates/replytemplate/",
    "/admin/snippets/advocates/replytemplate/add/",
    "/admin/snippets/advocates/replytemplate/edit/<pk>/",
])
@pytest.mark.usefixtures("default_data")
def test_social_staff_get_403_on_template_editing(url):
    from advocates.models import ReplyTemplate

    url = url.replace("<pk>", str(ReplyTemplate.objects.first().pk))
    staff, _ = _client_for(SOCIAL_STAFF)
    marketing, _ = _client_for(MARKETING)

    denied = staff.get(url)

    assert denied.status_code == 403
    assert "Permission denied" in denied.content.decode()
    # The same URL works for marketing, so the denial is about the role, not a missing page.
    assert _get_through(marketing, url).status_code == 200


@pytest.mark.parametrize("url", ["/admin/settings/advocates/detectorsettings/"])
def test_social_staff_cannot_edit_detector_settings(url):
    staff, _ = _client_for(SOCIAL_STAFF)
    marketing, _ = _client_for(MARKETING)

    denied = _get_through(staff, url)

    assert _denied_by_wagtail(denied), (denied.status_code, denied.get("Location"))
    if denied.status_code == 302:
        assert DENIED_BY_WAGTAIL in staff.get(denied["Location"]).content.decode()
    # The same URL works for marketing, so the denial is about the role, not a missing page.
    assert _get_through(marketing, url).status_code == 200


def test_finance_cannot_edit_templates_either():
    finance, _ = _client_for(FINANCE)
    assert finance.get("/admin/snippets/advocates/replytemplate/add/").status_code == 403


@pytest.mark.parametrize(("role", "shown"), [
    (SOCIAL_STAFF, {"outreach-queue", "sandbox-timeline"}),
    (MARKETING, {"sandbox-timeline"}),
    (FINANCE, set()),
])
def test_menu_shows_only_what_the_role_may_open(role, shown):
    client, _ = _client_for(role)
    html = client.get(reverse("wagtailadmin_home")).content.decode()
    for name in ("outreach-queue", "sandbox-timeline"):
        assert (f'"name": "{name}"' in html) == (name in shown), name


def test_csrf_is_enforced_on_every_action():
    row = OutreachFactory()
    client = Client(enforce_csrf_checks=True)
    client.force_login(user_in_role(SOCIAL_STAFF))

    for method, url, data in _queue_urls(row.pk):
        if method == "post":
            assert client.post(url, data).status_code == 403, url

    assert Outreach.objects.get(pk=row.pk).status == "proposed"
    # With the token from the page, the same POST goes through.
    page = client.get(reverse("kansha_outreach:queue"))
    token = page.context["csrf_token"]
    response = client.post(reverse("kansha_outreach:reject", args=[row.pk]),
                           {"reason": "duplicate", "csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302
    assert Outreach.objects.get(pk=row.pk).status == "rejected"


def test_actions_refuse_get():
    row = OutreachFactory()
    client, _ = _client_for(SOCIAL_STAFF)
    for method, url, _data in _queue_urls(row.pk):
        if method == "post":
            assert client.get(url).status_code == 405, url
