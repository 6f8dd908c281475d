"""Settings come from the environment and refuse to start on a bad value."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Everything the settings read, so the parent's own configuration (CI sets DATABASE_URL and
# REDIS_URL) does not leak into the child.
CONFIG = ("DATABASE_URL", "REDIS_URL", "DJANGO_DEBUG", "DJANGO_SECRET_KEY", "DJANGO_ALLOWED_HOSTS",
          "KANSHA_LOG_LEVEL", "DB_CONN_MAX_AGE", "KANSHA_INGEST_BATCH_SIZE", "BROKER_URL")


def _start(tmp_path, script: str = "", **env):
    """`django.setup()`, then `script`, in a fresh interpreter with exactly these settings."""
    clean = {k: v for k, v in os.environ.items() if k not in CONFIG and not k.startswith("PYTEST")}
    clean.update(DJANGO_SETTINGS_MODULE="cms.settings", KANSHA_DATA_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()\n" + script],
        cwd=ROOT, env=clean, capture_output=True, text=True, timeout=120, check=False,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DJANGO_DEBUG": "maybe"},
         "DJANGO_DEBUG='maybe' is not a boolean (use one of 1/0, true/false)."),
        ({"DJANGO_DEBUG": "1", "DATABASE_URL": "notaurl"},
         "DATABASE_URL is not a valid database URL"),
        ({"DJANGO_DEBUG": "1", "DATABASE_URL": "postgres://kansha@db:port/kansha"},
         "DATABASE_URL is not a valid database URL"),
        ({"DJANGO_DEBUG": "1", "DATABASE_URL": "postgres://"},
         "DATABASE_URL is not a valid database URL"),
        ({"DJANGO_DEBUG": "1", "REDIS_URL": "localhost:6379"},
         "REDIS_URL must start with redis:// or rediss://, got 'localhost:6379'"),
        ({"DJANGO_DEBUG": "0"},
         "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off."),
        ({"DATABASE_URL": "postgres://kansha@127.0.0.1:5432/kansha"},  # debug defaults to off
         "DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off."),
        ({"DJANGO_DEBUG": "1", "DB_CONN_MAX_AGE": "forever"},
         "DB_CONN_MAX_AGE='forever' is not an integer."),
    ],
    ids=["debug-maybe", "database-not-a-url", "database-bad-port", "database-no-name",
         "redis-no-scheme", "no-secret-key", "production-without-secret-key",
         "conn-max-age-not-int"],
)
def test_a_bad_value_stops_start_up_with_a_clear_message(tmp_path, env, message):
    started = _start(tmp_path, **env)

    assert started.returncode != 0
    assert "ImproperlyConfigured" in started.stderr
    assert message in started.stderr


def test_a_database_password_is_not_echoed_in_the_error(tmp_path):
    started = _start(tmp_path, DJANGO_DEBUG="1",
                     DATABASE_URL="postgres://kansha:s3cret-pw@db:port/kansha")
    assert started.returncode != 0
    assert "s3cret-pw" not in started.stderr


def test_with_nothing_set_kansha_runs_embedded_and_says_so(tmp_path):
    started = _start(tmp_path)

    assert started.returncode == 0, started.stderr
    assert (f"Kansha: database sqlite3 ({tmp_path / 'kansha.sqlite3'}); tasks run in-process "
            "(eager; set REDIS_URL for real workers).") in started.stderr


def test_with_postgres_and_redis_tasks_go_to_workers(tmp_path):
    started = _start(tmp_path, DJANGO_DEBUG="1",
                     DATABASE_URL="postgres://kansha@127.0.0.1:5432/kansha",
                     REDIS_URL="redis://127.0.0.1:6379/9")

    assert started.returncode == 0, started.stderr
    assert ("Kansha: database postgresql (kansha); tasks go to Celery workers via Redis."
            in started.stderr)


def test_with_broker_url_tasks_go_to_rabbitmq_and_redis_stays_the_cache(tmp_path):
    started = _start(tmp_path, DJANGO_DEBUG="1",
                     DATABASE_URL="postgres://kansha@127.0.0.1:5432/kansha",
                     REDIS_URL="redis://127.0.0.1:6379/9",
                     BROKER_URL="amqp://guest:guest@127.0.0.1:5672//")

    assert started.returncode == 0, started.stderr
    assert ("Kansha: database postgresql (kansha); tasks go to Celery workers via RabbitMQ."
            in started.stderr)


def test_a_broker_url_of_an_unknown_scheme_stops_start_up(tmp_path):
    started = _start(tmp_path, DJANGO_DEBUG="1", REDIS_URL="redis://127.0.0.1:6379/9",
                     BROKER_URL="sqs://queue")

    assert started.returncode != 0
    assert "BROKER_URL must start with" in started.stderr


# Four threads, each twenty times: a transaction that reads the counter and then writes it, as
# the demo's web server, stream and periodic-task thread do side by side. A deferred
# transaction cannot wait for the write lock once it has read, so this used to fail at once
# with "database is locked" (issue 17), whatever the timeout.
SQLITE_WRITERS = """
import threading, time
from django.db import connection, transaction

with connection.cursor() as cursor:
    cursor.execute("PRAGMA journal_mode")
    print("journal_mode", cursor.fetchone()[0])
    cursor.execute("PRAGMA busy_timeout")
    print("busy_timeout", cursor.fetchone()[0])
    cursor.execute("CREATE TABLE counter (n integer)")
    cursor.execute("INSERT INTO counter VALUES (0)")
connection.close()
errors = []

def bump():
    try:
        for _ in range(20):
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT n FROM counter")
                n = cursor.fetchone()[0]
                time.sleep(0.002)
                cursor.execute("UPDATE counter SET n = %s", [n + 1])
    except Exception as exc:
        errors.append(repr(exc))
    finally:
        connection.close()

threads = [threading.Thread(target=bump) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
with connection.cursor() as cursor:
    cursor.execute("SELECT n FROM counter")
    print("count", cursor.fetchone()[0])
print("errors", errors[:1])
"""


def test_the_embedded_sqlite_runs_in_wal_and_writers_wait_instead_of_failing(tmp_path):
    started = _start(tmp_path, SQLITE_WRITERS)

    assert started.returncode == 0, started.stderr
    assert "journal_mode wal" in started.stdout
    assert "busy_timeout 20000" in started.stdout  # milliseconds: the 20 s `timeout`
    assert "errors []" in started.stdout, started.stdout
    assert "count 80" in started.stdout
    assert "database is locked" not in started.stderr
