"""Reports at a large brand's scale: a year of data in PostgreSQL, each report timed.

    .venv/bin/python bench/reports.py [--scale 1.0] \
        [--database-url postgres://postgres@127.0.0.1:5432/kansha_bench_reports]

At scale 1.0 the year holds 5,000,000 mentions, 500,000 advocates, ~1.1M outreach items,
1.5M advocacy events and points entries, 200,000 grants (190,000 codes), 60,000 redemptions and
300,000 code-less Checkout sessions. Rows are generated with numpy and loaded with COPY in
chunks; a marker table remembers what was loaded, so a re-run at the same scale skips loading.
Pending migrations are applied (on a loaded database that builds the new indexes: timed and
printed), and the report rollups are built once after a load (timed and printed apart from the
report timings; `--rebuild-rollups` builds them again). Then each report runs for the whole
year (wall seconds, tracemalloc peak, max RSS growth), including the rollup refresh it starts
with. The comparisons give the ratios: the ambassador and liability reports counted directly
from the tables (`report_build(direct=True)`, the previous approach; every table and chart must
be identical), and the redemption report computed the naive way, reading the rows into pandas
with read_sql and grouping there. Last, the cost of freshness: a burst of changes spread over
the year, the report right after them (its refresh recounts them), the periodic refresh (it
counts them once more, looking back the margin for late commits) and a report after that.
Not a test: it prints its figures.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import sys
import time
import tracemalloc
import warnings
from dataclasses import replace
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# bench/ holds queue.py (another bench), which would shadow the standard library's `queue`.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/kansha_bench_reports"
YEAR = 2025
CHUNK = 250_000


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--reload", action="store_true", help="Load again even if loaded.")
    parser.add_argument("--rebuild-rollups", action="store_true",
                        help="Build the report rollups again even if they are built.")
    return parser.parse_args()


def _database_create(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def _setup(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_DEBUG", "1")  # a local bench: no secret key needed
    os.environ.setdefault("KANSHA_DATA_DIR", str(ROOT / "test-artifacts" / "bench-reports"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cms.settings")
    import logging

    import django

    django.setup()
    logging.getLogger("kansha").setLevel(logging.WARNING)
    logging.getLogger("rewards.reports.rollups").setLevel(logging.WARNING)
    from django.core.management import call_command
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    t = time.perf_counter()
    call_command("migrate", verbosity=0)
    if plan:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in plan)
        print(f"applied {len(plan)} migrations in {time.perf_counter() - t:.1f} s "
              f"(one-time; on a loaded database this builds the new indexes): {names}",
              flush=True)


# --- Generating and loading ------------------------------------------------------------------


def _chunk_value(value, start: int, stop: int):
    """One chunk of a column: numpy arrays are sliced (datetimes become UTC text, NaT NULL),
    callables get the row range, scalars are broadcast by pandas."""
    import numpy as np

    if callable(value):
        return value(start, stop)
    if isinstance(value, list):  # object dtype keeps ints beside None (no float NaN)
        value = np.array(value, dtype=object)
    if isinstance(value, np.ndarray):
        part = value[start:stop]
        if isinstance(part, np.ndarray) and np.issubdtype(part.dtype, np.datetime64):
            text = _ts(part).astype(object)
            text[np.isnat(part)] = None
            return text
        return part
    return value


def _copy(model, columns: dict, n: int) -> None:
    """COPY n rows into the model's table, in chunks, with every concrete column: the given
    ones, else the field's NULL / default / empty value (so NOT NULL holds)."""
    import pandas as pd
    from django.db import connection

    fields = model._meta.concrete_fields
    names = ", ".join(f'"{f.column}"' for f in fields)
    sql = f"COPY {model._meta.db_table} ({names}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
    with connection.cursor() as cursor:
        raw = cursor.cursor  # the psycopg cursor under Django's wrapper
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            frame = {}
            for f in fields:
                kind = f.get_internal_type()
                if f.column in columns:
                    frame[f.column] = _chunk_value(columns[f.column], start, stop)
                elif f.null:
                    frame[f.column] = None
                elif kind == "UUIDField":
                    frame[f.column] = [f"00000000-0000-4000-8000-{i:012x}"
                                       for i in range(start, stop)]
                elif kind == "JSONField":
                    frame[f.column] = json.dumps(f.get_default())
                elif kind == "DateTimeField":
                    frame[f.column] = f"{YEAR}-06-01 00:00:00+00"
                elif f.has_default():
                    frame[f.column] = f.get_default()
                else:
                    frame[f.column] = ""
            buffer = io.StringIO()
            pd.DataFrame(frame, index=range(stop - start)).to_csv(
                buffer, header=False, index=False, na_rep="\\N")
            with raw.copy(sql) as copy:
                copy.write(buffer.getvalue())


def _times(rng, n: int):
    import numpy as np

    start = np.datetime64(f"{YEAR}-01-01T00:00:00")
    seconds = rng.integers(0, 365 * 86400, n)
    return start + seconds.astype("timedelta64[s]")


def _ts(values):
    """numpy datetime64 → text PostgreSQL reads as UTC."""
    import numpy as np

    return np.char.add(np.datetime_as_string(values, unit="s"), "+00")


def _load(scale: float) -> dict[str, int]:
    import numpy as np
    import pandas as pd

    from advocates.models import (
        AdvocacyEvent,
        Advocate,
        ConsentRecord,
        Mention,
        Outreach,
        SocialIdentity,
    )
    from rewards.models import (
        AdvocateTier,
        DiscountCode,
        Perk,
        PerkFulfilment,
        PointsEntry,
        Redemption,
        RewardGrant,
        RewardRule,
        StripeEvent,
        Tier,
        TierChange,
    )

    rng = np.random.default_rng(2025)
    counts: dict[str, int] = {}
    platforms = np.array(["x", "instagram", "facebook", "mastodon", "bluesky"])

    def step(name: str, model, columns: dict, n: int) -> None:
        t = time.perf_counter()
        _copy(model, columns, n)
        counts[name] = n
        print(f"  loaded {n:>9,} {name:<14} in {time.perf_counter() - t:6.1f} s", flush=True)

    # Advocates and identities (one identity each).
    A = int(500_000 * scale)
    adv_ids = np.arange(1, A + 1)
    adv_created = _times(rng, A)
    step("advocates", Advocate, {"id": adv_ids, "created_at": adv_created,
                                 "display_name": np.char.add("Fan ", adv_ids.astype(str))}, A)
    id_platform = platforms.astype(object)[rng.integers(0, 5, A)]
    step("identities", SocialIdentity, {
        "id": adv_ids, "advocate_id": adv_ids, "platform": id_platform,
        "platform_user_id": adv_ids.astype(str), "handle": np.char.add("@fan", adv_ids.astype(str)),
        "follower_count": rng.lognormal(5, 1.5, A).astype(np.int64),
        "first_seen_at": adv_created}, A)

    # Mentions: a few advocates post a lot (a power law), most rarely.
    M = int(5_000_000 * scale)
    m_ids = np.arange(1, M + 1)
    author = (A * rng.random(M) ** 3).astype(np.int64) + 1
    posted = _times(rng, M)
    received = posted + rng.integers(1, 600, M).astype("timedelta64[s]")
    # Text columns are made per chunk from small integer codes (5M unicode strings each
    # would cost hundreds of MB).
    label_code = rng.choice(3, M, p=[0.6, 0.3, 0.1]).astype(np.int8)
    labels = np.array(["positive", "neutral", "negative"], dtype=object)
    intents = np.array(["praise", "other", "complaint"], dtype=object)
    routes = np.array(["thank", "none", "care"], dtype=object)
    step("mentions", Mention, {
        "id": m_ids, "platform": lambda a, b: id_platform[author[a:b] - 1],
        "external_id": m_ids, "kind": "post", "author_id": author,
        "text": "Great coffee at Kansha today", "language": "en", "posted_at": posted,
        "received_at": received, "source": "webhook", "detected_at": received,
        "detection_label": lambda a, b: labels[label_code[a:b]],
        "detection_intent": lambda a, b: intents[label_code[a:b]],
        "detection_confidence": 0.9, "route": lambda a, b: routes[label_code[a:b]],
        "detector_version": "bench"}, M)

    # Outreach: replies to 16% of mentions, care for 2%, reshares 3%, consent 1%, DMs 0.4%.
    kinds = [("reply", 0.16), ("care", 0.02), ("reshare", 0.03), ("consent", 0.01),
             ("dm", 0.004)]
    parts = []
    for kind, share in kinds:
        pick = rng.choice(M, int(M * share), replace=False)
        parts.append(pd.DataFrame({"kind": kind, "m": pick}))
    o = pd.concat(parts, ignore_index=True)
    n_o = len(o)
    status = np.array(["sent", "rejected", "proposed", "approved", "failed"])[
        rng.choice(5, n_o, p=[0.7, 0.1, 0.1, 0.05, 0.05])]
    created = received[o["m"].to_numpy()] + np.timedelta64(5, "s")
    sent = created + (rng.lognormal(7, 1, n_o)).astype("timedelta64[s]")
    is_care = o["kind"].to_numpy() == "care"
    reasons = np.array(["off-brand", "sarcasm", "not about us", "competitor", "=cmd|' /C calc'!A0"])
    step("outreach", Outreach, {
        "id": np.arange(1, n_o + 1), "kind": o["kind"].to_numpy(), "status": status,
        "mention_id": o["m"].to_numpy() + 1, "advocate_id": author[o["m"].to_numpy()],
        "identity_id": author[o["m"].to_numpy()],
        "platform": id_platform[author[o["m"].to_numpy()] - 1],
        "dedupe_key": np.char.add("bench:", np.arange(1, n_o + 1).astype(str)),
        "created_at": created, "updated_at": created,
        "sent_at": np.where(status == "sent", sent, np.datetime64("NaT")),
        "sla_due_at": np.where(is_care, created + np.timedelta64(3600, "s"), np.datetime64("NaT")),
        "reject_reason": np.where(status == "rejected", reasons[rng.integers(0, 5, n_o)], "")},
        n_o)

    # Advocacy events (and one points entry each) for 30% of mentions.
    E = int(M * 0.3)
    pick = np.sort(rng.choice(M, E, replace=False))
    ev_kind = np.array(["praise", "checkin", "review", "reshare"])[
        rng.choice(4, E, p=[0.6, 0.2, 0.1, 0.1])]
    ev_ids = np.arange(1, E + 1)
    step("events", AdvocacyEvent, {
        "id": ev_ids, "advocate_id": author[pick], "kind": ev_kind, "mention_id": pick + 1,
        "platform": id_platform[author[pick] - 1], "occurred_at": posted[pick],
        "created_at": received[pick],
        "dedupe_key": np.char.add("bench:", ev_ids.astype(str))}, E)
    expires = posted[pick] + np.timedelta64(365, "D")
    step("points", PointsEntry, {
        "id": ev_ids, "advocate_id": author[pick], "event_id": ev_ids, "kind": ev_kind,
        "platform": id_platform[author[pick] - 1], "points": 10, "reason": ev_kind,
        "occurred_at": posted[pick],
        "day": np.datetime_as_string(posted[pick], unit="D"), "expires_at": expires}, E)

    C = int(60_000 * scale)
    c_pick = rng.choice(M, C, replace=False)
    step("consents", ConsentRecord, {
        "id": np.arange(1, C + 1), "advocate_id": author[c_pick], "identity_id": author[c_pick],
        "mention_id": c_pick + 1, "status": "granted", "method": "reply_hashtag",
        "token": [f"00000000-0000-4000-9000-{i:012x}" for i in range(C)],
        "requested_at": received[c_pick],
        "granted_at": received[c_pick] + np.timedelta64(3600, "s")}, C)

    # Tiers, current tiers, tier changes.
    tier_names = ["Bronze", "Silver", "Gold", "Platinum"]
    step("tiers", Tier, {"id": np.arange(1, 5), "name": tier_names,
                         "threshold": [10, 50, 150, 400]}, 4)
    tier_of = np.where(rng.random(A) < 0.6, None, rng.integers(1, 5, A))
    step("advocate tiers", AdvocateTier, {"advocate_id": adv_ids, "tier_id": tier_of}, A)
    TC = int(100_000 * scale)
    to_tier = rng.integers(1, 5, TC)
    step("tier changes", TierChange, {
        "id": np.arange(1, TC + 1), "advocate_id": rng.integers(1, A + 1, TC),
        "from_tier_id": np.where(to_tier > 1, to_tier - 1, None), "to_tier_id": to_tier,
        "direction": np.where(rng.random(TC) < 0.85, "up", "down"), "points": 100,
        "reason": "points", "changed_at": _times(rng, TC)}, TC)

    # Rules (three currencies), a perk, grants, codes, redemptions.
    rules = [("JPY 10%", "percent", 10, None, "jpy", 500, None),
             ("JPY 500 off", "amount", None, 500, "jpy", 500, None),
             ("USD 15% (min $30)", "percent", 15, None, "usd", 0, 3000),
             ("USD $5 off", "amount", None, 500, "usd", 500, None),
             ("EUR 20%", "percent", 20, None, "eur", 0, None)]
    step("perks", Perk, {"id": [1], "name": ["Tote bag"], "unit_cost_minor": [1200],
                         "currency": ["jpy"], "stock": [100000]}, 1)
    step("rules", RewardRule, {
        "id": np.arange(1, 7), "name": [r[0] for r in rules] + ["Tote bag"],
        "live": True, "reward_kind": ["discount"] * 5 + ["perk"],
        "discount_type": [r[1] for r in rules] + ["percent"],
        "percent_off": [r[2] for r in rules] + [None],
        "amount_off_minor": [r[3] for r in rules] + [None],
        "currency": [r[4] for r in rules] + ["jpy"],
        "budget_estimate_minor": [r[5] for r in rules] + [0],
        "minimum_order_minor": [r[6] for r in rules] + [None],
        "perk_id": [None] * 5 + [1]}, 6)
    G = int(200_000 * scale)
    g_ids = np.arange(1, G + 1)
    g_rule = rng.choice(6, G, p=[0.35, 0.2, 0.15, 0.15, 0.1, 0.05]) + 1
    g_created = _times(rng, G)
    g_expires = g_created + np.timedelta64(30, "D")
    is_perk = g_rule == 6
    g_code = ~is_perk
    # 60,000 redemptions among the code grants; the rest split expired / delivered / revoked.
    R = int(60_000 * scale)
    code_idx = np.flatnonzero(g_code)
    redeemed_idx = rng.choice(code_idx, min(R, len(code_idx)), replace=False)
    g_status = np.where(rng.random(G) < 0.45, "expired", "delivered").astype(object)
    g_status[rng.random(G) < 0.03] = "revoked"
    g_status[redeemed_idx] = "redeemed"
    g_status[is_perk] = "delivered"
    cur = np.array([r[4] for r in rules] + ["jpy"])[g_rule - 1]
    cost = np.array([r[5] for r in rules] + [1200])[g_rule - 1]
    g_adv = (A * rng.random(G) ** 2).astype(np.int64) + 1
    step("grants", RewardGrant, {
        "id": g_ids, "advocate_id": g_adv,
        "rule_id": g_rule, "period_key": np.char.add("b", g_ids.astype(str)),
        "status": g_status, "reward": "{}", "perk_id": np.where(is_perk, 1, None),
        "reward_kind": np.where(is_perk, "perk", "discount"), "cost_minor": cost,
        "currency": cur, "tier_id": rng.integers(1, 5, G), "created_at": g_created,
        "issued_at": g_created,
        "expires_at": np.where(is_perk, np.datetime64("NaT"), g_expires)}, G)
    K = len(code_idx)
    rule_of_code = g_rule[code_idx]
    times_redeemed = np.isin(code_idx, redeemed_idx).astype(np.int64)
    codes = np.char.add("BENCH", g_ids[code_idx].astype(str))
    step("codes", DiscountCode, {
        "id": g_ids[code_idx], "grant_id": g_ids[code_idx], "provider": "stripe", "code": codes,
        "stripe_coupon_id": np.char.add("co_rule", rule_of_code.astype(str)),
        "stripe_promotion_code_id": np.char.add("promo_", codes),
        "discount_type": np.array([r[1] for r in rules])[rule_of_code - 1],
        "percent_off": np.array([r[2] for r in rules], dtype=object)[rule_of_code - 1],
        "amount_off_minor": np.array([r[3] for r in rules], dtype=object)[rule_of_code - 1],
        "minimum_order_minor": np.array([r[6] for r in rules], dtype=object)[rule_of_code - 1],
        "currency": cur[code_idx], "max_redemptions": 1, "times_redeemed": times_redeemed,
        "expires_at": g_expires[code_idx], "created_at": g_created[code_idx]}, K)
    red = redeemed_idx
    red_cur = cur[red]
    order = np.where(red_cur == "jpy", rng.integers(1500, 9000, len(red)),
                     rng.integers(2000, 12000, len(red)))
    pct = np.array([r[2] or 0 for r in rules])[g_rule[red] - 1]
    amt = np.array([r[3] or 0 for r in rules])[g_rule[red] - 1]
    discount = np.where(pct > 0, order * pct // 100, amt)
    step("redemptions", Redemption, {
        "id": np.arange(1, len(red) + 1), "grant_id": g_ids[red], "code_id": g_ids[red],
        "rule_id": g_rule[red], "advocate_id": g_adv[red], "source": "stripe_checkout",
        "source_id": np.char.add("cs_bench_", g_ids[red].astype(str)),
        "order_amount_minor": order - discount, "discount_minor": discount,
        "currency": red_cur,
        "redeemed_at": g_created[red] + rng.integers(0, 29 * 86400, len(red)).astype(
            "timedelta64[s]")}, len(red))
    perk_idx = np.flatnonzero(is_perk)
    step("fulfilments", PerkFulfilment, {
        "id": np.arange(1, len(perk_idx) + 1), "grant_id": g_ids[perk_idx], "perk_id": 1,
        "status": np.where(rng.random(len(perk_idx)) < 0.3, "granted", "delivered"),
        # Each voucher is unique (the till looks it up); the default would repeat one value.
        "voucher": [f"PRK-B{i:09d}" for i in range(len(perk_idx))],
        "created_at": g_created[perk_idx]}, len(perk_idx))

    S = int(300_000 * scale)
    s_cur = np.array(["jpy", "usd", "eur"])[rng.choice(3, S, p=[0.6, 0.3, 0.1])]
    s_amount = rng.integers(1000, 10000, S)
    payload = [json.dumps({"data": {"object": {"id": f"cs_plain_{i}", "amount_total": int(a),
                                               "currency": c, "discounts": [],
                                               "total_details": {"amount_discount": 0}}}})
               for i, a, c in zip(range(S), s_amount, s_cur, strict=True)]
    step("stripe events", StripeEvent, {
        "id": np.arange(1, S + 1), "event_id": np.char.add("evt_bench_", np.arange(S).astype(str)),
        "type": "checkout.session.completed", "payload": payload,
        "received_at": _times(rng, S), "processed_at": _times(rng, S),
        "outcome": "no promotion code"}, S)
    return counts


def _ensure_loaded(scale: float, reload: bool) -> bool:
    from django.apps import apps
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE IF NOT EXISTS bench_reports_marker "
                       "(scale double precision, counts jsonb, loaded_at timestamptz)")
        cursor.execute("SELECT scale, counts FROM bench_reports_marker")
        row = cursor.fetchone()
    if row and row[0] == scale and not reload:
        print(f"data already loaded at scale {scale}: {row[1]}")
        return False
    tables = [apps.get_model(label)._meta.db_table for label in (
        "advocates.Advocate", "advocates.SocialIdentity", "advocates.Mention",
        "advocates.Outreach", "advocates.AdvocacyEvent", "advocates.ConsentRecord",
        "rewards.Tier", "rewards.AdvocateTier", "rewards.TierChange", "rewards.RewardRule",
        "rewards.RewardGrant", "rewards.DiscountCode", "rewards.Redemption", "rewards.Perk",
        "rewards.PerkFulfilment", "rewards.PointsEntry", "rewards.StripeEvent")]
    print(f"loading a year at scale {scale} (COPY in chunks of {CHUNK:,})", flush=True)
    t = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
        # The generator keeps every foreign key consistent by construction; skipping the
        # per-row FK triggers during COPY (superuser only) makes the load several times faster.
        cursor.execute("SET session_replication_role = replica")
    try:
        counts = _load(scale)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = DEFAULT")
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"VACUUM ANALYZE {table}")
        cursor.execute("DELETE FROM bench_reports_marker")
        cursor.execute("INSERT INTO bench_reports_marker VALUES (%s, %s, now())",
                       [scale, json.dumps(counts)])
    print(f"loaded in {time.perf_counter() - t:.0f} s", flush=True)
    return True


def _rollups_ensure(rebuild: bool) -> None:
    """Build the report rollups once (COPY bypassed everything a refresh would look at)."""
    from django.db import connection

    from rewards.reports import rollups
    from rewards.reports.models import ReportRollupState

    state = ReportRollupState.objects.filter(name=rollups.STATE, built_at__isnull=False).first()
    if state is not None and not rebuild:
        print(f"report rollups already built on {state.built_at:%Y-%m-%d %H:%M} UTC "
              f"(that one-time build took {state.build_seconds:.1f} s)")
        return
    t = time.perf_counter()
    rollups.rollups_refresh(rebuild=True)
    built = time.perf_counter() - t
    rows = {}
    with connection.cursor() as cursor:
        for name, table in rollups.R.items():
            cursor.execute(f"VACUUM ANALYZE {table}")
            cursor.execute(f"SELECT COUNT(*) FROM {table}")
            rows[name] = cursor.fetchone()[0]
    print(f"built the report rollups (one-time) in {built:.1f} s "
          f"(+ VACUUM ANALYZE {time.perf_counter() - t - built:.1f} s): "
          + ", ".join(f"{n:,} {name}" for name, n in rows.items()) + " rows", flush=True)


def _burst(n: int) -> dict[str, int]:
    """Changes spread over the year, as the services make them, without changing any count:
    n outreach status changes (updated_at), n mentions detected again (detected_at) and n
    events appended late (created_at) — each now, on rows picked evenly across the year."""
    from django.db import connection

    touched = {}
    with connection.cursor() as cursor:
        for name, table, column, keep in (
                ("outreach", "advocates_outreach", "updated_at", ""),
                ("mentions", "advocates_mention", "detected_at", " AND detected_at IS NOT NULL"),
                ("events", "advocates_advocacyevent", "created_at", "")):
            cursor.execute(f"SELECT MAX(id) FROM {table}")
            top = cursor.fetchone()[0] or 0
            step = max(top // n, 1)
            cursor.execute(f"UPDATE {table} SET {column} = now() "
                           f"WHERE id %% %s = 0{keep}", [step])
            touched[name] = cursor.rowcount
    return touched


# --- Timing ----------------------------------------------------------------------------------


def _measure(label: str, fn):
    """Run fn twice: once for wall seconds (nothing traced), once under tracemalloc for the
    peak of Python allocations (tracing slows allocation-heavy code, so it is not timed); and
    the growth of the process's max RSS over both."""
    import gc

    gc.collect()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t = time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - t
    del result
    gc.collect()
    tracemalloc.start()
    result = fn()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before
    print(f"  {label:<44} {seconds:7.2f} s   peak {peak / 2**20:7.1f} MiB   "
          f"max RSS +{rss_growth / 1024:6.1f} MiB", flush=True)
    return result, seconds, peak


def _naive_redemptions(params):
    """The redemption report the naive way: read the rows, group in pandas."""
    import pandas as pd
    from django.db import connection

    raw = connection.connection
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas prefers SQLAlchemy; a DBAPI connection works
        codes = pd.read_sql(
            "SELECT c.id, c.created_at, c.currency, c.times_redeemed, c.expires_at, "
            "g.rule_id, g.status, r.name AS rule, t.name AS tier FROM rewards_discountcode c "
            "JOIN rewards_rewardgrant g ON g.id = c.grant_id JOIN rewards_rewardrule r "
            "ON r.id = g.rule_id LEFT JOIN rewards_tier t ON t.id = g.tier_id", raw)
        reds = pd.read_sql(
            "SELECT x.*, r.name AS rule, t.name AS tier, c.currency AS code_currency "
            "FROM rewards_redemption x JOIN rewards_discountcode c ON c.id = x.code_id "
            "JOIN rewards_rewardgrant g ON g.id = x.grant_id JOIN rewards_rewardrule r "
            "ON r.id = x.rule_id LEFT JOIN rewards_tier t ON t.id = g.tier_id", raw)
    start, end = pd.Timestamp(params.start), pd.Timestamp(params.end)
    codes = codes[(codes["created_at"] >= start) & (codes["created_at"] < end)].copy()
    codes["month"] = codes["created_at"].dt.strftime("%Y-%m-01")
    codes["tier"] = codes["tier"].fillna("(no tier)")
    codes["redeemed"] = codes["times_redeemed"] > 0
    codes["expired"] = (~codes["redeemed"]) & ((codes["status"] == "expired")
                                               | (codes["expires_at"] <= end))
    cohort = codes.groupby(["month", "rule_id", "rule", "tier", "currency"]).agg(
        issued=("id", "size"), redeemed=("redeemed", "sum"), expired=("expired", "sum"))
    reds = reds[(reds["redeemed_at"] >= start) & (reds["redeemed_at"] < end)].copy()
    reds["month"] = reds["redeemed_at"].dt.strftime("%Y-%m-01")
    reds["tier"] = reds["tier"].fillna("(no tier)")
    reds["currency"] = reds["currency"].where(reds["currency"] != "", reds["code_currency"])
    money = reds.groupby(["month", "rule_id", "rule", "tier", "currency"]).agg(
        redemptions=("id", "size"), discount_minor=("discount_minor", "sum"),
        order_minor=("order_amount_minor", "sum"))
    summary = cohort.join(money, how="outer").fillna(0).reset_index()
    return summary.groupby("currency")[["issued", "redeemed", "discount_minor"]].sum()


def _assert_same(a, b) -> None:
    """Two builds of one report: every table and chart identical."""
    import pandas as pd

    assert list(a.sections) == list(b.sections)
    for key, section in a.sections.items():
        pd.testing.assert_frame_equal(section.frame, b.sections[key].frame, check_exact=True,
                                      obj=key)
    assert a.charts == b.charts, "charts differ"


def main() -> None:
    args = _args()
    _database_create(args.database_url)
    _setup(args.database_url)
    from django.db import connection

    from rewards.reports import ReportParams, queries, report_build

    loaded = _ensure_loaded(args.scale, args.reload)
    _rollups_ensure(rebuild=loaded or args.rebuild_rollups)
    print("indexes the reports and the rollup refresh use:")
    for table, index, used_by in queries.REPORT_INDEXES:
        print(f"  {table}.{index}  — {used_by}")
    params = ReportParams(date(YEAR, 1, 1), date(YEAR, 12, 31), period="month")
    print(f"\nreports for {params.describe()} (PostgreSQL {connection.pg_version // 10000}, "
          f"scale {args.scale}); machine load average now "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    results = {}
    for name in ("ambassador", "redemptions", "liability", "ledger"):
        label = {"ledger": "ledger export (one row per grant)"}.get(name, f"{name} report")
        report, seconds, peak = _measure(label, lambda n=name: report_build(name=n,
                                                                           params=params))
        results[name] = (report, seconds, peak)
        rows = sum(len(s.frame) for s in report.sections.values())
        print(f"  {'':<44} {rows:,} result rows")
    weekly = replace(params, period="week")
    report, seconds, peak = _measure("ambassador report, by week",
                                     lambda: report_build(name="ambassador", params=weekly))
    results["ambassador by week"] = (report, seconds, peak)
    from rewards.reports.exports import report_xlsx

    _measure("ambassador report → XLSX bytes", lambda: report_xlsx(results["ambassador"][0]))
    direct, direct_seconds, direct_peak = _measure(
        "ambassador report, direct from the tables",
        lambda: report_build(name="ambassador", params=params, direct=True))
    _assert_same(results["ambassador"][0], direct)
    direct_liability, direct_liability_seconds, _ = _measure(
        "liability report, direct from the tables",
        lambda: report_build(name="liability", params=params, direct=True))
    _assert_same(results["liability"][0], direct_liability)
    naive, naive_seconds, naive_peak = _measure("redemption report, naive (read_sql + pandas)",
                                                lambda: _naive_redemptions(params))
    totals = results["redemptions"][0].sections["totals"].frame.set_index("currency")
    assert naive["discount_minor"].astype("int64").to_dict() == \
        totals["discount_minor"].to_dict(), "naive and SQL totals differ"
    _, sql_seconds, sql_peak = results["redemptions"]
    print(f"\nredemption report: SQL {sql_seconds:.2f} s / naive {naive_seconds:.2f} s → "
          f"{naive_seconds / sql_seconds:.1f}× faster; peak memory "
          f"{sql_peak / 2**20:.1f} MiB vs {naive_peak / 2**20:.1f} MiB → "
          f"{naive_peak / max(sql_peak, 1):.1f}× less (totals identical per currency)")
    _, rollup_seconds, rollup_peak = results["ambassador"]
    print(f"ambassador report: rollups {rollup_seconds:.2f} s / direct {direct_seconds:.2f} s → "
          f"{direct_seconds / rollup_seconds:.1f}× faster; peak memory "
          f"{rollup_peak / 2**20:.1f} MiB vs {direct_peak / 2**20:.1f} MiB "
          f"(every table and chart identical)")
    print(f"liability report: rollups {results['liability'][1]:.2f} s / direct "
          f"{direct_liability_seconds:.2f} s → "
          f"{direct_liability_seconds / results['liability'][1]:.1f}× faster "
          f"(every table and chart identical)")

    from rewards.reports import rollups

    touched = _burst(1000)
    print("\nfreshness: changes spread over the year, made now: "
          + ", ".join(f"{n:,} {name}" for name, n in touched.items()))
    t = time.perf_counter()
    first = report_build(name="ambassador", params=params)
    print(f"  {'ambassador report right after them':<44} {time.perf_counter() - t:7.2f} s   "
          "(its refresh recounts the days they touched and the months it reads)")
    _assert_same(first, report_build(name="ambassador", params=params, direct=True))
    t = time.perf_counter()
    periodic = rollups.rollups_refresh(margin=rollups.MARGIN)
    print(f"  {'periodic refresh (looks back the margin)':<44} {time.perf_counter() - t:7.2f} s   "
          f"({sum(periodic.days.values()):,} days and {periodic.periods} periods recounted)")
    _measure("ambassador report after it", lambda: report_build(name="ambassador",
                                                                params=params))
    print(f"\nprocess max RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} "
          f"MiB")
    print(f"machine load average at the end: "
          f"{', '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    slow = [n for n, (_, s, _) in results.items() if s >= 3]
    print("targets (< 3 s, < 1 GB each):", "met" if not slow else f"MISSED by {slow}")


if __name__ == "__main__":
    import numpy as np  # noqa: F401  (fail early if missing)

    main()
