"""python manage.py report_rollups [--rebuild]"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from rewards.reports.rollups import MARGIN, rollups_refresh


class Command(BaseCommand):
    help = ("Bring the report rollups up to date (what the periodic task does). --rebuild "
            "counts them all again from the tables: after rows were changed outside the "
            "services (a fix by SQL, a backfill with old timestamps).")

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true")

    def handle(self, *args, rebuild, **options):
        result = rollups_refresh(margin=MARGIN, rebuild=rebuild)
        what = "rebuilt" if result.rebuilt else (
            f"refreshed: {sum(v for v in result.days.values() if v > 0)} days recounted")
        self.stdout.write(f"report rollups {what}, {result.periods} period summaries counted, "
                          f"in {result.seconds:.1f} s")
