import json
import sys

from django.core.management.base import BaseCommand

from formulary.interchange import formulary_export


class Command(BaseCommand):
    help = "Export the formulary in the shape of formulary.json (to a file, or to standard output)."

    def add_arguments(self, parser):
        parser.add_argument("path", nargs="?", help="Where to write; standard output when omitted.")

    def handle(self, *args, path=None, **options):
        text = json.dumps(formulary_export(), indent=1, ensure_ascii=False) + "\n"
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
            self.stderr.write(f"Wrote {path}")
        else:
            sys.stdout.write(text)
