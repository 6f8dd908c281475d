"""`manage.py purge_raw_payloads [--days N]`: the raw-payload retention purge, on demand."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from advocates.services.privacy import raw_payloads_purge


class Command(BaseCommand):
    help = ("Drop platforms' raw payloads (mentions, processed webhook deliveries, Stripe "
            "events) received more than N days ago. Parsed columns are kept. Beat runs this "
            "every 6 hours with KANSHA_RAW_RETENTION_DAYS.")

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=settings.KANSHA_RAW_RETENTION_DAYS,
                            help="Retention in days (default %(default)s).")

    def handle(self, *args, **options):
        if options["days"] < 0:
            raise CommandError("--days must be zero or more.")
        counts = raw_payloads_purge(older_than_days=options["days"])
        self.stdout.write("Purged raw payloads older than {} days: {}.".format(
            options["days"], ", ".join(f"{k} {v}" for k, v in counts.items())))
