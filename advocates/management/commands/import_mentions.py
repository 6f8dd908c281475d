"""`manage.py import_mentions FILE`: import a CSV or JSONL file of normalised mentions."""

import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from advocates.importing import FORMATS, ImportFileError, mentions_import


class Command(BaseCommand):
    help = (
        "Import mentions from a CSV or JSONL file in the normalised schema (docs/ingest.md). "
        "Bad rows are reported with their line number; the good rows still import. "
        "Importing the same file again creates nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path to a .csv or .jsonl file (optionally .gz).")
        # Checked by the importer rather than argparse, so call_command() gets the same error.
        parser.add_argument("--format", default=None, metavar="|".join(FORMATS),
                            help="File format; guessed from the extension when omitted.")
        parser.add_argument("--batch-size", type=int, default=settings.KANSHA_INGEST_BATCH_SIZE,
                            help="Mentions per transaction (default %(default)s).")

    def handle(self, *args, **options):
        path = Path(options["file"])
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        err = getattr(self.stderr, "_out", sys.stderr)  # tqdm needs the raw stream
        # Progress is in bytes of the file; a .gz file's size says nothing about its content.
        size = path.stat().st_size if path.is_file() and path.suffix != ".gz" else None
        bar = tqdm(total=size, unit="B", unit_scale=True, desc=path.name, file=err,
                   disable=options["verbosity"] == 0, mininterval=0.5)
        counts = {"created": 0, "duplicate": 0, "invalid": 0}

        def on_batch(batch, result):
            for bad in result.invalid:  # reasons and line numbers only: never a row's data
                bar.write(f"line {bad.position}: {bad.reason}", file=err)
            counts["created"] += result.created
            counts["duplicate"] += result.duplicate
            counts["invalid"] += len(result.invalid)
            bar.set_postfix(counts, refresh=False)
            bar.update(batch.bytes_read)

        try:
            mentions_import(path=path, fmt=options["format"], batch_size=options["batch_size"],
                            on_batch=on_batch)
        except ImportFileError as exc:
            if any(counts.values()):  # a file that broke mid-way: earlier batches are kept
                raise CommandError(f"{exc} (before that: {counts['created']} created, "
                                   f"{counts['duplicate']} duplicate, {counts['invalid']} "
                                   "invalid were committed)") from exc
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        self.stdout.write(
            f"{path.name}: {counts['created']} created, {counts['duplicate']} duplicate, "
            f"{counts['invalid']} invalid."
        )
