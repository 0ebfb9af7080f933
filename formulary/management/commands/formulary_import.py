import json

from django.core.management.base import BaseCommand, CommandError

from formulary.interchange import FormularyImportError, formulary_import


class Command(BaseCommand):
    help = "Import a formulary file in the shape of formulary.json (all or nothing)."

    def add_arguments(self, parser):
        parser.add_argument("path", help="The JSON file to import.")

    def handle(self, *args, path, **options):
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc.strerror}") from None
        except json.JSONDecodeError as exc:
            raise CommandError(f"{path} is not valid JSON: line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
        try:
            state = formulary_import(data=data)
        except FormularyImportError as exc:
            lines = "\n".join(f"  {p['item']}: {p['field']}: {p['message']}" for p in exc.problems)
            raise CommandError(f"Nothing was imported. {len(exc.problems)} problem(s):\n{lines}") from None
        self.stdout.write(self.style.SUCCESS(f"Imported formulary {state.label}."))
