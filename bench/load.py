"""Load bench: gunicorn + PostgreSQL + Redis + a Celery worker; N clients post mentions.

    .venv/bin/python bench/load.py --seconds 60 --clients 16 --batch 1

What it does (everything on 127.0.0.1):
1. creates and migrates a bench database (kansha_bench_load, dropped first) and an API token;
2. starts gunicorn (gthread) and one Celery worker (detect queue) against it, on Redis db 14;
3. N client threads post to POST /api/v1/mentions for --seconds (each request carries --batch
   mentions; --batch 1 is "one webhook, one request"), with keep-alive sessions;
4. waits (bounded) for detection to catch up, then prints requests/s, mentions/s, p50/p99
   request latency, p95 time from arrival to proposal (mention.received_at → the first
   outreach.created_at of that mention), and the count check: every mention a 2xx answer
   acknowledged exists in the database and was detected (zero lost).

Targets (issue 8): ≥ 500 webhooks/s with p99 < 100 ms, proposals within 2 s at p95, nothing
lost. The machine the figures in docs/reliability.md come from has 2 cores shared by the web
server, the worker, PostgreSQL, Redis and the load generator itself; the script prints
`os.getloadavg()` before it starts so a busy machine shows in the output.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, bench/ is first on sys.path and bench/queue.py would shadow the stdlib's
# `queue` (psycopg imports it).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import os  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

import psycopg  # noqa: E402
import requests  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
DB = "kansha_bench_load"
TEXTS = ["Best cortado in town, thank you @kanshacoffee!",
         "Kansha Coffee's flat white made my morning, love it",
         "カンシャ珈琲のラテ、最高でした！ありがとう",
         "Checked in at Kansha Coffee Shibuya, great beans",
         "Waited 20 minutes at Kansha Coffee and my order was wrong",
         "Anyone know if Kansha Coffee opens early on Sundays?"]


def _env(args) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": f"{args.pg}/{DB}", "REDIS_URL": args.redis,
            "DJANGO_DEBUG": "0", "DJANGO_SECRET_KEY": "bench-" + "x" * 60,
            "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "DJANGO_SECURE_SSL_REDIRECT": "0",
            "KANSHA_LOG_LEVEL": "WARNING", "DB_CONN_MAX_AGE": "60",
            "KANSHA_DATA_DIR": "/tmp/kansha-bench-load"}  # noqa: S108 - a local bench


def _setup(args, env) -> str:
    with psycopg.connect(f"{args.pg}/postgres", autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB}")
    subprocess.run([PY, "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    out = subprocess.run(
        [PY, "manage.py", "shell", "-c",
         "from advocates.services import ingest_token_issue;"
         "print(ingest_token_issue(name='bench-load')[1])"],
        cwd=ROOT, env=env, check=True, capture_output=True, text=True).stdout
    subprocess.run(["redis-cli", "-u", args.redis, "FLUSHDB"], check=True,
                   capture_output=True)
    return out.strip().splitlines()[-1]


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.3)
    raise SystemExit(f"{url} did not come up")


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--batch", type=int, default=1, help="mentions per request")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--web-workers", type=int, default=3)
    parser.add_argument("--web-threads", type=int, default=4)
    parser.add_argument("--pg", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--drain-seconds", type=float, default=120,
                        help="how long to wait for detection to catch up afterwards")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 600 or not 1 <= args.clients <= 64:
        raise SystemExit("--seconds must be 1..600 and --clients 1..64")

    env = _env(args)
    print(f"load average before start: {os.getloadavg()}, cores: {os.cpu_count()}")
    token = _setup(args, env)
    logs = ROOT / "test-artifacts"
    logs.mkdir(exist_ok=True)
    web = subprocess.Popen(
        [PY, "-m", "gunicorn", "cms.wsgi:application", "-b", f"127.0.0.1:{args.port}",
         "-k", "gthread", "-w", str(args.web_workers), "--threads", str(args.web_threads),
         "--keep-alive", "30", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=(logs / "bench-load-web.log").open("w"),
        stderr=subprocess.STDOUT)
    worker = subprocess.Popen(
        [PY, "-m", "celery", "-A", "cms", "worker", "-l", "warning", "-P", "solo",
         "-Q", "detect,default", "-n", f"bench-load-{os.getpid()}@localhost",
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=(logs / "bench-load-worker.log").open("w"),
        stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{args.port}"
        _wait_http(f"{base}/api/v1/openapi.json")
        _run(args, base, token)
    finally:
        for proc in (web, worker):
            proc.terminate()
        for proc in (web, worker):
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()


def _run(args, base: str, token: str) -> None:
    latencies: list[float] = []
    acked: list[str] = []
    errors: dict[str, int] = {}
    lock = threading.Lock()
    stop_at = time.monotonic() + args.seconds
    counter = iter(range(10**9))

    def client(n: int) -> None:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {token}"
        local_lat, local_ids = [], []
        while time.monotonic() < stop_at:
            items = []
            for _ in range(args.batch):
                i = next(counter)
                items.append({
                    "platform": "sandbox", "external_id": f"load-{i}",
                    "author_id": f"a{i % 5000}", "author_handle": f"@fan{i % 5000}",
                    "author_name": f"Fan {i % 5000}", "text": f"{TEXTS[i % len(TEXTS)]} #{i}",
                    "posted_at": datetime.now(UTC).isoformat(), "kind": "post",
                    "followers": 100 + i % 900})
            started = time.perf_counter()
            try:
                r = session.post(f"{base}/api/v1/mentions", json={"mentions": items},
                                 timeout=30)
                status = str(r.status_code)
            except requests.RequestException as exc:
                status = type(exc).__name__
            local_lat.append(time.perf_counter() - started)
            if status.startswith("2"):
                local_ids.extend(item["external_id"] for item in items)
            else:
                with lock:
                    errors[status] = errors.get(status, 0) + 1
        with lock:
            latencies.extend(local_lat)
            acked.extend(local_ids)

    began = time.monotonic()
    threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    took = time.monotonic() - began
    n_req = len(latencies)
    print(f"\nclients={args.clients} batch={args.batch} seconds={took:.1f} "
          f"web=gunicorn gthread {args.web_workers}x{args.web_threads}, 1 celery worker (solo)")
    print(f"requests: {n_req} ({n_req / took:.0f}/s), mentions acknowledged: {len(acked)} "
          f"({len(acked) / took:.0f}/s), errors: {errors or 'none'}")
    print(f"latency: p50 {_percentile(latencies, 50) * 1000:.1f} ms, "
          f"p99 {_percentile(latencies, 99) * 1000:.1f} ms, "
          f"max {max(latencies, default=0) * 1000:.1f} ms")

    with psycopg.connect(f"{args.pg}/{DB}") as conn:
        deadline = time.monotonic() + args.drain_seconds
        while True:
            (pending,) = conn.execute("SELECT count(*) FROM advocates_mention "
                                      "WHERE detected_at IS NULL").fetchone()
            if not pending or time.monotonic() > deadline:
                break
            time.sleep(1)
        drained = time.monotonic() - began - took
        (stored,) = conn.execute(
            "SELECT count(*) FROM advocates_mention WHERE external_id = ANY(%s)",
            [acked]).fetchone()
        (detected,) = conn.execute(
            "SELECT count(*) FROM advocates_mention WHERE external_id = ANY(%s) "
            "AND detected_at IS NOT NULL", [acked]).fetchone()
        delays = [row[0] for row in conn.execute(
            "SELECT EXTRACT(EPOCH FROM min(o.created_at) - m.received_at) "
            "FROM advocates_mention m JOIN advocates_outreach o ON o.mention_id = m.id "
            "GROUP BY m.id, m.received_at").fetchall()]
    print(f"detection caught up {drained:.1f}s after the load stopped; "
          f"proposals: {len(delays)}; webhook→proposal p50 "
          f"{_percentile([float(d) for d in delays], 50):.2f} s, "
          f"p95 {_percentile([float(d) for d in delays], 95):.2f} s")
    lost = len(acked) - stored
    print(f"count check: acknowledged {len(acked)}, stored {stored}, detected {detected}, "
          f"lost {lost} -> {'nothing lost' if lost == 0 else 'LOST MENTIONS'}; "
          f"{stored - detected} still waiting for detection when the drain window ended")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
