"""python manage.py report ambassador|redemptions|liability|ledger --from --to --format --out"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from rewards.reports import FORMATS, PERIODS, REPORTS, ReportError, ReportParams, parse_date
from rewards.reports import report_build as build
from rewards.reports.exports import report_bytes


class Command(BaseCommand):
    help = ("Write a report for a date range as CSV (every table, formula-neutralised), XLSX "
            "(a cover sheet, then one sheet per table), JSON, or a zip of one CSV per table "
            "(zip-bom: with a UTF-8 BOM for Excel in Japanese). Bad input writes nothing.")

    def add_arguments(self, parser):
        parser.add_argument("report", choices=list(REPORTS))
        parser.add_argument("--from", dest="date_from", required=True, help="YYYY-MM-DD")
        parser.add_argument("--to", dest="date_to", required=True, help="YYYY-MM-DD (inclusive)")
        parser.add_argument("--format", dest="fmt", required=True, help="|".join(FORMATS))
        parser.add_argument("--out", required=True, help="File to write.")
        parser.add_argument("--period", default="month", help="|".join(PERIODS))
        parser.add_argument("--platform", default="")
        parser.add_argument("--rule", type=int, default=None, help="A reward rule id.")
        parser.add_argument("--currency", default="")

    def handle(self, *args, report, date_from, date_to, fmt, out, period, platform, rule,
               currency, **options):
        if fmt not in FORMATS:
            raise CommandError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}.")
        out_path = Path(out)
        if not out_path.parent.is_dir():
            raise CommandError(f"The folder {out_path.parent} does not exist.")
        try:
            params = ReportParams(date_from=parse_date(date_from, name="--from"),
                                  date_to=parse_date(date_to, name="--to"), period=period,
                                  platform=platform, rule_id=rule, currency=currency)
            data = report_bytes(build(name=report, params=params), fmt)
        except ReportError as e:
            raise CommandError(str(e)) from None
        # Write beside the target and rename, so a failure never leaves half a file behind.
        fd, tmp = tempfile.mkstemp(dir=out_path.parent, prefix=f".{out_path.name}.")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, out_path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.stdout.write(f"{report}: {params.describe()} → {out_path} ({len(data):,} bytes)")
