"""`manage.py classify_mentions FILE`: detection and routing for every row, storing nothing."""

import itertools
import json
import sys
from collections import Counter
from dataclasses import replace
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from advocates.classify import rows_classify
from advocates.detection import Detector
from advocates.detection.model import base_model
from advocates.importing import FORMATS, ImportFileError, file_rows
from advocates.models import DetectorSettings
from advocates.services.learning import live_model


class Command(BaseCommand):
    help = (
        "Classify the mentions in a CSV or JSONL file (a column or field `text`; optionally "
        "language, kind, rating, venue, platform, author_handle, followers; other fields are "
        "passed through) and write one JSON line per row with the detection (label, intent, "
        "confidence, reasons, language) and the routing decision (route: thank, care or none; "
        "skip_reason). Nothing is stored: try Kansha on an export before connecting anything."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path to a .csv or .jsonl file (optionally .gz).")
        parser.add_argument("--format", default=None, metavar="|".join(FORMATS),
                            help="File format; guessed from the extension when omitted.")
        parser.add_argument("--out", default="-",
                            help="Where to write the JSON lines (default: standard output).")
        parser.add_argument("--threshold", type=float, default=None,
                            help="Confidence needed to thank (default: the CMS setting).")

    def handle(self, *args, **options):
        threshold = options["threshold"]
        if threshold is not None and not 0 <= threshold <= 1:
            raise CommandError("--threshold must be between 0 and 1.")
        config = _detector_config(self.stderr)
        if threshold is not None:
            config = replace(config, thank_threshold=threshold)

        path = Path(options["file"])
        rows = file_rows(path=path, fmt=options["format"], required=("text",))
        try:
            first = next(rows, None)  # file and header errors surface before any output
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc
        err = getattr(self.stderr, "_out", sys.stderr)
        routes: Counter[str] = Counter()
        out = None if options["out"] == "-" else Path(options["out"]).open("w", encoding="utf-8")
        write = self.stdout.write if out is None else out.write
        try:
            if first is not None:
                detector = Detector(config, model=_live_model(self.stderr))
                for result in rows_classify(rows=itertools.chain([first], rows),
                                            detector=detector, config=config):
                    write(json.dumps(result.output, ensure_ascii=False) + "\n")
                    if result.error:
                        routes["error"] += 1
                        err.write(f"line {result.line}: {result.error}\n")
                    else:
                        routes[result.output["route"]] += 1
        except ImportFileError as exc:
            raise CommandError(f"{exc} (after {sum(routes.values())} rows)") from exc
        finally:
            if out is not None:
                out.close()
        summary = ", ".join(f"{routes[k]} {k}"
                            for k in ("thank", "care", "answer", "none", "error"))
        err.write(f"{path.name}: {sum(routes.values())} rows: {summary}.\n")


def _detector_config(stderr):  # -> DetectorConfig
    """The saved CMS settings if there are any, the defaults otherwise.

    Reading them must not create the settings row (this command stores nothing), and a brand
    trying Kansha may not have a database yet.
    """
    try:
        saved = DetectorSettings.objects.first()
    except DatabaseError:
        stderr.write("No Kansha database yet (run `manage.py migrate`); using the default "
                     "detector settings.")
        saved = None
    return (saved or DetectorSettings()).to_config()


def _live_model(stderr):  # -> LinearModel
    """The model live in the database (a brand's, once promoted), else the shipped base."""
    try:
        return live_model()
    except DatabaseError:
        return base_model()
