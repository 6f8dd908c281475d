"""Two people approving the same outreach at the same moment send it once (PostgreSQL)."""

import threading

import pytest
from django.db import connection, connections

from advocates.models import OutreachStatus, SandboxPost
from advocates.services import OutreachTransitionError, outreach_approve, outreach_deliver
from tests.advocates.outreach_helpers import (
    default_data,  # noqa: F401
    propose,
)

pytestmark = [
    pytest.mark.skipif(connection.vendor != "postgresql", reason="row locking needs PostgreSQL"),
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("default_data"),
]


def _race(target, n: int = 2):
    barrier = threading.Barrier(n)
    outcomes: list[object] = []
    lock = threading.Lock()

    def run(i):
        try:
            barrier.wait(timeout=10)
            result = target(i)
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test checks
            result = exc
        finally:
            connections.close_all()
        with lock:
            outcomes.append(result)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return outcomes


def test_two_concurrent_approvals_send_once(django_user_model):
    users = [django_user_model.objects.create_user(f"staff{i}") for i in range(2)]
    outreach = propose()

    # Eager Celery: each successful approval delivers on commit, in its own thread.
    outcomes = _race(lambda i: outreach_approve(outreach_id=outreach.pk, user=users[i]))

    errors = [o for o in outcomes if isinstance(o, Exception)]
    assert len(errors) == 1
    assert isinstance(errors[0], OutreachTransitionError)
    outreach.refresh_from_db()
    assert outreach.status == OutreachStatus.SENT
    assert SandboxPost.objects.count() == 1
    assert outreach.log.filter(action="approved").count() == 1
    assert outreach.log.filter(action="attempt").count() == 1


def test_two_workers_delivering_the_same_outreach_post_once(django_user_model, monkeypatch):
    outreach = propose()
    # Approve without the delivery task, so the four "workers" below race for it.
    monkeypatch.setattr("advocates.services.outreach._enqueue_delivery", lambda _id: None)
    outreach_approve(outreach_id=outreach.pk,
                     user=django_user_model.objects.create_user("sora"))

    outcomes = _race(lambda i: outreach_deliver(outreach_id=outreach.pk), n=4)

    assert not [o for o in outcomes if isinstance(o, Exception)]
    outreach.refresh_from_db()
    assert (outreach.status, outreach.attempts) == (OutreachStatus.SENT, 1)
    assert SandboxPost.objects.count() == 1
