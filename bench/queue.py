"""Outreach queue benchmark: prints figures, asserts nothing.

    .venv/bin/python bench/queue.py [--pending 100000]
        [--database-url postgres://postgres@127.0.0.1:5432/kansha_bench_queue]

1. Creates (if missing) and migrates a PostgreSQL database of its own, then tops it up to
   `--pending` proposed outreach rows, each with its mention, identity and advocate (bulk
   inserts in batches; ~3% care items with an SLA, the rest thank-yous and reshares).
2. Renders the queue page through the Django test client as a social-staff user, `--renders`
   times per scenario (default filters; care only; a search; page 20), and prints p50 / p95
   of the server time and the number of SQL queries per render.
3. Approves `--approvals` rows through the approve view (POST, CSRF off in the test client)
   and as many again by calling `outreach_approve` directly. Celery is not eager and the broker
   is in-memory, so nothing is delivered: the figure is the approval transaction plus the
   after-commit enqueue.

Targets (issue 4): queue page < 300 ms with a constant query count at 100k pending; an
approval < 50 ms.
"""

from __future__ import annotations

import sys

# This file is bench/queue.py: drop bench/ from the path so it does not shadow the standard
# library's `queue` (which psycopg and Celery import).
sys.path[:] = [p for p in sys.path if not p.rstrip("/").endswith("bench")]

import argparse  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from datetime import timedelta  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlparse  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/kansha_bench_queue"
BATCH = 5000


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pending", type=int, default=100_000)
    parser.add_argument("--database-url", default=DEFAULT_DB)
    parser.add_argument("--renders", type=int, default=30)
    parser.add_argument("--approvals", type=int, default=50)
    return parser.parse_args()


def _database_create(url: str) -> None:
    import psycopg
    from psycopg import sql

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            print(f"created database {name}")


def _setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)  # in-memory broker: approvals enqueue, nothing runs
    os.environ.setdefault("DJANGO_DEBUG", "1")  # static files without a collectstatic manifest
    os.environ.setdefault("KANSHA_LOG_LEVEL", "WARNING")
    # A web process keeps its database connection (as production sets DB_CONN_MAX_AGE), so
    # each request does not pay for a new PostgreSQL connection.
    os.environ.setdefault("DB_CONN_MAX_AGE", "60")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from cms.celery import app

    app.conf.task_always_eager = False


def _load(pending: int) -> None:
    from django.db import connection, transaction
    from django.utils import timezone

    from advocates.models import Advocate, Mention, Outreach, SocialIdentity

    have = Outreach.objects.filter(status="proposed").count()
    missing = pending - have
    print(f"pending proposals: {have:,} present", end="")
    if missing <= 0:
        print()
        return
    print(f", loading {missing:,} more")
    rng = random.Random(42)
    now = timezone.now()
    start_n = (Outreach.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1
    started = time.perf_counter()
    platforms = ["sandbox", "x", "instagram", "mastodon", "bluesky"]
    texts_en = ["Best cortado in town, thank you @kanshacoffee!",
                "Checked in at Kansha Coffee Shibuya, lovely staff",
                "The oat flat white at @kanshacoffee is unreal"]
    texts_ja = ["カンシャ珈琲のラテ最高！", "カンシャ珈琲 渋谷店にチェックイン",
                "店員さんが優しかった"]
    care_texts = ["Waited 40 minutes and my order was wrong @kanshacoffee",
                  "Found a hair in my latte. Refund please."]
    for offset in range(0, missing, BATCH):
        size = min(BATCH, missing - offset)
        with transaction.atomic():
            advocates = Advocate.objects.bulk_create(
                [Advocate(display_name=f"Bench Fan {start_n + offset + i}") for i in range(size)])
            identities = SocialIdentity.objects.bulk_create([
                SocialIdentity(advocate=a, platform=platforms[i % len(platforms)],
                               platform_user_id=f"bench-{start_n + offset + i}",
                               handle=f"@benchfan{start_n + offset + i}",
                               display_name=a.display_name,
                               follower_count=rng.randint(10, 50_000))
                for i, a in enumerate(advocates)])
            mentions, outreach = [], []
            for i, identity in enumerate(identities):
                n = start_n + offset + i
                care = rng.random() < 0.03
                ja = rng.random() < 0.2
                text = rng.choice(care_texts if care else texts_ja if ja else texts_en)
                posted = now - timedelta(minutes=rng.randint(1, 3 * 24 * 60))
                mentions.append(Mention(
                    platform=identity.platform, external_id=f"bench-m-{n}", author=identity,
                    text=f"{text} #{n}", language="ja" if ja else "en",
                    url=f"https://{identity.platform}.example/p/{n}", posted_at=posted,
                    source="api", detected_at=posted, detection_label="negative" if care
                    else "positive", detection_intent="complaint" if care else "praise",
                    detection_confidence=round(rng.uniform(0.6, 0.99), 2),
                    detection_reasons=["complaint cue: wrong order"] if care
                    else ["praise word: best", "mentions @kanshacoffee"],
                    route="care" if care else "thank"))
            Mention.objects.bulk_create(mentions)
            for i, (identity, mention) in enumerate(zip(identities, mentions, strict=True)):
                care = mention.route == "care"
                created = mention.posted_at + timedelta(seconds=5)
                outreach.append(Outreach(
                    kind="care" if care else ("reshare" if i % 4 == 0 else "reply"),
                    mention=mention, advocate=identity.advocate, identity=identity,
                    platform=identity.platform, dedupe_key=f"bench:{mention.external_id}",
                    proposed_text="We're sorry. Could you DM us your order number?" if care
                    else "Thank you so much! See you soon.",
                    reasons=["complaint"] if care else ["praise"],
                    priority=rng.randint(20, 95) if care else 0,
                    sla_due_at=created + timedelta(minutes=60) if care else None,
                    created_at=created, updated_at=created))
            Outreach.objects.bulk_create(outreach)
        done = offset + size
        print(f"  {done:,}/{missing:,} ({done / (time.perf_counter() - started):,.0f}/s)",
              end="\r", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    elapsed = time.perf_counter() - started
    print(f"\nloaded {missing:,} proposals (x4 tables) in {elapsed:.1f}s")


def _staff_client():
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.test import Client

    from advocates.roles import SOCIAL_STAFF

    user, created = get_user_model().objects.get_or_create(
        username="bench-staff", defaults={"first_name": "Bench", "last_name": "Staff"})
    if created:
        user.groups.add(Group.objects.get(name=SOCIAL_STAFF))
    client = Client()
    client.force_login(user)
    return client, user


def _pct(values: list[float], q: float) -> float:
    values = sorted(values)
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def _fmt(ms: list[float]) -> str:
    return f"p50 {_pct(ms, 50):7.1f} ms   p95 {_pct(ms, 95):7.1f} ms   max {max(ms):7.1f} ms"


class _QueryMeter:
    """Counts queries and the time spent in the database (an execute wrapper, so it works
    across the request boundaries where Django resets `connection.queries`)."""

    def __init__(self):
        self.count = 0
        self.seconds = 0.0

    def __call__(self, execute, sql, params, many, context):
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.count += 1
            self.seconds += time.perf_counter() - started


def _timed(call, runs: int):
    """Run `call` `runs` times: wall ms, CPU ms of this process, DB ms and queries per run."""
    from django.db import connection

    wall, cpu, db, queries = [], [], [], set()
    for _ in range(runs):
        meter = _QueryMeter()
        with connection.execute_wrapper(meter):
            w, c = time.perf_counter(), time.process_time()
            call()
            wall.append((time.perf_counter() - w) * 1000)
            cpu.append((time.process_time() - c) * 1000)
        db.append(meter.seconds * 1000)
        queries.add(meter.count)
    return wall, cpu, db, queries


def _line(label: str, rows: str, wall, cpu, db, queries) -> str:
    q = "/".join(str(n) for n in sorted(queries))
    return (f"  {label:<30}{rows} queries {q:>5}  wall p50 {_pct(wall, 50):6.1f} p95 "
            f"{_pct(wall, 95):6.1f}  cpu p50 {_pct(cpu, 50):5.1f}  db p50 {_pct(db, 50):5.1f} ms")


def _render(client, renders: int) -> None:

    scenarios = [
        ("queue, default (proposed)", {}),
        ("care only", {"kind": "care"}),
        ("thank-yous, ja", {"kind": "thanks", "language": "ja"}),
        ("search handle", {"q": "@benchfan777"}),
        # Without a tab the page opens on the first non-empty tab (care first); deep paging
        # is measured on "All", where 20 pages exist.
        ("page 20", {"tab": "", "p": "20"}),
    ]
    print(f"\nqueue page, {renders} renders each, server time through the test client "
          "(wall = what a user waits; cpu = this process; db = in PostgreSQL):")
    for label, params in scenarios:
        response = client.get("/admin/outreach/", params)  # warm up
        assert response.status_code == 200, response.status_code
        rows = response.content.decode().count("data-queue-row ")
        print(_line(label, f"rows {rows:3d} ", *_timed(
            lambda params=params: client.get("/admin/outreach/", params), renders)))


def _approve(client, user, approvals: int) -> None:
    from advocates.models import Outreach
    from advocates.services import outreach_approve

    ids = list(Outreach.objects.filter(status="proposed", kind="reply")
               .order_by("-id").values_list("id", flat=True)[: approvals * 2])
    if len(ids) < approvals * 2:
        print("not enough proposals left to approve")
        return
    view_ids, service_ids = iter(ids[:approvals]), iter(ids[approvals:])

    def by_view():
        response = client.post(f"/admin/outreach/{next(view_ids)}/approve/",
                                {"next": "/admin/outreach/"})
        assert response.status_code == 302

    def by_service():
        outreach_approve(outreach_id=next(service_ids), user=user)

    view = _timed(by_view, approvals)
    service = _timed(by_service, approvals)
    approved = Outreach.objects.filter(pk__in=ids, status="approved").count()
    print(f"\napprovals ({approved} of {len(ids)} approved; not delivered, broker in-memory):")
    print(_line("approve view (POST+redirect)", "", *view))
    print(_line("outreach_approve (service)", "", *service))


def main() -> None:
    args = _args()
    _database_create(args.database_url)
    _setup(args.database_url)
    from django.db import connection

    print(f"database: {connection.settings_dict['NAME']} (PostgreSQL "
          f"{connection.cursor().connection.info.server_version}); load average "
          f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    _load(args.pending)
    client, user = _staff_client()
    _render(client, args.renders)
    _approve(client, user, args.approvals)


if __name__ == "__main__":
    main()
