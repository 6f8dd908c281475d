"""Browser journeys: Playwright drives Debian's Chromium through the real Wagtail admin.

Each journey runs against pytest-django's live server (a real HTTP server on the transactional
PostgreSQL test database) and, where the journey needs delivery, the real Celery worker from
`tests/conftest.py`. They are marked `integration` (skipped without DATABASE_URL/REDIS_URL)
and `browser` (skipped without /usr/bin/chromium; `.ci/run` installs it).

Screenshots of every step go to `test-artifacts/journeys/<test>/<nn>-<step>.png`; a failing
step adds `<nn>-failure.png`. A JavaScript error or a failed request on a page fails the step
that was on screen, because a button that does nothing usually starts as one of those.

Why the data snapshot: a transactional test leaves an empty database behind (Django flushes
every table), and the journeys need what the data migrations create: the staff roles, the
sandbox account, the default reply templates, Wagtail's page tree and locale. Rather than
re-creating those by hand (and missing the next app's), the journeys run first among the
transactional tests (see `pytest_collection_modifyitems`), the first one serialises the freshly
migrated database, and every journey starts from that snapshot.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import Group
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction

from advocates.roles import ROLES
from tests.roles import user_in_role

ROOT = Path(__file__).resolve().parents[3]
CHROMIUM = Path(os.environ.get("KANSHA_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync",
                 # Nothing leaves the machine: a journey must not depend on the internet (the
                 # admin's gravatar images, for one). Off-site requests fail fast instead.
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1"]
ARTIFACTS = ROOT / "test-artifacts" / "journeys"
# `KANSHA_DOCS_IMG=1 pytest -m browser` also saves the steps named with docs= as the README's
# pictures, docs/img/<name>.png.
DOCS_IMG = ROOT / "docs" / "img"
PASSWORD = "pw-for-tests-only"  # tests/roles.py gives every test user this password
VIEWPORT = {"width": 1400, "height": 900}
STEP_TIMEOUT_MS = 15_000

LOCAL_URL = re.compile(r"^(https?://(localhost|127\.0\.0\.1)(:\d+)?/|data:|blob:|about:)")


# --- Ordering and data ----------------------------------------------------------------------


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run the journeys first among the transactional tests (pytest-django put those last).

    The first journey takes the database snapshot every journey starts from; it must see the
    database as the migrations left it, before any other transactional test flushes it.
    """
    journeys = [item for item in items if item.get_closest_marker("browser")]
    if not journeys:
        return
    rest = [item for item in items if not item.get_closest_marker("browser")]
    first_transactional = next(
        (i for i, item in enumerate(rest)
         if {"transactional_db", "live_server"} & set(getattr(item, "fixturenames", ()))
         or _marked_transactional(item)),
        len(rest))
    items[:] = rest[:first_transactional] + journeys + rest[first_transactional:]


def _marked_transactional(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    return bool(marker and marker.kwargs.get("transaction"))


@pytest.fixture(scope="session")
def migrated_snapshot(django_db_setup, django_db_blocker) -> str:
    """The database as the migrations left it, serialised (taken once, at the first journey)."""
    from wagtail.models import Page

    with django_db_blocker.unblock():
        roles = set(Group.objects.filter(name__in=ROLES).values_list("name", flat=True))
        if roles != set(ROLES) or not Page.objects.filter(depth=1).exists():
            pytest.fail(
                "The browser journeys must start from the freshly migrated database (staff "
                f"roles found: {sorted(roles)}); another transactional test flushed it first. "
                "Run them first among the transactional tests (see pytest_collection_modifyitems "
                "in tests/e2e/browser/conftest.py) and without --reuse-db.")
        rows = json.loads(connection.creation.serialize_db_to_string())
    # Content types first: loading a Wagtail page looks its content type up (and would create
    # one under a new id if it were not there yet).
    rows.sort(key=lambda row: row["model"] != "contenttypes.contenttype")
    return json.dumps(rows)


@pytest.fixture
def journey_db(transactional_db, migrated_snapshot) -> None:
    """Put the migrated data back (a previous transactional test may have flushed it)."""
    database_restore(migrated_snapshot)


def database_restore(snapshot: str) -> None:
    """Empty the tables that have rows, then load the snapshot, in one transaction.

    After a flush only a few tables have rows (the content types and permissions that
    post_migrate re-creates, under new ids that would clash with the snapshot's), so deleting
    from those is much quicker than flushing every table again. Django's foreign keys are
    deferred on PostgreSQL, so the order of the deletes does not matter.
    """
    quote = connection.ops.quote_name
    ContentType.objects.clear_cache()  # ids cached before a flush are gone
    tables = connection.introspection.django_table_names(only_existing=True)
    with transaction.atomic():
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {quote(table)})")  # noqa: S608
                if cursor.fetchone()[0]:
                    cursor.execute(f"DELETE FROM {quote(table)}")  # noqa: S608
        connection.creation.deserialize_db_from_string(snapshot)


@pytest.fixture
def staff_user(journey_db):
    """staff_user(role, username, first_name=..., ...) -> a user in one of the staff roles."""
    def make(role: str, username: str, *, language: str = "", **fields):
        user = user_in_role(role, username, **fields)
        if language:
            from wagtail.users.models import UserProfile

            profile = UserProfile.get_for_user(user)
            profile.preferred_language = language
            profile.save()
        return user

    return make


# --- The browser ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> Iterator:
    """One headless Chromium for the whole run (a new context per journey keeps them apart)."""
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} not found: install Debian's chromium (apt-get install -y "
                    "chromium; .ci/run does) to run the browser journeys")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop on this thread, and Django refuses ORM calls
    # from a thread with a running loop; the test code is plain synchronous code all the same.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            yield browser
            browser.close()
    finally:
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.journey_failed = report.failed
    return report


class Journey:
    """One person's session in the browser, with a screenshot for every step."""

    def __init__(self, page, base_url: str, directory: Path):
        self.page = page
        self.base_url = base_url.rstrip("/")
        self.directory = directory
        self.steps = 0
        self.problems: list[str] = []
        self.external: list[str] = []  # off-site requests (blocked), reported, not failed
        page.on("pageerror", lambda exc: self.problems.append(f"JavaScript error: {exc}"))
        page.on("console", self._console)
        page.on("requestfailed", self._request_failed)
        page.on("response", self._response)

    def _local(self, url: str) -> bool:
        return not url or bool(LOCAL_URL.match(url))

    def _console(self, message) -> None:
        if message.type == "error" and self._local(message.location.get("url", "")):
            self.problems.append(f"console error: {message.text}")

    def _request_failed(self, request) -> None:
        if not self._local(request.url):
            self.external.append(request.url)
        elif request.failure != "net::ERR_ABORTED":  # a navigation away cancels requests
            self.problems.append(
                f"request failed: {request.method} {request.url} ({request.failure})")

    def _response(self, response) -> None:
        # A 4xx/5xx for a script, stylesheet or XHR is a broken page even if it still renders.
        if response.status >= 400 and response.request.resource_type != "document":
            self.problems.append(f"HTTP {response.status} for {response.url}")

    def url(self, path: str) -> str:
        return self.base_url + path

    def goto(self, path: str):
        response = self.page.goto(self.url(path))
        assert response is not None, f"GET {path} answered nothing"
        assert response.ok, f"GET {path} answered {response.status}"
        return response

    def step(self, name: str, *, full_page: bool = True, docs: str = "") -> Path:
        """Screenshot what is on screen now; fail if the page logged an error meanwhile.

        `docs`: also the README's picture docs/img/<docs>.png when KANSHA_DOCS_IMG is set.
        """
        self.steps += 1
        slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        path = self.directory / f"{self.steps:02d}-{slug}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        if docs and os.environ.get("KANSHA_DOCS_IMG"):
            shutil.copyfile(path, DOCS_IMG / f"{docs}.png")
        self.check_page()
        return path

    def check_page(self) -> None:
        if self.problems:
            problems, self.problems = self.problems, []
            pytest.fail(f"the page at {self.page.url} reported:\n  " + "\n  ".join(problems))

    def login(self, username: str, password: str = PASSWORD) -> None:
        """Sign in through the real admin login form; land on the dashboard."""
        self.goto("/admin/login/")
        self.page.fill("#id_username", username)
        self.page.fill("#id_password", password)
        self.page.click("form button[type=submit]")
        self.page.wait_for_url(self.url("/admin/"))


@pytest.fixture
def journey(request, chromium, live_server) -> Iterator[Journey]:
    """A fresh browser context on the live server; screenshots under test-artifacts/."""
    directory = ARTIFACTS / request.node.name
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.png"):
        old.unlink()
    context = chromium.new_context(viewport=VIEWPORT, accept_downloads=True,
                                   locale="en-GB", timezone_id="UTC")
    page = context.new_page()
    page.set_default_timeout(STEP_TIMEOUT_MS)
    person = Journey(page, live_server.url, directory)
    yield person
    if person.external:
        (directory / "external-requests.txt").write_text(
            "\n".join(sorted(set(person.external))) + "\n")
    if getattr(request.node, "journey_failed", False):
        person.steps += 1
        page.screenshot(path=str(directory / f"{person.steps:02d}-failure.png"), full_page=True)
    context.close()
