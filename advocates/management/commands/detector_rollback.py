"""`manage.py detector_rollback --base | --to VERSION`: change which model decides."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from advocates.services.learning import detector_model_activate, detector_rollback_to_base


class Command(BaseCommand):
    help = "Make an earlier detector model live (--to VERSION) or go back to the base (--base)."

    def add_arguments(self, parser):
        group = parser.add_mutually_exclusive_group(required=True)
        group.add_argument("--base", action="store_true", help="The shipped base model decides.")
        group.add_argument("--to", metavar="VERSION", help="A stored model's version.")

    def handle(self, *args, **options):
        if options["base"]:
            detector_rollback_to_base()
            self.stdout.write(self.style.SUCCESS("the shipped base model decides now."))
            return
        try:
            row = detector_model_activate(version=options["to"])
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        self.stdout.write(self.style.SUCCESS(f"{row.version} is live."))
