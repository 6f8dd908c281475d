"""Ingest benchmark: `import_mentions` into PostgreSQL against a bare COPY of the same rows.

    .venv/bin/python bench/ingest.py [--count 200000]
        [--database-url postgres://postgres@127.0.0.1:5432/kansha_bench]

1. Generates N simulated mentions (advocates.simulation) as JSONL in a temporary file.
2. Drops and re-creates the bench database and migrates it (the database must be a scratch
   one: it is destroyed).
3. Times `call_command("import_mentions", file)`: parse, validate, upsert identities and
   mentions in batches, enqueue detection after each commit. Detection is enqueued to an
   in-memory broker and not run: this measures ingestion, not the detector.
4. Times a re-import of the same file (every row a duplicate).
5. Times a bare COPY of the same rows (read the JSONL, COPY FROM STDIN) into a table created
   `LIKE advocates_mention INCLUDING ALL` plus the author foreign key (same columns,
   defaults, unique constraint, indexes and foreign key; logged, like the real table), with
   the author ids from step 3.
Prints mentions/s for each and the ratio. It asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Python puts bench/ first on the path; a sibling script (bench/queue.py) would then shadow
# the standard library's `queue`, which psycopg imports.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.pgstat import backend_cpu_seconds  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/kansha_bench"


def generate(path: Path, count: int, seed: int) -> None:
    from advocates.simulation import MentionSimulator

    # About ten mentions per author on average, with a long tail (regulars come back).
    simulator = MentionSimulator(seed=seed, authors=max(100, count // 10))
    start = datetime(2026, 10, 1, tzinfo=UTC)
    step = timedelta(days=30) / count
    with path.open("w", encoding="utf-8") as handle:
        for n in range(count):
            item = simulator.mention(posted_at=start + step * n)
            handle.write(json.dumps(item, ensure_ascii=False))
            handle.write("\n")


def database_reset(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[-1]
    if not name.replace("_", "").isalnum():
        raise SystemExit(f"refusing an odd database name: {name!r}")
    admin_url = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
            sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def django_setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    # Debug off: with DEBUG on, Django keeps every query's SQL, which skews the timing.
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("DJANGO_SECRET_KEY", "bench-only-not-a-secret")
    os.environ.pop("REDIS_URL", None)
    os.environ["KANSHA_LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")
    import django

    django.setup()
    from cms.celery import app

    # Enqueue detection for real (to kombu's in-memory broker) instead of running it eagerly.
    app.conf.task_always_eager = False
    app.conf.broker_url = "memory://"


def timed_import(path: Path, batch_size: int) -> tuple[float, str]:
    import io

    from django.core.management import call_command

    out = io.StringIO()
    server = backend_cpu_seconds()
    started, cpu = time.perf_counter(), time.process_time()
    call_command("import_mentions", str(path), batch_size=batch_size, verbosity=0, stdout=out,
                 stderr=io.StringIO())
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    server = backend_cpu_seconds() - server
    return elapsed, (f"{out.getvalue().strip()} CPU: Python {cpu:.1f}s, "
                     f"PostgreSQL backend {server:.1f}s")


def timed_copy(path: Path) -> tuple[float, int, float, float]:
    """COPY the same rows into a LIKE-copy of advocates_mention; return (seconds, rows)."""
    from django.db import connection

    from advocates.models import SocialIdentity

    identity_ids = dict(
        SocialIdentity.objects.filter(platform="sandbox").values_list("platform_user_id", "id"))
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_mention_copy")
        cursor.execute("CREATE TABLE bench_mention_copy "
                       "(LIKE advocates_mention INCLUDING ALL)")
        # The real table's foreign key to the author, so COPY pays for the same checks.
        cursor.execute("ALTER TABLE bench_mention_copy ADD FOREIGN KEY (author_id) "
                       "REFERENCES advocates_socialidentity (id) DEFERRABLE INITIALLY DEFERRED")
    columns = ["platform", "external_id", "kind", "author_id", "text", "language", "url",
               "posted_at", "rating", "venue", "in_reply_to", "raw", "received_at", "source",
               "detection_label", "detection_intent", "detection_reasons", "detection_flags",
               "detector_version", "route", "skip_reason"]
    raw_conn = connection.connection  # the psycopg connection under Django's
    rows = 0
    server = backend_cpu_seconds()
    started, cpu = time.perf_counter(), time.process_time()
    now = datetime.now(UTC)
    with raw_conn.cursor() as cursor, path.open("rb") as handle:
        with cursor.copy(f"COPY bench_mention_copy ({', '.join(columns)}) FROM STDIN") as copy:
            for line in handle:
                item = json.loads(line)
                copy.write_row((
                    item["platform"], item["external_id"], item["kind"],
                    identity_ids[item["author_id"]], item["text"], item.get("language", ""),
                    item.get("url", ""), item["posted_at"], item.get("rating"),
                    item.get("venue", ""), item.get("in_reply_to", ""), line.decode().strip(),
                    now, "import", "", "", "[]", "[]", "", "", "",
                ))
                rows += 1
    raw_conn.commit()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    server = backend_cpu_seconds() - server
    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE bench_mention_copy")
    return elapsed, rows, cpu, server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=200_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--batch-size", type=int, default=None,
                        help="import_mentions --batch-size (default: the setting)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--profile", metavar="FILE",
                        help="write a cProfile of the import to FILE (slows it down)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="kansha-bench-") as tmp:
        path = Path(tmp) / "mentions.jsonl"
        # Django first: the simulator names the models' choices (MentionSource).
        database_reset(args.database_url)
        django_setup(args.database_url)
        t0 = time.perf_counter()
        generate(path, args.count, args.seed)
        size_mb = path.stat().st_size / 1e6
        print(f"generated {args.count:,} mentions ({size_mb:.1f} MB JSONL) "
              f"in {time.perf_counter() - t0:.1f}s")

        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection

        from advocates.models import Advocate, Mention, SocialIdentity

        call_command("migrate", verbosity=0)
        batch_size = args.batch_size or settings.KANSHA_INGEST_BATCH_SIZE
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            server = cursor.fetchone()[0]
        print(f"python {platform.python_version()}, PostgreSQL {server}, "
              f"{os.cpu_count()} CPUs, batch size {batch_size}, "
              f"database {args.database_url.rsplit('/', 1)[-1]} (dropped and re-created)")

        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        seconds, summary = timed_import(path, batch_size)
        if args.profile:
            profiler.disable()
            profiler.dump_stats(args.profile)
        stored = Mention.objects.count()
        print(f"import_mentions:        {seconds:7.2f}s  {args.count / seconds:9,.0f} mentions/s"
              f"  ({summary} {stored:,} mentions, {SocialIdentity.objects.count():,} "
              f"identities, {Advocate.objects.count():,} advocates stored)")

        again, summary_again = timed_import(path, batch_size)
        print(f"re-import (duplicates): {again:7.2f}s  {args.count / again:9,.0f} mentions/s"
              f"  ({summary_again})")

        copy_seconds, rows, copy_cpu, copy_server = timed_copy(path)
        print(f"COPY (same rows):       {copy_seconds:7.2f}s  {rows / copy_seconds:9,.0f} "
              f"mentions/s  (JSONL read + COPY FROM STDIN into a LIKE advocates_mention "
              f"INCLUDING ALL table + author FK; CPU: Python {copy_cpu:.1f}s, PostgreSQL backend "
              f"{copy_server:.1f}s)")
        print(f"ratio import/COPY:      {copy_seconds / seconds:.2f} "
              f"(import takes {seconds / copy_seconds:.1f}x the time of COPY)")
        target = args.count / seconds >= 10_000
        print(f"target >= 10,000 mentions/s: {'met' if target else 'NOT met'}")


if __name__ == "__main__":
    main()
