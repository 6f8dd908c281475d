"""`manage.py runserver_demo [addrport]`: Django's runserver, a simulated mention stream and
the periodic tasks.

The stream runs in a background thread of the serving process at KANSHA_DEMO_RATE mentions
per second (default 0.5), so /admin/ shows mentions arriving. A second thread runs the beat
schedule's interval tasks in-process (cms/periodic.py): the embedded demo has no beat, and
without it rewards, housekeeping and sweeps would never run. The auto-reloader is off by
default (it would run the serving process, and with it both threads, in a child it restarts).
"""

import logging
import os
import threading

from django.core.management.base import CommandError
from django.core.management.commands.runserver import Command as RunserverCommand
from django.db import connection

from advocates.simulation import MentionSimulator, sandbox_mentions_stream
from cms.periodic import periodic_tasks_run

logger = logging.getLogger("kansha.demo")


def demo_rate() -> float:
    raw = os.environ.get("KANSHA_DEMO_RATE", "").strip()
    try:
        rate = float(raw) if raw else 0.5
    except ValueError:
        raise CommandError(f"KANSHA_DEMO_RATE={raw!r} is not a number.") from None
    if rate < 0:
        raise CommandError("KANSHA_DEMO_RATE must be 0 (no stream) or more.")
    return rate


class Command(RunserverCommand):
    help = "Run the development server with a simulated stream of sandbox mentions."

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(use_reloader=False)
        parser.add_argument("--reload", action="store_true", dest="use_reloader",
                            help="Use the auto-reloader (the stream restarts with the server).")

    def handle(self, *args, **options):
        self.rate = demo_rate()
        self.stop_stream = threading.Event()
        super().handle(*args, **options)

    def inner_run(self, *args, **options):
        # inner_run is the serving process (the reloader's child, or this process without
        # reloading), so the stream starts once per server, never in the watching parent.
        if self.rate > 0:
            self.stream_start()
        self.periodic_start()
        try:
            super().inner_run(*args, **options)
        finally:
            self.stop_stream.set()

    def periodic_start(self) -> threading.Thread:
        thread = threading.Thread(target=periodic_tasks_run, kwargs={"stop": self.stop_stream},
                                  name="kansha-demo-periodic", daemon=True)
        thread.start()
        self.stdout.write("Running the periodic tasks in-process (no beat in the demo).")
        return thread

    def stream_start(self) -> threading.Thread:
        thread = threading.Thread(target=self._stream, name="kansha-demo-stream", daemon=True)
        thread.start()
        self.stdout.write(f"Streaming simulated mentions at {self.rate:g}/s "
                          "(KANSHA_DEMO_RATE).")
        return thread

    def _stream(self) -> None:
        def on_batch(batch):
            logger.info("demo stream: +%s mention(s) (%s created so far)", batch.created,
                        batch.total_created)

        def on_error(exc):
            # Ingest commits before detection runs; a failing batch must not end the demo.
            logger.exception("demo stream: a batch failed; going on", exc_info=exc)

        try:
            sandbox_mentions_stream(simulator=MentionSimulator(), rate=self.rate,
                                    stop=self.stop_stream, on_batch=on_batch,
                                    on_error=on_error)
        finally:
            connection.close()
