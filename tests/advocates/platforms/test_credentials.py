"""Brand account credentials: encrypted at rest with a key from the environment."""

import logging

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from advocates.models import BrandAccount
from advocates.platforms.credentials import (
    CredentialsError,
    credentials_decrypt,
    credentials_encrypt,
)
from advocates.services.platforms import (
    brand_account_connect,
    brand_account_credentials_update,
)


def test_connected_account_stores_only_ciphertext(db):
    account = brand_account_connect(platform="x", name="brand",
                                    credentials={"access_token": "s3cret-token"})
    stored = BrandAccount.objects.get(pk=account.pk).credentials_encrypted
    assert "s3cret-token" not in stored
    assert credentials_decrypt(account.credentials_encrypted) == {"access_token": "s3cret-token"}


def test_update_merges_and_blank_fields_keep_the_stored_secret(db):
    account = brand_account_connect(platform="x", name="brand",
                                    credentials={"access_token": "a", "consumer_secret": "c"})
    brand_account_credentials_update(account=account,
                                     credentials={"access_token": "b", "consumer_secret": ""})
    row = BrandAccount.objects.get(pk=account.pk)
    assert credentials_decrypt(row.credentials_encrypted) == {"access_token": "b",
                                                              "consumer_secret": "c"}


def test_missing_key_in_production_is_improperly_configured(settings, monkeypatch):
    monkeypatch.delenv("KANSHA_CREDENTIALS_KEY", raising=False)
    settings.KANSHA_CREDENTIALS_KEY = ""
    settings.DEBUG = False
    with pytest.raises(ImproperlyConfigured, match="KANSHA_CREDENTIALS_KEY"):
        credentials_encrypt({"a": 1})


def test_debug_without_a_key_derives_one_and_warns(settings, monkeypatch, caplog):
    monkeypatch.delenv("KANSHA_CREDENTIALS_KEY", raising=False)
    settings.KANSHA_CREDENTIALS_KEY = ""
    settings.DEBUG = True
    with caplog.at_level(logging.WARNING):
        token = credentials_encrypt({"a": 1})
    assert credentials_decrypt(token) == {"a": 1}
    assert "KANSHA_CREDENTIALS_KEY is not set" in caplog.text


def test_key_rotation_and_a_wrong_key(settings):
    old = Fernet.generate_key().decode()
    settings.KANSHA_CREDENTIALS_KEY = old
    token = credentials_encrypt({"a": 1})
    settings.KANSHA_CREDENTIALS_KEY = f"{Fernet.generate_key().decode()},{old}"
    assert credentials_decrypt(token) == {"a": 1}  # old ciphertext still reads after rotation
    settings.KANSHA_CREDENTIALS_KEY = Fernet.generate_key().decode()
    with pytest.raises(CredentialsError):
        credentials_decrypt(token)
    settings.KANSHA_CREDENTIALS_KEY = "not-a-fernet-key"
    with pytest.raises(ImproperlyConfigured):
        credentials_encrypt({"a": 1})
