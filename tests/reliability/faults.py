"""Helpers for the fault tests: our own redis-server and Celery workers we can kill."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from django.conf import settings

from tests.conftest import ROOT, _database_url_for_worker

# Our own Redis for outage tests, never the shared one on 6379. Runs that share a machine set
# KANSHA_TEST_FAULT_REDIS_PORT so their outage tests do not stop each other's server.
REDIS_PORT = int(os.environ.get("KANSHA_TEST_FAULT_REDIS_PORT", "6390"))


def broker_switch(url: str | None) -> None:
    """Point this process's task producers at `url` (None: back to the configured broker).

    The write URL is what producers read (it falls back to `broker_url`), whichever way the
    installed Celery treats assignments to namespaced settings. The app caches its connection
    and producer pools (kombu keeps one per URL), so both are dropped.
    """
    from cms.celery import app

    app.conf.broker_write_url = url
    app._pool = None
    app.amqp._producer_pool = None


def free_port() -> int:
    """A TCP port nothing listens on now (the OS's choice), for a private server."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class OwnRedis:
    """A throwaway redis-server on REDIS_PORT that a test may stop and start."""

    def __init__(self, port: int = REDIS_PORT) -> None:
        self.port = port
        self.proc: subprocess.Popen | None = None
        self.url = f"redis://127.0.0.1:{port}/0"

    def start(self) -> OwnRedis:
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        self.proc = subprocess.Popen(
            [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--protected-mode", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not port_open(self.port):
            if time.monotonic() > deadline:
                raise RuntimeError("own redis-server did not start")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None
        deadline = time.monotonic() + 5
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)


def rabbitmq_server() -> str | None:
    """The node script itself, if RabbitMQ is installed: /usr/sbin's wrapper would switch to
    the `rabbitmq` user, who cannot write our temp dir."""
    binary = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
    return str(binary) if binary.exists() else shutil.which("rabbitmq-server")


class OwnRabbit:
    """A private RabbitMQ node (its own name, port and data directory under a temp dir) that a
    test may stop and start; the shared node on 5672 is never touched. Its data directory
    outlives a stop, so durable queues and persistent messages come back with it."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.base = Path(tempfile.mkdtemp(prefix="kansha-rabbit-"))
        self.proc: subprocess.Popen | None = None
        self.url = f"amqp://guest:guest@127.0.0.1:{self.port}//"
        (self.base / "enabled_plugins").write_text("[].\n")  # no management plugin
        (self.base / "rabbitmq-env.conf").write_text("")  # not the machine's node settings

    def start(self, timeout: float = 120) -> OwnRabbit:
        binary = rabbitmq_server()
        dist_port = free_port()
        env = {**os.environ,
               "RABBITMQ_CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
               "RABBITMQ_NODENAME": f"kansha-test-{self.port}@localhost",
               "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
               "RABBITMQ_NODE_PORT": str(self.port),
               "RABBITMQ_DIST_PORT": str(dist_port),
               "RABBITMQ_MNESIA_BASE": str(self.base / "mnesia"),
               "RABBITMQ_LOG_BASE": str(self.base / "log"),
               "RABBITMQ_PID_FILE": str(self.base / "pid"),
               "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
               "RABBITMQ_PLUGINS_EXPAND_DIR": str(self.base / "plugins-expand"),
               "RABBITMQ_CONFIG_FILE": str(self.base / "rabbitmq"),
               "RABBITMQ_ADVANCED_CONFIG_FILE": str(self.base / "advanced.config")}
        if binary is None:
            raise RuntimeError("rabbitmq-server is not installed (.ci/run installs it)")
        self.proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"own rabbitmq-server did not start; see {self.base}/log")
            time.sleep(0.2)
        return self

    def stop(self) -> None:
        if self.proc is not None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the node and its helpers, nothing else
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
            self.proc = None
        deadline = time.monotonic() + 10
        while port_open(self.port) and time.monotonic() < deadline:
            time.sleep(0.05)

    def remove(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


class Worker:
    """A `celery worker` subprocess on a given broker, against this test run's database."""

    def __init__(self, *, broker_url: str, pool: str = "solo", queues: str | None = None,
                 extra_env: dict[str, str] | None = None, production: bool = False) -> None:
        self.broker_url = broker_url
        self.production = production  # as `make worker` runs: gossip, mingle, heartbeats
        self.pool = pool
        self.queues = queues or ",".join(settings.CELERY_TASK_QUEUE_NAMES)
        self.extra_env = extra_env or {}
        self.proc: subprocess.Popen | None = None
        self.log_path: Path | None = None

    def start(self, timeout: float = 60) -> Worker:
        env = {**os.environ, "DATABASE_URL": _database_url_for_worker(),
               "REDIS_URL": self.broker_url, "DJANGO_DEBUG": "1", **self.extra_env}
        self.log_path = ROOT / "test-artifacts" / f"h8-worker-{os.getpid()}-{time.time_ns()}.log"
        self.log_path.parent.mkdir(exist_ok=True)
        log = self.log_path.open("w")
        args = [sys.executable, "-m", "celery", "-A", "cms", "worker", "-l", "info",
                "-P", self.pool, "-n", f"h8-{time.time_ns()}@localhost", "-Q", self.queues]
        if not self.production:
            args += ["--without-gossip", "--without-mingle", "--without-heartbeat"]
        if self.pool == "prefork":
            args += ["-c", "1"]
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while "ready." not in self.log():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"worker did not start; see {self.log_path}")
            time.sleep(0.2)
        return self

    def log(self) -> str:
        return self.log_path.read_text() if self.log_path and self.log_path.exists() else ""

    def children(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.proc.pid)], capture_output=True,
                             text=True).stdout.split()
        return [int(pid) for pid in out]

    def kill(self, pid: int | None = None) -> None:
        """SIGKILL the worker (or one of its pool processes): no clean shutdown at all."""
        os.kill(pid or self.proc.pid, signal.SIGKILL)
        if pid is None:
            self.proc.wait(timeout=10)
            self.proc = None

    def stop(self) -> None:
        if self.proc is None:
            return
        for child in self.children():
            try:
                os.kill(child, signal.SIGTERM)
            except ProcessLookupError:
                pass
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc = None
