"""`demo_setup` and `runserver_demo`: the demo's admin user, site, data, reward program, live
stream and in-process periodic tasks."""

import io
import re
import threading
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone
from wagtail.models import Site

from advocates.models import DetectorSettings, Mention
from cms.management.commands.runserver_demo import Command as RunserverDemo
from cms.periodic import interval_tasks, periodic_tasks_run
from rewards.demo import FIRST_VISIT_RULE, REGULARS_RULE
from rewards.models import Perk, PointsEntry, RewardRule, Tier
from tests.advocates.outreach_helpers import default_data  # noqa: F401
from tests.conftest import wait_for
from tests.rewards.conftest import make_advocate, make_event


def _setup(**options):
    out = io.StringIO()
    call_command("demo_setup", stdout=out, mentions=60, **options)
    return out.getvalue()


@pytest.mark.django_db
def test_demo_setup_creates_the_admin_from_the_environment(monkeypatch):
    monkeypatch.setenv("KANSHA_ADMIN_USER", "barista")
    monkeypatch.setenv("KANSHA_ADMIN_PASSWORD", "flat-white-42")

    out = _setup(port=8012)

    user = get_user_model().objects.get(username="barista")
    assert user.is_superuser
    assert user.check_password("flat-white-42")
    assert "log in at http://localhost:8012/admin/" in out
    assert "flat-white-42" not in out  # a password the operator chose is not echoed


@pytest.mark.django_db
def test_demo_setup_generates_and_prints_a_password_when_none_is_given(monkeypatch):
    monkeypatch.delenv("KANSHA_ADMIN_USER", raising=False)
    monkeypatch.delenv("KANSHA_ADMIN_PASSWORD", raising=False)

    out = _setup()

    password = re.search(r"password: (\S+)", out).group(1)
    assert get_user_model().objects.get(username="admin").check_password(password)


@pytest.mark.django_db
def test_demo_setup_is_idempotent_and_keeps_an_existing_password(monkeypatch):
    monkeypatch.setenv("KANSHA_ADMIN_PASSWORD", "first-password-1")
    _setup()
    mentions = Mention.objects.count()
    monkeypatch.setenv("KANSHA_ADMIN_PASSWORD", "second-password-2")

    out = _setup()

    assert "already exists; its password is unchanged" in out
    assert "Demo mentions already loaded." in out
    assert get_user_model().objects.get(username="admin").check_password("first-password-1")
    assert Mention.objects.count() == mentions
    assert get_user_model().objects.count() == 1


@pytest.mark.django_db
def test_demo_setup_points_the_site_at_localhost_and_loads_a_month_of_mentions():
    _setup(port=8012)

    site = Site.objects.get(is_default_site=True)
    assert (site.hostname, site.port) == ("localhost", 8012)
    mentions = Mention.objects.filter(platform="sandbox")
    assert mentions.count() == 60
    oldest = mentions.order_by("posted_at").first().posted_at
    assert timezone.now() - timedelta(days=30) <= oldest < timezone.now() - timedelta(days=15)


def test_runserver_demo_does_not_reload_by_default():
    parser = RunserverDemo().create_parser("manage.py", "runserver_demo")
    assert parser.parse_args([]).use_reloader is False
    assert parser.parse_args(["--reload"]).use_reloader is True


@pytest.mark.parametrize(("value", "rate"), [(None, 0.5), ("3", 3.0), ("0", 0.0)])
def test_the_stream_rate_comes_from_kansha_demo_rate(monkeypatch, value, rate):
    from cms.management.commands.runserver_demo import demo_rate

    if value is None:
        monkeypatch.delenv("KANSHA_DEMO_RATE", raising=False)
    else:
        monkeypatch.setenv("KANSHA_DEMO_RATE", value)
    assert demo_rate() == rate


def _stream(rate: float):
    command = RunserverDemo(stdout=io.StringIO())
    command.rate, command.stop_stream = rate, threading.Event()
    return command, command.stream_start()


def _streamed(caplog) -> int:
    """How many mentions the stream says it created so far (from its log, not the tables:
    SQLite's shared in-memory test database locks a table another thread is writing)."""
    counts = [int(m[1]) for r in caplog.records
              if (m := re.search(r"\((\d+) created so far\)", r.getMessage()))]
    return max(counts, default=0)


@pytest.mark.django_db(transaction=True)
def test_the_demo_stream_keeps_adding_mentions_in_the_background(caplog):
    caplog.set_level("INFO", logger="kansha.demo")
    command, thread = _stream(rate=20)
    try:
        wait_for(lambda: _streamed(caplog) >= 40, timeout=30)
    finally:
        command.stop_stream.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
    assert Mention.objects.count() >= 40
    assert set(Mention.objects.values_list("source", "platform").distinct()) == {
        ("api", "sandbox")}


@pytest.mark.django_db(transaction=True)
def test_a_failing_detector_neither_loses_mentions_nor_stops_the_stream(monkeypatch, caplog):
    def broken(*, mention_ids):
        raise RuntimeError("detector exploded")

    monkeypatch.setattr("advocates.services.mentions_detect", broken)
    caplog.set_level("INFO", logger="kansha.demo")
    command, thread = _stream(rate=20)
    try:
        # Tasks are eager here, so detection runs (and fails) right after each commit.
        wait_for(lambda: _streamed(caplog) >= 60, timeout=30)
    finally:
        command.stop_stream.set()
        thread.join(timeout=10)
    assert Mention.objects.count() >= 60
    assert "detector exploded" in caplog.text
    assert Mention.objects.filter(detected_at__isnull=True).count() == Mention.objects.count()


# Committing for real, as `make demo` does: detection and routing run after each commit.
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("default_data")  # the reply templates, which a flush may have removed
def test_demo_setup_publishes_a_reward_program_and_says_how_to_earn_a_reward():
    out = io.StringIO()
    call_command("demo_setup", stdout=out, mentions=300)  # enough for a regular's three
    out = out.getvalue()

    rules = RewardRule.objects.all()
    assert {r.name for r in rules} == {REGULARS_RULE, FIRST_VISIT_RULE,
                                       "Reaching Gold: a tote bag"}
    assert all(r.live and r.live_revision_id for r in rules)  # published, with a revision
    assert list(Tier.objects.values_list("name", flat=True)) == ["Bronze", "Silver", "Gold"]
    assert Perk.objects.get(name="Latte art workshop").stock == 4  # shows as low stock
    assert DetectorSettings.load().cooldown_days == 0
    assert re.search(r"Try it: search the Outreach queue for @\S+ and approve three", out)

    again = _setup()
    assert "Demo reward program already there." in again
    assert RewardRule.objects.count() == 3


@pytest.mark.django_db(transaction=True)
def test_the_periodic_tasks_run_in_process_and_survive_a_failing_task():
    advocate = make_advocate()
    make_event(advocate)  # an advocacy event nobody has processed yet
    stop = threading.Event()
    # The failing task comes first: the sweep after it still runs, turn after turn.
    thread = threading.Thread(target=periodic_tasks_run, kwargs={
        "stop": stop, "tick": 0.01,
        "intervals": {"kansha.no_such_task": 0.05, "rewards.tasks.events_sweep": 0.05}})
    # The test waits without reading the tables meanwhile: SQLite's shared in-memory test
    # database locks a table that another thread is writing.
    timer = threading.Timer(2.0, stop.set)
    thread.start()
    timer.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert PointsEntry.objects.filter(advocate=advocate).exists()


def test_only_the_interval_entries_of_the_beat_schedule_run_in_process():
    names = interval_tasks()
    assert names["rewards.tasks.events_sweep"] == 10.0
    assert "rewards.tasks.report_weekly_email" not in names  # a crontab: nobody to mail
