"""/metrics counts what a real worker ran (issue 17): tasks by queue, name and outcome, and
their durations per queue, recorded by the worker in Redis and read at scrape time."""

from __future__ import annotations

import pytest

from cms.tasks import heartbeat
from rewards.tasks import grant_issue, report_rollups_refresh
from tests.cms.test_metrics import TOKEN, _scrape, _task_count
from tests.conftest import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _token(settings):
    settings.KANSHA_METRICS_TOKEN = TOKEN


def test_the_workers_task_counters_move_on_metrics(celery_worker_process, client):
    before = _scrape(client)
    for _ in range(3):
        heartbeat.delay()  # default queue, succeeds
    report_rollups_refresh.delay()  # reports queue, succeeds
    grant_issue.delay(999_999_999)  # rewards queue: no such grant, fails (not retried)

    expected = [("default", "cms.tasks.heartbeat", "succeeded", 3),
                ("reports", "rewards.tasks.report_rollups_refresh", "succeeded", 1),
                ("rewards", "rewards.tasks.grant_issue", "failed", 1)]

    def moved():
        after = _scrape(client)
        done = all(_task_count(after, queue, task, outcome)
                   - _task_count(before, queue, task, outcome) >= n
                   for queue, task, outcome, n in expected)
        return after if done else None

    after = wait_for(moved, timeout=60)
    for queue, task, outcome, n in expected:
        assert (_task_count(after, queue, task, outcome)
                - _task_count(before, queue, task, outcome)) == n
    for queue in ("default", "reports", "rewards"):
        key = ("kansha_task_seconds_count", (("queue", queue),))
        assert after[key] - before.get(key, 0) >= 1
        assert after[("kansha_task_seconds_sum", (("queue", queue),))] > 0
