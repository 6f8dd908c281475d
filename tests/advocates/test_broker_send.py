"""`broker_send`: a broker outage is one warning per process, not a traceback per request."""

from __future__ import annotations

import logging

import pytest
from kombu.exceptions import OperationalError

from advocates.services import broker
from advocates.services.broker import broker_send


@pytest.fixture(autouse=True)
def _broker_up():
    broker._down_since = None
    yield
    broker._down_since = None


def _refused() -> None:
    raise OperationalError("[Errno 111] Connection refused")


def test_an_outage_logs_one_warning_and_its_end_one_line(caplog):
    caplog.set_level(logging.WARNING, logger="advocates.services.broker")

    sent = [broker_send(_refused, what="webhooks") for _ in range(50)]
    assert sent == [False] * 50
    assert broker_send(lambda: None, what="webhooks") is True
    assert broker_send(lambda: None, what="webhooks") is True

    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2, messages
    assert messages[0].startswith("broker unreachable (OperationalError")
    assert messages[1].startswith("broker reachable again")
    assert not any(r.exc_info for r in caplog.records)


def test_an_error_that_is_not_the_broker_still_raises():
    def broken() -> None:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError, match="a bug"):
        broker_send(broken, what="webhooks")
    assert broker._down_since is None
