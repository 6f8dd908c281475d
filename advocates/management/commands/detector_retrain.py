"""`manage.py detector_retrain [--promote]`: train a candidate from the team's decisions."""

import json

from django.core.management.base import BaseCommand, CommandError

from advocates.services.learning import RetrainError, detector_retrain


class Command(BaseCommand):
    help = (
        "Train a candidate detector model from the base model and the stored examples, compare "
        "it with the live model on the newest decisions (held back from training) and print "
        "both models' figures. With --promote the candidate becomes live if it is better."
    )

    def add_arguments(self, parser):
        parser.add_argument("--promote", action="store_true",
                            help="Make the candidate live if it beats the live model.")

    def handle(self, *args, **options):
        try:
            result = detector_retrain(promote=options["promote"])
        except RetrainError as exc:
            raise CommandError(str(exc)) from exc
        figures = result.figures
        self.stdout.write(f"trained on {figures['trained_on']} examples; compared on the "
                          f"newest {figures['held_back']} decisions")
        for name, label in (("candidate", result.candidate.version),
                            ("live", figures["live_version"])):
            f = figures[name]
            self.stdout.write(
                f"  {name:9s} {label:28s} thank precision {f['precision']:.3f}  recall "
                f"{f['recall']:.3f}  care thanked {f['neg_thanked']:.1%}  macro-F1 "
                f"{f['macro_f1']:.3f}")
        if result.promoted:
            self.stdout.write(self.style.SUCCESS(f"{result.candidate.version} is live."))
        elif options["promote"]:
            self.stdout.write(self.style.WARNING(
                f"{result.candidate.version} not promoted: not better than the live model."))
        else:
            self.stdout.write("not promoted (run with --promote to make a better one live).")
        if options["verbosity"] > 1:
            self.stdout.write(json.dumps(figures, indent=2))
