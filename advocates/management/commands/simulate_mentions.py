"""`manage.py simulate_mentions --rate 5 --lang en,ja`: a believable stream on `sandbox`."""

import threading

from django.core.management.base import BaseCommand, CommandError

from advocates.simulation import LANGUAGES, MentionSimulator, sandbox_mentions_stream


class Command(BaseCommand):
    help = (
        "Ingest simulated English and Japanese mentions on the sandbox platform (praise, "
        "check-ins, reviews, complaints, sarcasm, questions, competitor praise, spam) at "
        "--rate per second until --count are sent or Ctrl-C. The same --seed gives the same "
        "mentions (so replaying it creates only duplicates)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rate", type=float, default=5.0,
                            help="Mentions per second (default %(default)s; may be below 1).")
        parser.add_argument("--lang", default=",".join(LANGUAGES),
                            help="Comma-separated languages among: en, ja (default en,ja).")
        parser.add_argument("--count", type=int, default=None,
                            help="Stop after this many mentions (default: run until Ctrl-C).")
        parser.add_argument("--seed", type=int, default=None,
                            help="Random seed (default: a new one, printed).")

    def handle(self, *args, **options):
        languages = [part.strip() for part in options["lang"].split(",") if part.strip()]
        if options["rate"] <= 0:
            raise CommandError("--rate must be positive.")
        if options["count"] is not None and options["count"] < 1:
            raise CommandError("--count must be at least 1.")
        try:
            simulator = MentionSimulator(seed=options["seed"], languages=languages)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            f"Simulating {options['rate']:g} mention(s)/s in {', '.join(languages)} "
            f"on the sandbox platform (seed {simulator.seed}); Ctrl-C to stop.")

        def on_batch(batch):
            self.stdout.write(
                f"batch {batch.number}: {batch.sent} sent, {batch.created} created, "
                f"{batch.duplicate} duplicate (total created {batch.total_created})")

        stop = threading.Event()
        try:
            created = sandbox_mentions_stream(simulator=simulator, rate=options["rate"],
                                              count=options["count"], stop=stop,
                                              on_batch=on_batch)
        except KeyboardInterrupt:
            stop.set()
            self.stdout.write("Stopped.")
            return
        self.stdout.write(f"Done: {created} mention(s) created.")
