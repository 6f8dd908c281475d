"""`manage.py export_advocate ID [--output FILE]`: everything Kansha holds about one advocate."""

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from advocates.models import Advocate
from advocates.services.privacy import advocate_export


class Command(BaseCommand):
    help = ("Write a JSON export of one advocate's personal data (identities, mentions with raw "
            "payloads, detections, outreach, consents, events, and the rewards side).")

    def add_arguments(self, parser):
        parser.add_argument("advocate_id", type=int)
        parser.add_argument("--output", "-o", help="File to write (default: standard output).")

    def handle(self, *args, **options):
        try:
            data = advocate_export(advocate_id=options["advocate_id"])
        except Advocate.DoesNotExist:
            raise CommandError(f"No advocate with id {options['advocate_id']}.") from None
        text = json.dumps(data, ensure_ascii=False, indent=2)
        if options["output"]:
            Path(options["output"]).write_text(text + "\n", encoding="utf-8")
            self.stderr.write(f"Wrote {options['output']}.")
        else:
            self.stdout.write(text)
