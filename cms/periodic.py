"""The periodic tasks, run in this process: what beat does, for the embedded demo.

With no REDIS_URL there is no broker, no worker and no beat; tasks run in-process when they are
enqueued, but nothing would run the sweeps and housekeeping of `CELERY_BEAT_SCHEDULE` (rewards
events, delivered reward messages, expiring codes, snoozed items). `runserver_demo` runs them
here, in a background thread, at their intervals. Production runs `celery beat` instead.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.db import close_old_connections

from cms.celery import app

logger = logging.getLogger("kansha.periodic")


def interval_tasks(schedule: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, float]:
    """{task name: seconds} for the entries that run at a fixed interval.

    Calendar entries (the weekly report e-mail) are left out: a demo has no one to mail.
    """
    schedule = settings.CELERY_BEAT_SCHEDULE if schedule is None else schedule
    return {entry["task"]: float(entry["schedule"]) for entry in schedule.values()
            if isinstance(entry["schedule"], int | float)}


def periodic_tasks_run(*, stop: threading.Event, intervals: Mapping[str, float] | None = None,
                       tick: float = 1.0) -> None:
    """Run each task every `intervals[name]` seconds until `stop` is set.

    A failing task is logged and runs again at its next turn, as under beat.
    """
    intervals = interval_tasks() if intervals is None else intervals
    app.loader.import_default_modules()  # the apps' tasks modules, as a worker loads them
    due = {name: time.monotonic() + seconds for name, seconds in intervals.items()}
    while not stop.wait(tick):
        for name, when in due.items():
            if time.monotonic() < when:
                continue
            due[name] = time.monotonic() + intervals[name]
            close_old_connections()
            try:
                app.tasks[name].apply(throw=True)
            except Exception:
                logger.exception("periodic task %s failed; it runs again in %gs", name,
                                 intervals[name])
    close_old_connections()
