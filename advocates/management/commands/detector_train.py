"""`manage.py detector_train --base`: train the base model that ships with Kansha."""

import json
import os
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from advocates.detection.model import BASE_DIR
from advocates.detection.training import train_base

DEFAULT_DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"


class Command(BaseCommand):
    help = (
        "Train the detector's base model from the public labeled data (SemEval-2013 tweets, "
        "TweetEval irony train) and Kansha's own written brand mentions, and write it as "
        "<version>.npz (no pickle) and <version>.json (its card) into advocates/detection/base/."
    )

    def add_arguments(self, parser):
        parser.add_argument("--base", action="store_true", required=True,
                            help="Train the base model (the only kind this command trains; "
                                 "a brand's model is `detector_retrain`).")
        parser.add_argument("--data", default=os.environ.get("KANSHA_SHARED_DATA") or
                            str(DEFAULT_DATA), help="The shared data folder.")
        parser.add_argument("--out", default=str(BASE_DIR), help="Where to write the files.")
        parser.add_argument("--name", default="",
                            help="The version name (default: kansha-base-YYYYMMDD).")

    def handle(self, *args, **options):
        data = Path(options["data"])
        if not (data / "semeval2013-sentiment").is_dir():
            raise CommandError(f"{data} has no semeval2013-sentiment/: pass --data or set "
                               "KANSHA_SHARED_DATA")
        self.stdout.write("training (cross-fitting for calibration, then the final fit)…")
        model = train_base(data, version=options["name"])
        weights, card_path = model.save(Path(options["out"]))
        card = model.card
        self.stdout.write(json.dumps({k: card[k] for k in ("version", "temperature",
                                                           "threshold", "calibration",
                                                           "validation")}, indent=2))
        self.stdout.write(self.style.SUCCESS(
            f"wrote {weights} ({weights.stat().st_size // 1024} KiB) and {card_path}"))
