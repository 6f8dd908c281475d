"""`manage.py detector_examples_import FILE`: labeled examples, as if staff had decided them."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from advocates.importing import ImportFileError, file_rows
from advocates.services.learning import examples_import


class Command(BaseCommand):
    help = (
        "Load labeled examples for the detector from a JSONL (or CSV) file: `text`, optional "
        "`language`, `kind`, `rating`, `platform`, and `decision` (thank, care or none). "
        "All or nothing: one bad row stops the import and names its line. Importing the same "
        "file again adds nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Path to a .jsonl or .csv file (optionally .gz).")

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            result = examples_import(file_rows(path=path, required=("text", "decision")))
        except ImportFileError as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            raise CommandError("nothing imported:\n  " + "\n  ".join(exc.messages)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"{path.name}: {result.created} examples added, {result.updated} already there "
            "(decision updated)."))
