"""Security: sign-in throttling, CSRF on admin actions, secrets from the environment only,
`check --deploy` clean in production settings, and no personal data in the logs."""

from __future__ import annotations

import logging
import os
import re
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from advocates.models import Mention, Outreach
from advocates.services import ingest_token_issue
from tests.advocates.outreach_helpers import default_data  # noqa: F401  (fixture)
from tests.factories import OutreachFactory, mention_item
from tests.roles import SOCIAL_STAFF, user_in_role

ROOT = Path(__file__).resolve().parents[2]
LOGIN = "/admin/login/"


@pytest.fixture
def clean_cache():
    cache.clear()  # the throttle counters live in the cache (Redis db of this test run)
    yield
    cache.clear()


# --- Sign-in throttling ----------------------------------------------------------------------


def _login(client, username, password, ip="203.0.113.7"):
    return client.post(LOGIN, {"username": username, "password": password},
                       REMOTE_ADDR=ip)


@pytest.mark.django_db
def test_repeated_failed_sign_ins_lock_that_user_from_that_address(clean_cache, settings):
    settings.KANSHA_LOGIN_MAX_FAILURES = 3
    get_user_model().objects.create_superuser("boss", "b@example.com", "right-horse-battery")
    client = Client()
    for _ in range(3):
        response = _login(client, "boss", "wrong")
        assert response.status_code == 200  # the form again, "invalid" — not yet locked
    locked = _login(client, "boss", "right-horse-battery")
    assert locked.status_code == 429
    assert "Too many failed sign-in attempts" in locked.content.decode()
    assert int(locked["Retry-After"]) > 0
    # Another address, or another user from this address, is not locked out by this.
    assert _login(Client(), "boss", "right-horse-battery", ip="198.51.100.1").status_code == 302


@pytest.mark.django_db
def test_the_backend_refuses_too_while_locked(clean_cache, settings, rf):
    """Any code path calling authenticate() (not only the login view) is throttled."""
    from django.contrib.auth import authenticate

    settings.KANSHA_LOGIN_MAX_FAILURES = 2
    get_user_model().objects.create_user("sachi", password="right-horse-battery")
    request = rf.post(LOGIN, REMOTE_ADDR="203.0.113.9")
    assert authenticate(request, username="sachi", password="x") is None
    assert authenticate(request, username="sachi", password="y") is None
    assert authenticate(request, username="sachi", password="right-horse-battery") is None
    other = rf.post(LOGIN, REMOTE_ADDR="203.0.113.10")
    assert authenticate(other, username="sachi", password="right-horse-battery") is not None


@pytest.mark.django_db
def test_a_successful_sign_in_clears_the_count(clean_cache, settings):
    settings.KANSHA_LOGIN_MAX_FAILURES = 3
    get_user_model().objects.create_superuser("boss", "b@example.com", "right-horse-battery")
    client = Client()
    _login(client, "boss", "wrong")
    _login(client, "boss", "wrong")
    assert _login(client, "boss", "right-horse-battery").status_code == 302
    client.logout()
    _login(client, "boss", "wrong")
    _login(client, "boss", "wrong")
    assert _login(client, "boss", "right-horse-battery").status_code == 302


@pytest.mark.django_db(transaction=True)
def test_concurrent_failed_sign_ins_get_at_most_the_limit_of_password_checks(
        clean_cache, settings, monkeypatch):
    """Count and check are one step: of 40 simultaneous wrong guesses at most the limit reach
    the password check, and the right password is refused afterwards.

    Every attempt that reaches the password check waits there until each of the 40 has either
    arrived at the check too or been answered, so all the checks overlap (the worst case for a
    check-then-record throttle) without any sleep."""
    import threading

    from django.db import connection

    settings.KANSHA_LOGIN_MAX_FAILURES = 5
    attempts = 40
    user_model = get_user_model()
    user_model.objects.create_superuser("boss", "b@example.com", "right-horse-battery")
    state = {"checking": 0, "answered": 0}
    changed = threading.Condition()
    real_check = user_model.check_password

    def check_password(self, raw_password):
        with changed:
            state["checking"] += 1
            changed.notify_all()
            assert changed.wait_for(
                lambda: state["checking"] + state["answered"] >= attempts, timeout=60)
        return real_check(self, raw_password)

    monkeypatch.setattr(user_model, "check_password", check_password)
    start = threading.Barrier(attempts)
    statuses: list[int] = []
    errors: list[BaseException] = []

    def attempt():
        try:
            start.wait(timeout=60)
            statuses.append(_login(Client(), "boss", "wrong").status_code)
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)
        finally:
            with changed:
                state["answered"] += 1
                changed.notify_all()
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    assert len(statuses) == attempts
    assert state["checking"] <= settings.KANSHA_LOGIN_MAX_FAILURES
    assert 302 not in statuses
    monkeypatch.setattr(user_model, "check_password", real_check)
    assert _login(Client(), "boss", "right-horse-battery").status_code == 429


@pytest.mark.django_db
def test_throttle_keys_do_not_hold_usernames(clean_cache):
    from cms.security import _keys

    assert all("boss" not in key for key in _keys("boss", "203.0.113.7"))


# --- CSRF ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_admin_actions_refuse_posts_without_a_csrf_token():
    row = OutreachFactory()
    admin = get_user_model().objects.create_superuser("root", "r@example.com", "pw")
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    posts = [
        (reverse("kansha_outreach:approve", args=[row.pk]), {"final_text": "Thanks!"}),
        (reverse("kansha_outreach:reject", args=[row.pk]), {"reason": "duplicate"}),
        (reverse("kansha_outreach:bulk"), {"action": "reject", "ids": [row.pk]}),
        (reverse("kansha_advocate_erase", args=[row.advocate_id]), {"confirm": "erase"}),
        (f"/admin/snippets/advocates/advocate/delete/{row.advocate_id}/", {}),
        ("/admin/settings/advocates/detectorsettings/", {"brand_name": "Evil"}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    row.refresh_from_db()
    assert row.status == "proposed"
    assert not row.advocate.display_name.startswith("erased-")


@pytest.mark.django_db
def test_admin_action_with_the_csrf_token_goes_through():
    row = OutreachFactory()
    admin = get_user_model().objects.create_superuser("root", "r@example.com", "pw")
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin)
    url = reverse("kansha_advocate_erase", args=[row.advocate_id])
    page = client.get(url)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    assert client.post(url, {"confirm": "erase", "csrfmiddlewaretoken": token}).status_code == 302


@pytest.mark.django_db
def test_sign_in_form_needs_csrf_too():
    client = Client(enforce_csrf_checks=True)
    assert client.post(LOGIN, {"username": "a", "password": "b"}).status_code == 403


# --- Secrets only from the environment -------------------------------------------------------

KEY_PATTERNS = {
    "Stripe live key": r"\b[sr]k_live_[0-9A-Za-z]{8,}",
    "Stripe webhook secret": r"\bwhsec_[0-9A-Za-z]{24,}",
    "AWS access key": r"\bAKIA[0-9A-Z]{16}\b",
    "private key": r"-----BEGIN (?:RSA |EC |OPENSSH )?PRIVATE KEY-----",
    "GitHub token": r"\bgh[pousr]_[0-9A-Za-z]{30,}",
    "Slack token": r"\bxox[abposr]-[0-9A-Za-z-]{10,}",
    "Google API key": r"\bAIza[0-9A-Za-z_-]{35}\b",
    "Fernet-like key": r"['\"][0-9A-Za-z_-]{43}=['\"]",
}


def _tracked_files() -> list[Path]:
    out = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout.split()
    return [ROOT / f for f in out
            if f.endswith((".py", ".toml", ".md", ".txt", ".cfg", ".ini", ".yml", ".yaml",
                           ".json", ".env", ".html", ".js"))
            and not f.startswith(("tests/data/", "docs/img/")) and (ROOT / f).is_file()]


def test_no_key_looking_literals_in_the_code():
    found = []
    for path in _tracked_files():
        text = path.read_text(errors="ignore")
        for name, pattern in KEY_PATTERNS.items():
            for match in re.finditer(pattern, text):
                found.append(f"{path.relative_to(ROOT)}: {name}: {match[0][:12]}…")
    assert not found, "\n".join(found)


SECRET_SETTINGS = ("SECRET_KEY", "STRIPE_API_KEY", "STRIPE_WEBHOOK_SECRET", "DATABASE_URL",
                   "REDIS_URL", "EMAIL_HOST_PASSWORD", "KANSHA_CREDENTIALS_KEY")


def test_settings_read_secrets_from_the_environment():
    import ast

    tree = ast.parse((ROOT / "cms" / "settings.py").read_text())
    literal_secrets = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Assign):
            continue
        for target in node.targets:
            name = getattr(target, "id", "")
            if not re.search(r"SECRET|PASSWORD|API_KEY|TOKEN|CREDENTIAL", name):
                continue
            if isinstance(node.value, ast.Constant) and node.value.value:
                literal_secrets.append((name, node.lineno))
    # The one literal: the development key, used only when DEBUG is on and none is set.
    assert [name for name, _ in literal_secrets] == ["SECRET_KEY"]
    source = (ROOT / "cms" / "settings.py").read_text()
    assert 'raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off.")' \
        in source


def test_production_settings_refuse_to_start_without_a_secret_key():
    env = _production_env()
    del env["DJANGO_SECRET_KEY"]
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def _production_env() -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    return {**keep, "DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": secrets.token_urlsafe(64),
            "DATABASE_URL": "postgres://kansha@127.0.0.1:5432/kansha_prod_check",
            "REDIS_URL": "redis://127.0.0.1:6379/15",
            "DJANGO_ALLOWED_HOSTS": "kansha.example.com",
            "KANSHA_DATA_DIR": str(Path(tempfile.gettempdir()) / "kansha-deploy-check")}


def test_check_deploy_is_clean_with_production_settings():
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env=_production_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


# --- No personal data in the logs ------------------------------------------------------------

PERSONAL_TEXT = "Kirika's secret oat latte at Kansha Coffee was wonderful, thank you"
PERSONAL_HANDLE = "@kirika_private_handle"
PERSONAL_NAME = "Kirika Tanabe"


@pytest.mark.django_db
@pytest.mark.usefixtures("default_data")
def test_no_personal_data_in_logs_through_ingest_detect_and_approve(
        caplog, django_capture_on_commit_callbacks):
    caplog.set_level(logging.DEBUG)
    _, secret = ingest_token_issue(name="logs")
    api = Client()
    item = mention_item(1, text=PERSONAL_TEXT, author_handle=PERSONAL_HANDLE,
                        author_name=PERSONAL_NAME, author_id="kirika-1", external_id="log-1",
                        language="en")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post("/api/v1/mentions", {"mentions": [item]},
                            content_type="application/json",
                            HTTP_AUTHORIZATION=f"Bearer {secret}")
        # A bad request logs a warning; it must not echo the body either.
        api.post("/api/v1/mentions", {"mentions": [{**item, "posted_at": "yesterday"}]},
                 content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert response.status_code == 200
    mention = Mention.objects.get(external_id="log-1")
    assert mention.detected_at is not None
    outreach = Outreach.objects.filter(mention=mention).first()
    if outreach is None:  # routing may want a brand mention; make the proposal ourselves
        outreach = OutreachFactory(mention=mention, proposed_text=f"Thanks {PERSONAL_HANDLE}!")
    staff = Client()
    staff.force_login(user_in_role(SOCIAL_STAFF))
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(reverse("kansha_outreach:approve", args=[outreach.pk]),
                   {"final_text": outreach.proposed_text or "Thank you!"})
    outreach.refresh_from_db()
    assert outreach.status in ("sent", "approved", "sending")

    leaks = []
    for record in caplog.records:
        if record.name.startswith("django.db.backends"):
            continue  # SQL logging is off in production (LOGGING sets WARNING)
        text = record.getMessage() + " " + str(getattr(record, "exc_text", "") or "")
        for needle in (PERSONAL_TEXT[:20], PERSONAL_HANDLE, PERSONAL_NAME, "kirika"):
            if needle.lower() in text.lower():
                leaks.append(f"{record.name}: {text[:200]}")
    assert len(caplog.records) > 0
    assert not leaks, "\n".join(leaks)
