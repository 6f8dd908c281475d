"""Brand account secrets, encrypted at rest with Fernet (AES-128-CBC + HMAC-SHA256).

The key comes from the environment: `KANSHA_CREDENTIALS_KEY`, one Fernet key or several
separated by commas (the first encrypts, all decrypt: rotate by prepending a new key and
re-saving the accounts). In DEBUG without a key, one is derived from SECRET_KEY so the demo works
on a bare machine; a warning says so. Outside DEBUG a missing key is `ImproperlyConfigured` the
moment credentials are used (not at start-up: a deployment without connected accounts needs no
key).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
import logging
import os
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

ENV_KEY = "KANSHA_CREDENTIALS_KEY"


class CredentialsError(Exception):
    """The stored ciphertext cannot be read with the configured key(s)."""


def _configured_keys() -> list[str]:
    raw = getattr(settings, ENV_KEY, "") or os.environ.get(ENV_KEY, "")
    return [part.strip() for part in raw.split(",") if part.strip()]


def _fernet() -> MultiFernet:
    keys = _configured_keys()
    if not keys:
        if not settings.DEBUG:
            raise ImproperlyConfigured(
                f"{ENV_KEY} must be set to store platform credentials (generate one with "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)."
            )
        logger.warning("%s is not set; deriving a development key from SECRET_KEY. "
                       "Set it before connecting real accounts.", ENV_KEY)
        digest = hashlib.sha256(f"kansha-credentials:{settings.SECRET_KEY}".encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except (ValueError, TypeError) as exc:
        raise ImproperlyConfigured(
            f"{ENV_KEY} must hold url-safe base64 Fernet keys (32 bytes each): {exc}"
        ) from exc


def credentials_encrypt(secrets: dict[str, Any]) -> str:
    """Encrypt a JSON object of secrets; the result is what `credentials_encrypted` stores."""
    if not isinstance(secrets, dict):
        raise TypeError("credentials must be a dict")
    payload = json.dumps(secrets, separators=(",", ":"), sort_keys=True).encode()
    return _fernet().encrypt(payload).decode()


def credentials_decrypt(ciphertext: str) -> dict[str, Any]:
    """The secrets dict for a stored ciphertext ({} when nothing is stored)."""
    if not ciphertext:
        return {}
    secrets: dict[str, Any] = json.loads(_plaintext(
        ciphertext, tuple(_configured_keys()), settings.SECRET_KEY, settings.DEBUG))
    return secrets


@functools.lru_cache(maxsize=256)
def _plaintext(ciphertext: str, keys: tuple[str, ...], secret_key: str, debug: bool) -> bytes:
    # Every webhook request needs its account's secret. The ciphertext is the cache key (with
    # the settings that pick the key), so re-encrypted credentials are a new entry, never a
    # stale one; a bad token raises and is not cached.
    try:
        return _fernet().decrypt(ciphertext.encode())
    except InvalidToken:
        raise CredentialsError(
            f"stored credentials cannot be decrypted with {ENV_KEY} (wrong or rotated-out key)"
        ) from None
