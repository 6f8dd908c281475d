"""Slack incoming webhooks: one POST of `{"text": ...}` to the URL Slack gave the workspace.

A pure adapter, like a platform client: it speaks HTTP and classifies what Slack answers, and
never touches our tables. Slack answers 200 `ok`; a 429 (with `Retry-After`), a 5xx or a
network failure is worth retrying; 400 (`invalid_payload`), 403 (`action_prohibited`), 404
(`no_service`, the webhook was removed) and 410 (`channel_is_archived`) are not
(https://api.slack.com/messaging/webhooks#handling_errors).

Incoming webhooks take no idempotency key: the caller records each alert it sent (one row per
item and stage) and sends a stage at most once.
"""

from __future__ import annotations

import requests

from advocates.platforms.base import PermanentError, TransientError

TIMEOUT = (5.0, 10.0)


def slack_post(*, url: str, text: str, session: requests.Session | None = None) -> None:
    """Post `text` to a Slack incoming webhook. Raises TransientError or PermanentError."""
    if not url.startswith(("https://", "http://")):
        raise PermanentError("the Slack webhook URL must be an http(s) URL")
    try:
        response = (session or requests).post(url, json={"text": text}, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise TransientError(f"Slack: {type(exc).__name__}") from exc
    if response.status_code == 200:
        return
    reason = f"Slack answered {response.status_code} {response.text[:100]!r}"
    if response.status_code == 429 or response.status_code >= 500:
        raise TransientError(reason)
    raise PermanentError(reason)
