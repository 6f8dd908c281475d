"""Load bench: signed platform webhooks into gunicorn + PostgreSQL + Redis + Celery workers.

    flock /tmp/kansha-bench.lock .venv/bin/python bench/load.py --seconds 60 --connections 32

What it does (everything on 127.0.0.1):
1. creates and migrates a bench database (kansha_bench_load, dropped first), flushes Redis db 14
   and connects two brand accounts: an X account (Account Activity webhooks, signed with
   X-Twitter-Webhooks-Signature) and a Facebook Page (feed webhooks, X-Hub-Signature-256);
2. writes pre-signed requests, every one a distinct event (its own tweet or post id), half X and
   half Facebook, split into one file per wrk thread;
3. starts gunicorn and the Celery worker(s) (by default one solo process on ingest, detect and
   default, at nice 10) against that database;
4. runs wrk (Debian's `wrk`, a C load generator, with bench/load_wrk.lua) with N connections for
   --seconds against /webhooks/<platform>/<account id>/; wrk measures every request's latency;
5. waits (bounded) for the pipeline to finish, then prints requests/s, p50/p99 latency, the time
   from webhook to proposal measured in the database (WebhookDelivery.received_at, when the
   request stored it, to the mention's first Outreach.created_at) and the count check: every
   delivery a 2xx answer acknowledged exists, was processed without error, became a mention
   and that mention was detected and routed.

Targets (issue 8): >= 500 webhooks/s with p99 < 100 ms, proposals within 2 s at p95, nothing
lost. The load average is printed before and after: the machine has 2 cores, shared by the web
server, the workers, PostgreSQL, Redis, wrk and whoever else is on it.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, bench/ is first on sys.path and bench/queue.py would shadow the stdlib's
# `queue` (psycopg imports it).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import base64  # noqa: E402
import hashlib  # noqa: E402
import hmac  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

import psycopg  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
DB = "kansha_bench_load"
WORK = Path("/tmp/kansha-bench-load")  # noqa: S108 - a local bench
X_SECRET = "bench-x-consumer-secret"  # noqa: S105 - a throwaway account in a throwaway database
FB_SECRET = "bench-facebook-app-secret"  # noqa: S105
BRAND_X_ID, PAGE_ID = "1000", "2000"
TEXTS = ["Best cortado in town, thank you @kanshacoffee!",
         "@kanshacoffee your flat white made my morning, love it",
         "@kanshacoffee カンシャ珈琲のラテ、最高でした！ありがとう",
         "Checked in at @kanshacoffee Shibuya, great beans",
         "@kanshacoffee waited 20 minutes and my order was wrong",
         "@kanshacoffee do you open early on Sundays?"]


def _env(args) -> dict[str, str]:
    from cryptography.fernet import Fernet

    return {**os.environ, "DATABASE_URL": f"{args.pg}/{DB}", "REDIS_URL": args.redis,
            "DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "bench-" + "x" * 60,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "DJANGO_SECURE_SSL_REDIRECT": "0",
            "KANSHA_LOG_LEVEL": "WARNING", "DB_CONN_MAX_AGE": "600",
            "KANSHA_CREDENTIALS_KEY": Fernet.generate_key().decode(),
            "KANSHA_DATA_DIR": str(WORK / "data")}


def _setup(args, env) -> tuple[int, int]:
    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")
    subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run(
        [PY, "manage.py", "shell", "-c",
         "from advocates.services.platforms import brand_account_connect as c;"
         f"x = c(platform='x', name='bench', handle='@kanshacoffee', platform_user_id="
         f"'{BRAND_X_ID}', credentials={{'consumer_secret': '{X_SECRET}'}});"
         f"f = c(platform='facebook', name='bench', handle='Kansha Coffee', platform_user_id="
         f"'{PAGE_ID}', credentials={{'app_secret': '{FB_SECRET}'}});"
         "print(x.pk, f.pk)"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    subprocess.run(["redis-cli", "-u", args.redis, "FLUSHDB"], check=True, capture_output=True)
    x_id, fb_id = out.strip().splitlines()[-1].split()
    return int(x_id), int(fb_id)


def _x_request(n: int, run: str, account: int) -> tuple[str, str, str, bytes]:
    body = json.dumps({"for_user_id": BRAND_X_ID, "tweet_create_events": [{
        "id_str": f"{run}{n:07d}", "text": f"{TEXTS[n % len(TEXTS)]} #{n}", "lang": "",
        "created_at": datetime.now(UTC).strftime("%a %b %d %H:%M:%S +0000 %Y"),
        "user": {"id_str": f"7{n % 50_000}", "screen_name": f"fan{n % 50_000}",
                 "name": f"Fan {n % 50_000}", "followers_count": 100 + n % 900},
        "entities": {"user_mentions": [{"id_str": BRAND_X_ID, "screen_name": "kanshacoffee"}]},
    }]}, ensure_ascii=False).encode()
    signature = "sha256=" + base64.b64encode(
        hmac.new(X_SECRET.encode(), body, hashlib.sha256).digest()).decode()
    return f"/webhooks/x/{account}/", "X-Twitter-Webhooks-Signature", signature, body


def _facebook_request(n: int, run: str, account: int) -> tuple[str, str, str, bytes]:
    now = int(time.time())
    body = json.dumps({"object": "page", "entry": [{"id": PAGE_ID, "time": now, "changes": [{
        "field": "feed", "value": {
            "item": "post", "verb": "add", "post_id": f"{PAGE_ID}_{run}{n:07d}",
            "from": {"id": f"8{n % 50_000}", "name": f"Page Fan {n % 50_000}"},
            "message": f"{TEXTS[n % len(TEXTS)]} #{n}", "created_time": now}}]}]},
        ensure_ascii=False).encode()
    signature = "sha256=" + hmac.new(FB_SECRET.encode(), body, hashlib.sha256).hexdigest()
    return f"/webhooks/facebook/{account}/", "X-Hub-Signature-256", signature, body


def _write_requests(args, x_account: int, fb_account: int) -> int:
    """One TSV of distinct, signed requests per wrk thread; returns how many in all."""
    total = int(args.max_rate * args.seconds)
    run = datetime.now(UTC).strftime("%H%M%S")
    files = [(WORK / f"requests-{t}.tsv").open("wb") for t in range(args.threads)]
    for n in range(total):
        path, header, signature, body = (_x_request(n, run, x_account) if n % 2 == 0
                                         else _facebook_request(n, run, fb_account))
        files[n % args.threads].write(
            b"\t".join([path.encode(), header.encode(), signature.encode(), body]) + b"\n")
    for f in files:
        f.close()
    return total


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 - 127.0.0.1
            return
        except OSError as exc:
            if getattr(exc, "code", None):  # any HTTP answer means it is up
                return
            time.sleep(0.3)
    raise SystemExit(f"{url} did not come up")


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def _start(args, env) -> list[subprocess.Popen]:
    logs = ROOT / "test-artifacts"
    logs.mkdir(exist_ok=True)
    gunicorn = [PY, "-m", "gunicorn", "cms.wsgi:application", "-b", f"127.0.0.1:{args.port}",
                "-w", str(args.web_workers), "-k", args.web_class, "--keep-alive", "30",
                "--backlog", "2048", "--log-level", "warning", "--no-control-socket"]
    if args.web_class == "gthread":
        gunicorn += ["--threads", str(args.web_threads)]
    procs = [subprocess.Popen(gunicorn, cwd=ROOT, env=env,
                              stdout=(logs / "bench-load-web.log").open("w"),
                              stderr=subprocess.STDOUT)]
    for n, queues in enumerate(args.queues):
        procs.append(subprocess.Popen(
            ["nice", "-n", str(args.worker_nice), PY, "-m", "celery", "-A", "cms", "worker",
             "-l", "warning", "-P", "solo", "-Q", queues,
             "-n", f"bench-load-{n}-{os.getpid()}@localhost",
             "--without-gossip", "--without-mingle", "--without-heartbeat"],
            cwd=ROOT, env=env, stdout=(logs / f"bench-load-worker-{n}.log").open("w"),
            stderr=subprocess.STDOUT))
    return procs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--connections", type=int, default=32, help="concurrent clients")
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--pace-ms", type=int, default=0,
                        help="each connection waits this long before each request "
                             "(0: closed loop, the next request as soon as the answer is in)")
    parser.add_argument("--max-rate", type=float, default=1500,
                        help="requests/s to pre-sign for (each event is sent once)")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--web-class", default="gthread", choices=["gthread", "sync"])
    parser.add_argument("--web-threads", type=int, default=2)
    parser.add_argument("--queues", nargs="+", default=["ingest,detect,default"],
                        help="one solo Celery worker process per argument, on these queues")
    parser.add_argument("--worker-nice", type=int, default=10,
                        help="the workers' nice value: web requests first, the batch after")
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--drain-seconds", type=float, default=120,
                        help="how long to wait for the pipeline to finish afterwards")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 600 or not 1 <= args.connections <= 512:
        raise SystemExit("--seconds must be 1..600 and --connections 1..512")
    wrk = shutil.which("wrk")
    if not wrk:
        raise SystemExit("needs wrk (Debian: apt-get install wrk)")

    print(f"load average before start: {os.getloadavg()}, cores: {os.cpu_count()}, "
          f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    env = _env(args)
    x_account, fb_account = _setup(args, env)
    total = _write_requests(args, x_account, fb_account)
    procs = _start(args, env)
    try:
        _wait_http(f"http://127.0.0.1:{args.port}/webhooks/x/{x_account}/?crc_token=up")
        time.sleep(2)  # let the workers finish starting
        _run(args, wrk, total)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _cpu_ticks() -> dict[int, tuple[str, int]]:
    """pid -> (kind, CPU ticks used so far) for the processes the bench is about (/proc)."""
    kinds = {"gunicorn": "web (gunicorn)", "celery": "Celery workers",
             "postgres": "PostgreSQL (bench backends)", "redis-server": "Redis"}
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            words = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(
                "utf-8", "replace").split()[:5]
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if words[:1] == ["postgres:"] and DB not in words:
            continue  # another database's backend, or a shared background process: "other"
        for needle, kind in kinds.items():
            if any(Path(w).name == needle or w.startswith(needle + ":") for w in words):
                found[int(entry.name)] = (kind, int(fields[11]) + int(fields[12]))
                break
    return found


def _machine_ticks() -> int:
    """CPU ticks the whole machine spent busy (not idle, not waiting for I/O) so far."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(
        int, Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    return user + nice + system + irq + softirq + steal


def _cpu_used(before: dict[int, tuple[str, int]], machine_before: int) -> dict[str, float]:
    """CPU seconds per kind since `before`, and the machine's busy time not spent in them
    ("other": other people's processes, processes that exited meanwhile, the kernel)."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict[str, float] = {}
    for pid, (kind, ticks) in _cpu_ticks().items():
        start = before.get(pid, (kind, 0))[1]
        used[kind] = used.get(kind, 0.0) + (ticks - start) / tick
    used["other"] = (_machine_ticks() - machine_before) / tick - sum(used.values())
    return used


def _summary() -> dict[str, float]:
    out = {}
    for line in (WORK / "summary.txt").read_text().splitlines():
        name, value = line.split()
        out[name] = float(value)
    return out


def _run(args, wrk: str, total: int) -> None:
    wrk_version = subprocess.run([wrk, "-v"], capture_output=True, text=True).stdout
    wrk_version = (wrk_version.splitlines() or ["wrk"])[0]
    pacing = (f"each waits {args.pace_ms} ms before each request" if args.pace_ms
              else "closed loop")
    print(f"load generator: {wrk_version.split(' Copyright')[0]}, {args.threads} thread(s), "
          f"{args.connections} connections ({pacing}), bench/load_wrk.lua, {total} distinct "
          f"pre-signed requests (X and Facebook, alternating)")
    web = (f"gunicorn {args.web_class} {args.web_workers} workers"
           + (f" x {args.web_threads} threads" if args.web_class == "gthread" else ""))
    print(f"server: {web}, DB_CONN_MAX_AGE=600; Celery: {len(args.queues)} solo worker "
          f"process(es) at nice {args.worker_nice}, queues {' | '.join(args.queues)}; "
          f"PostgreSQL {DB}, Redis {args.redis}")
    print(f"load average at load start: {os.getloadavg()}")
    cpu_before, machine_before = _cpu_ticks(), _machine_ticks()
    wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    subprocess.run(
        [wrk, "-t", str(args.threads), "-c", str(args.connections), "-d", f"{args.seconds}s",
         "--timeout", "10s", "-s", str(ROOT / "bench" / "load_wrk.lua"),
         f"http://127.0.0.1:{args.port}"],
        env={**os.environ, "KANSHA_LOAD_DIR": str(WORK), "KANSHA_LOAD_PACE_MS": str(args.pace_ms)},
        check=True, stdout=subprocess.DEVNULL)
    load_end = os.getloadavg()
    cpu = _cpu_used(cpu_before, machine_before)
    wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu["wrk"] = (wrk_after.ru_utime + wrk_after.ru_stime
                  - wrk_before.ru_utime - wrk_before.ru_stime)
    cpu["other"] -= cpu["wrk"]
    s = _summary()
    took = s["duration_us"] / 1e6
    statuses = {k[7:]: int(v) for k, v in s.items() if k.startswith("status_")}
    errors = {k[6:]: int(v) for k, v in s.items() if k.startswith("error_") and v}
    acked = sorted({int(line) for t in range(args.threads)
                    for line in (WORK / f"acked-{t}.txt").read_text().split() if line})
    n_req = int(s["requests"])
    print(f"\nrequests: {n_req} in {took:.1f} s = {n_req / took:.0f} requests/s; "
          f"statuses {statuses}; socket errors {errors or 'none'}; "
          f"redelivered (wrapped) {int(s['wrapped'])}, answered stored=false "
          f"{int(s['stored_false'])}")
    print(f"latency (wrk, every request): p50 {s['latency_p50_us'] / 1000:.1f} ms, "
          f"p90 {s['latency_p90_us'] / 1000:.1f} ms, p99 {s['latency_p99_us'] / 1000:.1f} ms, "
          f"p99.9 {s['latency_p99.9_us'] / 1000:.1f} ms, max {s['latency_max_us'] / 1000:.1f} ms")
    print(f"load average at load end: {load_end}")
    print("CPU used during the load (of 2 cores x the duration = "
          f"{2 * took:.0f} s): " + ", ".join(f"{k} {v:.1f} s" for k, v in cpu.items()))
    _check(args, acked, started + took)


def _check(args, acked: list[int], load_ended: float) -> None:
    stats_sql = """
        WITH d AS (
            SELECT w.id, w.platform, w.received_at, w.processed_at, w.error,
                   COALESCE(w.body #>> '{tweet_create_events,0,id_str}',
                            w.body #>> '{entry,0,changes,0,value,post_id}') AS ext
            FROM advocates_webhookdelivery w WHERE w.id = ANY(%s))
        SELECT count(*), count(d.processed_at), count(*) FILTER (WHERE d.error <> ''),
               count(m.id), count(m.detected_at), count(*) FILTER (WHERE m.route <> '')
        FROM d LEFT JOIN advocates_mention m
            ON m.platform = d.platform AND m.external_id = d.ext"""
    with psycopg.connect(f"{args.pg}/{DB}", autocommit=True) as conn:
        deadline = time.monotonic() + args.drain_seconds
        while True:
            row = conn.execute(stats_sql, [acked]).fetchone()
            if row[5] == len(acked) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        drained = time.monotonic() - load_ended
        stored, processed, failed, mentions, detected, routed = row
        delays = [float(r[0]) for r in conn.execute("""
            SELECT EXTRACT(EPOCH FROM min(o.created_at) - w.received_at)
            FROM advocates_webhookdelivery w
            JOIN advocates_mention m ON m.platform = w.platform AND m.external_id = COALESCE(
                w.body #>> '{tweet_create_events,0,id_str}',
                w.body #>> '{entry,0,changes,0,value,post_id}')
            JOIN advocates_outreach o ON o.mention_id = m.id
            WHERE w.id = ANY(%s) GROUP BY w.id, w.received_at""", [acked]).fetchall()]
        detect_delays = [float(r[0]) for r in conn.execute("""
            SELECT EXTRACT(EPOCH FROM m.detected_at - w.received_at)
            FROM advocates_webhookdelivery w
            JOIN advocates_mention m ON m.platform = w.platform AND m.external_id = COALESCE(
                w.body #>> '{tweet_create_events,0,id_str}',
                w.body #>> '{entry,0,changes,0,value,post_id}')
            WHERE w.id = ANY(%s) AND m.detected_at IS NOT NULL""", [acked]).fetchall()]
        (batches,) = conn.execute("SELECT count(DISTINCT processed_at) FROM "
                                  "advocates_webhookdelivery").fetchone()
        (all_rows,) = conn.execute("SELECT count(*) FROM advocates_webhookdelivery").fetchone()
    print(f"pipeline finished {drained:.1f} s after the load stopped; {batches} webhook "
          f"batches (mean {all_rows / max(batches, 1):.0f} deliveries per batch)")
    print(f"webhook -> detected (all {len(detect_delays)}): p50 "
          f"{_percentile(detect_delays, 50):.2f} s, p95 {_percentile(detect_delays, 95):.2f} s")
    print(f"webhook -> proposal ({len(delays)} mentions with a proposal): p50 "
          f"{_percentile(delays, 50):.2f} s, p95 {_percentile(delays, 95):.2f} s, "
          f"max {max(delays, default=float('nan')):.2f} s")
    lost = len(acked) - routed
    print(f"count check: acknowledged {len(acked)}, stored {stored}, processed {processed} "
          f"(errors {failed}), mentions {mentions}, detected {detected}, routed {routed} -> "
          + ("nothing lost" if lost == 0 and failed == 0 else f"{lost} NOT DONE"))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
