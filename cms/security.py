"""Login throttling for the Wagtail (and Django) admin.

Sign-in attempts are counted in the cache (Redis in production) per (username, client IP)
and per IP alone, atomically and before the password is checked (a successful attempt gives
its count back, so the counters hold failures). After `KANSHA_LOGIN_MAX_FAILURES` failures
within `KANSHA_LOGIN_WINDOW_MINUTES` the pair is refused until the window ends: the
middleware answers a sign-in POST with 429 and a clear message, and the authentication
backend refuses too (so no other code path that calls `authenticate()` can be used to keep
guessing). The per-IP counter, with a higher limit, stops one address spraying many
usernames. A successful sign-in clears the pair's counter.

Counting happens in the authentication backend (settings name it in AUTHENTICATION_BACKENDS,
so every `authenticate()` goes through it); the `user_logged_in` receiver that clears the
pair's counter is connected when this module is imported.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.signals import user_logged_in
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse

from advocates.counters import client_ip, counter_add, counter_key

logger = logging.getLogger(__name__)

LOGIN_PATHS = ("/admin/login/", "/django-admin/login/")


def _max_failures() -> int:
    return getattr(settings, "KANSHA_LOGIN_MAX_FAILURES", 5)


def _window_seconds() -> int:
    return 60 * getattr(settings, "KANSHA_LOGIN_WINDOW_MINUTES", 15)


def _keys(username: str, ip: str) -> tuple[str, str]:
    return counter_key("pair", (username or "").strip().lower(), ip), counter_key("ip", ip)


def login_attempt_reserve(*, username: str, ip: str) -> tuple[bool, int]:
    """Count one sign-in attempt for (username, ip) and for ip, and say whether it may go on.

    Counting and checking are one step: the counter is incremented *before* the password is
    checked, and the attempt may proceed only if its own increment stayed within the limit.
    Checking first and counting after the (slow) password hash let 40 concurrent attempts get
    16 password checks with a limit of 5. A successful attempt gives its count back
    (`login_attempt_release`), so the counters hold failures (and attempts in flight).
    Returns (allowed, the pair's count).
    """
    pair, per_ip = _keys(username, ip)
    window = _window_seconds()
    limit = _max_failures()
    pair_count = counter_add(pair, 1, window)
    ip_count = counter_add(per_ip, 1, window)
    return pair_count <= limit and ip_count <= limit * 4, pair_count


def login_attempt_release(*, username: str, ip: str) -> None:
    """Give back the count of an attempt that succeeded."""
    pair, per_ip = _keys(username, ip)
    window = _window_seconds()
    for key in (pair, per_ip):
        if (cache.get(key) or 0) > 0:
            counter_add(key, -1, window)


def login_locked(*, username: str, ip: str) -> bool:
    """Whether sign-in for this username from this address is refused right now."""
    pair, per_ip = _keys(username, ip)
    limit = _max_failures()
    return (cache.get(pair) or 0) >= limit or (cache.get(per_ip) or 0) >= limit * 4


def login_failures_clear(*, username: str, ip: str) -> None:
    cache.delete(_keys(username, ip)[0])


@receiver(user_logged_in, dispatch_uid="kansha_logged_in")
def _on_logged_in(sender, request, user, **kwargs):
    login_failures_clear(username=user.get_username(), ip=client_ip(request))


LOCKED_MESSAGE = ("Too many failed sign-in attempts. Sign-in is locked for this account from "
                  "your address; try again in {minutes} minutes.")


class ThrottledModelBackend(ModelBackend):
    """ModelBackend that refuses (without checking the password) while the pair is locked."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if username is None:
            username = kwargs.get(self._username_field(), "")
        username, ip = str(username or ""), client_ip(request)
        allowed, count = login_attempt_reserve(username=username, ip=ip)
        if not allowed:
            # PermissionDenied stops authenticate() at once; it still sends user_login_failed.
            raise PermissionDenied(LOCKED_MESSAGE.format(minutes=_window_seconds() // 60))
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None:
            login_attempt_release(username=username, ip=ip)
        elif count == _max_failures():
            # No username in the log (personal data); the address is what an operator acts on.
            logger.warning("admin sign-in locked for a user after %s failures from %s",
                           count, ip)
        return user

    @staticmethod
    def _username_field() -> str:
        return get_user_model().USERNAME_FIELD


class LoginThrottleMiddleware:
    """Answer a sign-in POST for a locked (username, IP) with 429 and a message that says why.

    Without it the lock still holds (the backend refuses), but the form would only say the
    password was wrong, which sends people guessing again.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST" and request.path in LOGIN_PATHS:
            username = request.POST.get("username", "")
            if login_locked(username=username, ip=client_ip(request)):
                minutes = _window_seconds() // 60
                response = HttpResponse(LOCKED_MESSAGE.format(minutes=minutes), status=429,
                                        content_type="text/plain; charset=utf-8")
                response["Retry-After"] = str(_window_seconds())
                return response
        return self.get_response(request)
