"""Fixtures for the platform connector tests: a credentials key and account factories."""

import pytest
from cryptography.fernet import Fernet

from advocates.services.platforms import brand_account_connect

TEST_KEY = Fernet.generate_key().decode()


@pytest.fixture(autouse=True)
def _credentials_key(settings, monkeypatch):
    settings.KANSHA_CREDENTIALS_KEY = TEST_KEY
    monkeypatch.setenv("KANSHA_CREDENTIALS_KEY", TEST_KEY)  # for worker subprocesses too


@pytest.fixture
def connect(db):
    """connect(platform, base_url, credentials, **fields) → a BrandAccount pointing at a fake."""

    def make(platform: str, base_url: str, credentials: dict, *, name: str = "main",
             config: dict | None = None, **fields):
        return brand_account_connect(platform=platform, name=name, credentials=credentials,
                                     config={"base_url": base_url, **(config or {})}, **fields)

    return make


def reloaded(account):
    """The account as a restarted process would see it: re-read from the database."""
    from advocates.models import BrandAccount

    return BrandAccount.objects.get(pk=account.pk)


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks):
    """deliver(url, body, **headers) → the response; after-commit tasks run (eagerly)."""

    def post(url: str, body: bytes, content_type: str = "application/json", **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            return client.post(url, body, content_type=content_type, **kwargs)

    return post
