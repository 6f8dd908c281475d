"""The Celery app. Settings come from Django settings under the CELERY_ prefix."""

import logging
import os

from celery import Celery
from celery.utils.threads import bound_open_broker_sockets
from celery.worker.consumer import Consumer as CeleryConsumer
from celery.worker.consumer.consumer import COLLECT_SOCKET_TIMEOUT

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")

logger = logging.getLogger(__name__)


class Consumer(CeleryConsumer):
    """Celery's consumer, minus a crash when the broker goes away under load
    (`CELERY_WORKER_CONSUMER`; docs/reliability.md section 2).

    Celery 5.7.0 closes the broken connection after kombu's `collect()` has dropped its
    transport. On Redis, a channel still holding unacknowledged messages (any busy worker with
    `acks_late`) then tries to restore them through that missing transport, raises
    AttributeError ("'NoneType' object has no attribute 'hostname'"), and the worker exits with
    "Unrecoverable error". Closing the channel first, while the transport is there, turns the
    restore into an ordinary connection error that kombu ignores; the messages stay in Redis's
    unacked set and come back after the visibility timeout, and the sweeps re-enqueue their rows
    sooner. tests/reliability/test_broker_outage.py fails without this.
    """

    def on_connection_error_after_connected(self, exc: Exception) -> None:
        connection = self.connection
        channel = getattr(connection, "_default_channel", None)
        if connection is not None and channel is not None:
            bound_open_broker_sockets(connection, COLLECT_SOCKET_TIMEOUT)
            try:
                connection.maybe_close_channel(channel)
            except Exception:  # whatever the dead broker says; Celery's own cleanup follows
                logger.debug("closing the broken broker channel failed", exc_info=True)
        super().on_connection_error_after_connected(exc)


# Per-queue task counts and durations for /metrics, recorded by Celery's signals wherever
# tasks run (the worker; in the embedded demo, the web process itself).
import cms.task_metrics  # noqa: E402, F401

app = Celery("kansha")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
