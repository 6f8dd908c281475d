"""`manage.py erase_advocate ID --yes`: erase one advocate's personal data (finance rows kept)."""

from django.core.management.base import BaseCommand, CommandError

from advocates.models import Advocate
from advocates.services.privacy import advocate_erase


class Command(BaseCommand):
    help = ("Erase an advocate's personal data: handles, names, mention texts and raw payloads, "
            "outreach texts. Grants, codes and redemptions stay under a pseudonym so finance "
            "totals hold. Irreversible: needs --yes.")

    def add_arguments(self, parser):
        parser.add_argument("advocate_id", type=int)
        parser.add_argument("--yes", action="store_true", help="Confirm the erasure.")

    def handle(self, *args, **options):
        if not options["yes"]:
            raise CommandError("Erasure cannot be undone; run again with --yes to confirm.")
        try:
            result = advocate_erase(advocate_id=options["advocate_id"])
        except Advocate.DoesNotExist:
            raise CommandError(f"No advocate with id {options['advocate_id']}.") from None
        counts = ", ".join(f"{k} {v}" for k, v in result.counts.items())
        self.stdout.write(f"Advocate {result.advocate_id} erased; now {result.pseudonym}. "
                          f"{counts}.")
