"""Rewards benchmark: advocacy events → points, tiers and grants. Prints figures, asserts nothing.

    .venv/bin/python bench/rewards.py [--events 100000] [--advocates 20000] [--batch 2000]
        [--issue 1000] [--database-url postgres://postgres@127.0.0.1:5432/kansha_bench_rewards]

Drops and re-creates the bench database (only the one named in --database-url), migrates it,
loads advocates, identities and advocacy events with COPY, sets up three tiers and three live
rules (local codes), then calls the ledger's batch service in a loop, exactly as the
`rewards.tasks.events_process` task does, and times it. Then it times issuing the approved
grants as the `rewards.tasks.grants_issue` task does: `services.grant_issue` per grant (the
code row, a local code when Stripe is not configured, and the reward message).
"""

from __future__ import annotations

import argparse
import math
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parents[1]
# Python puts bench/ first on the path; this file's name (and bench/queue.py) would shadow the
# `rewards` package and the stdlib `queue`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench.pgstat import backend_cpu_seconds  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/kansha_bench_rewards"
KINDS = ["praise"] * 50 + ["checkin"] * 25 + ["review"] * 15 + ["reshare"] * 10
VENUES = ["Shibuya", "Ginza", "Shinjuku", "Kyoto Station", "Osaka Umeda", "Nakameguro",
          "Kichijoji", "Yokohama", "Sapporo", "Fukuoka Tenjin"]


def recreate_database(url: str) -> None:
    import psycopg

    parsed = urlparse(url)
    name = parsed.path.lstrip("/")
    if not name.startswith("kansha_bench"):
        sys.exit(f"refusing to drop {name!r}: the bench database name must start with "
                 "kansha_bench")
    admin = parsed._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def load(*, events: int, advocates: int, seed: int = 7) -> None:
    from django.db import connection

    rng = random.Random(seed)
    now = datetime.now(UTC)
    with connection.cursor() as cur:
        with cur.copy("COPY advocates_advocate (display_name, created_at, opt_out_source, "
                      "is_employee, flagged, flagged_reason, notes) FROM STDIN") as copy:
            for i in range(advocates):
                copy.write_row((f"Fan {i}", now - timedelta(days=rng.randint(70, 900)), "",
                                False, False, "", ""))
        cur.execute("SELECT min(id) FROM advocates_advocate")
        first = cur.fetchone()[0]
        with cur.copy("COPY advocates_socialidentity (advocate_id, platform, platform_user_id, "
                      "handle, display_name, profile_url, follower_count, verified, "
                      "account_created_at, first_seen_at, updated_at) FROM STDIN") as copy:
            for i in range(advocates):
                copy.write_row((first + i, "sandbox", f"u{i}", f"@fan{i}", f"Fan {i}", "",
                                int(rng.paretovariate(1.2) * 20), False,
                                now - timedelta(days=rng.randint(3, 3000)), now, now))
        with cur.copy("COPY advocates_advocacyevent (advocate_id, kind, platform, rating, "
                      "venue, occurred_at, created_at, dedupe_key) FROM STDIN") as copy:
            for i in range(events):
                kind = rng.choice(KINDS)
                # A few heavy advocates and a long tail, as in real programs.
                adv = first + min(int(rng.paretovariate(0.9)) - 1, advocates - 1) \
                    if rng.random() < 0.3 else first + rng.randrange(advocates)
                at = now - timedelta(seconds=rng.randint(600, 60 * 86400))
                copy.write_row((adv, kind, "sandbox",
                                rng.choice([3, 4, 4, 5, 5, 5]) if kind == "review" else None,
                                rng.choice(VENUES) if kind == "checkin" else "", at,
                                at + timedelta(minutes=5), f"bench:{i}"))
        cur.execute("ANALYZE")


def program() -> None:
    from rewards.models import RewardRule, RewardsSettings, Tier

    s = RewardsSettings.load()
    s.velocity_max_per_hour = 12
    s.save()
    Tier.objects.create(name="Bronze", level=1, threshold=50, badge="🥉")
    silver = Tier.objects.create(name="Silver", level=2, threshold=150, window_days=90,
                                 badge="🥈")
    Tier.objects.create(name="Gold", level=3, threshold=400, window_days=90, badge="🥇")
    RewardRule.objects.create(name="Regular: 3 in 30 days", trigger="events_in_days",
                              trigger_count=3, trigger_days=30, percent_off=10, period="month")
    RewardRule.objects.create(name="Great review", trigger="review", trigger_min_rating=4,
                              discount_type="amount", amount_off_minor=500, currency="jpy",
                              monthly_budget_minor=2_000_000, period="month")
    RewardRule.objects.create(name="Silver welcome", trigger="tier_reached", trigger_tier=silver,
                              percent_off=15, period="ever", min_followers=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--advocates", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=2000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--profile", action="store_true", help="cProfile the ledger loop")
    parser.add_argument("--issue", type=int, default=1000,
                        help="issue at most this many approved grants (one grant_issue each)")
    args = parser.parse_args()

    os.environ["DATABASE_URL"] = args.database_url
    os.environ.pop("REDIS_URL", None)  # in-process tasks; the bench calls services directly
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("KANSHA_LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")
    recreate_database(args.database_url)

    import django

    django.setup()
    from django.core.management import call_command
    from django.db.models import Count

    from rewards import services
    from rewards.models import DiscountCode, FraudFlag, PointsEntry, RewardGrant, TierChange

    t = time.perf_counter()
    call_command("migrate", verbosity=0)
    print(f"migrate: {time.perf_counter() - t:.1f} s")
    t = time.perf_counter()
    load(events=args.events, advocates=args.advocates)
    print(f"load (COPY): {args.advocates:,} advocates, {args.events:,} events in "
          f"{time.perf_counter() - t:.1f} s")
    program()

    batches, processed = 0, 0
    slowest = 0.0
    if args.profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    db0, cpu0 = backend_cpu_seconds(), time.process_time()
    t0 = time.perf_counter()
    while True:
        tb = time.perf_counter()
        r = services.events_process_batch(limit=args.batch, enqueue=False)
        slowest = max(slowest, time.perf_counter() - tb)
        batches += 1
        processed += r.processed
        if not r.more:
            break
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    db1 = backend_cpu_seconds()
    db = db1 - db0  # nan when PostgreSQL runs elsewhere
    if args.profile:
        import pstats

        profiler.disable()
        order = os.environ.get("BENCH_SORT", "cumulative")
        pstats.Stats(profiler).sort_stats(order).print_stats(35)
    print(f"ledger: {processed:,} events in {batches} batches of ≤{args.batch} in "
          f"{elapsed:.2f} s → {processed / elapsed:,.0f} events/s "
          f"(slowest batch {slowest * 1000:.0f} ms)")
    # The machine is shared: CPU time says what the work costs, wall clock what it got.
    if not math.isnan(db):
        print(f"  CPU: Python {cpu:.2f} s + PostgreSQL backend {db:.2f} s = {cpu + db:.2f} s "
              f"→ {processed / (cpu + db):,.0f} events per CPU-second; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    else:
        print(f"  CPU: Python {cpu:.2f} s (PostgreSQL backend not measurable from here)")
    print(f"  points entries: {PointsEntry.objects.count():,}; tier changes: "
          f"{TierChange.objects.count():,}; fraud flags: {FraudFlag.objects.count():,}")
    by_status = dict(RewardGrant.objects.values_list("status").annotate(n=Count("id")))
    by_rule = dict(RewardGrant.objects.values_list("rule__name").annotate(n=Count("id")))
    print(f"  grants: {sum(by_status.values()):,} {by_status}")
    print(f"  by rule: {by_rule}")

    approved = list(RewardGrant.objects.filter(status="approved", reward_kind="discount")
                    .order_by("id").values_list("id", flat=True)[:args.issue])
    # The production path: what the grants_issue task runs for each grant (the grant_issue
    # task calls this service): the code row from the one code-row builder (local codes, as
    # production makes them when Stripe is not configured), then the reward message.
    t = time.perf_counter()
    issued = 0
    for grant_id in approved:
        issued += services.grant_issue(grant_id=grant_id).status == "issued"
    el = time.perf_counter() - t
    codes = DiscountCode.objects.filter(grant_id__in=approved).count()
    print(f"issue codes (grant_issue per grant, as the task does): {issued:,} grants, "
          f"{codes:,} local codes in {el:.2f} s → {issued / max(el, 1e-9):,.0f} grants/s")


if __name__ == "__main__":
    main()
